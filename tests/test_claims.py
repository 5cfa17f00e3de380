"""The protocol's families of comparisons (actbook.analysis.claims)."""

import numpy as np
import pandas as pd
import pytest

from actbook.analysis import claims as C
from actbook.analysis.stats import min_detectable_difference


def _final(effects: dict, seeds=10):
    """Each arm: a per-seed level shared by all arms (the pairing), plus its effect,
    plus its own zero-mean wiggle (so no paired difference is constant)."""
    level = 0.5 + 0.02 * np.sin(np.arange(seeds))
    rows = []
    for i, (arm, effect) in enumerate(effects.items()):
        wiggle = 0.004 * np.cos(np.arange(seeds) * (i + 1.3))
        err = level + effect + wiggle - wiggle.mean()
        rows += [{"activation": arm, "seed": k, "test_error": e, "test_loss": 2 + e, "train_eval_loss": 0.01,
                  "train_eval_error": 0.0} for k, e in enumerate(err)]
    return pd.DataFrame(rows)


ARMS = {"relu": 0.0, "lrelu_0.01": 0.0, "lrelu_1/5.5": -0.03, "prelu": 0.0, "rrelu": -0.03, "rrelu_channel": -0.03}


def test_the_primary_family_has_the_protocols_ten_comparisons():
    assert len(C.OVERFIT_PRIMARY) == 10
    assert sum(c[0] == "1" for c in C.OVERFIT_PRIMARY) == 5 and sum(c[3] == "loss gap" for c in C.OVERFIT_PRIMARY) == 2


def test_a_large_effect_is_resolved_and_none_is_not():
    frame = C.outcome_frame(_final(ARMS), pd.DataFrame(columns=["activation", "seed"]))
    table = C.family_table(frame, C.OVERFIT_PRIMARY)
    by = table.set_index(["claim", "arm", "reference"])
    assert by.loc[("1", "lrelu_1/5.5", "relu"), "resolved"] and by.loc[("1", "rrelu", "relu"), "mean diff"] < -0.02
    assert not by.loc[("1", "prelu", "relu"), "resolved"]
    assert by.loc[("3", "rrelu", "prelu"), "resolved"] and not by.loc[("3", "rrelu", "lrelu_1/5.5"), "resolved"]
    mdd = table.attrs["minimum detectable difference"]
    assert mdd == pytest.approx(min_detectable_difference(table.attrs["pooled sd"], 10, alpha=0.005))
    assert 0.001 < mdd < 0.02


def test_a_diverged_cell_counts_at_chance_and_drops_out_of_the_gap():
    final = _final(ARMS)
    dropped = final[~((final.activation == "prelu") & (final.seed == 3))]
    diverged = pd.DataFrame({"activation": ["prelu"], "seed": [3]})
    frame = C.outcome_frame(dropped, diverged)
    cell = frame[(frame.activation == "prelu") & (frame.seed == 3)].iloc[0]
    assert cell["test error"] == 0.9 and np.isnan(cell["loss gap"]) and cell["diverged"]
    table = C.family_table(frame, C.OVERFIT_PRIMARY).set_index(["claim", "arm", "reference"])
    assert table.loc[("1", "prelu", "relu"), "seeds"] == 10  # intention to treat: the pair stays
    assert table.loc[("2", "rrelu", "prelu"), "seeds"] == 9   # the gap is undefined for it


def test_regime_1_tests_the_best_arm_against_every_other():
    frame = C.outcome_frame(_final({"relu": 0.0, "elu": -0.05, "sigmoid": 0.3}), pd.DataFrame(columns=["activation", "seed"]))
    family, best = C.best_against_others(frame, ["relu", "elu", "sigmoid"])
    assert best == "elu" and [c[2] for c in family] == ["relu", "sigmoid"]
    assert C.family_table(frame, family)["resolved"].all()


def test_claim_statuses_say_what_was_resolved_and_what_could_have_been_detected():
    frame = C.outcome_frame(_final(ARMS), pd.DataFrame(columns=["activation", "seed"]))
    table = C.family_table(frame, C.OVERFIT_PRIMARY)
    v = C.claim_statuses(table)["verdict"].tolist()
    assert v[0].startswith("partly supported: 3 of the 5")  # the two slopes at 1/5.5 and RReLU's two forms
    assert v[1].startswith("partly supported: 1 of the 2")  # the gap tracks the test error in this fake data
    assert v[2].startswith("partly supported: 2 of the 3")  # not better than Leaky ReLU (1/5.5), its twin here
    rows = table[table.claim == "3"].assign(resolved=True, **{"mean diff": 0.01})
    assert C.claim_status(rows, 0.01).startswith("contradicted: 3 of the 3")
    quiet = C.claim_status(rows.assign(resolved=False), 0.0123)
    assert quiet == ("not resolved: no comparison resolved either way, where differences of 1.2 pp or more "
                     "would have been detected with 80 % power")


def test_the_power_is_per_metric_never_pooled_across_units():
    frame = C.outcome_frame(_final(ARMS), pd.DataFrame(columns=["activation", "seed"]))
    frame["loss gap"] *= 40  # a loss gap spread far wider than the errors'
    table = C.family_table(frame, C.OVERFIT_PRIMARY)
    by = table.attrs["mdd by metric"]
    errors = [c for c in C.OVERFIT_PRIMARY if c[3] == "test error"]
    assert by["test error"] == pytest.approx(min_detectable_difference(C.pooled_sd(frame, errors), 10, alpha=0.005))
    assert by["loss gap"] > 10 * by["test error"]
    assert table.attrs["minimum detectable difference"] == by["test error"]
    assert (table.loc[table.metric == "loss gap", "mdd"] == by["loss gap"]).all()
    quiet = C.claim_status(table[table.claim == "2"].assign(resolved=False))
    assert quiet.endswith(f"differences of {by['loss gap']:.2f} nats in the loss gap or more would have been "
                          "detected with 80 % power")


def test_the_claims_table_gives_each_comparison_with_its_interval():
    frame = C.outcome_frame(_final(ARMS), pd.DataFrame(columns=["activation", "seed"]))
    table = C.family_table(frame, C.OVERFIT_PRIMARY)
    out = C.claims_table(table, {"1": "their CIFAR-10 table"}, display=str.upper)
    assert list(out.columns) == ["the published evidence", "this book's result", "verdict"]
    assert len(out) == 3 and out.iloc[0]["the published evidence"] == "their CIFAR-10 table"
    row = table[(table.claim == "1") & (table.arm == "rrelu")].iloc[0]
    first = out.iloc[0]["this book's result"].split("; ")
    assert len(first) == 5
    assert first[3] == (f"RRELU − RELU {100 * row['mean diff']:+.1f} pp ({100 * row['ci low']:+.1f} to "
                        f"{100 * row['ci high']:+.1f})").replace("-", "−")
    assert " pp" not in out.iloc[1]["this book's result"] and " nats (" in out.iloc[1]["this book's result"]
    assert out.iloc[0]["verdict"] == C.claim_statuses(table).iloc[0]["verdict"]


# Made-up test errors (not the paper's, which live in data/literature), with differences easy to check by eye.
PAPER = pd.Series({"relu": 0.1300, "lrelu_0.01": 0.1320, "lrelu_1/5.5": 0.1150, "prelu": 0.1200, "rrelu": 0.1140})


def test_the_arm_summary_counts_diverged_cells_at_chance_and_keeps_gaps_to_trained_ones():
    final = _final(ARMS)
    dropped = final[~((final.activation == "prelu") & (final.seed == 3))]
    frame = C.outcome_frame(dropped, pd.DataFrame({"activation": ["prelu"], "seed": [3]}))
    out = C.arm_summary(frame, ["relu", "prelu"])
    assert out.loc["prelu", "cells"] == 10 and out.loc["prelu", "diverged"] == 1 and out.loc["relu", "diverged"] == 0
    kept = dropped[dropped.activation == "prelu"].test_error
    assert out.loc["prelu", "test error"] == pytest.approx((kept.sum() + 0.9) / 10)
    assert out.loc["prelu", "test error, trained cells"] == pytest.approx(kept.mean())
    assert out.loc["prelu", "loss gap"] == pytest.approx((2 + kept - 0.01).mean())


def test_the_paper_s_margins_sit_beside_the_design_s_power():
    out = C.margins(PAPER, 0.01)
    assert list(out.index) == ["rrelu − lrelu_1/5.5", "rrelu − prelu", "rrelu − relu"]
    assert out["the paper's difference (pp)"].tolist() == pytest.approx([-0.10, -0.60, -1.60])
    assert out["detectable"].tolist() == ["no", "no", "yes"]  # at 1 pp only RReLU − ReLU is large enough


def test_the_paper_s_evidence_is_computed_from_its_transcribed_errors():
    ev = C.paper_evidence(PAPER)
    assert ev["1"] == ("test error minus ReLU's, one number each: lrelu_0.01 +0.20 pp, lrelu_1/5.5 −1.50 pp, "
                       "prelu −1.00 pp, RReLU −1.60 pp")
    assert ev["3"].endswith("RReLU − lrelu_0.01 −1.80 pp, RReLU − lrelu_1/5.5 −0.10 pp, RReLU − prelu −0.60 pp")
    assert "not transcribed" in ev["2"]


def test_the_reports_run_the_protocol_s_families_and_its_sensitivity_analysis():
    effects = {**ARMS, "sigmoid": 0.4, "elu": -0.02, "tanh": 0.0, "selu": 0.0, "gelu": 0.0, "silu": 0.0}
    final = _final(effects)
    # PReLU seed 3 diverged: counted at chance in the primary analysis, dropped in the sensitivity one.
    dropped = final[~((final.activation == "prelu") & (final.seed == 3))]
    report = C.overfit_report(dropped, pd.DataFrame({"activation": ["prelu"], "seed": [3]}))
    assert len(report.primary) == 10 and set(report.secondary) == {"later", "forms"}
    prelu = lambda t: t.set_index(["claim", "arm", "reference"]).loc[("1", "prelu", "relu")]
    assert prelu(report.primary)["seeds"] == 10 and prelu(report.sensitivity)["seeds"] == 9
    assert prelu(report.primary)["mean diff"] > prelu(report.sensitivity)["mean diff"]  # chance is worse
    sentence = C.sensitivity_sentence(report.primary, report.sensitivity)
    # The two test-error comparisons with PReLU lose a pair; its loss gap never had the cell.
    assert sentence.startswith("Dropping the diverged cells (2 pairs over the family)")
    clean = C.overfit_report(final, pd.DataFrame(columns=["activation", "seed"]))
    assert C.sensitivity_sentence(clean.primary, clean.sensitivity).startswith("No cell of these comparisons diverged")
    cpu = C.cpu_report(_final({"relu": 0.0, "elu": -0.05, "sigmoid": 0.3, "prelu": -0.01}, seeds=5),
                       pd.DataFrame(columns=["activation", "seed"]), ["sigmoid", "relu", "prelu", "elu"])
    assert cpu.best == "elu" and len(cpu.primary) == 3 and "vs ReLU" in cpu.secondary


def test_the_rungs_nine_arms_keep_regime_2s_families_among_them_each_corrected_over_what_is_left():
    rung = ["relu", "lrelu_0.01", "lrelu_1/5.5", "prelu", "rrelu", "rrelu_channel", "elu", "gelu", "silu"]
    effects = {**ARMS, "elu": -0.03, "gelu": 0.0, "silu": 0.0}
    report = C.overfit_report(_final(effects), pd.DataFrame(columns=["activation", "seed"]), arms=rung)
    assert len(report.primary) == 10                                         # claims 1-3 need none of the three
    assert list(report.secondary["later"].arm) == ["elu", "gelu", "silu"]    # PROTOCOL.md: 3 comparisons, Holm
    assert len(report.secondary["forms"]) == 1
    later = report.secondary["later"]
    # Holm over 3, not over regime 2's 6: the smallest p is multiplied by 3
    assert np.isclose(later["p (Holm)"].min(), min(1.0, 3 * later["p (paired t)"].min()))
    assert later.set_index("arm").loc["elu", "resolved"] and not later.set_index("arm").loc["gelu", "resolved"]
    whole = C.overfit_report(_final({**effects, "sigmoid": 0.4, "tanh": 0.0, "selu": 0.0}),
                             pd.DataFrame(columns=["activation", "seed"]))
    assert len(whole.secondary["later"]) == 6                                # the default: every arm


def test_a_report_refuses_arms_without_cells_or_that_empty_a_family():
    none = pd.DataFrame(columns=["activation", "seed"])
    with pytest.raises(ValueError, match="no cell of \\['gelu'\\]"):
        C.overfit_report(_final(ARMS), none, arms=[*ARMS, "gelu"])
    with pytest.raises(ValueError, match="leave the later family empty"):
        C.overfit_report(_final(ARMS), none, arms=list(ARMS))


def test_the_sensitivity_sentence_names_a_changed_resolution():
    key = dict(claim="1", arm="prelu", reference="relu", metric="test error")
    primary = pd.DataFrame([{**key, "resolved": True, "seeds": 10}])
    without = pd.DataFrame([{**key, "resolved": False, "seeds": 9}])
    assert C.sensitivity_sentence(primary, without, display=str.upper) == (
        "Dropping the diverged cells (1 pair over the family) changes 1 resolution: "
        "PRELU − RELU (test error) is not resolved without them.")


def test_the_comparison_table_prints_each_metric_in_its_own_unit():
    final = _final(ARMS)
    table = C.family_table(C.outcome_frame(final, pd.DataFrame(columns=["activation", "seed"])), C.OVERFIT_PRIMARY)
    out = C.comparison_table(table, display=str.upper)
    first, gap = table.iloc[0], table[table.metric == "loss gap"].iloc[0]
    assert out.index[0] == "LRELU_0.01 − RELU" and len(out) == len(table)
    assert out.iloc[0]["difference"] == f"{100 * first['mean diff']:+.2f} pp".replace("-", "−")
    assert out.iloc[0]["95 % interval (unadjusted)"] == (f"{100 * first['ci low']:+.2f} to "
                                                         f"{100 * first['ci high']:+.2f}").replace("-", "−")
    assert out.loc[f"{gap['arm'].upper()} − {gap['reference'].upper()}"].iloc[0]["difference"].endswith(" nats")
    assert set(out["resolved"]) <= {"yes", "no"}


def test_the_family_sentence_counts_resolutions_by_direction_and_states_the_power():
    table = pd.DataFrame({"claim": ["x"] * 3, "arm": ["a", "b", "c"], "reference": ["r"] * 3,
                          "metric": ["test error"] * 3, "seeds": [5, 5, 5], "mean diff": [-0.03, 0.02, -0.001],
                          "ci low": [-0.04, 0.01, -0.014], "ci high": [-0.02, 0.03, 0.002],
                          "resolved": [True, True, False], "mdd": [0.0244] * 3})
    table.attrs.update({"mdd by metric": {"test error": 0.0244}, "pooled sd": 0.00884})
    assert C.family_sentence(table) == (
        "2 of the 3 comparisons are resolved (1 with the first-named activation lower, 1 with it higher). With 5 "
        "seeds and a pooled SD of paired differences of 0.88 pp, a single comparison at the first Holm step's level "
        "(0.05/3) detects a true difference of 2.4 pp in the test error with 80 % power (the SD is estimated from "
        "these same seeds). Unresolved and smaller than that, so not testable at this size (which is not evidence "
        "of no effect): c − r (−0.1 pp, 95 % interval −1.4 to +0.2).")
    table["resolved"] = False
    assert C.family_sentence(table).startswith("None of the 3 comparisons is resolved. With 5 seeds")
    table.loc[1, "resolved"] = True
    assert C.family_sentence(table).startswith("1 of the 3 comparisons is resolved (1 with the first-named "
                                               "activation higher). ")
    table["resolved"], table["mean diff"] = True, -0.03
    assert C.family_sentence(table).startswith("All 3 comparisons are resolved, the first-named activation lower "
                                               "in each. ")
    one = table.iloc[[1]].copy()
    assert C.family_sentence(one).startswith("The comparison is resolved, the first-named activation lower. With 5")
    one["resolved"] = False
    assert C.family_sentence(one).startswith("The comparison is not resolved. With 5 seeds")


def test_the_leader_of_each_epoch_is_the_lowest_mean():
    history = pd.DataFrame({"activation": ["a", "a", "b", "b", "a", "b"], "seed": [0, 0, 0, 0, 1, 1],
                            "epoch": [1, 2, 1, 2, 1, 1], "test_error": [0.5, 0.3, 0.4, 0.35, 0.5, 0.45]})
    assert C.leaders(history, ["a", "b"]).to_dict() == {1: "b", 2: "a"}
    assert C.leaders(history, ["a"]).to_dict() == {1: "a", 2: "a"}


def test_regime_1_s_row_names_the_fastest_arm_and_what_is_resolved():
    cpu = C.cpu_report(_final({"relu": 0.0, "elu": -0.05, "sigmoid": 0.3, "prelu": -0.01}, seeds=5),
                       pd.DataFrame(columns=["activation", "seed"]), ["sigmoid", "relu", "prelu", "elu"])
    row = C.regime1_row(cpu, "ELU, say the authors", display=str.upper)
    assert list(row.index) == [C.REGIME1_QUESTION] and row.iloc[0]["the published evidence"] == "ELU, say the authors"
    assert row.iloc[0]["this book's result"].startswith("lowest mean test error: ELU; ELU − SIGMOID −")
    assert row.iloc[0]["verdict"] == ("ELU: the lowest test error at the last epoch, below every other "
                                      "activation's (all 3 comparisons resolved)")
    assert C.regime1_row(cpu, "", epochs=3).iloc[0]["verdict"].startswith("elu: the lowest test error after 3 epochs")
    cpu.primary.loc[cpu.primary.reference == "prelu", "resolved"] = False
    assert C.regime1_row(cpu, "", display=str.upper).iloc[0]["verdict"] == (
        "ELU leads, but only 2 of the 3 comparisons are resolved; not told apart from PRELU")
    cpu.primary["resolved"] = False
    assert C.regime1_row(cpu, "").iloc[0]["verdict"].startswith("not resolved: elu has the lowest mean")


def test_pending_rows_give_every_claim_and_no_verdict():
    out = C.pending_rows({"1": "their table"}, "3 of 120 cells in")
    assert len(out) == 3 and set(out["verdict"]) == {"not yet tested"}
    assert out.iloc[0]["the published evidence"] == "their table" and out.iloc[2]["this book's result"] == "3 of 120 cells in"


def test_the_family_sentence_of_part_of_a_family_uses_the_whole_family_s_level():
    table = pd.DataFrame({"claim": ["2"] * 2, "arm": ["a", "b"], "reference": ["r"] * 2, "metric": ["loss gap"] * 2,
                          "seeds": [9, 10], "mean diff": [-0.3, -0.01], "ci low": [-0.4, -0.05],
                          "ci high": [-0.2, 0.03], "resolved": [True, False], "mdd": [0.2] * 2})
    out = C.family_sentence(table, family_size=10)
    assert out == ("1 of the 2 comparisons is resolved (1 with the first-named activation lower). With 9 seeds, a "
                   "single comparison at the first Holm step's level (0.05/10) detects a true difference of 0.200 nats "
                   "in the loss gap with 80 % power (the SD is estimated from these same seeds). Unresolved and "
                   "smaller than that, so not testable at this size (which is not evidence of no effect): b − r "
                   "(−0.010 nats, 95 % interval −0.050 to +0.030).")


def test_two_comparisons_read_as_both_and_a_whole_mixed_family_as_all():
    table = pd.DataFrame({"arm": ["a", "b", "c"], "reference": ["r"] * 3, "metric": ["test error"] * 3,
                          "seeds": [10] * 3, "mean diff": [-0.02, -0.03, 0.01], "ci low": [-0.03, -0.04, 0.005],
                          "ci high": [-0.01, -0.02, 0.015], "resolved": [True] * 3, "mdd": [0.005] * 3})
    assert C.family_sentence(table.iloc[:2]).startswith("Both comparisons are resolved, the first-named activation "
                                                        "lower in each.")
    assert C.family_sentence(table).startswith("All 3 comparisons are resolved (2 with the first-named activation "
                                               "lower, 1 with it higher).")
    assert C.claim_status(table.iloc[:2]).startswith("supported: both comparisons")


def test_interval_text_and_its_reading_in_percentage_points():
    row = pd.Series({"mean diff": -0.0018, "ci low": -0.0038, "ci high": 0.0001})
    assert C.interval_text(row) == "\u22120.18 pp (95 % interval \u22120.38 to +0.01)"
    assert C.interval_text(row, 1) == "\u22120.2 pp (95 % interval \u22120.4 to 0.0)"   # zero has no sign
    near_zero = pd.Series({"mean diff": -0.00002, "ci low": -0.0035, "ci high": 0.0035})
    assert C.interval_text(near_zero).startswith("0.00 pp (95 % interval \u22120.35 to +0.35)")
    assert C.interval_reading(row) == "rules out a benefit larger than 0.38 pp and a harm larger than 0.01 pp"
    assert C.interval_reading(row, paper=-0.005).endswith(", and excludes Xu et al.'s \u22120.50 pp")
    assert C.interval_reading(row, paper=-0.002).endswith(", and includes Xu et al.'s \u22120.20 pp")
    harm = pd.Series({"mean diff": 0.01, "ci low": 0.005, "ci high": 0.02})
    assert C.interval_reading(harm) == "rules out any benefit and a harm larger than 2.00 pp"


def test_the_cross_entropy_of_the_wrong_answers_is_their_mean_minus_log_p_true():
    labels = np.array([0, 1, 2, 3])
    predicted = np.array([0, 2, 2, 0])          # images 1 and 3 wrong
    p_true = np.array([0.9, 0.2, 0.6, 0.0])     # image 3's p_true underflowed to 0
    got = C.wrong_answer_cross_entropy(predicted, p_true, labels, zero_terms=50.0)
    assert got == pytest.approx((-np.log(0.2) + 50.0) / 2)
    assert np.isnan(C.wrong_answer_cross_entropy(labels, np.ones(4), labels))
    with pytest.raises(ValueError):
        C.wrong_answer_cross_entropy(labels, np.zeros(4), labels)
    with pytest.raises(ValueError):
        C.wrong_answer_cross_entropy(predicted[:3], p_true, labels)


def test_the_interval_at_the_first_holm_step_is_the_paired_t_interval_at_that_level():
    from scipy import stats as st
    frame = C.outcome_frame(_final(ARMS), pd.DataFrame(columns=["activation", "seed"]))
    row = C.family_table(frame, [("1", "lrelu_0.01", "relu", "test error")]).iloc[0]
    d = C._pairs(frame, "lrelu_0.01", "relu", "test error")
    level = 0.05 / 11
    want = st.ttest_rel(d, np.zeros_like(d)).confidence_interval(1 - level)
    got = C.interval_at_level(row, level)
    assert (got["ci low"], got["ci high"]) == (pytest.approx(want.low), pytest.approx(want.high))
    assert got["ci low"] < row["ci low"] and got["mean diff"] == row["mean diff"]   # wider, same centre
    assert C.interval_at_level(row, 0.05)["ci high"] == pytest.approx(row["ci high"])


def test_a_row_flipped_in_its_interval_only_is_refused_not_widened_around_the_wrong_mean():
    """Reading B − A from an A − B row means flipping the mean too; flipping only the interval
    once gave an interval centred on the unflipped mean, read with its ends swapped."""
    frame = C.outcome_frame(_final(ARMS), pd.DataFrame(columns=["activation", "seed"]))
    row = C.family_table(frame, [("1", "lrelu_0.01", "relu", "test error")]).iloc[0].copy()
    row["mean diff"], row["ci low"], row["ci high"] = 0.004, -0.003, 0.005
    flipped = row.copy()
    flipped["ci low"], flipped["ci high"] = -row["ci high"], -row["ci low"]
    with pytest.raises(ValueError, match="outside its own 95 % interval"):
        C.interval_at_level(flipped, 0.01)
    flipped["mean diff"] = -row["mean diff"]
    got = C.interval_at_level(flipped, 0.01)
    assert got["ci low"] == pytest.approx(-C.interval_at_level(row, 0.01)["ci high"])


def test_against_relu_reads_claim_1_and_the_later_family_one_row_per_arm():
    rung = ["relu", "lrelu_0.01", "lrelu_1/5.5", "prelu", "rrelu", "rrelu_channel", "elu", "gelu", "silu"]
    report = C.overfit_report(_final({**ARMS, "elu": -0.03, "gelu": 0.0, "silu": 0.0}),
                              pd.DataFrame(columns=["activation", "seed"]), arms=rung)
    vs = C.against_relu(report)
    claim1 = report.primary[report.primary.claim == "1"]
    assert list(vs.index) == [*claim1.arm, "elu", "gelu", "silu"] and (vs.reference == "relu").all()
    # each row keeps its own family's correction
    assert vs.loc["elu", "p (Holm)"] == report.secondary["later"].set_index("arm").loc["elu", "p (Holm)"]
