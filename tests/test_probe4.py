"""Issue 40, fourth probe: what a folder records is bound to what made it.

A chosen-rates file edited to a rate the grid did not choose, a predictions
file whose content is not the cell's, a checkpoint changed behind the
runner's back, a closed pipe and command-line lists the profiles would
refuse: each ends in a refusal or a warning naming it, never in a number the
book prints silently changed or a traceback.

The cells are those of ``test_nothing_silently_wrong``'s template (trained
once per module), copied and relabelled.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actbook.analysis import results as R
from actbook.runner import experiment as E
from synthetic import write_profiles
from test_nothing_silently_wrong import FINAL, GRID, folder, template  # noqa: F401  (the module's fixtures)

#: A grid of three rates whose middle one each arm chooses (no edge rule), and a profile taking its rates from it.
RATES = [0.01, 0.02, 0.05]
VAL_ERRORS = {"relu": {0.01: 0.5, 0.02: 0.3, 0.05: 0.4}, "rrelu": {0.01: 0.4, 0.02: 0.2, 0.05: 0.5}}


def _read(path):
    return json.loads(Path(path).read_text())


def _write(path, cell):
    Path(path).write_text(json.dumps(cell))


@pytest.fixture
def chosen(template, tmp_path, monkeypatch):  # noqa: F811
    """A results folder with the complete grid of ``g3`` (each arm chooses 0.02) and
    the final cells of ``f`` (rates from ``g3``), as ``select --write`` and ``run`` leave them."""
    g3 = {**GRID, "grid": {"learning_rates": RATES, "seeds": [100]}}
    f = {**FINAL, "rates_from": "g3"}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "profiles.json", g3=g3, f=f))
    results = tmp_path / "results"
    grid = results / "g3" / "grid"
    grid.mkdir(parents=True)
    cell = _read(template / "results" / "g" / "grid" / "relu-lr0.01-seed100.json")
    for arm, errors in VAL_ERRORS.items():
        for rate, error in errors.items():
            cell.update(profile="g3", activation=arm)
            cell["config"] = {**cell["config"], "grid": g3["grid"], "optimizer": {**cell["config"]["optimizer"],
                                                                              "learning_rate": rate}}
            cell["history"][-1]["val_error"] = error
            _write(grid / f"{arm}-lr{rate:g}-seed100.json", cell)
    assert E.check("g3", results, stage="grid") == []
    assert E.select("f", results, write=True) == 0
    assert _read(results / "f.chosen_rates.json")["chosen_rates"] == {"relu": 0.02, "rrelu": 0.02}
    # The final cells, as a run at those rates writes them (the template's, relabelled; their numbers are not read).
    (results / "f").mkdir()
    for arm in ("relu", "rrelu"):
        final = _read(template / "results" / "tiny" / f"{arm}-seed0.json")
        final.update(profile="f")
        final["config"] = {**final["config"], "rates_from": "g3",
                           "chosen_rates": {"relu": 0.02, "rrelu": 0.02},
                           "optimizer": {**final["config"]["optimizer"], "learning_rate": 0.02}}
        _write(results / "f" / f"{arm}-seed0.json", final)
        shutil.copy(template / "results" / "tiny" / f"{arm}-seed0.predictions.npz", results / "f")
    return results


def _edit_record(results, **rates):
    path = results / "f.chosen_rates.json"
    record = _read(path)
    record["chosen_rates"].update(rates)
    _write(path, record)


def _train_at(results, arm, rate):
    """The final cell of ``arm`` as a run at ``rate`` (read from the edited record) writes it."""
    path = results / "f" / f"{arm}-seed0.json"
    cell = _read(path)
    cell["config"]["chosen_rates"] = dict(_read(results / "f.chosen_rates.json")["chosen_rates"])
    cell["config"]["optimizer"]["learning_rate"] = rate
    _write(path, cell)


MISMATCH = "recorded rate 0.05 for relu is not the grid's choice 0.02; run `actbook select --profile f"


def test_the_folder_as_select_and_run_leave_it_passes_everything(chosen):
    assert E.check("f", chosen) == []
    assert E.recorded_rate_problems("f", chosen) == {}
    assert len(R.load_sweep(chosen, "f").cells) == 2


def test_a_chosen_rate_edited_to_one_the_grid_did_not_choose_is_never_trained_on(chosen, capsys):
    _edit_record(chosen, relu=0.05)
    (chosen / "f" / "relu-seed0.json").unlink()  # so that run has the relu cell to do
    assert E.main(["run", "--profile", "f", "--results", str(chosen)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {MISMATCH}") and err.endswith("; no cell is run\n") and err.count("\n") == 1
    assert not (chosen / "f" / "relu-seed0.json").exists()
    # An arm whose recorded rate is the grid's choice still runs (nothing to do for it here).
    assert E.main(["run", "--profile", "f", "--results", str(chosen), "--activations", "rrelu"]) == 0


def test_check_reports_a_chosen_rate_the_grid_did_not_choose(chosen, capsys):
    _edit_record(chosen, relu=0.05)
    _train_at(chosen, "relu", 0.05)
    _train_at(chosen, "rrelu", 0.02)
    problems = E.check("f", chosen)
    assert [p for p in problems if p.startswith("recorded rate")] == [MISMATCH + f" --results {chosen} --write`"]
    assert E.main(["check", "--profile", "f", "--results", str(chosen)]) == 1
    assert MISMATCH in capsys.readouterr().out


def test_a_final_cell_trained_at_another_rate_than_the_recorded_one_is_a_check_problem(chosen):
    _train_at(chosen, "relu", 0.05)
    assert E.check("f", chosen) == ["config differs from profile 'f': relu-seed0.json"]


def test_select_without_write_names_a_recorded_rate_the_grid_did_not_choose(chosen, capsys):
    _edit_record(chosen, relu=0.05)
    assert E.main(["select", "--profile", "f", "--results", str(chosen)]) == 1
    out = capsys.readouterr().out
    assert MISMATCH in out and "not the grid's choice (1 arm(s))" in out
    assert E.main(["select", "--profile", "f", "--results", str(chosen), "--write"]) == 0  # records the choice
    assert _read(chosen / "f.chosen_rates.json")["chosen_rates"] == {"relu": 0.02, "rrelu": 0.02}


def test_the_loader_refuses_cells_trained_at_a_rate_the_grid_did_not_choose(chosen):
    _edit_record(chosen, relu=0.05)
    _train_at(chosen, "relu", 0.05)
    _train_at(chosen, "rrelu", 0.02)
    with pytest.raises(R.ResultsError, match="trained at rates their grid did not choose: recorded rate 0.05 "
                                             "for relu is not the grid's choice 0.02"):
        R.load_sweep(chosen, "f")


def test_a_grid_with_its_own_chosen_rates_checks_them_at_the_grid_stage(chosen):
    (chosen / "g3.chosen_rates.json").write_text(json.dumps(
        {"profile": "g3", "chosen_from": "g3", "chosen_rates": {"relu": 0.02, "rrelu": 0.05}}))
    assert [p.split(";")[0] for p in E.check("g3", chosen, stage="grid")] == [
        "recorded rate 0.05 for rrelu is not the grid's choice 0.02"]


def test_a_choice_the_edge_rule_would_extend_first_is_not_the_grids_choice(chosen):
    for rate in RATES:  # rrelu's best rate is now the grid's largest
        path = chosen / "g3" / "grid" / f"rrelu-lr{rate:g}-seed100.json"
        cell = _read(path)
        cell["history"][-1]["val_error"] = {0.01: 0.5, 0.02: 0.4, 0.05: 0.2}[rate]
        _write(path, cell)
    _edit_record(chosen, rrelu=0.05)
    assert E.recorded_rate_problems("f", chosen) == {"rrelu": (
        "recorded rate 0.05 for rrelu is not the grid's choice: the edge rule first extends the grid of 'g3' to "
        f"0.1; run `actbook select --profile f --results {chosen} --write`")}


def test_an_incomplete_grid_cannot_vouch_for_a_recorded_rate(chosen):
    """Rates are recorded from a complete grid only: one that lacks a cell now
    was changed since, and every rate recorded from it is a problem (probe 6
    hid a grid cell to train at an edited rate; this test once asked for {})."""
    (chosen / "g3" / "grid" / "relu-lr0.02-seed100.json").unlink()
    _edit_record(chosen, relu=0.05)
    problems = E.recorded_rate_problems("f", chosen)
    assert sorted(problems) == ["relu", "rrelu"]
    assert problems["relu"].startswith("recorded rate 0.05 for relu cannot be checked against the grid's choice: "
                                       "the grid of 'g3' is not complete and consistent (1 problem(s), e.g. "
                                       "missing: relu-lr0.02-seed100)")


@pytest.mark.parametrize("profile", ["overfit", "cpu", "fit1k"])
def test_the_committed_chosen_rates_are_their_grids_choice(profile):
    """``overfit`` and ``cpu`` chose before the edge rule (PROTOCOL.md), ``fit1k`` with it."""
    results = Path(__file__).resolve().parent.parent / "data" / "results"
    assert E.recorded_rate_problems(profile, results) == {}
    assert not [p for p in E.check(profile, results) if not p.startswith("missing: ")]


# --------------------------------------------------------------------------
# Predictions bound to their cell by content
# --------------------------------------------------------------------------

def _refused_by_content(folder, cell, path, message):  # noqa: F811
    _write(path, cell)
    with pytest.raises(R.ResultsError, match=message):
        R.load_predictions({**cell, "file": str(path)})
    assert any(p.startswith(f"predictions unreadable: {path.name}") and "p_true" in p for p in E.check("tiny", folder))


def test_the_predictions_of_another_cell_behind_their_recorded_checksum_are_refused(folder):  # noqa: F811
    """The files swapped, and each result's sha256 field with them: the hashes vouch, the content does not."""
    import hashlib
    relu, rrelu = folder / "tiny" / "relu-seed0.predictions.npz", folder / "tiny" / "rrelu-seed0.predictions.npz"
    a, b = relu.read_bytes(), rrelu.read_bytes()
    relu.write_bytes(b)
    rrelu.write_bytes(a)
    path = folder / "tiny" / "relu-seed0.json"
    cell = _read(path)
    cell["predictions"]["sha256"] = hashlib.sha256(b).hexdigest()
    _refused_by_content(folder, cell, path, r"the mean of -log p_true, .* is not the last epoch's test_xent")


def test_a_test_cross_entropy_edited_apart_from_the_predictions_is_refused(folder):  # noqa: F811
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    cell["history"][-1]["test_xent"] *= 1.001
    _refused_by_content(folder, cell, path, r"is not the last epoch's test_xent")


def test_an_error_its_predictions_make_impossible_is_refused(folder):  # noqa: F811
    """Every true class above one half: every image is classified right, whatever the labels."""
    import hashlib
    import io

    import numpy as np
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    n = cell["predictions"]["images"]
    p_true = np.full(n, 0.95, np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, predicted=np.zeros(n, np.uint8), p_true=p_true)
    (folder / "tiny" / "rrelu-seed0.predictions.npz").write_bytes(buffer.getvalue())
    cell["predictions"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    cell["history"][-1]["test_xent"] = float(-np.log(p_true.astype(np.float64)).mean())  # agrees
    assert cell["predictions"]["error"] > 0.5
    _refused_by_content(folder, cell, path, r"its error .* is impossible with its p_true: between 0 .* and 0 ")


def test_the_committed_predictions_agree_with_their_cells_cross_entropy_and_error():
    results = Path(__file__).resolve().parent.parent / "data" / "results"
    cells = [c for c in R.load_sweep(results, "fit1k").cells]
    assert cells and all(R.load_predictions(c)["p_true"].shape == (c["predictions"]["images"],) for c in cells)


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["list"], ["plan", "--profile", "smoke"]])
def test_output_into_a_closed_pipe_ends_quietly(command):
    """`actbook list | head -1`: the reader gone, no traceback."""
    import os
    read, write = os.pipe()
    os.close(read)  # no reader from the start: the first write fails, every time
    try:
        proc = subprocess.run([sys.executable, "-m", "actbook", *command], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(write)
    assert proc.stderr == "" and proc.returncode == 1


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0,,1"], "--seeds has an empty item ('0,,1'); give a comma-separated list"),
    (["--activations", "relu,,elu"], "--activations has an empty item ('relu,,elu'); give a comma-separated list"),
    (["--activations", "relu,"], "--activations has an empty item ('relu,'); give a comma-separated list"),
    (["--seeds", ",".join(map(str, range(1001)))], "--seeds names 1001 seeds; at most 1000, as in a profile"),
    (["--set", "epochs=1", "--set", "epochs=2"], "--set epochs is given twice; give each setting once"),
])
@pytest.mark.parametrize("command", ["plan", "run"])
def test_command_line_lists_the_profiles_would_refuse_are_one_error_line(command, args, message, tmp_path, capsys):
    assert E.main([command, "--profile", "smoke", "--results", str(tmp_path), *args]) == 2
    out = capsys.readouterr()
    assert out.err == f"error: {message}\n" and not list(tmp_path.iterdir())


def test_a_thousand_seeds_are_still_planned(capsys):
    assert E.main(["plan", "--profile", "smoke", "--seeds", ",".join(map(str, range(1000)))]) == 0


# --------------------------------------------------------------------------
# Checkpoints bound to what the runner wrote
# --------------------------------------------------------------------------

def _resume_after(folder, monkeypatch, capsys, tamper):  # noqa: F811
    """The rrelu cell of ``tiny`` killed after its checkpoint, the checkpoint
    tampered with, then run again: (the result, what the runner said on stderr)."""
    from synthetic import interrupt_after_first_checkpoint, synthetic_cifar
    (folder / "tiny" / "rrelu-seed0.json").unlink()
    kw = dict(data=synthetic_cifar(), progress=False, arms=["rrelu"], seeds=[0])
    interrupt_after_first_checkpoint(monkeypatch, lambda: E.run("tiny", folder, **kw))
    capsys.readouterr()
    tamper(folder / "tiny" / ".checkpoints" / "rrelu-seed0")
    out = E.run("tiny", folder, **kw)[0]
    return out, capsys.readouterr().err


def _as_uninterrupted(template, out):  # noqa: F811
    """The cell at ``out`` holds the numbers of the template's uninterrupted run, predictions included."""
    import numpy as np
    from synthetic import strip_timing
    a, b = _read(out), _read(template / "results" / "tiny" / "rrelu-seed0.json")
    assert strip_timing(a["history"]) == strip_timing(b["history"]) and a["diagnostics"] == b["diagnostics"]
    pa, pb = (np.load(Path(p).with_name(c["predictions"]["file"])) for p, c in
              ((out, a), (template / "results" / "tiny" / "rrelu-seed0.json", b)))
    assert np.array_equal(pa["p_true"], pb["p_true"]) and np.array_equal(pa["predicted"], pb["predicted"])


def _one_warning(err, reason):
    lines = [line for line in err.splitlines() if "discarding checkpoint" in line]
    assert len(lines) == 1 and reason in lines[0] and lines[0].endswith("the cell restarts")


def test_a_checkpoint_model_changed_behind_the_runner_is_discarded_and_the_cell_redone(
        template, folder, monkeypatch, capsys):  # noqa: F811
    """Its weights moved and saved again, a model Keras loads: the resume would have used it."""
    from actbook.runner.backend import keras_module
    keras = keras_module()

    def move_weights(ckpt):
        model = keras.models.load_model(ckpt / "model.keras")
        layer = next(layer for layer in model.layers if layer.get_weights())
        layer.set_weights([w + 0.5 for w in layer.get_weights()])
        model.save(ckpt / "model.keras")

    out, err = _resume_after(folder, monkeypatch, capsys, move_weights)
    _one_warning(err, "model.keras is not the model its state was saved with (sha256 differs)")
    _as_uninterrupted(template, out)


def test_a_checkpoint_without_the_models_sha256_is_discarded_and_the_cell_redone(
        template, folder, monkeypatch, capsys):  # noqa: F811
    """A checkpoint of an older runner: its model cannot be verified, and redoing the cell is safe."""
    def drop_hash(ckpt):
        state = _read(ckpt / "state.json")
        del state["model_sha256"]
        _write(ckpt / "state.json", state)

    out, err = _resume_after(folder, monkeypatch, capsys, drop_hash)
    _one_warning(err, "records no sha256 of model.keras")
    _as_uninterrupted(template, out)


def test_an_untouched_checkpoint_is_resumed_without_a_word(template, folder, monkeypatch, capsys):  # noqa: F811
    out, err = _resume_after(folder, monkeypatch, capsys, lambda ckpt: None)
    assert "discarding" not in err
    _as_uninterrupted(template, out)
