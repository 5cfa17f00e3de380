"""The comparison protocol: a validation split, a learning-rate grid scored on
it, rates chosen by a stated rule, and final cells at the chosen rates."""

import json

import numpy as np
import pandas as pd
import pytest

from actbook.analysis import selection as S
from actbook.analysis.results import ResultsError
from actbook.runner import data as D
from actbook.runner import experiment as E
from actbook.runner import profiles as P
from synthetic import TINY, synthetic_cifar, write_profiles

GRIDDED = {**TINY, "epochs": 2, "eval_every": 1, "validation_size": 50, "train_size": 100, "seeds": [0, 1],
           "grid": {"learning_rates": [0.01, 0.05], "seeds": [100]}}


@pytest.fixture
def gridded(tmp_path, monkeypatch):
    path = write_profiles(tmp_path / "profiles.json", gridded=GRIDDED)
    monkeypatch.setenv("ACTBOOK_PROFILES", path)
    return synthetic_cifar(n_train=300, n_test=100)


def test_validation_images_are_held_out_of_training_and_balanced():
    data = synthetic_cifar(n_train=300, n_test=100)
    prepared = D.prepare({**GRIDDED, "train_size": None}, data)
    assert len(prepared.y_val) == 50 and np.bincount(prepared.y_val).tolist() == [5] * 10
    assert len(prepared.y_train) == 250  # all the rest
    # No validation image is a training image: compare the raw pixels.
    train = {x.tobytes() for x in D.hold_out(data.x_train, data.y_train, 50, 0)[0]}
    held = D.hold_out(data.x_train, data.y_train, 50, 0)[2]
    assert not any(x.tobytes() in train for x in held)
    assert P.training_images(P.get_profile("cpu")) == 45_000


def test_profile_rules_for_a_grid():
    def problems(**change):
        with pytest.raises(P.UsageError) as e:
            P.validate("x", {**GRIDDED, **change})
        return str(e.value)
    assert "set validation_size" in problems(validation_size=None)
    assert "also final seeds" in problems(grid={"learning_rates": [0.01, 0.05], "seeds": [0]})
    assert "not among grid.learning_rates" in problems(chosen_rates={"relu": 0.02})
    without = {k: v for k, v in GRIDDED.items() if k != "grid"}
    with pytest.raises(P.UsageError, match="without a grid"):
        P.validate("x", {**without, "chosen_rates": {"relu": 0.01}})
    assert "more than the 50,000" in problems(train_size=49_990, validation_size=20)


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_grid_cells_then_selection_then_final_cells(gridded, tmp_path):
    results = tmp_path / "r"
    grid = P.plan("gridded", stage="grid")
    assert [c.stem for c in grid] == ["relu-lr0.01-seed100", "rrelu-lr0.01-seed100", "relu-lr0.05-seed100",
                                      "rrelu-lr0.05-seed100"]
    with pytest.raises(P.UsageError, match="no learning rate chosen"):
        E.run("gridded", results, data=gridded, progress=False)
    paths = E.run("gridded", results, data=gridded, progress=False, stage="grid")
    assert all(p.parent.name == "grid" for p in paths)
    cell = json.loads(paths[0].read_text())
    assert cell["stage"] == "grid" and cell["config"]["optimizer"]["learning_rate"] == 0.01
    assert all(r["test_error"] is None and r["val_error"] is not None for r in cell["history"])
    assert cell["provenance"]["test_images_used"] == 0 and cell["provenance"]["validation_images_used"] == 50
    assert E.check("gridded", results, stage="grid") == []
    assert any("not runnable yet" in p for p in E.check("gridded", results))

    # The edge rule: in a grid of two rates every choice is at an end, so each
    # arm's grid grows by one rate beyond it before anything is chosen.
    assert E.main(["select", "--profile", "gridded", "--results", str(results)]) == 3  # the command line, no write
    assert "chosen_rates" not in P.get_profile("gridded") and "extended" not in P.get_profile("gridded")["grid"]
    assert E.select("gridded", results, write=True) == 3
    # The extension is recorded beside the results, not in the profile's file.
    assert "extended" not in P.get_profile("gridded")["grid"]
    extended = P.recorded_selection("gridded", results)["extended"]
    assert set(extended) == {"relu", "rrelu"} and all(len(r) == 1 and r[0] in (0.005, 0.1) for r in extended.values())
    assert json.loads((results / "gridded.grid_extended.json").read_text()) == {"profile": "gridded",
                                                                               "extended": extended}
    assert "chosen_rates" not in P.get_profile("gridded", results=results)
    assert any(p.startswith("missing:") for p in E.check("gridded", results, stage="grid"))
    E.run("gridded", results, data=gridded, progress=False, stage="grid")
    assert E.check("gridded", results, stage="grid") == []
    assert E.select("gridded", results, write=True) == 0  # once: a choice at the extension's end is final
    # The choice is recorded beside the results, not in the profile's file.
    assert "chosen_rates" not in P.get_profile("gridded")
    recorded = json.loads((results / "gridded.chosen_rates.json").read_text())
    chosen = P.get_profile("gridded", results=results)["chosen_rates"]
    assert recorded == {"profile": "gridded", "chosen_from": "gridded", "chosen_rates": chosen}
    frame = S.grid_frame(S.load_grid(results, "gridded"))
    expected = S.choose_rates(frame, ["relu", "rrelu"], [0.01, 0.05], [100], extended)["rate"].to_dict()
    assert chosen == expected
    # The reader's report of the grid as designed: its own rates only, unless told the extension.
    report = S.grid_report(results, "gridded", extended=extended)
    assert report.complete and report.chosen["rate"].to_dict() == expected and report.planned == 6
    # Without it, the grid as designed: the extension's cells are left out, not mixed in.
    designed = S.grid_report(results, "gridded")
    assert designed.planned == 4 and len(designed.frame) == 4 and len(designed.cells) == 4
    assert set(designed.frame.learning_rate) == {0.01, 0.05}
    assert len(report.at_chosen()) == 2 and report.progress() == "every cell of the one grid seed"
    assert list(S.chosen_table(report.chosen).index) == ["relu", "rrelu"]
    assert S.final_progress(results, "gridded", report.config) == (0, 4)
    E.run("gridded", results, data=gridded, progress=False)
    assert S.final_progress(results, "gridded", report.config) == (4, 4)
    # The analysis reads the final cells alone: the grid's cells below them are not part of it.
    from actbook.analysis import claims, results as R
    sweep = R.load_sweep(results, "gridded")
    assert len(sweep.cells) == 4 and {c["stage"] for c in sweep.cells} == {"final"} and not sweep.missing
    frame = claims.outcome_frame(sweep.final, sweep.diverged)
    table = claims.family_table(frame, [("1", "rrelu", "relu", "test error"), ("2", "rrelu", "relu", "loss gap")])
    assert table["seeds"].tolist() == [2, 2] and set(table.attrs["mdd by metric"]) == {"test error", "loss gap"}
    # Part of a grid is reported, never chosen from.
    part = tmp_path / "part" / "gridded" / "grid"
    part.mkdir(parents=True)
    for p in paths[:3]:
        (part / p.name).write_bytes(p.read_bytes())
    partial = S.grid_report(tmp_path / "part", "gridded")
    assert not partial.complete and partial.chosen is None and partial.at_chosen() == [] and len(partial.frame) == 3
    assert E.check("gridded", results) == []
    final = json.loads((results / "gridded" / "relu-seed0.json").read_text())
    assert final["stage"] == "final" and final["config"]["optimizer"]["learning_rate"] == chosen["relu"]
    assert final["history"][-1]["test_error"] is not None and final["history"][-1]["val_error"] is not None
    # The grid's cells are not stale for a profile that now records its choice.
    assert E.check("gridded", results, stage="grid") == []


def test_rates_recorded_beside_the_results_are_what_run_plan_and_check_read(gridded, tmp_path, capsys):
    results = tmp_path / "r"
    results.mkdir()
    (results / "gridded.chosen_rates.json").write_text(json.dumps(
        {"profile": "gridded", "chosen_from": "gridded", "chosen_rates": {"relu": 0.05, "rrelu": 0.01}}))
    config = P.get_profile("gridded", results=results)
    assert config["chosen_rates"] == {"relu": 0.05, "rrelu": 0.01}
    assert P.cell_config(config, P.Cell("gridded", "rrelu", 0))["optimizer"]["learning_rate"] == 0.01
    assert E.main(["plan", "--profile", "gridded", "--results", str(results)]) == 0
    assert "relu-seed0 (learning rate 0.05)" in capsys.readouterr().out
    assert any(p.startswith("missing:") for p in E.check("gridded", results))  # runnable: only the cells are missing
    # A rate off the grid, or a file for another profile, is one error line.
    (results / "gridded.chosen_rates.json").write_text(json.dumps(
        {"profile": "gridded", "chosen_rates": {"relu": 0.07}}))
    assert E.main(["check", "--profile", "gridded", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "gridded.chosen_rates.json" in err and "not among grid.learning_rates" in err
    (results / "gridded.chosen_rates.json").write_text(json.dumps({"profile": "cpu", "chosen_rates": {}}))
    with pytest.raises(P.UsageError, match="expected"):
        P.get_profile("gridded", results=results)


def test_the_grid_extension_recorded_beside_the_results_is_what_plan_run_and_check_read(gridded, tmp_path,
                                                                                        capsys):
    """The profile carries no extension and no rates; the results folder's records are what counts."""
    results = tmp_path / "r"
    results.mkdir()
    assert [c.stem for c in P.plan("gridded", stage="grid", results=results)] == [
        "relu-lr0.01-seed100", "rrelu-lr0.01-seed100", "relu-lr0.05-seed100", "rrelu-lr0.05-seed100"]
    (results / "gridded.grid_extended.json").write_text(json.dumps(
        {"profile": "gridded", "extended": {"relu": [0.005], "rrelu": [0.1]}}))
    assert [c.stem for c in P.plan("gridded", stage="grid", results=results)][4:] == [
        "relu-lr0.005-seed100", "rrelu-lr0.1-seed100"]
    assert "extended" not in P.get_profile("gridded")["grid"]  # the profile itself is not changed
    missing = [p for p in E.check("gridded", results, stage="grid") if p.startswith("missing:")]
    assert "missing: rrelu-lr0.1-seed100" in missing and len(missing) == 6
    assert E.main(["plan", "--profile", "gridded", "--stage", "grid", "--results", str(results)]) == 0
    assert "gridded/grid relu-lr0.005-seed100" in capsys.readouterr().out
    # A rate chosen from the extension is a rate of the grid.
    (results / "gridded.chosen_rates.json").write_text(json.dumps(
        {"profile": "gridded", "chosen_from": "gridded", "chosen_rates": {"relu": 0.005, "rrelu": 0.1}}))
    assert P.recorded_selection("gridded", results) == {
        "chosen_from": "gridded", "chosen_rates": {"relu": 0.005, "rrelu": 0.1},
        "extended": {"relu": [0.005], "rrelu": [0.1]}}
    config = P.get_profile("gridded", results=results)
    assert P.cell_config(config, P.Cell("gridded", "rrelu", 1))["optimizer"]["learning_rate"] == 0.1
    # Records in another folder are not read: there, nothing is chosen or extended yet.
    assert P.recorded_selection("gridded", tmp_path) == {"chosen_from": "gridded", "chosen_rates": {}, "extended": {}}
    assert len(P.plan("gridded", stage="grid", results=tmp_path)) == 4


def test_a_profiles_own_copies_are_not_read_when_a_results_folder_is_given(tmp_path, monkeypatch):
    """Choices typed into a profile (as profiles.json still carries for the committed regimes) give way to
    the results folder's records, and to their absence."""
    typed = {**GRIDDED, "grid": {**GRIDDED["grid"], "extended": {"relu": [0.005]}},
             "chosen_rates": {"relu": 0.005, "rrelu": 0.05}}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "p.json", gridded=typed))
    results = tmp_path / "r"
    results.mkdir()
    assert len(P.plan("gridded", stage="grid")) == 5  # without a results folder: the profile as it stands
    assert len(P.plan("gridded", stage="grid", results=results)) == 4
    config = P.get_profile("gridded", results=results)
    assert "chosen_rates" not in config and "extended" not in config["grid"]
    assert any("not runnable yet" in p for p in E.check("gridded", results))
    (results / "gridded.chosen_rates.json").write_text(json.dumps(
        {"profile": "gridded", "chosen_from": "gridded", "chosen_rates": {"relu": 0.01, "rrelu": 0.05}}))
    assert P.get_profile("gridded", results=results)["chosen_rates"] == {"relu": 0.01, "rrelu": 0.05}


@pytest.mark.parametrize("record, message", [
    ({"profile": "gridded", "extended": {"relu": [0.2]}}, "the edge rule adds only 0.005 or 0.1"),
    ({"profile": "cpu", "extended": {"relu": [0.005]}}, "expected"),
    ({"profile": "gridded", "extended": [0.005]}, "expected"),
    ("{not json", "cannot read the grid's extension"),
])
def test_a_bad_grid_extension_record_is_one_error_line(gridded, tmp_path, capsys, record, message):
    results = tmp_path / "r"
    results.mkdir()
    path = results / "gridded.grid_extended.json"
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    for command in (["check", "--stage", "grid"], ["plan", "--stage", "grid"], ["run", "--stage", "grid"]):
        assert E.main([command[0], "--profile", "gridded", "--results", str(results), *command[1:]]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and str(path) in err and message in err, err
    assert not (results / "gridded").exists()  # nothing ran


def test_a_grid_extension_for_a_profile_without_a_grid_is_one_error_line(tmp_path, capsys):
    (tmp_path / "smoke.grid_extended.json").write_text(json.dumps({"profile": "smoke", "extended": {"relu": [1]}}))
    assert E.main(["check", "--profile", "smoke", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "has no learning-rate grid to extend" in err and err.count("\n") == 1


def test_the_learning_rate_of_a_gridded_profile_cannot_be_overridden(gridded):
    with pytest.raises(P.UsageError, match="would be ignored"):
        P.plan("gridded", overrides={"optimizer.learning_rate": 0.2})


def _frame(rows):
    return pd.DataFrame(rows, columns=["activation", "learning_rate", "seed", "outcome", "score"])


def test_rule_mean_score_diverged_at_chance_ties_to_the_smaller_rate():
    rows = [("a", 0.1, 0, "finished", 0.30), ("a", 0.1, 1, "diverged", S.CHANCE_ERROR),
            ("a", 0.05, 0, "finished", 0.40), ("a", 0.05, 1, "finished", 0.41),
            ("b", 0.1, 0, "finished", 0.20), ("b", 0.1, 1, "finished", 0.30),
            ("b", 0.05, 0, "finished", 0.25), ("b", 0.05, 1, "finished", 0.25)]
    chosen = S.choose_rates(_frame(rows), ["a", "b"], [0.05, 0.1], [0, 1])
    assert chosen.loc["a", "rate"] == 0.05  # 0.6 mean with its diverged seed at chance
    assert chosen.loc["a", "diverged_in_grid"] == 1
    assert chosen.loc["b", "rate"] == 0.05 and chosen.loc["b", "runner_up_rate"] == 0.1  # a tie
    assert bool(chosen.loc["b", "tie"]) and not bool(chosen.loc["a", "tie"])
    assert bool(chosen.loc["b", "at_edge"])
    with pytest.raises(ResultsError, match="not complete"):
        S.choose_rates(_frame(rows[:-1]), ["a", "b"], [0.05, 0.1], [0, 1])
    # select applies the runner's copy of the rule: the same choice, and the same refusal.
    from actbook.runner import rate_rule
    pd.testing.assert_frame_equal(rate_rule.choose_rates(_frame(rows), ["a", "b"], [0.05, 0.1], [0, 1]), chosen)
    with pytest.raises(rate_rule.GridError, match="not complete"):
        rate_rule.choose_rates(_frame(rows[:-1]), ["a", "b"], [0.05, 0.1], [0, 1])


@pytest.mark.parametrize("profile", ["overfit", "cpu", "fit1k", "fit8k"])
def test_committed_chosen_rates_are_what_the_committed_grid_selects(profile):
    """No rate is typed in: a profile records chosen rates exactly when its
    committed grid is complete, and they are the rule's choice from it.
    ``overfit`` and ``cpu`` chose before the edge rule, over their grids' own
    rates (PROTOCOL.md); ``fit1k`` chooses from ``overfit``'s grid with it."""
    from pathlib import Path

    from actbook.analysis.results import ResultsError
    results = Path(__file__).resolve().parent.parent / "data" / "results"
    config = P.get_profile(profile, results=results)
    source = config.get("rates_from") or profile
    grid = P.get_profile(source, results=results)["grid"]
    extended = grid.get("extended") if source != profile else None
    try:
        frame = S.grid_frame(S.load_grid(results, source))
        expected = S.choose_rates(frame, config["arms"], grid["learning_rates"], grid["seeds"], extended)
    except ResultsError:  # the grid (with its extension) is not complete yet, or has no cell yet
        assert "chosen_rates" not in config, f"{profile}: rates chosen before its committed grid is complete"
        return
    if source != profile and expected["extend"].notna().any():
        assert "chosen_rates" not in config, f"{profile}: rates chosen before the edge rule's cells ran"
        return
    assert config.get("chosen_rates") == expected["rate"].to_dict()


def test_the_grid_figure_draws_one_curve_per_activation_and_hollow_points_where_a_seed_diverged():
    import matplotlib
    matplotlib.use("Agg")
    from actbook import plotting
    scores = pd.DataFrame({"activation": ["relu", "relu", "selu", "selu"], "learning_rate": [0.05, 0.1] * 2,
                           "score": [0.5, 0.6, 0.55, 0.9], "seeds": [2] * 4, "diverged": [0, 0, 0, 1]})
    fig = plotting.learning_rate_grid(scores, chosen={"relu": 0.05}, chance=0.9, order=["selu", "relu"], panels=1)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["selu", "relu"]
    hollow = [l for l in ax.lines if l.get_markerfacecolor() in ("none", "white") and len(l.get_xdata()) == 1]
    assert {(l.get_xdata()[0], l.get_ydata()[0]) for l in hollow} >= {(0.1, 0.9), (0.05, 0.5)}  # diverged; chosen ring
    assert all(h.get_marker() not in ("", "None", None) for h in ax.get_legend().legend_handles)


def test_learning_curves_skip_unmeasured_epochs_and_band_the_seeds():
    import matplotlib
    matplotlib.use("Agg")
    from actbook import plotting
    rows = [{"activation": arm, "seed": seed, "epoch": e,
             "val_error": (0.8 - 0.01 * e + 0.02 * seed + shift) if e % 5 == 0 else np.nan,
             "test_loss": 2.0 - 0.01 * e}
            for arm, shift in (("relu", 0.0), ("elu", -0.1)) for seed in (0, 1) for e in range(1, 21)]
    fig = plotting.learning_curves(pd.DataFrame(rows), ["val_error", "test_loss"], ["relu", "elu"],
                                   display=str.upper, labels={"val_error": "validation error"}, chance=0.9)
    left, right = fig.axes
    relu = left.lines[0]
    assert list(relu.get_xdata()) == [5, 10, 15, 20]  # only the measured epochs
    assert np.allclose(relu.get_ydata(), [0.8 - 0.01 * e + 0.01 for e in (5, 10, 15, 20)])  # the mean of 2 seeds
    assert left.get_ylabel() == "validation error" and right.get_ylabel() == "test loss"
    assert any(l.get_linestyle() == ":" for l in left.lines)  # chance on the error panel
    assert not any(l.get_linestyle() == ":" for l in right.lines)
    assert len(left.collections) == 2  # a band per arm
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["RELU", "ELU"]
    # With the study's order, an arm keeps its colour whatever group it is drawn in.
    alone = plotting.learning_curves(pd.DataFrame(rows), ["val_error"], ["elu"], order=["relu", "elu"])
    grid = plotting.learning_rate_grid(pd.DataFrame({"activation": ["relu", "elu"], "learning_rate": [0.05] * 2,
                                                     "score": [0.5, 0.4], "seeds": [1] * 2, "diverged": [0] * 2}),
                                       order=["relu", "elu"], panels=1)
    elu_grid = next(l for l in grid.axes[0].lines if l.get_label() == "elu")
    assert alone.axes[0].lines[0].get_color() == elu_grid.get_color() == "C1"
    assert grid.axes[0].get_ylabel() == "validation error (one seed)"
    only_elu = plotting.learning_rate_grid(pd.DataFrame({"activation": ["elu"], "learning_rate": [0.05], "score": [0.4],
                                                          "seeds": [1], "diverged": [0]}),
                                           palette=["relu", "elu"], panels=1)
    assert only_elu.axes[0].lines[0].get_color() == "C1"  # its place in the study, not in this figure
    assert len({plotting.curve_style(k)["color"] for k in range(12)}) == 12


def test_the_edge_sentence_names_the_arms_whose_best_rate_is_at_an_end_of_the_grid():
    chosen = pd.DataFrame({"rate": [0.0125, 0.05, 0.1, 0.0125]}, index=["selu", "relu", "elu", "sigmoid"])
    text = S.edge_sentence(chosen, [0.1, 0.05, 0.025, 0.0125], display=str.upper)
    assert text.startswith("SELU and SIGMOID are best at the grid's smallest rate, 0.0125, so a better rate may lie "
                           "below it; ELU is best at the grid's largest rate, 0.1, so a better rate may lie above it.")
    inside = S.edge_sentence(chosen.loc[["relu"]], [0.025, 0.05, 0.1])
    assert inside == "Every chosen rate lies inside the grid, with no better rate on either side."


def test_the_progress_clause_counts_each_grid_seed():
    rows = [("a", r, s, "finished", 0.5) for r in (0.05, 0.1) for s in (100, 101)]
    assert S.progress_clause(_frame(rows), ["a"], [0.05, 0.1], [100, 101]) == "every cell of both grid seeds"
    part = S.progress_clause(_frame(rows[:3]), ["a"], [0.05, 0.1], [100, 101])
    assert part == "all 2 cells of grid seed 100 and 1 of the 2 of seed 101"
    assert S.progress_clause(_frame(rows[:1]), ["a"], [0.05, 0.1], [100]) == "all at its one grid seed, 100"


def test_an_activation_at_chance_at_every_rate_is_named_apart_from_the_edges():
    chosen = pd.DataFrame({"rate": [0.0125, 0.0125, 0.05]}, index=["sigmoid", "relu", "elu"])
    scores = pd.DataFrame({"activation": ["sigmoid"] * 2 + ["relu"] * 2 + ["elu"] * 2,
                           "learning_rate": [0.0125, 0.1] * 3, "score": [0.9, 0.895, 0.5, 0.6, 0.55, 0.5]})
    text = S.edge_sentence(chosen, [0.0125, 0.05, 0.1], scores=scores)
    assert text == ("relu is best at the grid's smallest rate, 0.0125, so a better rate may lie below it. The final "
                    "cells use these rates. sigmoid "
                    "stays within 2 pp of chance at every rate of the grid: it trains at none of them, so its chosen "
                    "rate says nothing about the rate it would need.")


def test_a_grid_plans_every_arm_at_every_rate_and_grid_seed():
    config = {"arms": ["relu", "elu"], "grid": {"learning_rates": [0.01, 0.02, 0.04], "seeds": [100, 101]}}
    assert S.planned_cells(config) == len([(a, r, s) for a in config["arms"] for r in config["grid"]["learning_rates"]
                                           for s in config["grid"]["seeds"]])


def test_a_tie_on_a_half_way_value_is_told_and_others_are_not():
    chosen = pd.DataFrame({"rate": [0.025, 0.05], "score": [0.49949999153614044, 0.40], "runner_up_rate": [0.05, 0.1],
                           "runner_up_score": [0.4989999979734421, 0.4004], "tie": [True, True]},
                          index=pd.Index(["rrelu", "elu"], name="activation"))
    note = S.halfway_note(chosen, display=str.upper)
    assert note.startswith("RRELU's tie is a close one: its mean score at the chosen rate 0.025 is 0.4995")
    assert "between 0.499 and 0.500" in note and "ELU" not in note.replace("RRELU", "")
    assert "would have chosen 0.05." in note  # the exact decimal 0.500 loses to the runner-up's 0.499
    assert S.halfway_note(chosen.assign(tie=False)) == ""


def test_the_shared_rate_reading_ranks_each_activation_both_ways():
    rows = [("a", 0.05, 100, "finished", 0.50), ("a", 0.05, 101, "finished", 0.52),
            ("a", 0.1, 100, "finished", 0.40), ("a", 0.1, 101, "finished", 0.42),
            ("b", 0.05, 100, "finished", 0.45), ("b", 0.05, 101, "finished", 0.47),
            ("b", 0.1, 100, "diverged", 0.9), ("b", 0.1, 101, "diverged", 0.9)]
    frame = _frame(rows)
    grid = S.Grid([], {"arms": ["a", "b"], "grid": {"learning_rates": [0.05, 0.1], "seeds": [100, 101]}}, frame,
                  S.grid_scores(frame), 8, S.choose_rates(frame, ["a", "b"], [0.05, 0.1], [100, 101]))
    table = S.shared_rate_table(grid, 0.1, display=str.upper)
    assert table.loc["A", "rank at 0.1"] == 1 and table.loc["B", "rank at 0.1"] == 2
    assert table.loc["B", "grid seeds diverged there"] == "2 of 2" and table.loc["B", "chosen rate"] == 0.05
    assert table.loc["B", "rank at the chosen rates"] == 2  # 0.46 against A's 0.41
    assert S.largest_move(table, "g") == ("In g, every activation ranks the same at the shared rate 0.1 as at its "
                                          "own (1 of its 2 chosen rates is 0.1 itself).")
    swapped = S.shared_rate_table(grid, 0.05)
    assert S.largest_move(swapped, "g") == ("In g, the largest move is a's, 1st at its own rate and 2nd at 0.05 "
                                            "and b's, 2nd at its own rate and 1st at 0.05.")
    assert S.seed_spread(frame.assign(val_error=frame.score)) == pytest.approx(0.02)  # diverged cells aside
    with pytest.raises(ResultsError, match="not a rate of this grid"):
        S.shared_rate_table(grid, 0.2)
