import numpy as np
import pandas as pd
import pytest

from actbook.analysis.stats import (against_two, comparison_list, contrast_family, holm, later_arms_sentence,
                                   later_arms_table, paired_comparison, resolved)


def _final():
    rows = []
    for seed, (r, e, s) in enumerate([(0.30, 0.28, 0.90), (0.32, 0.29, 0.91), (0.31, 0.27, 0.90)]):
        rows += [{"activation": "relu", "seed": seed, "test_error": r, "train_error": r - 0.05},
                 {"activation": "elu", "seed": seed, "test_error": e, "train_error": e - 0.05},
                 {"activation": "sigmoid", "seed": seed, "test_error": s, "train_error": s}]
    return pd.DataFrame(rows)


def test_paired_interval_by_hand():
    """Differences elu - relu = -0.02, -0.03, -0.04: mean -0.03, sd 0.01, and
    t(0.975, 2 df) = 4.302653 from a printed table; t = -0.03 / (0.01 / sqrt 3) = -5.196."""
    t = paired_comparison(_final())
    assert t.loc["elu", "mean diff vs relu"] == pytest.approx(-0.03)
    assert t.loc["elu", "ci low"] == pytest.approx(-0.03 - 4.302653 * 0.01 / np.sqrt(3), rel=1e-5)
    assert t.loc["elu", "ci high"] == pytest.approx(-0.03 + 4.302653 * 0.01 / np.sqrt(3), rel=1e-5)
    # two-sided p for |t| = 5.196 with 2 df: 2 / (2 + t^2)^(1/2) ... closed form for 2 df: 1 - |t| / sqrt(2 + t^2)
    tt = 0.03 / (0.01 / np.sqrt(3))
    assert t.loc["elu", "p (paired t)"] == pytest.approx(1 - tt / np.sqrt(2 + tt ** 2), rel=1e-6)
    assert "relu" not in t.index
    with pytest.raises(ValueError, match="baseline"):
        paired_comparison(_final(), baseline="gelu")


def test_holm_textbook_example():
    """Holm (1979) step-down on p = 0.01, 0.04, 0.03, 0.005 (m = 4): sorted
    0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06."""
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.5, np.nan, 0.9])
    assert np.isnan(adjusted[1]) and adjusted[0] == pytest.approx(1.0) and adjusted[2] == pytest.approx(1.0)


def test_holm_column_in_comparison():
    t = paired_comparison(_final())
    assert (t["p (Holm)"] >= t["p (paired t)"]).all()


def test_contrast_family_adjusts_baseline_rows_and_contrasts_together():
    final = _final()
    against, pairs = contrast_family(final, "relu", ["elu", "sigmoid"],
                                     {("elu", "sigmoid"): "ELU minus sigmoid", ("gelu", "elu"): "absent arm"})
    assert list(pairs.index) == ["ELU minus sigmoid"]          # a contrast with a missing arm is left out
    raw = np.concatenate([against["p (paired t)"], pairs["p (paired t)"]])
    np.testing.assert_allclose(np.concatenate([against["p (Holm)"], pairs["p (Holm)"]]), holm(raw))
    # elu - sigmoid per seed: 0.28-0.90, 0.29-0.91, 0.27-0.90
    assert pairs.loc["ELU minus sigmoid", "mean diff"] == pytest.approx(np.mean([-0.62, -0.62, -0.63]))
    assert len(raw) == 3  # one family: two rows against ReLU and one contrast


def test_against_two_indexes_both_frames_by_arm_and_shares_one_family():
    against, versus = against_two(_final(), ["elu"], baseline="relu", reference="sigmoid")
    assert list(against.index) == ["elu"] and list(versus.index) == ["elu"]
    assert versus.loc["elu", "mean diff"] == pytest.approx(np.mean([-0.62, -0.62, -0.63]))
    raw = [against.loc["elu", "p (paired t)"], versus.loc["elu", "p (paired t)"]]
    np.testing.assert_allclose([against.loc["elu", "p (Holm)"], versus.loc["elu", "p (Holm)"]], holm(raw))
    lines = comparison_list(versus, "sigmoid", display=str.upper).splitlines()
    assert len(lines) == 1 and lines[0].startswith("- ELU: -62.33 pp against sigmoid")


def test_resolved_lists_each_direction_and_marks_few_seeds_suggestive():
    table = pd.DataFrame({"seeds": [5, 3, 5, 5], "mean diff vs relu": [-0.02, -0.03, 0.04, -0.01],
                          "p (Holm)": [0.01, 0.02, 0.001, 0.3]}, index=["a", "b", "c", "d"])
    assert resolved(table, "lower", str.upper) == "A, B (suggestive only, 3 seeds)"
    assert resolved(table, "higher") == "c"
    assert resolved(table.iloc[3:], "lower") == "none"  # d is not resolved
    with pytest.raises(ValueError, match="direction"):
        resolved(table, "worse")


def test_sign_flip_p_enumerates_every_sign_assignment():
    from actbook.analysis.stats import sign_flip_p, sign_agreement
    assert sign_flip_p([1.0, 2.0, 3.0, 4.0, 5.0]) == 2 / 32  # only all-plus and all-minus are as extreme
    assert sign_flip_p([1.0, -1.0]) == 1.0
    # Brute force on a small case: |mean| of each of the 8 flips of (3, -1, 2).
    flips = [abs(a * 3 + b * -1 + c * 2) for a in (1, -1) for b in (1, -1) for c in (1, -1)]
    assert sign_flip_p([3.0, -1.0, 2.0]) == sum(f >= 4 for f in flips) / 8
    assert sign_flip_p([0.5]) == 1.0  # one seed: both signs are as far from 0
    assert sign_agreement([-0.01, -0.02, 0.01]) == "2/3"


def test_sign_flip_p_counts_floating_point_near_ties_as_ties():
    """Flips whose means are equal in exact arithmetic tie, even where floating
    point makes the observed mean a few ulps from 0 (all 32 flips are as extreme)."""
    from actbook.analysis.stats import sign_flip_p
    d = [0.2, 0.1, 0.1, -0.30000000000000004, -0.1]
    assert sum(d) != 0 and sign_flip_p(d) == 1.0
    # Two differences of one test image in 10,000 and three of zero: the flips that keep the two equal
    # (2 of 4, times 8 for the zeros' free signs) are as extreme as the observed mean.
    assert sign_flip_p([0.0001, 0.0001, 0.0, 0.0, 0.0]) == 16 / 32


def test_sign_flip_p_refuses_what_it_cannot_enumerate():
    from actbook.analysis.stats import sign_flip_p
    for n in (0, 21):
        with pytest.raises(ValueError, match="outside 1..20"):
            sign_flip_p(np.ones(n))


def test_min_detectable_difference_matches_a_simulation():
    from actbook.analysis.stats import min_detectable_difference
    from scipy import stats as st
    sd, n = 0.012, 10
    mdd = min_detectable_difference(sd, n, alpha=0.05, power=0.8)
    assert 0.9 * 2.98 * sd / np.sqrt(n) < mdd < 1.1 * 2.98 * sd / np.sqrt(n)  # the normal approximation's (z+z) is 2.80
    rng = np.random.default_rng(0)
    d = rng.normal(mdd, sd, (20_000, n))
    hits = st.ttest_1samp(d, 0, axis=1).pvalue < 0.05
    assert abs(hits.mean() - 0.8) < 0.015
    assert min_detectable_difference(sd, n, alpha=0.005) > mdd  # a family's stricter level needs more


def test_min_detectable_difference_with_two_pairs_is_large_but_finite():
    """One degree of freedom: the t's heavy tails need a noncentrality far
    beyond the usual bracket (this once raised instead of answering)."""
    from actbook.analysis.stats import min_detectable_difference
    from scipy import stats as st
    mdd = min_detectable_difference(1.0, 2, alpha=0.05)
    rng = np.random.default_rng(1)
    d = rng.normal(mdd, 1.0, (40_000, 2))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / np.sqrt(2))
    assert abs((np.abs(t) > st.t.ppf(0.975, 1)).mean() - 0.8) < 0.01
    assert min_detectable_difference(1.0, 2, alpha=0.025) > mdd


def test_resolution_clause_reads_as_the_end_of_a_sentence():
    from actbook.analysis.stats import resolution_clause
    assert resolution_clause(pd.Series({"seeds": 5, "p (Holm)": 0.0031})) == (
        "which the Holm-adjusted paired t-test resolves (adjusted p = 0.0031, 5 seeds)")
    assert "does not resolve (adjusted p = 0.32" in resolution_clause(pd.Series({"seeds": 3, "p (Holm)": 0.32}))
    assert resolution_clause(pd.Series({"seeds": 0, "p (Holm)": np.nan})) == "with too few paired seeds for a test"


# --- the later arms' table -----------------------------------------------------------------

def _later_final(rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    rows = []
    for seed in range(3):
        base = 0.5 + 0.01 * rng.standard_normal()
        rows += [{"activation": "relu", "seed": seed, "test_error": base},
                 {"activation": "lrelu_1/5.5", "seed": seed, "test_error": base - 0.05 + 0.001 * seed},
                 {"activation": "tanh", "seed": seed, "test_error": base + 0.002 * (seed - 1)},
                 {"activation": "silu", "seed": seed, "test_error": base - 0.05 - 0.0005 * seed}]
    return pd.DataFrame(rows)


def test_later_arms_table_and_sentence():
    table = later_arms_table(_later_final(), ["tanh", "silu", "gelu"])
    assert list(table.index) == ["tanh", "SiLU"]                     # GELU has no cell
    assert table[("", "seeds")].tolist() == [3, 3]
    assert not table.isna().any().any()
    assert set(table.columns.get_level_values(0)) == {"", "against ReLU", "against Leaky ReLU (slope 1/5.5)"}
    lo, hi = (float(v) for v in table.loc["SiLU", ("against ReLU", "interval (pp)")].split(" to "))
    assert lo < float(table.loc["SiLU", ("against ReLU", "difference (pp)")]) < hi
    sentence = later_arms_sentence(table)
    assert sentence.startswith("With 3 seeds per arm, against ReLU, SiLU's test error is lower")
    assert "suggestive only" in sentence                               # 3 seeds < 5
    assert "- " not in sentence and "((" not in sentence and ") (" not in sentence.split("(Holm")[0]
    table.loc[:, [c for c in table.columns if c[1] == "Holm p"]] = 1.0
    assert later_arms_sentence(table) == (
        "With 3 seeds per arm, no difference from ReLU is resolved; no difference from Leaky ReLU (slope 1/5.5) "
        "is resolved (Holm-adjusted p below 0.05).")


def test_later_arms_empty():
    assert later_arms_table(_later_final(), ["gelu"]).empty
    assert "None of the later" in later_arms_sentence(pd.DataFrame())


# --- design and spread ----------------------------------------------------------------------

def test_paired_sd_is_the_sd_of_the_seedwise_differences():
    from actbook.analysis.stats import paired_sd
    frame = pd.DataFrame({"activation": ["a"] * 3 + ["b"] * 3 + ["c"], "seed": [0, 1, 2, 0, 1, 2, 0],
                          "test error": [0.30, 0.32, 0.31, 0.28, 0.31, 0.27, 0.5]})
    assert paired_sd(frame, "a", "b") == pytest.approx(np.std([0.02, 0.01, 0.04], ddof=1))
    assert np.isnan(paired_sd(frame, "a", "c"))                       # one pair: no SD


def test_seeds_needed_is_the_fewest_seeds_whose_detectable_difference_is_the_margin():
    from actbook.analysis.stats import min_detectable_difference, seeds_needed
    for sd, margin, alpha in ((0.01, 0.005, 0.05), (0.004, -0.003, 0.05 / 12), (0.02, 0.03, 0.05)):
        n = seeds_needed(sd, margin, alpha)
        assert min_detectable_difference(sd, n, alpha=alpha) <= abs(margin)
        assert n == 2 or min_detectable_difference(sd, n - 1, alpha=alpha) > abs(margin)
    assert seeds_needed(1.0, 1e-6, 0.05, cap=1000) == 1000


def test_single_run_sd_from_pairs_of_grid_seeds():
    from actbook.analysis.stats import single_run_sd
    grid = pd.DataFrame({"activation": ["a", "a", "a", "a", "b", "b", "b"],
                         "learning_rate": [0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2],
                         "outcome": ["finished", "finished", "finished", "diverged", "finished", "finished",
                                     "finished"],
                         "val_error": [0.30, 0.33, 0.40, 0.9, 0.50, 0.46, 0.6]})
    # Pairs where both seeds trained: (a, 0.1) differs by 0.03, (b, 0.1) by 0.04; one run's variance is half of that.
    assert single_run_sd(grid) == pytest.approx(np.sqrt((0.03 ** 2 + 0.04 ** 2) / 2 / 2))
