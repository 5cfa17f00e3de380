"""Issue 40, fifth probe: what was left silently wrong after the fourth.

A checkpoint's state edited alone, standard output closed or full, a
finished cell's predictions file deleted or not the runner's, predictions
that contradict the test labels, a result file padded to cost gigabytes and
seeds written in other scripts' digits: each ends in a refusal, a warning or
a redone cell, never in a number silently changed or a traceback.

The cells are those of ``test_nothing_silently_wrong``'s template (trained
once per module), copied; ``test_probe4``'s helpers resume and compare them.
"""

import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from actbook.analysis import results as R
from actbook.runner import experiment as E
from actbook.runner import label_check as L
from synthetic import synthetic_cifar
from test_nothing_silently_wrong import folder, template  # noqa: F401  (the module's fixtures)
from test_probe4 import _as_uninterrupted, _one_warning, _read, _resume_after, _write

# --------------------------------------------------------------------------
# A checkpoint's state bound to its model by one checksum
# --------------------------------------------------------------------------


def _edit_state(edit):
    def tamper(ckpt):
        state = _read(ckpt / "state.json")
        edit(state)
        _write(ckpt / "state.json", state)
    return tamper


def _halve_first_loss(state):
    state["history"][0]["train_loss"] /= 2


def _move_generator(state):
    name = next(iter(state["seed_generators"]))
    state["seed_generators"][name] = [v + 1 for v in state["seed_generators"][name]]


@pytest.mark.parametrize("edit", [_halve_first_loss, _move_generator], ids=["history", "seed_generators"])
def test_a_checkpoint_state_edited_alone_is_discarded_and_the_cell_redone(
        edit, template, folder, monkeypatch, capsys):  # noqa: F811
    out, err = _resume_after(folder, monkeypatch, capsys, _edit_state(edit))
    _one_warning(err, "state.json is not the state saved with model.keras (checksum differs)")
    _as_uninterrupted(template, out)


def test_a_checkpoint_with_only_the_models_sha256_is_discarded_and_the_cell_redone(
        template, folder, monkeypatch, capsys):  # noqa: F811
    """A checkpoint of the previous runner: its model verifiable, its state not."""
    out, err = _resume_after(folder, monkeypatch, capsys, _edit_state(lambda state: state.pop("checksum")))
    _one_warning(err, "records no checksum of its own content")
    _as_uninterrupted(template, out)


# --------------------------------------------------------------------------
# Standard output that takes no writes
# --------------------------------------------------------------------------

def _actbook(shell_tail: str, *args) -> subprocess.CompletedProcess:
    """``python -m actbook ARGS`` with the redirection ``shell_tail`` (e.g. ``>&-``) applied by a shell."""
    command = " ".join(map(_quoted, [sys.executable, "-m", "actbook", *args])) + " " + shell_tail
    env = {k: v for k, v in os.environ.items() if k != "ACTBOOK_CIFAR10"}  # no labels to load: quick
    return subprocess.run(["sh", "-c", command], stderr=subprocess.PIPE, text=True, timeout=300,
                          env={**env, "PYTHONPATH": str(Path(E.__file__).parents[2])})


def _quoted(s):
    import shlex
    return shlex.quote(str(s))


def _one_error_line(proc, text):
    """Exit 2 and one error line (``check``'s warning that it had no test labels aside)."""
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("warning: ")]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert text in lines[0]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", ["list", "plan", "check", "select"])
def test_output_to_a_full_disk_is_one_error_line(command, folder):  # noqa: F811
    args = {"list": [], "plan": ["--profile", "tiny"], "check": ["--profile", "tiny", "--results", folder],
            "select": ["--profile", "g", "--results", folder]}[command]
    _one_error_line(_actbook(">/dev/full", command, *args), "cannot write to standard output (No space left")


@pytest.mark.parametrize("command", ["list", "check"])
def test_output_closed_is_one_error_line(command, folder):  # noqa: F811
    args = ["--profile", "tiny", "--results", folder] if command == "check" else []
    _one_error_line(_actbook(">&-", command, *args), "standard output is closed")


# --------------------------------------------------------------------------
# A finished cell without its own predictions file
# --------------------------------------------------------------------------

def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _replace_predictions(folder, data: bytes, arm="rrelu"):  # noqa: F811
    """The cell's predictions file replaced by ``data``, and its recorded sha256 with it."""
    (folder / "tiny" / f"{arm}-seed0.predictions.npz").write_bytes(data)
    path = folder / "tiny" / f"{arm}-seed0.json"
    cell = _read(path)
    cell["predictions"]["sha256"] = hashlib.sha256(data).hexdigest()
    _write(path, cell)


def _predictions(folder, arm="rrelu"):  # noqa: F811
    with np.load(folder / "tiny" / f"{arm}-seed0.predictions.npz") as z:
        return {k: z[k] for k in z.files}


def _bool_predicted(folder):  # noqa: F811
    arrays = _predictions(folder)
    _replace_predictions(folder, _npz(predicted=arrays["predicted"].astype(bool), p_true=arrays["p_true"]))


def _fifo(folder):  # noqa: F811
    path = folder / "tiny" / "rrelu-seed0.predictions.npz"
    path.unlink()
    os.mkfifo(path)


DAMAGES = {"deleted": lambda folder: (folder / "tiny" / "rrelu-seed0.predictions.npz").unlink(),
           "a FIFO": _fifo, "bool predicted": _bool_predicted}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_finished_cell_without_its_predictions_is_refused_by_run_check_and_the_loaders(
        damage, folder, capsys):  # noqa: F811
    damage(folder)
    assert E.main(["run", "--profile", "tiny", "--results", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 finished result(s)") and "rrelu-seed0.json" in err and "--rerun-stale" in err
    assert err.count("\n") == 1
    assert any(p.startswith("predictions ") and "rrelu-seed0" in p for p in E.check("tiny", folder))
    with pytest.raises(R.ResultsError, match="rrelu-seed0.predictions.npz"):
        R.load_sweep(folder, "tiny")


def test_a_cell_whose_predictions_were_deleted_is_redone_bit_identically_with_rerun_stale(
        template, folder):  # noqa: F811
    (folder / "tiny" / "rrelu-seed0.predictions.npz").unlink()
    E.run("tiny", folder, data=synthetic_cifar(), progress=False, rerun_stale=True)
    _as_uninterrupted(template, folder / "tiny" / "rrelu-seed0.json")
    assert E.check("tiny", folder) == [] and len(R.load_sweep(folder, "tiny").cells) == 2


# --------------------------------------------------------------------------
# Predictions: exactly two arrays, and checked against the labels where they are at hand
# --------------------------------------------------------------------------

@pytest.mark.parametrize("extra", ["another member", "a name twice"])
def test_predictions_with_other_members_than_the_two_are_refused(extra, folder):  # noqa: F811
    import zipfile
    arrays = _predictions(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, array in arrays.items():
            with z.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, array)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
            with z.open("note.npy" if extra == "another member" else "predicted.npy", "w") as f:
                np.lib.format.write_array(f, np.zeros_like(arrays["predicted"]))
    _replace_predictions(folder, buffer.getvalue())
    with pytest.raises(R.ResultsError, match="not exactly predicted.npy and p_true.npy"):
        R.load_sweep(folder, "tiny")
    assert any("not exactly predicted.npy and p_true.npy" in p for p in E.check("tiny", folder))


@pytest.fixture
def labels_at_hand(monkeypatch):
    """The test labels the template's cells were tested on, as ACTBOOK_CIFAR10 would give them."""
    monkeypatch.setattr(L, "load_test_source", lambda: (synthetic_cifar(), None))


def test_predictions_that_agree_with_the_labels_pass_without_a_word(folder, labels_at_hand, capsys):  # noqa: F811
    assert E.check("tiny", folder) == [] and capsys.readouterr().err == ""


def test_an_error_edited_with_its_predictions_error_is_found_against_the_labels(
        folder, labels_at_hand, capsys):  # noqa: F811
    """One image more wrong, in both fields: within what p_true allows, so only the labels tell."""
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    step = 1 / cell["predictions"]["images"]
    cell["history"][-1]["test_error"] += step
    cell["predictions"]["error"] += step
    _write(path, cell)
    problems = E.check("tiny", folder)
    assert [p for p in problems if "predictions wrong" in p] and all("rrelu-seed0" in p for p in problems)
    assert len(R.load_sweep(folder, "tiny").cells) == 2  # the loaders do not read the labels


def test_predicted_classes_zeroed_are_found_against_the_labels(folder, labels_at_hand):  # noqa: F811
    arrays = _predictions(folder)
    _replace_predictions(folder, _npz(predicted=np.zeros_like(arrays["predicted"]), p_true=arrays["p_true"]))
    problems = E.check("tiny", folder)
    assert any(p.startswith("predictions wrong: rrelu-seed0.json") for p in problems), problems


def test_without_the_labels_check_says_the_comparison_was_skipped(folder, monkeypatch, capsys):  # noqa: F811
    monkeypatch.delenv("ACTBOOK_CIFAR10", raising=False)
    assert E.main(["check", "--profile", "tiny", "--results", str(folder)]) == 0
    err = capsys.readouterr().err
    assert err == "warning: predictions of 2 cell(s) not compared with the test labels: ACTBOOK_CIFAR10 is not set\n"


def test_labels_of_another_test_set_skip_the_comparison_with_a_warning(folder, monkeypatch, capsys):  # noqa: F811
    # another archive (its own sha256), whose test labels are not the ones the cells record
    other = dataclasses.replace(synthetic_cifar(seed=1, n_test=200), sha256="6" * 64)
    monkeypatch.setattr(L, "load_test_source", lambda: (other, None))
    assert E.check("tiny", folder) == []
    assert "the test labels of ACTBOOK_CIFAR10 are not the ones they record" in capsys.readouterr().err


# --------------------------------------------------------------------------
# A result file padded to cost memory
# --------------------------------------------------------------------------

def test_a_padded_result_file_is_refused_quickly_in_one_line(folder, capsys):  # noqa: F811
    path = folder / "tiny" / "relu-seed0.json"
    cell = _read(path)
    cell["provenance"]["pad"] = [0] * 2_500_000  # 7.5 MB of "0, "
    _write(path, cell)
    start = time.monotonic()
    with pytest.raises(R.ResultsError, match=r"more than the 4,194,304 allowed"):
        R.load_sweep(folder, "tiny")
    assert "unreadable: relu-seed0.json" in E.check("tiny", folder)
    assert time.monotonic() - start < 5


def test_the_committed_results_are_far_under_the_size_cap():
    from actbook.runner.files import MAX_RESULT_BYTES
    results = Path(__file__).resolve().parent.parent / "data" / "results"
    largest = max(f.stat().st_size for f in results.rglob("*.json"))
    assert largest * 20 < MAX_RESULT_BYTES


# --------------------------------------------------------------------------
# Seeds in ASCII digits only
# --------------------------------------------------------------------------

@pytest.mark.parametrize("seeds", ["\u0663", "1_0", "+1", "0,1e3"])
def test_seeds_other_than_ascii_digits_are_one_error_line(seeds, capsys):
    assert E.main(["plan", "--profile", "smoke", "--seeds", seeds]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --seeds must be comma-separated integers (ASCII digits 0-9)") and err.count("\n") == 1
