"""Issue 40: the runner and the book's loaders against damaged folders, escapes
and hangs. Each case ends in a clear refusal or a warning, never in a number
the book prints silently changed, a write outside ``--results``, a hang or a
traceback.

Cells are trained once per module (one epoch each) and copied; the other
cells a test needs are those copies, edited as a hostile or careless user would.
"""

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from actbook.analysis import results as R
from actbook.analysis import selection as S
from actbook.runner import experiment as E
from synthetic import TINY, synthetic_cifar, write_profiles

FINAL = {**TINY, "epochs": 1, "eval_every": 1, "arms": ["relu", "rrelu"], "seeds": [0]}
GRID = {**FINAL, "validation_size": 50, "grid": {"learning_rates": [0.01, 0.05], "seeds": [100]}}
#: The validation errors given to the grid's copies, so the choice is known: ReLU at 0.05, RReLU at 0.01.
VAL_ERRORS = {("relu", 0.01): 0.5, ("relu", 0.05): 0.4, ("rrelu", 0.01): 0.3, ("rrelu", 0.05): 0.45}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A results folder with the final cells of ``tiny`` and the complete grid of ``g``."""
    root = tmp_path_factory.mktemp("template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACTBOOK_PROFILES", write_profiles(root / "profiles.json", tiny=FINAL, g=GRID))
        data = synthetic_cifar()
        E.run("tiny", root / "results", data=data, progress=False)
        E.run("g", root / "results", data=data, progress=False, stage="grid", arms=["relu"])
    grid = root / "results" / "g" / "grid"
    for rate in (0.01, 0.05):
        cell = _read(grid / f"relu-lr{rate:g}-seed100.json")
        for arm in ("relu", "rrelu"):
            cell.update(activation=arm)
            cell["history"][-1]["val_error"] = VAL_ERRORS[arm, rate]
            _write(grid / f"{arm}-lr{rate:g}-seed100.json", cell)
    return root


@pytest.fixture
def folder(template, tmp_path, monkeypatch):
    """A fresh copy of the template's results folder (its profiles in force)."""
    shutil.copytree(template, tmp_path / "t")
    monkeypatch.setenv("ACTBOOK_PROFILES", str(tmp_path / "t" / "profiles.json"))
    return tmp_path / "t" / "results"


def _read(path):
    return json.loads(Path(path).read_text())


def _write(path, cell):
    Path(path).write_text(json.dumps(cell))


def _finishes(fn, fifo: Path, seconds: float = 20):
    """``fn()``'s result, or a failure if it does not return within ``seconds``
    (a reader blocked on ``fifo`` is then let go by opening its other end)."""
    out = {}
    thread = threading.Thread(target=lambda: out.update(value=_call(fn)), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(seconds)
        pytest.fail(f"hung on the FIFO {fifo.name}")
    return out["value"]


def _call(fn):
    try:
        return fn()
    except Exception as e:  # handed to the test, which says what it expects
        return e


def _refused_everywhere(folder, path, reason):
    """The damaged result at ``path`` is refused by the one reader (naming ``reason``),
    by ``check`` (one problem line) and by the book's loader."""
    from actbook.runner.files import Malformed
    from actbook.runner.result_files import read_result
    with pytest.raises(Malformed, match=reason):
        read_result(path)
    assert any(p.startswith(f"not a well-formed result file: {path.name}") for p in E.check("tiny", folder))
    with pytest.raises(R.ResultsError, match=path.name):
        R.load_sweep(folder, "tiny")


# --------------------------------------------------------------------------
# The book's loaders and check
# --------------------------------------------------------------------------

def test_a_cell_outside_the_plan_is_left_out_of_the_sweep_with_a_warning(folder):
    """`run --seeds 7` into a sweep's folder, and an arm the profile does not plan."""
    cell = _read(folder / "tiny" / "relu-seed0.json")
    # a bad extra seed that would move relu's mean (its predictions its own, as a run writes them)
    cell["history"][-1]["test_error"] = cell["predictions"]["error"] = 0.0
    _write(folder / "tiny" / "relu-seed7.json", {**cell, "seed": 7, "predictions": {
        **cell["predictions"], "file": "relu-seed7.predictions.npz"}})
    _write(folder / "tiny" / "elu-seed0.json", {**cell, "activation": "elu", "predictions": {
        **cell["predictions"], "file": "elu-seed0.predictions.npz"}})
    with pytest.warns(R.ResultsWarning, match="2 cell.s. outside the plan"):
        sweep = R.load_sweep(folder, "tiny")
    assert sorted(zip(sweep.final.activation, sweep.final.seed)) == [("relu", 0), ("rrelu", 0)]
    assert len(sweep.cells) == 2 and sweep.planned == 2


@pytest.mark.parametrize("metric, value", [("test_error", None), ("test_error", "NaN"), ("train_eval_loss", None),
                                           ("test_xent", None)])
def test_a_finished_cell_without_a_metric_it_measures_is_refused(folder, metric, value):
    """The pair would drop out of the comparison without a word, and check said "complete"."""
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    cell["history"][-1][metric] = "@@"
    path.write_text(json.dumps(cell).replace('"@@"', "NaN" if value == "NaN" else "null"))
    problems = E.check("tiny", folder)
    assert problems and "rrelu-seed0.json" in problems[0]
    with pytest.raises(R.ResultsError, match="rrelu-seed0.json"):
        R.load_sweep(folder, "tiny")


def test_a_final_cell_without_an_optimizer_is_malformed(folder):
    for arm in ("relu", "rrelu"):
        path = folder / "tiny" / f"{arm}-seed0.json"
        cell = _read(path)
        del cell["config"]["optimizer"]
        _write(path, cell)
    with pytest.raises(R.ResultsError, match="config.optimizer"):
        R.load_sweep(folder, "tiny")
    problems = E.check("tiny", folder)
    assert [p.split(" (")[0] for p in problems if "well-formed" in p] == [
        "not a well-formed result file: relu-seed0.json", "not a well-formed result file: rrelu-seed0.json"]


@pytest.mark.parametrize("key", ["hardware", "started", "dataset"])
def test_a_cell_without_the_provenance_the_chapters_read_is_malformed(folder, key):
    """The chapters' sweep_facts and made_by read these of every cell: a KeyError in a chapter before."""
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    del cell["provenance"][key]
    _write(path, cell)
    with pytest.raises(R.ResultsError, match=f"rrelu-seed0.json: .*provenance.{key}"):
        R.load_sweep(folder, "tiny")
    assert any(p.startswith("not a well-formed result file: rrelu-seed0.json") for p in E.check("tiny", folder))


def test_an_off_grid_cell_is_left_out_of_the_grid(folder):
    """The chapter printed "5 of the 4" cells, and the off-grid rate entered the choice."""
    cell = _read(folder / "g" / "grid" / "relu-lr0.05-seed100.json")
    cell["config"]["optimizer"]["learning_rate"] = 0.2
    cell["history"][-1]["val_error"] = 0.1
    _write(folder / "g" / "grid" / "relu-lr0.2-seed100.json", cell)
    with pytest.warns(R.ResultsWarning, match="outside the plan.*relu-lr0.2-seed100.json"):
        grid = S.grid_report(folder, "g")
    assert len(grid.frame) == grid.planned == 4
    assert grid.chosen.loc["relu", "rate"] == 0.05


@pytest.mark.parametrize("change, message", [
    ("duplicate", "two files for relu at 0.05 seed 100"),
    ("data", "different data sets"),
    ("config", "different configs"),
])
def test_a_grid_cell_of_another_data_set_or_config_or_a_duplicate_is_refused(folder, change, message):
    """Each would move ReLU's chosen rate from 0.05 to 0.01."""
    grid = folder / "g" / "grid"
    cell = _read(grid / "relu-lr0.05-seed100.json")
    cell["history"][-1]["val_error"] = 0.9
    if change == "duplicate":
        _write(grid / "relu-lr0.05-seed100-copy.json", cell)
    else:
        if change == "data":
            cell["provenance"]["dataset"]["sha256"] = "9" * 64
        else:
            cell["config"]["batch_size"] = 64
        _write(grid / "relu-lr0.05-seed100.json", cell)
    with pytest.raises(R.ResultsError, match=message):
        S.grid_report(folder, "g")


@pytest.mark.parametrize("change", ["null val_error", "another profile"])
def test_select_on_a_grid_check_flags_ends_in_no_traceback(folder, change, capsys):
    path = folder / "g" / "grid" / "rrelu-lr0.01-seed100.json"
    cell = _read(path)
    if change == "null val_error":
        cell["history"][-1]["val_error"] = None
    else:
        cell["profile"] = "tiny"
    _write(path, cell)
    assert E.check("g", folder, stage="grid")
    assert E.main(["select", "--profile", "g", "--results", str(folder)]) == 1
    assert "no rate is chosen" in capsys.readouterr().out


@pytest.mark.parametrize("change", ["no optimizer", "rate as a string", "deep nesting"])
def test_check_names_a_malformed_grid_cell_without_a_traceback(folder, change, capsys):
    path = folder / "g" / "grid" / "relu-lr0.01-seed100.json"
    cell = _read(path)
    if change == "no optimizer":
        del cell["config"]["optimizer"]
        _write(path, cell)
    elif change == "rate as a string":
        cell["config"]["optimizer"]["learning_rate"] = "0.01"
        _write(path, cell)
    else:
        path.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert E.main(["check", "--profile", "g", "--stage", "grid", "--results", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "relu-lr0.01-seed100.json" in out and "Traceback" not in out


def test_a_result_file_that_is_a_fifo_hangs_nothing(folder):
    fifo = folder / "tiny" / "elu-seed0.json"
    os.mkfifo(fifo)
    problems = _finishes(lambda: E.check("tiny", folder), fifo)
    assert "unreadable: elu-seed0.json" in problems
    error = _finishes(lambda: R.load_sweep(folder, "tiny"), fifo)
    assert isinstance(error, R.ResultsError) and "not a regular file" in str(error)


# --------------------------------------------------------------------------
# Writes outside --results, and results lost to another run
# --------------------------------------------------------------------------

def test_a_checkpoints_folder_that_is_a_link_is_refused(folder, tmp_path):
    """The run wrote its checkpoints through the link, then deleted the cell's folder there."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "relu-seed0").mkdir(parents=True)
    (elsewhere / "relu-seed0" / "mine.txt").write_text("not the runner's")
    (folder / "tiny" / "relu-seed0.json").unlink()
    shutil.rmtree(folder / "tiny" / ".checkpoints", ignore_errors=True)
    (folder / "tiny" / ".checkpoints").symlink_to(elsewhere)
    with pytest.raises(E.UsageError, match="symbolic link"):
        E.run("tiny", folder, data=synthetic_cifar(), progress=False, arms=["relu"])
    assert [p.name for p in (elsewhere / "relu-seed0").iterdir()] == ["mine.txt"]


def test_a_profile_folder_that_is_a_link_is_refused(folder, tmp_path):
    """The run wrote its cells, and cleaned up its checkpoints, in the folder the link names."""
    elsewhere = tmp_path / "elsewhere"
    shutil.move(folder / "tiny", elsewhere)
    (folder / "tiny").symlink_to(elsewhere)
    (elsewhere / "relu-seed0.json").unlink()
    before = sorted(p.name for p in elsewhere.iterdir())
    with pytest.raises(E.UsageError, match="symbolic link"):
        E.run("tiny", folder, data=synthetic_cifar(), progress=False, arms=["relu"])
    assert sorted(p.name for p in elsewhere.iterdir()) == before


def test_a_checkpoint_state_that_is_a_fifo_hangs_no_run(folder):
    """The checkpoint is discarded (the cell restarts) instead of blocking on the FIFO."""
    (folder / "tiny" / "relu-seed0.json").unlink()
    ckpt = folder / "tiny" / ".checkpoints" / "relu-seed0"
    ckpt.mkdir(parents=True, exist_ok=True)
    (ckpt / "model.keras").write_bytes(b"not a model")
    fifo = ckpt / "state.json"
    os.mkfifo(fifo)
    paths = _finishes(lambda: E.run("tiny", folder, data=synthetic_cifar(), progress=False, arms=["relu"]), fifo,
                      seconds=120)
    assert not isinstance(paths, Exception), paths
    assert (folder / "tiny" / "relu-seed0.json").is_file()


@pytest.mark.parametrize("damage", [b"not a zip file", b"PK\x03\x04 truncated"])
def test_a_damaged_predictions_file_with_its_checksum_recomputed_is_refused(folder, damage):
    import hashlib
    path = folder / "tiny" / "relu-seed0.json"
    cell = _read(path)
    (folder / "tiny" / cell["predictions"]["file"]).write_bytes(damage)
    cell["predictions"].update(sha256=hashlib.sha256(damage).hexdigest(), bytes=len(damage))
    _write(path, cell)
    with pytest.raises(R.ResultsError, match="not a predictions file"):
        R.load_predictions({**cell, "file": str(path)})


def test_a_step_schedule_beyond_any_run_is_one_error_line(capsys):
    assert E.main(["plan", "--profile", "smoke", "--set=optimizer.schedule=step",
                   "--set=optimizer.step_epochs=[1e300]", "--set=optimizer.step_factor=0.1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert "step_epochs.0: 1e+300 is greater than the maximum of 5000" in err


def test_a_lock_file_that_is_a_link_is_refused(folder, tmp_path):
    """Taking the lock truncates its file: through a link, someone else's."""
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (folder / "tiny" / "relu-seed0.json").unlink()
    (folder / "tiny" / "relu-seed0.json.lock").unlink(missing_ok=True)  # a run leaves its lock file
    (folder / "tiny" / "relu-seed0.json.lock").symlink_to(target)
    with pytest.raises(E.UsageError, match="symbolic link"):
        E.run("tiny", folder, data=synthetic_cifar(), progress=False, arms=["relu"])
    assert target.read_text() == "keep me"


def test_an_empty_results_folder_is_refused(tmp_path, monkeypatch, capsys):
    """``--results ''`` (an unset shell variable) wrote into the current folder."""
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "p.json", tiny=FINAL))
    monkeypatch.chdir(tmp_path)
    from actbook.runner import data as D
    monkeypatch.setattr(D, "prepare", lambda config, data=None, seed=None: pytest.fail("data loaded"))
    for command in ("run", "check", "select"):
        assert E.main([command, "--profile", "tiny", "--results", ""]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --results is empty") and err.count("\n") == 1
    with pytest.raises(E.UsageError, match="empty"):
        E.run("tiny", "", progress=False)
    assert not (tmp_path / "tiny").exists()


def test_a_result_another_profile_version_finished_meanwhile_is_not_replaced(folder, monkeypatch):
    """Two runs of different versions of a profile on one folder: the second
    found the cell missing at start-up, and overwrote the first's result."""
    from actbook.runner import files
    path = folder / "tiny" / "relu-seed0.json"
    theirs = _read(path)
    theirs["config"]["batch_size"] = 64  # another version of the profile
    path.unlink()
    real = files.cell_lock

    class FinishedMeanwhile:
        def __init__(self, out):
            self.lock = real(out)

        def __enter__(self):
            _write(path, theirs)  # the other run, done while this one got ready
            return self.lock.__enter__()

        def __exit__(self, *exc):
            return self.lock.__exit__(*exc)

    monkeypatch.setattr(files, "cell_lock", FinishedMeanwhile)
    with pytest.raises(E.UsageError, match="another version of profile"):
        E.run("tiny", folder, data=synthetic_cifar(), progress=False, arms=["relu"])
    assert _read(path) == theirs


# --------------------------------------------------------------------------
# Profiles and --set
# --------------------------------------------------------------------------

def test_deeply_nested_json_in_profiles_or_set_is_one_error_line(tmp_path, monkeypatch, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "p.json").write_text('{"tiny": ' + deep + "}")
    monkeypatch.setenv("ACTBOOK_PROFILES", str(tmp_path / "p.json"))
    assert E.main(["plan", "--profile", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    monkeypatch.delenv("ACTBOOK_PROFILES")
    for value in (deep, "[" * 200 + "]" * 200):
        assert E.main(["plan", "--profile", "smoke", "--set", f"model_kwargs={value}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --set model_kwargs") and err.count("\n") == 1


@pytest.mark.parametrize("overrides, message", [
    (["epochs=100000000000000000000000000"], "epochs: .* greater than the maximum of 5000"),
    (["model_kwargs.width=100000"], "width: 100000 is greater than the maximum of 1024"),
    (["train_size=null", "validation_size=50000"], "leaving none to train on"),
])
def test_settings_beyond_any_run_are_refused_before_training(overrides, message, capsys):
    assert E.main(["plan", "--profile", "smoke", *[f"--set={o}" for o in overrides]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    import re
    assert re.search(message, err), err


def test_a_profile_with_too_many_seeds_is_refused_quickly(tmp_path, monkeypatch, capsys):
    """Every cell's config holds all the seeds, so check's memory grew with their square (7.6 GB at
    60,000 seeds); 1,500 (beyond the bound, and harmless to the code before it) show the refusal."""
    many = {**FINAL, "seeds": list(range(1500))}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "p.json", many=many))
    assert E.main(["check", "--profile", "many", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "seeds: 1500 items, more than the 1000 allowed" in err and len(err) < 500


def test_a_device_index_beyond_any_machine_is_refused(monkeypatch):
    from actbook.runner import backend as B
    monkeypatch.setenv("ACTBOOK_DEVICES", "/cpu:200000")
    with pytest.raises(B.BackendError, match="indices go up to 255"):
        B.requested_devices()


def test_a_backend_that_is_not_installed_is_one_error_line(tmp_path):
    import importlib.util
    import subprocess
    import sys
    missing = next((b for b in ("jax", "torch") if importlib.util.find_spec(b) is None), None)
    if missing is None:
        pytest.skip("JAX and PyTorch are both installed")
    env = dict(os.environ, KERAS_BACKEND=missing, ACTBOOK_PROFILES=write_profiles(tmp_path / "p.json", tiny=FINAL))
    proc = subprocess.run([sys.executable, "-m", "actbook", "run", "--profile", "tiny", "--results",
                           str(tmp_path / "r")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr == f"error: KERAS_BACKEND={missing!r}, but {missing} is not " \
        f"installed{' (pip install -r requirements-jax.txt)' if missing == 'jax' else ''}\n"


def test_select_write_keeps_a_linked_profiles_file_a_link(folder, tmp_path, monkeypatch):
    """It wrote the profiles through the link; it now records its choices beside the results instead."""
    real = tmp_path / "t" / "profiles.json"
    before = real.read_text()
    link = tmp_path / "link.json"
    link.symlink_to(real)
    monkeypatch.setenv("ACTBOOK_PROFILES", str(link))
    assert E.main(["select", "--profile", "g", "--results", str(folder), "--write"]) == 3  # the edge rule extends
    assert link.is_symlink() and real.read_text() == before
    assert "extended" in _read(folder / "g.grid_extended.json")


def test_select_write_to_a_file_it_cannot_write_is_one_error_line(folder, monkeypatch, capsys):
    from actbook.runner import files
    before = (folder.parent / "profiles.json").read_text()

    def refused(path, write):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "write_bytes_atomic", refused)
    assert E.main(["select", "--profile", "g", "--results", str(folder), "--write"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and err.count("\n") == 1
    assert (folder.parent / "profiles.json").read_text() == before


@pytest.mark.parametrize("error", [MemoryError(), type("ResourceExhaustedError", (RuntimeError,), {})("OOM when "
                                                                                                      "allocating")])
def test_running_out_of_memory_is_one_error_line(error, tmp_path, monkeypatch, capsys):
    """``--set model_kwargs.width`` large enough to exhaust the machine's memory, within the bound."""
    def exhausted(*a, **k):
        raise error

    monkeypatch.setattr(E, "run", exhausted)
    assert E.main(["run", "--profile", "smoke", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory") and err.count("\n") == 1


# --------------------------------------------------------------------------
# The result format: one reader, validated against result.schema.json
# --------------------------------------------------------------------------

def test_every_committed_result_file_is_a_valid_result():
    """Final and grid cells, formats 4 and 5: the schema describes what the runner wrote."""
    from actbook.runner.result_files import read_result
    root = Path(__file__).parents[1] / "data" / "results"
    committed = sorted(f for f in root.rglob("*.json") if f.parent != root)  # beside them: select's records
    assert len(committed) > 100
    formats = set()
    for f in committed:
        cell = read_result(f)
        formats.add((cell["schema"], cell["stage"]))
    assert {(4, "final"), (4, "grid"), (5, "final")} <= formats


def test_the_cells_the_runner_writes_now_are_valid_results(template):
    """A field added to train.py's result without the schema would make every new cell unreadable."""
    from actbook.runner.result_files import read_result
    cells = sorted((template / "results").rglob("*.json"))
    assert {read_result(f)["stage"] for f in cells} == {"final", "grid"}


def _damaged(folder, change):
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    text = None
    if change == "missing metric":
        cell["history"][-1]["test_error"] = None
    elif change == "metric absent":
        del cell["history"][-1]["val_loss"]
    elif change == "wrong type":
        cell["config"]["optimizer"]["learning_rate"] = "0.01"
    elif change == "error above 1":
        cell["history"][-1]["train_error"] = 1.5
    elif change == "unknown top-level key":
        cell["notes"] = "mine"
    elif change == "float seed":
        cell["seed"] = 0.0
    elif change == "older format":
        cell["schema"] = 3
    elif change == "predictions path":
        cell["predictions"]["file"] = "../../elsewhere.npz"
    elif change == "diverged but measured":
        cell.update(outcome="diverged", diverged_epoch=1, diagnostics=None, predictions=None, calibration=None)
    elif change == "negative loss":
        cell["history"][-1]["test_loss"] = -3.0
    elif change == "fraction above 1":
        cell["diagnostics"]["never_active_fraction"] = {k: 5.0 for k in cell["diagnostics"]["never_active_fraction"]}
    elif change == "infinite":
        text = json.dumps(cell).replace('"test_error": ', '"test_error": 1e999, "x": ', 1)
    elif change == "duplicate key":  # a viewer shows the first test_error, json.loads keeps the last
        text = json.dumps(cell).replace('"epoch": 1,', '"epoch": 1, "test_error": 0.01,', 1)
    _write(path, cell) if text is None else path.write_text(text)
    return path


@pytest.mark.parametrize("change, field", [
    ("missing metric", r"history\[0\]\.test_error: null in a finished cell"),
    ("metric absent", r"history\[0\]\.val_loss: missing"),
    ("wrong type", r"config\.optimizer\.learning_rate: a string, expected number"),
    ("error above 1", r"history\[0\]\.train_error: 1\.5 is greater than the maximum of 1"),
    ("unknown top-level key", r"\(top level\): Additional properties are not allowed \('notes' was unexpected\)"),
    ("float seed", r"seed: a number, expected integer"),
    ("older format", r"schema: result format 3, not one of 4, 5"),
    ("predictions path", r"predictions\.file: '\.\./\.\./elsewhere\.npz' does not match"),
    ("diverged but measured", r"history\[0\]\.train_loss: a number, but the cell diverged there"),
    ("infinite", r"1e999 is not a finite number"),
    ("negative loss", r"history\[0\]\.test_loss: -3\.0 is less than the minimum of 0"),
    ("fraction above 1", r"diagnostics\.never_active_fraction\.\w+: 5\.0 is greater than the maximum of 1"),
    ("duplicate key", r"the key 'test_error' appears twice in one object"),
])
def test_read_result_names_the_field_a_damaged_file_breaks(folder, change, field):
    from actbook.runner.files import Malformed, Unreadable
    from actbook.runner.result_files import read_result
    with pytest.raises(Unreadable, match=field) as refused:
        read_result(_damaged(folder, change))
    assert isinstance(refused.value, Malformed) == (change not in ("infinite", "duplicate key"))


def test_read_result_returns_an_older_format_only_to_a_caller_that_asks(folder):
    """The earlier sweeps (format 2, data/earlier) are read by the analysis, which checks them itself."""
    from actbook.runner.files import Malformed
    from actbook.runner.result_files import OLDER_FORMATS, read_result
    path = _damaged(folder, "older format")
    assert read_result(path, also_formats=OLDER_FORMATS)["schema"] == 3
    with pytest.raises(Malformed, match="schema: result format 3"):
        read_result(path)
    cell = _read(path)
    _write(path, {**cell, "schema": 6})
    with pytest.raises(Malformed, match="schema: result format 6"):
        read_result(path, also_formats=OLDER_FORMATS)


def test_read_result_refuses_what_is_not_a_result_file_without_hanging(folder):
    from actbook.runner.files import Unreadable
    from actbook.runner.result_files import read_result
    deep = folder / "tiny" / "deep.json"
    deep.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(Unreadable, match="nested"):
        read_result(deep)
    (folder / "tiny" / "list.json").write_text("[1, 2]")
    with pytest.raises(Unreadable, match=r"\(top level\): a JSON list, expected an object"):
        read_result(folder / "tiny" / "list.json")
    fifo = folder / "tiny" / "fifo.json"
    os.mkfifo(fifo)
    error = _finishes(lambda: read_result(fifo), fifo)
    assert isinstance(error, Unreadable) and "not a regular file" in str(error)


def test_a_profiles_file_that_names_a_setting_twice_is_one_error_line(tmp_path, monkeypatch, capsys):
    """json.loads kept the last ``epochs``; whoever reads the file may take the first."""
    text = json.dumps({"tiny": FINAL})
    (tmp_path / "p.json").write_text(text.replace('"epochs": 1,', '"epochs": 1, "epochs": 7,', 1))
    monkeypatch.setenv("ACTBOOK_PROFILES", str(tmp_path / "p.json"))
    assert E.main(["plan", "--profile", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'epochs' appears twice" in err and err.count("\n") == 1


# --------------------------------------------------------------------------
# Numbers too large for a float, and predictions that are not the cell's
# --------------------------------------------------------------------------

HUGE = 10 ** 400  # JSON allows it; float() of it raises OverflowError


def test_an_integer_too_large_for_a_float_in_set_or_a_profile_is_one_error_line(tmp_path, monkeypatch, capsys):
    assert E.main(["plan", "--profile", "smoke", f"--set=optimizer.learning_rate={HUGE}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set optimizer.learning_rate=") and err.count("\n") == 1
    assert "not a finite number" in err and len(err) < 300
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(
        tmp_path / "p.json", tiny={**FINAL, "optimizer": {**FINAL["optimizer"], "learning_rate": HUGE}}))
    assert E.main(["plan", "--profile", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "optimizer.learning_rate: 1000" in err and "is not a finite number" in err


def test_a_result_with_an_integer_too_large_for_a_float_is_refused(folder):
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    cell["config"]["optimizer"]["learning_rate"] = HUGE
    _write(path, cell)
    _refused_everywhere(folder, path, r"config\.optimizer\.learning_rate: 1000.* is not a finite number")


def _hostile_predictions(n: int, change: str) -> bytes:
    import io

    import numpy as np
    predicted, p_true = np.zeros(n, np.uint8), np.full(n, 0.5, np.float32)
    if change == "class 42":
        predicted[:] = 42
    elif change == "signed classes":
        predicted = np.full(n, -1, np.int64)
    elif change == "NaN probability":
        p_true[0] = np.nan
    elif change == "probability above 1":
        p_true[0] = 1.5
    elif change == "2-D arrays":
        predicted, p_true = np.zeros((n, 10), np.uint8), np.full((n, 10), 0.5, np.float32)
    elif change == "pickled objects":
        predicted = np.array([object()] * n, dtype=object)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, predicted=predicted, p_true=p_true)
    return buffer.getvalue()


@pytest.mark.parametrize("change", ["class 42", "signed classes", "NaN probability", "probability above 1",
                                    "2-D arrays", "pickled objects"])
def test_hostile_predictions_with_their_checksum_recomputed_are_refused_by_the_loader_and_check(folder, change):
    import hashlib
    path = folder / "tiny" / "relu-seed0.json"
    cell = _read(path)
    data = _hostile_predictions(cell["predictions"]["images"], change)
    (folder / "tiny" / cell["predictions"]["file"]).write_bytes(data)
    cell["predictions"]["sha256"] = hashlib.sha256(data).hexdigest()
    _write(path, cell)
    with pytest.raises(R.ResultsError, match="relu-seed0.predictions.npz"):
        R.load_predictions({**cell, "file": str(path)})
    assert any(p.startswith("predictions unreadable: relu-seed0.json") for p in E.check("tiny", folder))


def test_the_predictions_of_another_cell_are_refused(folder):
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    cell["predictions"] = _read(folder / "tiny" / "relu-seed0.json")["predictions"]
    _write(path, cell)
    _refused_everywhere(folder, path, r"predictions\.file: 'relu-seed0\.predictions\.npz', but this cell's "
                                      r"predictions are rrelu-seed0\.predictions\.npz")
    with pytest.raises(R.ResultsError, match="the predictions of another cell"):
        R.load_predictions({**cell, "file": str(path)})


def test_a_test_error_edited_apart_from_the_predictions_is_refused(folder):
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    recorded = cell["predictions"]["error"]
    cell["history"][-1]["test_error"] = 0.05 if abs(recorded - 0.05) > 0.01 else 0.9
    _write(path, cell)
    _refused_everywhere(folder, path, r"predictions\.error: .*, but history\[0\]\.test_error is")
    with pytest.raises(R.ResultsError, match="is not the last epoch's test_error"):
        R.load_predictions({**cell, "file": str(path)})


# --------------------------------------------------------------------------
# A cell whose own config, format or plan disagrees with its folder's
# --------------------------------------------------------------------------

def _copy_as(folder, source, name, edit):
    """``source``'s cell (a final cell of ``tiny``) written as ``name`` after ``edit(cell)``,
    its predictions its own as a run would name them."""
    cell = _read(folder / "tiny" / source)
    edit(cell)
    if cell.get("predictions"):
        stem = f"{cell['activation']}-seed{cell['seed']}"
        shutil.copy(folder / "tiny" / cell["predictions"]["file"], folder / "tiny" / f"{stem}.predictions.npz")
        cell["predictions"]["file"] = f"{stem}.predictions.npz"
    _write(folder / "tiny" / name, cell)


@pytest.mark.parametrize("setting, value, name", [
    ("seeds", [0, 7], "relu-seed7.json"),
    ("arms", ["relu", "rrelu", "elu"], "elu-seed0.json"),
])
def test_a_final_cell_whose_own_config_widens_the_plan_is_refused_by_name(folder, setting, value, name):
    """load_sweep read the plan as the union of the cells' configs, so the cell planned itself in."""
    arm, seed = name[:-len(".json")].split("-seed")

    def widen(cell):
        cell["config"][setting] = value
        cell.update(activation=arm, seed=int(seed))
        cell["history"][-1]["test_error"] = cell["predictions"]["error"] = 0.0  # a number it would move

    _copy_as(folder, "relu-seed0.json", name, widen)
    with pytest.raises(R.ResultsError, match=rf"2 different config\.{setting} .*in {name}"):
        R.load_sweep(folder, "tiny")


def test_extra_seeds_recorded_by_one_cell_only_are_read_with_a_warning_naming_it(folder):
    """A profile may gain extra seeds after its main sweep: the wider plan is read, and said."""
    def extra(cell):
        cell["config"]["extra_seeds"] = {"relu": [7]}
        cell["seed"] = 7

    _copy_as(folder, "relu-seed0.json", "relu-seed7.json", extra)
    with pytest.warns(R.ResultsWarning, match=r"2 values of config\.extra_seeds.*in relu-seed7\.json"):
        sweep = R.load_sweep(folder, "tiny")
    assert sorted(zip(sweep.final.activation, sweep.final.seed)) == [("relu", 0), ("relu", 7), ("rrelu", 0)]


def test_extra_seeds_that_do_not_nest_are_refused(folder):
    for arm in ("relu", "rrelu"):
        path = folder / "tiny" / f"{arm}-seed0.json"
        cell = _read(path)
        cell["config"]["extra_seeds"] = {arm: [7]}
        _write(path, cell)
    with pytest.raises(R.ResultsError, match=r"config\.extra_seeds that do not nest"):
        R.load_sweep(folder, "tiny")


def test_a_chosen_rate_edited_in_one_cell_with_its_learning_rate_is_refused(folder, tmp_path):
    """The identity leaves the rate out where each arm has its own, so the cell trained at another rate loaded."""
    for arm in ("relu", "rrelu"):
        path = folder / "tiny" / f"{arm}-seed0.json"
        cell = _read(path)
        cell["config"]["chosen_rates"] = {"relu": 0.05, "rrelu": 0.05}
        cell["config"]["rates_from"] = "g"
        if arm == "rrelu":
            cell["config"]["chosen_rates"]["rrelu"] = cell["config"]["optimizer"]["learning_rate"] = 0.2
        _write(path, cell)
    with pytest.raises(R.ResultsError, match=r"2 different chosen rates for rrelu: 0\.05 in relu-seed0\.json; "
                                             r"0\.2 in rrelu-seed0\.json"):
        R.load_sweep(folder, "tiny")


def _relabelled_format_1(cell, strip: bool):
    cell["schema"] = 1
    del cell["stage"]
    if strip:  # every field of a later format gone: only the folder's other cells tell
        for key in ("outcome", "diverged_epoch", "predictions", "calibration"):
            cell.pop(key, None)
        for key in ("backend", "validation_images_used", "train_subset"):
            cell["provenance"].pop(key, None)
        for row in cell["history"]:
            for key in ("train_eval_loss", "train_eval_error", "val_loss", "val_error", "train_xent",
                        "train_eval_xent", "test_xent", "val_xent"):
                row.pop(key, None)


@pytest.mark.parametrize("strip, message", [
    (False, r"rrelu-seed0\.json: declares result format 1 but has fields of later formats: outcome \(format 3 on\)"),
    (True, r"cells of 2 result formats.*format 4 or 5: relu-seed0\.json.*format 1: rrelu-seed0\.json"),
])
def test_a_format_5_cell_relabelled_format_1_is_refused(folder, strip, message):
    """It had no stage, so the plan did not bind it, and format 1 checks nothing format 5 adds."""
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    _relabelled_format_1(cell, strip)
    _write(path, cell)
    with pytest.raises(R.ResultsError, match=message):
        R.load_sweep(folder, "tiny")


def test_a_cell_of_an_earlier_format_among_earlier_cells_still_loads(folder):
    """The earlier sweeps (data/earlier) are one older format each, and load."""
    for arm in ("relu", "rrelu"):
        path = folder / "tiny" / f"{arm}-seed0.json"
        cell = _read(path)
        _relabelled_format_1(cell, strip=True)
        _write(path, cell)
    assert len(R.load_sweep(folder, "tiny").final) == 2


@pytest.mark.parametrize("setting, value", [("seeds", [100, 101]), ("learning_rates", [0.01, 0.05, 0.2])])
def test_a_grid_cell_whose_own_grid_was_edited_is_refused_by_name(folder, setting, value):
    """Its grid planned it in, and its score entered Grid.scores."""
    grid = folder / "g" / "grid"
    cell = _read(grid / "relu-lr0.01-seed100.json")
    cell["config"]["grid"][setting] = value
    cell["history"][-1]["val_error"] = 0.0
    if setting == "seeds":
        cell["seed"], name = 101, "relu-lr0.01-seed101.json"
    else:
        cell["config"]["optimizer"]["learning_rate"], name = 0.2, "relu-lr0.2-seed100.json"
    _write(grid / name, cell)
    with pytest.raises(R.ResultsError, match=rf"2 different config\.grid\.{setting} .*in {name}"):
        S.grid_report(folder, "g")


def _extend(path, extended, rate=None):
    cell = _read(path)
    cell["config"]["grid"]["extended"] = extended
    if rate is not None:
        cell["config"]["optimizer"]["learning_rate"] = rate
        cell["history"][-1]["val_error"] = 0.1
    _write(path.with_name(path.name.replace("lr0.05", f"lr{rate:g}")) if rate else path, cell)


def test_an_edge_rule_extension_recorded_by_the_later_grid_cells_only_loads_quietly(folder, recwarn):
    """select --write extends the profile's grid after its first cells ran: those keep the grid without it."""
    grid = folder / "g" / "grid"
    _extend(grid / "relu-lr0.05-seed100.json", {"relu": [0.1]}, rate=0.1)
    assert S.grid_report(folder, "g").chosen.loc["relu", "rate"] == 0.05  # the extension not asked for: left out
    extended = S.grid_report(folder, "g", extended={"relu": [0.1]})
    assert extended.chosen.loc["relu", "rate"] == 0.1 and len(extended.frame) == 5
    assert not [w for w in recwarn if issubclass(w.category, R.ResultsWarning)]


def test_edge_rule_extensions_that_do_not_nest_are_refused(folder):
    grid = folder / "g" / "grid"
    _extend(grid / "relu-lr0.05-seed100.json", {"relu": [0.1]}, rate=0.1)
    _extend(grid / "rrelu-lr0.01-seed100.json", {"rrelu": [0.005]})
    with pytest.raises(R.ResultsError, match=r"config\.grid\.extended that do not nest"):
        S.grid_report(folder, "g")


def _npz_with_header(shape, payload: bytes) -> bytes:
    """An npz whose ``predicted`` array's header promises ``shape`` over ``payload``."""
    import io
    import zipfile

    import numpy as np
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("predicted.npy", header.getvalue() + payload)
        p_true = io.BytesIO()
        np.save(p_true, np.full(shape[0] if shape[0] < 10 ** 6 else 1, 0.5, np.float32))
        z.writestr("p_true.npy", p_true.getvalue())
    return buffer.getvalue()


@pytest.mark.parametrize("shape, payload, message", [
    ((8_000_000,), bytes(8_000_000), r"unpacks to 8,0\d\d,\d\d\d bytes, more than the 3,200,000"),  # 8 kB packed
    ((10 ** 13,), b"", r"predicted is an array of shape \(10000000000000,\), expected \(\d+,\)"),
])
def test_a_predictions_file_that_unpacks_beyond_any_cell_is_refused_before_it_is_read(folder, shape, payload,
                                                                                        message, monkeypatch):
    """A zip bomb, and a header promising 10 TB: numpy allocated what the header said (a MemoryError)."""
    import hashlib

    import numpy as np
    path = folder / "tiny" / "relu-seed0.json"
    cell = _read(path)
    data = _npz_with_header(shape, payload)
    assert len(data) < 100_000
    (folder / "tiny" / cell["predictions"]["file"]).write_bytes(data)
    cell["predictions"]["sha256"] = hashlib.sha256(data).hexdigest()
    _write(path, cell)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("read before its size was checked"))
    with pytest.raises(R.ResultsError, match=message):
        R.load_predictions({**cell, "file": str(path)})


def test_the_predictions_cap_holds_ten_thousand_images_with_room_to_spare():
    import io

    import numpy as np
    buffer = io.BytesIO()
    np.savez_compressed(buffer, predicted=np.zeros(10_000, np.uint8), p_true=np.zeros(10_000, np.float32))
    import zipfile
    real = sum(m.file_size for m in zipfile.ZipFile(buffer).infolist())
    assert 50_000 < real < R.MAX_PREDICTIONS_UNPACKED / 50


def test_a_predictions_file_cut_short_with_its_count_edited_to_match_is_refused(folder):
    """Half the test images, its checksum and ``images`` rewritten: every other check held."""
    import hashlib
    import io

    import numpy as np
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    with np.load(folder / "tiny" / cell["predictions"]["file"]) as z:
        half = {k: z[k][: len(z[k]) // 2] for k in ("predicted", "p_true")}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **half)
    (folder / "tiny" / cell["predictions"]["file"]).write_bytes(buffer.getvalue())
    cell["predictions"].update(sha256=hashlib.sha256(buffer.getvalue()).hexdigest(), images=len(half["p_true"]))
    _write(path, cell)
    _refused_everywhere(folder, path, rf"predictions\.images: {len(half['p_true'])}, but the cell tested "
                                      rf"provenance\.test_images_used = {2 * len(half['p_true'])}")


@pytest.mark.parametrize("stage", ["final", "grid"])
def test_a_file_named_for_another_cell_is_refused(folder, stage):
    """The loader counted it as the cell it holds, the chapters' progress as the one it is named for."""
    if stage == "final":
        (folder / "tiny" / "rrelu-seed0.json").rename(folder / "tiny" / "rrelu-seed5.json")
        with pytest.raises(R.ResultsError, match="rrelu-seed5.json holds the cell rrelu-seed0, misnamed"):
            R.load_sweep(folder, "tiny")
    else:
        grid = folder / "g" / "grid"
        (grid / "rrelu-lr0.01-seed100.json").rename(grid / "rrelu-lr0.02-seed100.json")
        with pytest.raises(R.ResultsError, match="rrelu-lr0.02-seed100.json holds the cell rrelu-lr0.01-seed100"):
            S.grid_report(folder, "g")


# --------------------------------------------------------------------------
# The fresh probe (issue 40, second round)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("edit", [lambda c: c.update(note="checked by hand"), lambda c: c.update(schema=6)])
@pytest.mark.parametrize("rerun_stale", [False, True])
def test_a_result_file_run_cannot_read_is_never_replaced(folder, capsys, edit, rerun_stale):
    """A hand-annotated file, or one a newer runner wrote, was retrained and replaced
    (its predictions too) without a word; run stops with one error line naming it."""
    path = folder / "tiny" / "relu-seed0.json"
    cell = _read(path)
    edit(cell)
    _write(path, cell)
    before = path.read_bytes(), path.with_name("relu-seed0.predictions.npz").read_bytes()
    argv = ["run", "--profile", "tiny", "--results", str(folder), "--no-progress"] + (
        ["--rerun-stale"] if rerun_stale else [])
    assert E.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "relu-seed0.json" in err[0] and "move it away" in err[0]
    assert (path.read_bytes(), path.with_name("relu-seed0.predictions.npz").read_bytes()) == before


@pytest.mark.parametrize("row_edit, reason", [
    ({"activation": "elu", "seed": 7}, "fields no result format records in a row: activation, seed"),
    ({"test_error": -3.0}, r"test_error -3.0 out of range"),
    ({"train_error": 1.5}, r"train_error 1.5 out of range"),
    ({"test_loss": -0.1}, r"test_loss -0.1 out of range"),
])
def test_an_older_format_row_that_relabels_its_cell_or_holds_an_impossible_number_is_refused(
        folder, row_edit, reason):
    """A format-1 relu cell whose rows said activation "elu", seed 7 was read as elu; a
    negative test error loaded."""
    for arm in ("relu", "rrelu"):
        path = folder / "tiny" / f"{arm}-seed0.json"
        cell = _read(path)
        _relabelled_format_1(cell, strip=True)
        if arm == "relu":
            for row in cell["history"]:
                row.update(row_edit)
        _write(path, cell)
    with pytest.raises(R.ResultsError, match=f"relu-seed0.json.*{reason}"):
        R.load_sweep(folder, "tiny")
    assert any(p.startswith("not a well-formed result file: relu-seed0.json") and "history row 0" in p
               for p in E.check("tiny", folder))


def test_a_history_row_never_relabels_its_cell_in_the_history_frame():
    cell = {"activation": "relu", "seed": 0, "history": [{"epoch": 1, "train_loss": 1.0, "activation": "elu",
                                                          "seed": 7}]}
    frame = R.history_frame([cell])
    assert (frame.activation.tolist(), frame.seed.tolist()) == (["relu"], [0])


def test_a_cell_copied_to_another_seed_of_a_subset_per_seed_profile_is_refused(folder):
    """fit1k draws a training subset per seed: relu-seed0 copied to relu-seed1, its seed and
    predictions file edited, loaded as an independent seed 1; its subset key still named seed 0."""
    from actbook.runner.data import SUBSET_STREAM
    from actbook.runner.files import Malformed
    from actbook.runner.result_files import read_result
    path = folder / "tiny" / "relu-seed0.json"
    cell = _read(path)
    cell["config"]["subset_per_seed"] = True
    data_seed = cell["config"].get("data_seed", 0)
    cell["provenance"]["train_subset"]["key"] = [data_seed, SUBSET_STREAM, 0]
    _write(path, cell)
    assert read_result(path)["seed"] == 0  # the cell as the runner writes it
    copy = folder / "tiny" / "relu-seed1.json"
    shutil.copy(path.with_name("relu-seed0.predictions.npz"), copy.with_name("relu-seed1.predictions.npz"))
    _write(copy, {**cell, "seed": 1, "predictions": {**cell["predictions"], "file": "relu-seed1.predictions.npz"}})
    with pytest.raises(Malformed, match=rf"train_subset.key: \[{data_seed}, 388821, 0\], but seed 1"):
        read_result(copy)
    assert any(p.startswith("not a well-formed result file: relu-seed1.json") for p in E.check("tiny", folder))


@pytest.mark.parametrize("rates", [[0.01, 0.0100000001], [0.05, 0.01, 0.050000001]])
def test_grid_rates_that_print_alike_are_refused(tmp_path, monkeypatch, capsys, rates):
    """Both cells were named relu-lr0.01-seed100: one overwrote the other, and check said complete."""
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "profiles.json", g=GRID))
    assert E.main(["plan", "--profile", "g", "--set", f"grid.learning_rates={json.dumps(rates)}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: profile 'g' is invalid") and "share the cell name lr" in err
    assert E.main(["plan", "--profile", "g", "--stage", "grid"]) == 0  # distinct rates still plan


def test_a_checkpoints_folder_swapped_for_a_link_during_a_run_is_refused_before_the_write(folder, tmp_path,
                                                                                          monkeypatch):
    """The link was checked once, when the cell started: later checkpoints went through it."""
    from actbook.runner import checkpoints as C
    from actbook.runner import train
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "relu-seed0").mkdir(parents=True)
    (elsewhere / "relu-seed0" / "mine.txt").write_text("not the runner's")
    (folder / "tiny" / "relu-seed0.json").unlink()
    ckpts = folder / "tiny" / ".checkpoints"

    def swapped_then_saved(ckpt_dir, model, state):
        shutil.rmtree(ckpts, ignore_errors=True)
        ckpts.symlink_to(elsewhere)
        return C.save_checkpoint(ckpt_dir, model, state)

    monkeypatch.setattr(train, "save_checkpoint", swapped_then_saved)
    with pytest.raises(E.UsageError, match=r"\.checkpoints is a symbolic link"):
        E.run("tiny", folder, data=synthetic_cifar(), progress=False, arms=["relu"])
    assert [p.name for p in (elsewhere / "relu-seed0").iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("linked", ["tiny/.checkpoints", "g"])
def test_removing_a_checkpoint_through_a_link_is_refused(folder, tmp_path, linked):
    """The final cleanup deleted the link target's cell folder."""
    from actbook.runner.checkpoints import remove_checkpoint
    elsewhere = tmp_path / "elsewhere"
    for sub in ("relu-seed0", "grid/.checkpoints/relu-lr0.01-seed100"):
        (elsewhere / sub).mkdir(parents=True)
        (elsewhere / sub / "mine.txt").write_text("not the runner's")
    shutil.rmtree(folder / linked, ignore_errors=True)
    (folder / linked).symlink_to(elsewhere)
    ckpt = (folder / "tiny" / ".checkpoints" / "relu-seed0" if linked.startswith("tiny")
            else folder / "g" / "grid" / ".checkpoints" / "relu-lr0.01-seed100")
    with pytest.raises(E.UsageError, match="is a symbolic link"):
        remove_checkpoint(ckpt)
    assert sorted(p.name for p in elsewhere.rglob("mine.txt")) == ["mine.txt", "mine.txt"]


def test_a_result_file_name_with_a_newline_prints_as_one_escaped_line(folder, capsys):
    """check printed the name as it is, and a newline in it made a fake problem line."""
    shutil.copy(folder / "tiny" / "relu-seed0.json", folder / "tiny" / "x\ncomplete and consistent.json")
    assert E.main(["check", "--profile", "tiny", "--results", str(folder)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "complete and consistent" not in out and out[-1] == f"{len(out) - 1} problem(s)"
    assert any(r"x\ncomplete and consistent.json" in line for line in out)


@pytest.mark.parametrize("content", ["", "{}", '{"schema": 5'])
def test_final_progress_counts_only_cells_the_reader_accepts(folder, content):
    from actbook.runner.profiles import get_profile
    config = get_profile("tiny")
    assert S.final_progress(folder, "tiny", config) == (2, 2)
    (folder / "tiny" / "rrelu-seed0.json").write_text(content)
    assert S.final_progress(folder, "tiny", config) == (1, 2)
