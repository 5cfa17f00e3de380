"""The rerun's analysis (actbook.analysis.claims): the loss gap read in cross-entropy alone, the calibrated
test cross-entropy beside it, each comparison against a reference, and the table of what moved between two runs."""

import numpy as np
import pandas as pd
import pytest

from actbook.analysis import claims as C

NO_DIVERGED = pd.DataFrame(columns=["activation", "seed"])


def _final(effects: dict, seeds=6, penalty=None):
    """Each arm's last row: a per-seed level shared by all arms, its effect and its own wiggle; the objective
    losses are the cross-entropies plus an L2 penalty that differs between arms (``penalty``: arm -> value)."""
    level = 0.5 + 0.02 * np.sin(np.arange(seeds))
    rows = []
    for i, (arm, effect) in enumerate(effects.items()):
        wiggle = 0.004 * np.cos(np.arange(seeds) * (i + 1.3))
        err = level + effect + wiggle - wiggle.mean()
        pen = (penalty or {}).get(arm, 0.3)
        for k, e in enumerate(err):
            test_xent, train_xent = 2 + 4 * e, 0.01 + 0.001 * k
            rows.append({"activation": arm, "seed": k, "test_error": e, "train_eval_error": 0.0,
                         "test_xent": test_xent, "train_eval_xent": train_xent,
                         # the penalty is the same in both losses of a cell, up to float32 rounding
                         "test_loss": test_xent + pen, "train_eval_loss": train_xent + pen + 1e-7})
    return pd.DataFrame(rows).sort_values(["activation", "seed"]).reset_index(drop=True)  # outcome_frame's order


ARMS = {"relu": 0.0, "lrelu_0.01": 0.01, "lrelu_1/5.5": -0.03, "prelu": -0.03, "rrelu": -0.02,
        "rrelu_channel": -0.03, "sigmoid": 0.4, "elu": -0.03, "tanh": 0.0, "selu": -0.02, "gelu": -0.02,
        "silu": -0.02}


def _cells(final, calibrated=lambda a, s: 1.4 + 0.01 * s):
    return [{"activation": a, "seed": int(s), "calibration": {"temperature": 3.0, "test_xent_calibrated": calibrated(a, s)}}
            for a, s in zip(final.activation, final.seed)]


def test_the_xent_loss_gap_is_the_cross_entropy_difference_not_the_objectives():
    final = _final(ARMS)
    frame = C.outcome_frame(final, NO_DIVERGED, loss="xent")
    assert np.allclose(frame["loss gap"], (final.test_xent - final.train_eval_xent).to_numpy())
    assert np.allclose(frame["test cross-entropy"], final.test_xent.to_numpy())
    assert np.allclose(frame["training cross-entropy"], final.train_eval_xent.to_numpy())
    objective = C.outcome_frame(final, NO_DIVERGED)
    assert not np.allclose(objective["loss gap"], frame["loss gap"], rtol=0, atol=1e-9)  # the 1e-7 rounding
    assert "test cross-entropy" not in objective


def test_the_xent_reading_refuses_cells_without_cross_entropy():
    final = _final(ARMS).drop(columns=["test_xent"])
    with pytest.raises(ValueError, match="test_xent"):
        C.outcome_frame(final, NO_DIVERGED, loss="xent")
    final = _final(ARMS)
    final.loc[3, "train_eval_xent"] = np.nan
    with pytest.raises(ValueError, match="train_eval_xent"):
        C.outcome_frame(final, NO_DIVERGED, loss="xent")
    with pytest.raises(ValueError, match="objective"):
        C.outcome_frame(_final(ARMS), NO_DIVERGED, loss="cross-entropy")


def test_a_diverged_cell_counts_at_chance_and_has_no_cross_entropy():
    final = _final(ARMS)
    gone = final[(final.activation == "prelu") & (final.seed == 2)][["activation", "seed"]]
    kept = final.drop(gone.index)
    frame = C.outcome_frame(kept, gone, loss="xent")
    row = frame[(frame.activation == "prelu") & (frame.seed == 2)].iloc[0]
    assert row["test error"] == 0.9 and row["diverged"]
    assert np.isnan(row["test cross-entropy"]) and np.isnan(row["loss gap"])


def test_overfit_report_reads_claim_2_in_cross_entropy():
    final = _final(ARMS, penalty={"rrelu": 0.1, "prelu": 0.9, "lrelu_1/5.5": 0.5})
    report = C.overfit_report(final, NO_DIVERGED, loss="xent")
    gap = report.primary[report.primary.metric == "loss gap"].set_index("reference")
    expected = C.family_table(C.outcome_frame(final, NO_DIVERGED, loss="xent"), C.OVERFIT_PRIMARY)
    assert gap.loc["prelu", "mean diff"] == pytest.approx(
        expected.set_index(["claim", "reference"]).loc[("2", "prelu"), "mean diff"])
    wide = final.assign(g=final.test_xent - final.train_eval_xent).pivot(index="seed", columns="activation", values="g")
    assert gap.loc["prelu", "mean diff"] == pytest.approx((wide["rrelu"] - wide["prelu"]).mean())


def test_cross_entropy_frame_adds_each_cells_calibrated_cross_entropy():
    final = _final(ARMS)
    report = C.overfit_report(final, NO_DIVERGED, loss="xent")
    frame = C.cross_entropy_frame(report, _cells(final, lambda a, s: 1.0 + (a == "rrelu") + 0.01 * s))
    rrelu = frame[frame.activation == "rrelu"].sort_values("seed")
    assert np.allclose(rrelu["calibrated test cross-entropy"], 2.0 + 0.01 * np.arange(6))
    assert (frame["temperature"] == 3.0).all()


def test_cross_entropy_frame_refuses_a_mismatch_or_a_missing_block():
    final = _final(ARMS)
    report = C.overfit_report(final, NO_DIVERGED, loss="xent")
    cells = _cells(final)
    with pytest.raises(ValueError, match="not the same cells"):
        C.cross_entropy_frame(report, cells[1:])
    cells[4] = {**cells[4], "calibration": None}
    with pytest.raises(ValueError, match="no calibration block"):
        C.cross_entropy_frame(report, cells)
    with pytest.raises(ValueError, match="loss='xent'"):
        C.cross_entropy_frame(C.overfit_report(final, NO_DIVERGED), _cells(final))


def test_against_reference_gives_reference_minus_each_arm_unadjusted():
    final = _final(ARMS)
    frame = C.outcome_frame(final, NO_DIVERGED, loss="xent")
    table = C.against_reference(frame, "rrelu", ["relu", "prelu", "rrelu"], ["test error", "test cross-entropy"])
    assert set(table.index) == {("test error", "relu"), ("test error", "prelu"),
                                ("test cross-entropy", "relu"), ("test cross-entropy", "prelu")}
    r = table.loc[("test error", "relu")]
    assert r["mean diff"] == pytest.approx(-0.02) and r["arm"] == "rrelu"
    assert table.loc[("test cross-entropy", "prelu"), "mean diff"] == pytest.approx(4 * 0.01)
    assert (table["p (Holm)"] == table["p (paired t)"]).all()  # each on its own


def _vs(diffs: dict, resolved: dict):
    return pd.DataFrame({"mean diff": diffs, "ci low": {a: d - 0.005 for a, d in diffs.items()},
                         "ci high": {a: d + 0.005 for a, d in diffs.items()}, "resolved": resolved})


def test_rerun_table_says_which_verdicts_held_and_which_moved():
    before = _vs({"prelu": -0.023, "lrelu_0.01": -0.002, "gelu": -0.015}, {"prelu": True, "lrelu_0.01": False, "gelu": True})
    after = _vs({"prelu": -0.031, "lrelu_0.01": 0.010, "gelu": -0.013}, {"prelu": True, "lrelu_0.01": True, "gelu": False})
    table = C.rerun_table(before, after, ["prelu", "lrelu_0.01", "gelu"], labels=("old", "new"), display=str.upper)
    assert list(table.index) == ["PRELU", "LRELU_0.01", "GELU"]
    assert list(table["verdict"]) == ["held", "moved", "moved"]
    assert list(table["old: verdict"]) == ["lower", "not resolved", "lower"]
    assert list(table["new: verdict"]) == ["lower", "higher", "not resolved"]
    assert table.loc["PRELU", "new: difference (pp)"] == "−3.10"
    assert table.loc["LRELU_0.01", "change (pp)"] == "+1.20"
    assert table.loc["GELU", "new: 95 % interval"] == "−1.80 to −0.80"
    # two decimals: a change of a tenth of a point is not printed as "−0.0"
    assert table.loc["GELU", "change (pp)"] == "+0.20"
    with pytest.raises(KeyError):
        C.rerun_table(before, after, ["elu"])


def _two_settings(before_diffs: dict, after_diffs: dict):
    """Two outcome frames whose arms differ from ReLU by the given per-seed differences (ReLU at 0.5 + noise)."""
    def frame(diffs, seed0):
        n = len(next(iter(diffs.values())))
        relu = 0.5 + 0.01 * np.sin(np.arange(n) + seed0)
        rows = [{"activation": "relu", "seed": seed0 + k, "test error": relu[k]} for k in range(n)]
        rows += [{"activation": arm, "seed": seed0 + k, "test error": relu[k] + d[k]}
                 for arm, d in diffs.items() for k in range(n)]
        return pd.DataFrame(rows)
    return frame(before_diffs, 0), frame(after_diffs, 100)


def test_change_between_is_welchs_test_on_the_per_seed_differences():
    from scipy import stats as st
    b = {"elu": np.array([-0.03, -0.02, -0.025, -0.035, -0.028]), "gelu": np.array([-0.01, -0.012, -0.02, -0.015, -0.011])}
    a = {"elu": np.array([0.0, 0.01, -0.01, 0.005]), "gelu": np.array([-0.011, -0.016, -0.013, -0.014])}
    before, after = _two_settings(b, a)
    out = C.change_between(before, after, ["elu", "gelu"])
    for arm in ("elu", "gelu"):
        row, test = out.loc[arm], st.ttest_ind(a[arm], b[arm], equal_var=False)
        assert row["change"] == pytest.approx(a[arm].mean() - b[arm].mean())
        assert row["p (Welch)"] == pytest.approx(test.pvalue)
        ci = test.confidence_interval(0.95)
        assert (row["ci low"], row["ci high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
        assert (row["seeds before"], row["seeds after"]) == (5, 4)
    # ELU's gain vanished (resolved after Holm over the two); GELU's stayed (not resolved)
    assert out.loc["elu", "resolved"] and not out.loc["gelu", "resolved"]
    assert out.loc["elu", "p (Holm)"] == pytest.approx(min(1, 2 * out.loc["elu", "p (Welch)"]))


def test_change_between_needs_two_paired_seeds_in_each_setting():
    before, after = _two_settings({"elu": np.array([-0.03, -0.02])}, {"elu": np.array([0.0])})
    with pytest.raises(ValueError, match="at least 2"):
        C.change_between(before, after, ["elu"])
