"""Issue 40, tenth probe: what was left after the ninth.

A predictions file packed otherwise than the runner packs it (an encrypted
member, a damaged LZMA stream), an empty ``ACTBOOK_CACHE``, an image whose
content is EPS, ``--set`` of what ``select --write`` records or of a grid
whose rates were chosen already, a recorded grid extension the edge rule never
asked for, and a closed standard error: each ends in a refusal or one error
line, never a traceback, a write outside ``--results``, or a cell that records
what never ran.

The cells are those of ``test_nothing_silently_wrong``'s template (trained
once per module), copied.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actbook.analysis import results as R
from actbook.runner import data as D
from actbook.runner import experiment as E
from actbook.runner.errors import UsageError
from synthetic import synthetic_cifar
from test_nothing_silently_wrong import _extend, folder, template  # noqa: F401  (the module's fixtures)
from test_probe4 import _read, _write
from test_probe5 import _quoted

# --------------------------------------------------------------------------
# 1. A predictions file packed otherwise than the runner packs it
# --------------------------------------------------------------------------


def _repacked(data: bytes, how: str) -> bytes:
    """The predictions ``data`` as the probe changed them (its repro/make.py)."""
    if how == "encrypted":  # the 'encrypted' flag of each member, local and central headers
        b = bytearray(data)
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = b.find(signature)
            while i != -1:
                b[i + offset] |= 1
                i = b.find(signature, i + 4)
        return bytes(b)
    method = {"lzma": zipfile.ZIP_LZMA, "bzip2": zipfile.ZIP_BZIP2}[how]
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name in source.namelist():
            z.writestr(name, source.read(name))
    b = bytearray(out.getvalue())
    start = b.find(b"PK\x03\x04") + 30 + len(source.namelist()[0]) + 20
    for j in range(start, start + 30):  # a few bytes of the compressed stream flipped
        b[j] ^= 0x55
    return bytes(b)


@pytest.mark.parametrize("how", ["encrypted", "lzma", "bzip2"])
def test_a_predictions_file_packed_otherwise_than_the_runner_packs_it_is_unreadable(folder, how, capsys):  # noqa: F811
    """The probe: check, run and load_sweep ended in a RuntimeError (encrypted) or LZMAError."""
    path, npz = folder / "tiny" / "relu-seed0.json", folder / "tiny" / "relu-seed0.predictions.npz"
    data = _repacked(npz.read_bytes(), how)
    npz.write_bytes(data)
    cell = _read(path)
    cell["predictions"]["sha256"] = hashlib.sha256(data).hexdigest()
    _write(path, cell)
    with pytest.raises(R.ResultsError, match="relu-seed0.predictions.npz"):
        R.load_sweep(folder, "tiny")
    problems = E.check("tiny", folder)
    assert any(p.startswith("predictions unreadable: relu-seed0.json") for p in problems), problems
    if how != "bzip2":  # refused from the headers, before a decompressor or a password check
        assert any(("encrypted" if how == "encrypted" else "zip method 14") in p for p in problems), problems
    with pytest.raises(UsageError, match="no readable predictions file of their own"):
        E.run("tiny", folder, data=synthetic_cifar(), progress=False)
    assert E.main(["check", "--profile", "tiny", "--results", str(folder)]) == 1


def test_the_runners_own_predictions_files_are_still_read(folder):  # noqa: F811
    """Deflated (np.savez_compressed, as the runner writes them) and stored (np.savez) members."""
    path, npz = folder / "tiny" / "relu-seed0.json", folder / "tiny" / "relu-seed0.predictions.npz"
    cell = _read(path)
    with np.load(npz) as z:
        arrays = {k: z[k] for k in ("predicted", "p_true")}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    npz.write_bytes(buffer.getvalue())
    cell["predictions"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    _write(path, cell)
    read = R.load_predictions({**cell, "file": str(path)})
    assert all(np.array_equal(read[k], arrays[k]) for k in arrays)
    assert not any("relu-seed0" in p for p in E.check("tiny", folder))


# --------------------------------------------------------------------------
# 2. The cache folder: empty means unset; only the runner's temp files are cleaned
# --------------------------------------------------------------------------

def test_an_empty_cache_variable_is_unset(monkeypatch):
    """The probe: ACTBOOK_CACHE= put 185 MB into the current folder."""
    monkeypatch.setenv("ACTBOOK_CACHE", "")
    assert D.cache_dir() == Path.home() / ".cache" / "actbook"
    monkeypatch.setenv("ACTBOOK_CACHE", "/somewhere")
    assert D.cache_dir() == Path("/somewhere")


def test_cleaning_stale_temp_files_deletes_only_the_runners(tmp_path):
    """The probe: a user's ``.notes.npz.draft.tmp`` in the cache folder was deleted."""
    mine = [tmp_path / ".notes.npz.draft.tmp", tmp_path / ".x.npz.y.tmp", tmp_path / ".cifar10-v2-a.npz.b.tmp.keep"]
    runners = tmp_path / ".cifar10-v2-4bbb247519ec11302473.npz.k2x_9abc.tmp"
    for p in (*mine, runners):
        p.write_bytes(b"half")
    D._clean_stale_temp(tmp_path)
    assert not runners.exists() and all(p.exists() for p in mine)


# --------------------------------------------------------------------------
# 3. An image whose content is not PNG or JPEG
# --------------------------------------------------------------------------

def _eps() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buffer, "EPS")
    return buffer.getvalue()


def _ghostscript_fails(*args, **kwargs):
    raise subprocess.CalledProcessError(1, ["gs"])  # as the probe met it; Ghostscript is never to run


def test_an_eps_image_named_png_is_a_data_error_without_running_ghostscript(tmp_path, monkeypatch):
    """The probe: Pillow ran Ghostscript on it, then a CalledProcessError traceback."""
    from PIL import EpsImagePlugin
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", _ghostscript_fails)
    with pytest.raises(D.DataError, match=r"cannot decode image 'x.png' \(not a PNG or JPEG image\)"):
        D._decode_image(_eps(), "x.png", tmp_path)
    monkeypatch.setenv("ACTBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "PER_CLASS", {"train": 1, "test": 1})
    for split in ("train", "test"):
        for c, cls in enumerate(D.CLASSES):
            (tmp_path / "cifar" / split / cls).mkdir(parents=True)
            buffer = io.BytesIO()
            Image.fromarray(np.full((32, 32, 3), c, np.uint8)).save(buffer, "PNG")
            (tmp_path / "cifar" / split / cls / "0.png").write_bytes(buffer.getvalue())
    assert D.load_cifar10(tmp_path / "cifar").x_train.shape == (10, 32, 32, 3)  # PNG still decodes
    (tmp_path / "cifar" / "train" / "cat" / "0.png").write_bytes(_eps())
    with pytest.raises(D.DataError, match="cannot decode image"):
        D.load_cifar10(tmp_path / "cifar", use_cache=False)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_png_and_jpeg_decode_as_before(fmt, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert np.array_equal(D._decode_image(buffer.getvalue(), "x.jpg", tmp_path), expected)


# --------------------------------------------------------------------------
# 4. --set of what select --write records
# --------------------------------------------------------------------------

@pytest.mark.parametrize("setting", ['chosen_rates={"relu": 0.05, "rrelu": 0.01}', "chosen_rates.relu=0.05",
                                     'grid.extended={"relu": [0.1]}', "grid.extended.relu=[0.1]",
                                     'grid={"learning_rates": [0.01, 0.05], "seeds": [100], '
                                     '"extended": {"relu": [0.1]}}'])
@pytest.mark.parametrize("command", ["plan", "check"])
def test_set_of_what_select_records_is_one_error_line(folder, capsys, setting, command):  # noqa: F811
    """The probe: the recorded selection silently replaced the override, while the folder's tag
    and the cells' ``overrides`` recorded it."""
    assert E.main([command, "--profile", "g", "--results", str(folder), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set ") and "recorded by `actbook select --write`" in err, err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------
# 5. --set grid.* where the grid's rates were chosen
# --------------------------------------------------------------------------

def _record_chosen(folder):  # noqa: F811
    (folder / "g.chosen_rates.json").write_text(json.dumps(
        {"profile": "g", "chosen_from": "g", "chosen_rates": {"relu": 0.05, "rrelu": 0.01}}))


def _no_training(*args, **kwargs):
    raise AssertionError("a cell was trained")


@pytest.mark.parametrize("setting", ["grid.learning_rates=[0.01, 0.05, 0.2]", "grid.seeds=[101]"])
def test_set_grid_on_the_final_stage_is_refused(folder, capsys, monkeypatch, setting):  # noqa: F811
    """The probe: the final cells trained at the rates chosen from the profile's grid and recorded
    the grid of --set, which never ran."""
    _record_chosen(folder)
    assert E.main(["plan", "--profile", "g", "--results", str(folder), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set grid.") and "a changed grid is for --stage grid only" in err, err
    monkeypatch.setattr("actbook.runner.train.run_cell", _no_training)
    key, value = setting.split("=")
    with pytest.raises(UsageError, match="a changed grid is for --stage grid only"):
        E.run("g", folder, data=synthetic_cifar(), progress=False, overrides={key: json.loads(value)})


def test_set_grid_on_a_grid_whose_rates_were_chosen_is_refused(folder, capsys):  # noqa: F811
    _record_chosen(folder)
    args = ["plan", "--profile", "g", "--stage", "grid", "--set", "grid.seeds=[101]"]
    assert E.main([*args, "--results", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "records learning rates chosen from its own grid" in err and len(err.strip().splitlines()) == 1, err
    assert E.main(args) == 0  # a changed grid alone (a pilot) still plans
    assert "relu-lr0.01-seed101" in capsys.readouterr().out


# --------------------------------------------------------------------------
# 6. A recorded grid extension the edge rule never asked for
# --------------------------------------------------------------------------

def _record_extension(folder, extended):  # noqa: F811
    (folder / "g.grid_extended.json").write_text(json.dumps({"profile": "g", "extended": extended}))


def test_an_extension_on_the_wrong_side_is_a_problem_for_check_and_select(folder, capsys):  # noqa: F811
    """ReLU's grid chose 0.05, its upper end: the edge rule asks for 0.1, never 0.005. With the
    cell of 0.005 run, check said complete and select chose 0.005."""
    _record_extension(folder, {"relu": [0.005]})
    _extend(folder / "g" / "grid" / "relu-lr0.05-seed100.json", {"relu": [0.005]}, rate=0.005)
    problems = E.check("g", folder, stage="grid")
    assert any("grid.extended.relu [0.005] is not what the edge rule asks for on the grid's cells (0.1)" in p
               for p in problems), problems
    capsys.readouterr()
    assert E.select("g", folder) == 1
    assert "grid.extended.relu [0.005] is not what the edge rule asks for" in capsys.readouterr().out
    assert E.select("g", folder, write=True) == 1
    assert not (folder / "g.chosen_rates.json").exists()


def test_an_extension_the_edge_rule_never_asked_for_is_not_run(folder, monkeypatch):  # noqa: F811
    _record_extension(folder, {"relu": [0.005]})
    monkeypatch.setattr("actbook.runner.train.run_cell", _no_training)
    with pytest.raises(UsageError, match=r"grid\.extended\.relu \[0\.005\] is not what the edge rule asks for.*"
                                         r"no cell is run"):
        E.run("g", folder, data=synthetic_cifar(), progress=False, stage="grid")


def test_the_extension_the_edge_rule_asks_for_is_accepted(folder):  # noqa: F811
    _record_extension(folder, {"relu": [0.1], "rrelu": [0.005]})
    assert E.extension_problems("g", folder) == {}
    assert sorted(E.check("g", folder, stage="grid")) == ["missing: relu-lr0.1-seed100",
                                                          "missing: rrelu-lr0.005-seed100"]


# --------------------------------------------------------------------------
# 7. Standard error closed
# --------------------------------------------------------------------------

def _with_stderr_closed(*args) -> subprocess.CompletedProcess:
    command = " ".join(map(_quoted, [sys.executable, "-m", "actbook", *args])) + " 2>&-"
    env = {k: v for k, v in os.environ.items() if k != "ACTBOOK_CIFAR10"}
    return subprocess.run(["sh", "-c", command], stdout=subprocess.PIPE, text=True, timeout=300,
                          env={**env, "PYTHONPATH": str(Path(E.__file__).parents[2])})


def test_run_with_standard_error_closed_runs(folder):  # noqa: F811
    """The probe: run exited 1 without a word (an AttributeError on sys.stderr, None)."""
    proc = _with_stderr_closed("run", "--profile", "tiny", "--results", folder, "--no-progress")
    assert proc.returncode == 0 and "2 already done, 0 to run" in proc.stdout, proc


def test_an_error_with_standard_error_closed_stays_off_standard_output():
    """The probe: the error line went to standard output (print(file=None) writes there)."""
    proc = _with_stderr_closed("plan", "--profile", "no-such-profile")
    assert proc.returncode == 2 and proc.stdout == "", proc
