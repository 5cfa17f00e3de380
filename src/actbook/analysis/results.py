"""Read a results directory written by the ``actbook`` command (:mod:`actbook.runner.experiment`) into pandas.

The book builds every table and figure of the training chapter from these
frames, so this module also refuses results it cannot trust: a missing,
unreadable, malformed or unfinished cell, or one whose config, data set or
backend differs from its siblings', is an error, never a silently shorter
table. A cell that *diverged* (its training loss stopped being finite) is
not an error: :func:`load_sweep` reports it and keeps it out of the
statistics, by one rule (:func:`outcome`) for every regime.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from actbook.prose import join_and

from actbook.runner.backend import BACKENDS
from actbook.runner.files import Malformed, Unreadable
from actbook.runner.result_files import OLDER_FORMATS, read_result
from actbook.runner.result_format import CURRENT_SCHEMAS
from actbook.runner.profiles import STAGES, Cell, UsageError, experiment_identity, is_finite_number, split_folder

__all__ = ["load_predictions", "ResultsError", "RegimeIncomplete", "load_complete", "pending_sentence", "ResultsWarning", "SCHEMAS", "BACKENDS", "result_problems", "parse_folder", "load_cells",
           "load_sweep", "Sweep", "outcome", "diverged_epoch", "backend", "final_rows",
           "final_and_diverged", "split_diverged", "expected_cells", "missing_cells",
           "check_complete", "history_frame", "code_commits", "origin_sentence", "incomplete_note",
           "diverged_list", "diverged_note", "experiment_identity", "made_by", "read_cell",
           "sweep_facts", "check_consistent", "measured_metrics", "later_format_problems", "check_named", "check_one_value",
           "check_growing", "check_one_rate_per_arm", "MAX_PREDICTIONS_UNPACKED"]


class ResultsError(RuntimeError):
    """The results on disk are missing or inconsistent; the message says which."""


class RegimeIncomplete(ResultsError):
    """A regime's final cells are not all in; the message names what is missing, for a reader."""


class ResultsWarning(UserWarning):
    """Results that load but were made on different kernels."""


#: 1: the first cpu sweep (no inference-mode training error); 2: the TensorFlow runner's;
#: 3: a cell stops at its first non-finite training loss (``outcome``, ``diverged_epoch``) and
#: names its backend (``provenance["backend"]``); 4: a cell names its ``stage`` (a learning-rate grid's
#: or a final cell) and records the validation loss and error (``val_loss``, ``val_error``) when measured;
#: 5: every loss also as cross-entropy alone (``*_xent``; ``*_loss`` is the objective, L2 penalty included),
#: a finished final cell's per-image test predictions (``predictions``, a file beside it) and its
#: test cross-entropy after temperature scaling (``calibration``), and the training subset drawn.
SCHEMAS = (1, 2, 3, 4, 5)
#: The fields a result format introduced: a file of an earlier format that has one is a later
#: file relabelled (a format-5 cell with ``schema: 1`` would slip past the checks of its own format).
TOP_FIELDS_FROM = {"outcome": 3, "diverged_epoch": 3, "stage": 4, "predictions": 5, "calibration": 5}
ROW_FIELDS_FROM = {"train_eval_loss": 2, "train_eval_error": 2, "val_loss": 4, "val_error": 4, "train_xent": 5,
                   "train_eval_xent": 5, "test_xent": 5, "val_xent": 5}
PROVENANCE_FIELDS_FROM = {"backend": 3, "validation_images_used": 4, "train_subset": 5}
#: The largest unpacked predictions file read: a real one holds 10,000 test images as a uint8 class
#: and a float32 probability (50,000 bytes and two headers); 64 times that leaves room for wider
#: arrays and a larger test set, and keeps a zip bomb from filling the memory.
MAX_PREDICTIONS_UNPACKED = 64 * 50_000
OUTCOMES = ("finished", "diverged")
REQUIRED = ("profile", "activation", "seed", "config", "history", "provenance")
#: The numbers of a history row (null where an epoch did not measure one, or the loss was not finite).
METRICS = ("train_loss", "train_error", "train_eval_loss", "train_eval_error", "test_loss", "test_error", "val_loss",
           "val_error", "seconds", "train_images_per_second", "train_xent", "train_eval_xent", "test_xent", "val_xent")




# --------------------------------------------------------------------------
# One result file
# --------------------------------------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    return _is_number(v) and is_finite_number(v)  # an integer too large for a float is not finite


def _kind(v) -> str:
    return "null" if v is None else type(v).__name__


def result_problems(data) -> list[str]:
    """Every way ``data`` (a parsed result file) is not a well-formed result of a
    known schema; empty when it is one.

    A finished cell has one history row per epoch of its config. A diverged
    cell of schema 3 stops at the epoch whose training loss was not finite
    (``diverged_epoch`` rows, the last with ``train_loss`` null); schema 1 and 2
    files always have every epoch. Anything else shorter is unfinished.
    """
    if not isinstance(data, dict):
        return [f"not a result file (a JSON {type(data).__name__}, expected an object)"]
    schema = data.get("schema", 1)
    if not _is_int(schema) or schema not in SCHEMAS:
        return [f"result format {schema!r} is not one this code reads ({SCHEMAS})"]
    missing = [k for k in (*REQUIRED, *(("outcome", "diverged_epoch") if schema >= 3 else ()),
                           *(("stage",) if schema >= 4 else ())) if k not in data]
    if missing:
        return [f"missing keys {missing}"]
    problems = []
    if schema >= 4 and data["stage"] not in STAGES:
        problems.append(f"stage must be one of {', '.join(STAGES)}, found {data['stage']!r}")
    for key in ("profile", "activation"):
        if not (isinstance(data[key], str) and data[key]):
            problems.append(f"{key} must be a non-empty string, found {_kind(data[key])} {data[key]!r}")
    if not (_is_int(data["seed"]) and data["seed"] >= 0):
        problems.append(f"seed must be a non-negative integer, found {_kind(data['seed'])} {data['seed']!r}")
    for key in ("overrides", "diagnostics"):  # optional; a diverged cell of schema 3 has no diagnostics
        if data.get(key) is not None and not isinstance(data[key], dict):
            problems.append(f"{key} must be an object or null, found {_kind(data[key])}")
    config, history, prov = data["config"], data["history"], data["provenance"]
    epochs = None
    if not isinstance(config, dict):
        problems.append(f"config must be an object, found {_kind(config)}")
    elif not (_is_int(config.get("epochs")) and config["epochs"] >= 1):
        problems.append(f"config.epochs must be a positive integer, found {config.get('epochs')!r}")
    else:
        epochs = config["epochs"]
    if isinstance(config, dict):
        if not (isinstance(config.get("arms"), list) and all(isinstance(a, str) for a in config["arms"])):
            problems.append(f"config.arms must be a list of names, found {config.get('arms')!r}")
        if not (isinstance(config.get("seeds"), list) and all(_is_int(k) for k in config["seeds"])):
            problems.append(f"config.seeds must be a list of integers, found {config.get('seeds')!r}")
        for key in ("extra_seeds", "later_arms"):
            v = config.get(key)
            if v is not None and not (isinstance(v, dict) and all(
                    isinstance(ks, list) and all(_is_int(k) for k in ks) for ks in v.values())):
                problems.append(f"config.{key} must map names to lists of seeds, found {v!r}")
        problems += _config_problems(config, data.get("stage"))
    problems += _provenance_problems(prov, schema)
    if schema >= 5:
        problems += _prediction_problems(data)
    if not (isinstance(history, list) and all(isinstance(r, dict) for r in history)):
        problems.append("history must be a list of objects (one per epoch)")
        return problems
    for i, row in enumerate(history):
        if row.get("epoch") != i + 1 or not _is_int(row.get("epoch")):
            problems.append(f"history row {i} is epoch {row.get('epoch')!r}, expected {i + 1}")
            break
        if "train_loss" not in row:
            problems.append(f"history row {i} (epoch {i + 1}) has no train_loss")
            break
        bad = [k for k in METRICS if row.get(k) is not None and not _finite(row[k])]
        if bad:
            problems.append(f"history row {i} (epoch {i + 1}): {', '.join(bad)} must be finite numbers or null")
            break
    if problems or epochs is None:
        return problems
    return _length_problems(data, schema, epochs) or _measured_problems(data, schema)


def later_format_problems(data: dict) -> list[str]:
    """The fields of ``data`` that its declared format (``schema``, one of
    :data:`OLDER_FORMATS`) predates: a file that contradicts its own format is
    refused, whatever else it holds. Formats 4 and 5 are ``result.schema.json``'s to say.
    (``check`` reports such a file as made by an older runner, among others.)"""
    schema = data.get("schema", 1)
    if schema not in OLDER_FORMATS:
        return []
    later = [f"{k} (format {v} on)" for k, v in TOP_FIELDS_FROM.items() if v > schema and k in data]
    prov = data.get("provenance")
    if isinstance(prov, dict):
        later += [f"provenance.{k} (format {v} on)" for k, v in PROVENANCE_FIELDS_FROM.items()
                  if v > schema and k in prov]
    history = data.get("history")
    for i, row in enumerate(history if isinstance(history, list) else []):
        found = [f"history[{i}].{k} (format {v} on)" for k, v in ROW_FIELDS_FROM.items()
                 if v > schema and isinstance(row, dict) and k in row]
        if found:
            later += found
            break
    if later:
        return [f"declares result format {schema} but has fields of later formats: {', '.join(later)}"]
    return []


def measured_metrics(data: dict) -> tuple[str, ...]:
    """The metrics a finished cell's last epoch measures, by its config and result format:
    the training loss and error; the inference-mode training loss and error (format 2 on);
    the test loss and error unless the config skips the test set; the validation loss and
    error where it holds images out (format 4 on); each loss also as cross-entropy (format 5)."""
    schema, config = data.get("schema", 1), data["config"]
    losses = ["train"]
    if schema >= 2:
        losses.append("train_eval")
    if config.get("evaluate_test", True) is not False:
        losses.append("test")
    if schema >= 4 and config.get("validation_size"):
        losses.append("val")
    out = [f"{k}_{m}" for k in losses for m in ("loss", "error")]
    if schema >= 5:
        out += [f"{k}_xent" for k in losses]
    return tuple(out)


def _measured_problems(data: dict, schema: int) -> list[str]:
    # A finished cell without a metric its config measures would drop out of a
    # comparison (a NaN in a paired table) without a word: it is malformed instead.
    history = data["history"]
    if outcome(data) != "finished" or not history:
        return []
    last = history[-1]
    absent = [k for k in measured_metrics(data) if not _finite(last.get(k))]
    if absent:
        return [f"finished, but its last epoch ({last['epoch']}) has no {', '.join(absent)}, which its config "
                f"measures"]
    return []


def _rates(v) -> bool:
    return isinstance(v, list) and all(_finite(r) and r > 0 for r in v)


def _config_problems(config: dict, stage) -> list[str]:
    """What the loaders and ``check`` read from a config beyond its plan: the
    optimizer's learning rate, the chosen rates, a grid cell's grid."""
    problems = []
    opt = config.get("optimizer")
    if not (isinstance(opt, dict) and _finite(opt.get("learning_rate")) and opt["learning_rate"] > 0):
        found = opt.get("learning_rate") if isinstance(opt, dict) else opt
        problems.append(f"config.optimizer must be an object with a positive learning_rate, found {found!r}")
    chosen = config.get("chosen_rates")
    if chosen is not None and not (isinstance(chosen, dict) and _rates(list(chosen.values()))):
        problems.append(f"config.chosen_rates must map names to positive rates, found {chosen!r}")
    grid = config.get("grid")
    if grid is None:
        if stage == "grid":
            problems.append("a grid cell whose config has no grid")
        return problems
    extended = grid.get("extended") if isinstance(grid, dict) else None
    if not (isinstance(grid, dict) and _rates(grid.get("learning_rates")) and grid["learning_rates"]
            and isinstance(grid.get("seeds"), list) and grid["seeds"] and all(_is_int(k) for k in grid["seeds"])
            and (extended is None or (isinstance(extended, dict) and all(map(_rates, extended.values()))))):
        problems.append(f"config.grid must hold learning_rates, seeds and (optionally) extended, found {grid!r}")
    return problems


def _prediction_problems(data: dict) -> list[str]:
    """A schema-5 final cell that finished names its predictions file (its name and sha256)."""
    pred = data.get("predictions")
    wanted = data.get("stage") == "final" and data.get("outcome") == "finished" and data["config"].get(
        "evaluate_test", True) is not False
    if pred is None:
        return ["a finished final cell without predictions"] if wanted else []
    if not (isinstance(pred, dict) and isinstance(pred.get("file"), str) and isinstance(pred.get("sha256"), str)
            and _is_int(pred.get("images"))):
        return [f"predictions must name a file, its sha256 and its number of images, found {pred!r}"]
    if "/" in pred["file"] or "\\" in pred["file"] or pred["file"].startswith("."):
        return [f"predictions.file must be a plain file name beside the result, found {pred['file']!r}"]
    return []


def _provenance_problems(prov, schema: int) -> list[str]:
    if not isinstance(prov, dict):
        return [f"provenance must be an object, found {_kind(prov)}"]
    problems = [f"provenance.{k} must be an object, found {_kind(prov[k])}"
                for k in ("git", "versions", "hardware", "dataset") if k in prov and not isinstance(prov[k], dict)]
    if schema >= 2 and not problems:
        # What the chapters read of every cell (sweep_facts, made_by), and the data set it came from.
        needed = {"dataset.sha256": (prov.get("dataset") or {}).get("sha256"),
                  "dataset.dataset": (prov.get("dataset") or {}).get("dataset"),
                  "hardware.cpu": (prov.get("hardware") or {}).get("cpu"),
                  "started": prov.get("started"), "finished": prov.get("finished")}
        problems += [f"provenance.{k} must be a string, found {_kind(v)}" for k, v in needed.items()
                     if not isinstance(v, str)]
        problems += [f"provenance.{k} must be a non-negative integer, found {_kind(prov.get(k))}"
                     for k in ("train_images_used", "test_images_used")
                     if not (_is_int(prov.get(k)) and prov[k] >= 0)]
    be = prov.get("backend")
    if schema < 3 and be is None:
        return problems
    if not isinstance(be, dict):
        return problems + [f"provenance.backend must be an object, found {_kind(be)}"]
    if be.get("name") not in BACKENDS:
        problems.append(f"provenance.backend.name must be one of {', '.join(BACKENDS)}, found {be.get('name')!r}")
    if not isinstance(be.get("version"), str):
        problems.append(f"provenance.backend.version must be a string, found {_kind(be.get('version'))}")
    if "devices" in be and not (isinstance(be["devices"], list) and all(isinstance(d, str) for d in be["devices"])):
        problems.append("provenance.backend.devices must be a list of strings")
    if "threads" in be and not _is_int(be["threads"]):
        problems.append(f"provenance.backend.threads must be an integer, found {_kind(be['threads'])}")
    if "affinity" in be and not (isinstance(be["affinity"], list) and all(_is_int(c) for c in be["affinity"])):
        problems.append("provenance.backend.affinity must be a list of integers")
    return problems


def _length_problems(data: dict, schema: int, epochs: int) -> list[str]:
    history, n = data["history"], len(data["history"])
    if schema < 3:
        return [] if n == epochs else [f"{n} epochs recorded, config says {epochs} (unfinished)"]
    result, at = data["outcome"], data["diverged_epoch"]
    if result not in OUTCOMES:
        return [f"outcome must be one of {', '.join(OUTCOMES)}, found {result!r}"]
    early = [r["epoch"] for r in history[:-1] if not _finite(r["train_loss"])]
    if early:
        return [f"training loss not finite at epoch {early[0]}, but the history goes on (a cell stops there)"]
    if result == "finished":
        if at is not None:
            return [f"outcome 'finished' with diverged_epoch {at!r} (expected null)"]
        if n != epochs:
            return [f"{n} epochs recorded, config says {epochs} (unfinished)"]
        if n and not _finite(history[-1]["train_loss"]):
            return [f"outcome 'finished' but the training loss of epoch {n} is not finite"]
        return []
    if not (_is_int(at) and 1 <= at <= epochs):
        return [f"outcome 'diverged' needs diverged_epoch between 1 and {epochs}, found {at!r}"]
    if n != at:
        return [f"diverged at epoch {at} but {n} epochs recorded (expected {at})"]
    if _finite(history[-1]["train_loss"]):
        return [f"outcome 'diverged' but the training loss of epoch {at} is finite"]
    return []


def outcome(cell: dict) -> str:
    """``"diverged"`` when the cell says so or its last recorded training loss
    is null or not finite (schema 1 and 2 files say nothing, and record every
    epoch); ``"finished"`` otherwise. The one rule for every regime."""
    last = cell["history"][-1]["train_loss"] if cell["history"] else None
    return "diverged" if cell.get("outcome") == "diverged" or not _finite(last) else "finished"


def diverged_epoch(cell: dict) -> int | None:
    """The epoch whose training loss was first not finite (None for a finished cell)."""
    if outcome(cell) != "diverged":
        return None
    if _is_int(cell.get("diverged_epoch")):
        return cell["diverged_epoch"]
    return next((r["epoch"] for r in cell["history"] if not _finite(r["train_loss"])), len(cell["history"]))


def backend(cell: dict) -> str:
    """The backend that trained the cell; files before schema 3 were all made with TensorFlow."""
    return (cell["provenance"].get("backend") or {}).get("name") or "tensorflow"


def _kernels(cell: dict) -> str:
    """The kernel class a cell ran on: the oneDNN ISA in force ("unrecorded" for schema-1 files)."""
    k = cell["provenance"].get("hardware", {}).get("kernels")
    return (k if isinstance(k, dict) else {}).get("effective_isa") or "unrecorded"


def read_cell(f: Path, profile: str) -> dict:
    """One result file, refused unless it is readable, well-formed and of ``profile``."""
    try:
        cell = read_result(f, also_formats=OLDER_FORMATS)
    except OSError as e:
        raise ResultsError(f"{f}: unreadable result file ({e.strerror or e})") from None
    except Malformed as e:
        raise ResultsError(f"{f}: {e}") from None
    except Unreadable as e:
        raise ResultsError(f"{f}: unreadable result file ({e})") from None
    problems = result_problems(cell) or later_format_problems(cell)
    if problems:
        raise ResultsError(f"{f}: " + "; ".join(problems))
    if cell["profile"] != profile:
        raise ResultsError(f"{f}: belongs to profile {cell['profile']!r}, found under {profile!r}")
    cell["file"] = str(f)
    return cell


def load_predictions(cell: dict) -> dict:
    """A final cell's per-image test predictions (``predicted`` class, ``p_true``:
    the probability given to the true class), read from the file beside it and
    refused unless its sha256 and size are the ones the result records."""
    import hashlib

    import numpy as np
    pred = cell.get("predictions")
    if not isinstance(pred, dict):
        raise ResultsError(f"{cell.get('file', 'this cell')}: no per-image predictions (result format "
                           f"{cell.get('schema', 1)}; they start with format 5)")
    from actbook.runner.files import MAX_RESULT_BYTES, read_regular_file
    path = Path(cell["file"]).with_name(pred["file"])
    try:
        data = read_regular_file(path, MAX_RESULT_BYTES)
    except OSError as e:
        raise ResultsError(f"{path}: cannot read the predictions file ({e.strerror})") from None
    except Unreadable as e:
        raise ResultsError(f"{path}: cannot read the predictions file ({e})") from None
    if hashlib.sha256(data).hexdigest() != pred["sha256"]:
        raise ResultsError(f"{path}: its sha256 is not the one {Path(cell['file']).name} records")
    import io
    import zipfile
    import zlib
    try:
        problem = _unpacked_problem(data, pred["images"])
        if problem:
            raise ResultsError(f"{path}: {problem}")
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("predicted", "p_true")}
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as e:
        raise ResultsError(f"{path}: not a predictions file ({type(e).__name__}: {e})") from None
    problem = _predictions_problem(arrays, pred, cell)
    if problem:
        raise ResultsError(f"{path}: {problem}")
    return arrays


def _unpacked_problem(data: bytes, images: int) -> str | None:
    """What makes the zip archive ``data`` too large to unpack, read from its
    headers before any array is: more than :data:`MAX_PREDICTIONS_UNPACKED`
    bytes in all (zipfile reads no member beyond the size its header gives), or
    an array whose own header promises another shape than ``(images,)`` (numpy
    would allocate that shape before reading a byte)."""
    import io
    import zipfile

    import numpy as np
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = z.infolist()
        unpacked = sum(m.file_size for m in members)
        if unpacked > MAX_PREDICTIONS_UNPACKED:
            return (f"unpacks to {unpacked:,} bytes, more than the {MAX_PREDICTIONS_UNPACKED:,} a predictions file "
                    f"may hold")
        for key in ("predicted", "p_true"):
            if f"{key}.npy" not in z.namelist():
                continue  # np.load names what is missing
            with z.open(f"{key}.npy") as f:
                version = np.lib.format.read_magic(f)
                header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape = header(f)[0]
            if shape != (images,):
                return f"{key} is not {images} images (an array of shape {shape}, expected ({images},))"
    return None


def _predictions_problem(arrays: dict, pred: dict, cell: dict) -> str | None:
    """What makes ``arrays`` not this cell's predictions: a shape or values no
    classifier of 10 classes writes, or another cell's file. Their error cannot be
    recomputed without the labels; the result's ``predictions.error`` must agree
    with its last epoch's test error instead (within float32 rounding)."""
    import numpy as np
    from actbook.runner.result_files import PREDICTION_ERROR_TOLERANCE, predictions_name
    predicted, p_true = arrays["predicted"], arrays["p_true"]
    if any(a.shape != (pred["images"],) for a in arrays.values()):
        return (f"not {pred['images']} images (arrays of shape {predicted.shape} and {p_true.shape}, "
                f"expected ({pred['images']},))")
    if not np.issubdtype(predicted.dtype, np.unsignedinteger):
        return f"predicted must be classes 0 to 9 (unsigned integers), found {predicted.dtype}"
    if predicted.max() > 9:
        return f"predicted must be classes 0 to 9, found class {predicted.max()}"
    if not np.issubdtype(p_true.dtype, np.floating) or not (np.all(np.isfinite(p_true)) and np.all(p_true >= 0)
                                                              and np.all(p_true <= 1)):
        return f"p_true must be probabilities (finite, in [0, 1]), found {p_true.dtype} outside them"
    own = predictions_name(cell) if {"profile", "activation", "seed"} <= cell.keys() else pred.get("file")
    if pred.get("file") != own:
        return f"the predictions of another cell (this cell's are {own})"
    history = cell.get("history") or [{}]
    error, test_error = pred.get("error"), history[-1].get("test_error")
    if error is not None and (test_error is None or abs(error - test_error) > PREDICTION_ERROR_TOLERANCE):
        return f"its error {error!r} is not the last epoch's test_error {test_error!r}"
    return None


# --------------------------------------------------------------------------
# One folder
# --------------------------------------------------------------------------

def parse_folder(name: str) -> tuple[str, str | None, str | None]:
    """``"cpu+3f2a9c1d@tensorflow-2dev"`` -> ``("cpu", "3f2a9c1d", "tensorflow-2dev")``:
    the profile, the tag of a run with ``--set`` overrides and the runtime, as
    the runner names its folders (``<profile>[+<tag>][@<runtime>]``), read back by
    the runner's own :func:`actbook.runner.profiles.split_folder`."""
    try:
        return split_folder(name)
    except UsageError as e:
        raise ResultsError(str(e)) from None


def load_cells(results: str | Path, folder: str) -> list[dict]:
    """Every cell under ``results/folder``, sorted by arm and seed.

    ``folder`` is a profile's name, as the runner names its folders
    (``paper``, ``paper+3f2a9c1d``, ``paper@jax``; see :func:`parse_folder`);
    every cell must belong to that profile. Refused: unreadable, malformed
    (:func:`result_problems`) or unfinished files, two files for one
    (activation, seed), and cells made with different configs (their
    ``description`` aside), from different data sets or with different
    backends. Diverged cells load (see :func:`outcome`). Warned about: cells
    whose kernels differ (the precision policy's
    :func:`actbook.runner.precision.effective_isa`), which may differ in the last digits.
    """
    profile = parse_folder(folder)[0]
    where = Path(results) / folder
    files = sorted(where.glob("*.json"))
    if not files:
        raise ResultsError(f"no result files in {where}: run "
                           f"`actbook run --profile {profile} --results {results}`")
    cells = [read_cell(f, profile) for f in files]
    # One plan, so that a cell whose own config widens it is not read as planned.
    check_one_value(cells, where, FIXED_PLAN)
    check_growing(cells, where, GROWING_PLAN)
    check_one_rate_per_arm(cells, where)
    cells = _planned_only(cells, where, lambda c: (c["activation"], c["seed"]), expected_cells)
    seen = {}
    for c in cells:
        key = (c["activation"], c["seed"])
        if key in seen:
            raise ResultsError(f"{where}: two files for {c['activation']} seed {c['seed']}: "
                               f"{Path(seen[key]).name} and {Path(c['file']).name}")
        seen[key] = c["file"]
    grid_cells = [Path(c["file"]).name for c in cells if c.get("stage") == "grid"]
    if grid_cells:
        raise ResultsError(f"{where}: grid cells ({_names(grid_cells)}) belong in the grid/ subfolder; read them "
                           f"with actbook.analysis.selection.load_grid")
    check_named(cells, where)
    for c in cells:  # a final cell of a grid profile trains at its arm's chosen rate
        chosen = c["config"].get("chosen_rates")
        if chosen is not None and chosen.get(c["activation"]) != c["config"]["optimizer"]["learning_rate"]:
            raise ResultsError(f"{c['file']}: trained at learning rate {c['config']['optimizer']['learning_rate']}, "
                               f"not its arm's chosen rate {chosen.get(c['activation'])}")
    check_consistent(cells, where, _shared_identity)
    return sorted(cells, key=lambda c: (c["activation"], c["seed"]))


def check_named(cells: list[dict], where: Path) -> None:
    """Every file named for the cell it holds (``relu-seed0.json``, a grid
    cell's ``relu-lr0.05-seed100.json``), else :class:`ResultsError`, as ``check``
    reports it: the chapters count a regime's cells by their file names
    (:func:`actbook.analysis.selection.final_progress`)."""
    for c in cells:
        rate = c["config"]["optimizer"]["learning_rate"] if c.get("stage") == "grid" else None
        stem = Cell(c["profile"], c["activation"], c["seed"], rate).stem
        if Path(c["file"]).name != f"{stem}.json":
            raise ResultsError(f"{where}: {Path(c['file']).name} holds the cell {stem}, misnamed")


def check_consistent(cells: list[dict], where: Path, identity) -> None:
    """One config (``identity`` of each cell's, which leaves out what may differ
    between cells), one data set and one backend across ``cells``, else
    :class:`ResultsError`; kernels that differ are warned about. Result formats
    may not mix either, but for 4 and 5 (:data:`CURRENT_SCHEMAS`: 5 only adds measurements)."""
    by_format = _group(cells, lambda c: "4 or 5" if c.get("schema", 1) in CURRENT_SCHEMAS else c.get("schema", 1))
    if len(by_format) > 1:
        raise ResultsError(f"{where}: cells of {len(by_format)} result formats, which never share a table: "
                           + "; ".join(f"format {k}: {_names(v)}" for k, v in by_format.items()))
    configs = {json.dumps(identity(c["config"]), sort_keys=True) for c in cells}
    if len(configs) > 1:
        raise ResultsError(f"{where}: cells were run with {len(configs)} different configs; "
                           f"keep one profile version per folder")
    by_data = _group(cells, lambda c: (c["provenance"].get("dataset") or {}).get("sha256"))
    if len(by_data) > 1:
        raise ResultsError(f"{where}: cells come from {len(by_data)} different data sets: " + "; ".join(
            f"sha256 {str(k)[:12]}...: {_names(v)}" for k, v in by_data.items()))
    by_backend = _group(cells, backend)
    if len(by_backend) > 1:
        raise ResultsError(f"{where}: cells were trained with {len(by_backend)} different backends, which never "
                           f"share a table: " + "; ".join(f"{k}: {_names(v)}" for k, v in by_backend.items()))
    by_kernels = _group(cells, _kernels)
    if len(by_kernels) > 1:
        warnings.warn(f"{where}: cells ran on different kernels, which the precision policy does not "
                      f"promise to agree bit for bit: " + "; ".join(f"{k}: {len(v)} files ({v[0]}, ...)"
                                                                     for k, v in by_kernels.items()),
                      ResultsWarning, stacklevel=3)


#: The settings of a final cell's config that say which cells its folder holds (besides
#: ``chosen_rates``, :func:`check_one_rate_per_arm`): one value across the folder ...
FIXED_PLAN = ("arms", "seeds", "rates_from")
#: ... but for those a profile may gain after its main sweep ran, which may only grow.
GROWING_PLAN = ("extra_seeds", "later_arms")


def _shown(value) -> str:
    return "none" if value is None else json.dumps(value)


def _setting(cell: dict, path: str):
    """``"grid.seeds"`` of a cell's config (None where it has none)."""
    value = cell["config"]
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def check_one_value(cells: list[dict], where: Path, settings) -> None:
    """One value of each config setting in ``settings`` (``"seeds"``,
    ``"grid.seeds"``) across ``cells``, else :class:`ResultsError` naming the
    files that record each value, the fewer first."""
    for setting in settings:
        groups = _group(cells, lambda c: json.dumps(_setting(c, setting), sort_keys=True))
        if len(groups) > 1:
            odd = sorted(groups.items(), key=lambda kv: (len(kv[1]), kv[0]))
            raise ResultsError(f"{where}: the cells record {len(groups)} different config.{setting} (one plan per "
                               f"folder): " + "; ".join(f"{_shown(json.loads(k))} in {_names(v)}" for k, v in odd))


def _pairs(value) -> frozenset:
    """``{"relu": [3, 4]}`` -> ``{("relu", 3), ("relu", 4)}``."""
    return frozenset((a, s) for a, ss in value.items() for s in ss) if isinstance(value, dict) else frozenset()


def check_growing(cells: list[dict], where: Path, settings, warn: bool = True) -> None:
    """Each config setting in ``settings`` (a map of names to lists:
    ``"extra_seeds"``, ``"grid.extended"``) only grows across ``cells``: their
    values nest, else :class:`ResultsError`. Where they differ (a profile gained
    extra seeds, later arms or an edge-rule extension after its first cells
    ran, or a cell's config was edited) the widest plans the folder; with
    ``warn``, a warning names the files of each value."""
    for setting in settings:
        groups = {}
        for c in cells:
            groups.setdefault(_pairs(_setting(c, setting)), []).append(c)
        if len(groups) < 2:
            continue
        ordered = sorted(groups.items(), key=lambda kv: len(kv[0]))
        listing = "; ".join(f"{_shown(_setting(v[0], setting))} in {_names([Path(c['file']).name for c in v])}"
                            for _, v in ordered)
        if not all(a <= b for (a, _), (b, _) in zip(ordered, ordered[1:])):
            raise ResultsError(f"{where}: the cells record values of config.{setting} that do not nest (one plan "
                               f"per folder): {listing}")
        if warn:
            warnings.warn(f"{where}: the cells record {len(groups)} values of config.{setting} (the profile grew "
                          f"after its first cells ran, or a cell's config was edited); the widest is read: "
                          f"{listing}", ResultsWarning, stacklevel=3)


def check_one_rate_per_arm(cells: list[dict], where: Path) -> None:
    """One chosen rate per arm across the cells' ``chosen_rates``, else
    :class:`ResultsError`: a cell that records another would train its arm at another rate."""
    rates = {}
    for c in cells:
        for arm, rate in (c["config"].get("chosen_rates") or {}).items():
            rates.setdefault(arm, {}).setdefault(rate, []).append(Path(c["file"]).name)
    for arm, by_rate in rates.items():
        if len(by_rate) > 1:
            odd = sorted(by_rate.items(), key=lambda kv: (len(kv[1]), kv[0]))
            raise ResultsError(f"{where}: the cells record {len(by_rate)} different chosen rates for {arm}: "
                               + "; ".join(f"{r:g} in {_names(v)}" for r, v in odd))


def _planned_only(cells: list[dict], where: Path, key, planned) -> list[dict]:
    """``cells`` less those their own profile does not plan (a ``run --seeds 7``
    or ``--activations`` beyond it, into a sweep's folder), with a warning
    naming them: a chapter's numbers come from the design's cells only, as
    ``check`` (which reports them "outside the plan") demands."""
    plan = planned(cells)
    # The earlier sweeps (no stage, before format 4) were closed as they stand, with
    # arms run beyond the plan their configs record; the plan binds from format 4 on,
    # the cell's own (the runner writes none outside it) as well as the folder's.
    outside = [c for c in cells if "stage" in c and not (key(c) in plan and key(c) in planned([c]))]
    if outside:
        warnings.warn(f"{where}: left out {len(outside)} cell(s) outside the plan of the profile they name: "
                      f"{_names([Path(c['file']).name for c in outside])}", ResultsWarning, stacklevel=3)
    left_out = {id(c) for c in outside}
    kept = [c for c in cells if id(c) not in left_out]
    if not kept:
        raise ResultsError(f"{where}: no cell of the plan, only cells outside it")
    return kept


def _shared_identity(config: dict) -> dict:
    """What every cell of a folder shares: the identity, less the learning
    rate where each arm has its own (``chosen_rates``)."""
    identity = experiment_identity(config)
    if config.get("chosen_rates") is not None:
        identity = {**identity, "optimizer": {k: v for k, v in identity["optimizer"].items() if k != "learning_rate"}}
    return identity


def _group(cells, key) -> dict:
    groups = {}
    for c in cells:
        groups.setdefault(key(c), []).append(Path(c["file"]).name)
    return groups


def _names(files: list[str]) -> str:
    return ", ".join(files[:4]) + (" ..." if len(files) > 4 else "")


def expected_cells(cells: list[dict]) -> set[tuple[str, int]]:
    """Every (arm, seed) the cells' profile plans: its arms at its seeds, the
    extra seeds of the arms that have them, and its later arms at theirs."""
    planned = set()
    for config in {json.dumps(c["config"], sort_keys=True): c["config"] for c in cells}.values():
        extra = config.get("extra_seeds") or {}
        planned |= {(a, s) for a in config["arms"] for s in [*config["seeds"], *extra.get(a, [])]}
        planned |= {(a, s) for a, seeds in (config.get("later_arms") or {}).items() for s in seeds}
    return planned


def missing_cells(cells: list[dict]) -> list[tuple[str, int]]:
    """The planned (arm, seed) cells that are not among ``cells``, sorted."""
    return sorted(expected_cells(cells) - {(c["activation"], c["seed"]) for c in cells})


def check_complete(cells: list[dict]) -> None:
    """Every (arm, seed) the profile names is present."""
    missing = missing_cells(cells)
    if missing:
        raise ResultsError(f"{len(missing)} cells missing: {missing}")


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------

def history_frame(cells: list[dict]) -> pd.DataFrame:
    """One row per cell and epoch: activation, seed, epoch, losses, errors,
    timing, and the cell's :func:`outcome`."""
    rows = [{"activation": c["activation"], "seed": c["seed"], **h, "outcome": outcome(c)}
            for c in cells for h in c["history"]]
    return pd.DataFrame(rows)


def final_rows(history: pd.DataFrame) -> pd.DataFrame:
    """The last epoch of every cell."""
    last = history.groupby(["activation", "seed"])["epoch"].transform("max")
    return history[history["epoch"] == last].reset_index(drop=True)


def split_diverged(final: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``final`` rows (see :func:`final_rows`) split into cells that trained and
    cells that diverged, by :func:`outcome`'s rule (a training loss that ended
    NaN, or a cell that says it diverged): ``(kept, diverged)``, each with a fresh index."""
    bad = final["train_loss"].isna()
    if "outcome" in final:
        bad |= final["outcome"].eq("diverged")
    return final[~bad].reset_index(drop=True), final[bad].reset_index(drop=True)


def final_and_diverged(cells: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last row of every cell, split by :func:`outcome`: ``(final, diverged)``.

    ``final`` holds the cells that trained, one row each; ``diverged`` the
    others, with the epoch their training loss stopped being finite
    (``diverged_epoch``). Both chapters read every regime through here, so a
    diverged cell never enters a mean unnoticed.
    """
    final, diverged = split_diverged(final_rows(history_frame(cells)))
    at = {(c["activation"], c["seed"]): diverged_epoch(c) for c in cells}
    diverged["diverged_epoch"] = pd.Series([at[k] for k in zip(diverged.activation, diverged.seed)],
                                           index=diverged.index, dtype="Int64")
    return final, diverged


@dataclass(frozen=True)
class Sweep:
    """One results folder, read for the book (see :func:`load_sweep`)."""

    folder: Path
    cells: list          #: every cell in the folder, diverged ones included
    history: pd.DataFrame  #: every epoch of every cell
    final: pd.DataFrame    #: the last row of every cell that trained
    diverged: pd.DataFrame  #: the last row of every cell that diverged, with ``diverged_epoch``
    missing: list        #: planned (arm, seed) cells not in the folder
    planned: int         #: how many cells the profile plans

    @property
    def config(self) -> dict:
        return self.cells[0]["config"]

    @property
    def profile(self) -> str:
        return self.cells[0]["profile"]

    @property
    def trained_cells(self) -> list:
        """The cells that did not diverge."""
        return [c for c in self.cells if outcome(c) == "finished"]

    @property
    def trained_history(self) -> pd.DataFrame:
        """:attr:`history` of the cells that did not diverge."""
        return self.history[self.history["outcome"] == "finished"].reset_index(drop=True)

    @property
    def complete(self) -> bool:
        """Every planned cell is in."""
        return not self.missing

    def require_complete(self, display=str) -> "Sweep":
        """This sweep, when every planned cell is in; otherwise :class:`RegimeIncomplete`,
        naming the missing cells (``display`` turns an arm into the name to print)."""
        if self.missing:
            n = len(self.missing)
            raise RegimeIncomplete(f"the `{self.profile}` regime is not complete: {n} of its {self.planned} planned "
                                   f"cells {'is' if n == 1 else 'are'} missing ({_listing(self.missing, display)}); "
                                   f"it is read once all its cells are in")
        return self


def load_sweep(results: str | Path, folder: str) -> Sweep:
    """Every cell under ``results/folder`` (:func:`load_cells`), its history,
    its final rows split into trained and diverged cells
    (:func:`final_and_diverged`), and the planned cells that are missing.

    A partial sweep loads: the chapters say what is missing
    (:func:`incomplete_note`) and compute from what is there.
    """
    cells = load_cells(results, folder)
    final, diverged = final_and_diverged(cells)
    return Sweep(Path(results) / folder, cells, history_frame(cells), final, diverged, missing_cells(cells),
                 len(expected_cells(cells)))


def load_complete(results: str | Path, folder: str, display=str) -> Sweep:
    """:func:`load_sweep`, for a chapter that reads complete regimes only: a
    regime with a planned cell missing raises :class:`RegimeIncomplete`."""
    return load_sweep(results, folder).require_complete(display)


def pending_sentence(done: int, planned: int, what: str) -> str:
    """What a reader is told of a regime still running: "" once all ``planned``
    cells are in, otherwise "Only 12 of the 120 final cells of <what> are in,
    so it is not read yet: a regime is read once all its cells are in." """
    if done >= planned:
        return ""
    return (f"Only {done} of the {planned} final cells of {what} {'is' if done == 1 else 'are'} in, so it is not "
            f"read yet: a regime is read once all its cells are in.")


# --------------------------------------------------------------------------
# Sentences for the chapters
# --------------------------------------------------------------------------

def _listing(pairs, display) -> str:
    """``[("relu", 0), ("relu", 1), ("elu", 2)]`` -> ``"ReLU seeds 0, 1; ELU seed 2"``."""
    by_arm = {}
    for a, k in pairs:
        by_arm.setdefault(a, []).append(str(k))
    return "; ".join(f"{display(a)} seed{'s' if len(ks) > 1 else ''} {', '.join(ks)}" for a, ks in by_arm.items())


def incomplete_note(sweep: Sweep, display=str) -> str:
    """A warning naming the planned cells missing from ``sweep`` ("" when none is)."""
    if not sweep.missing:
        return ""
    n = len(sweep.missing)
    return (f"**Warning: the `{sweep.profile}` sweep is not complete.** {n} of its {sweep.planned} planned cells "
            f"{'is' if n == 1 else 'are'} missing ({_listing(sweep.missing, display)}). Everything below uses the "
            f"finished cells only: some comparisons have fewer paired seeds than the profile plans, and a "
            f"comparison that needs an activation with no cell left is not made. Rerun the sweep command to "
            f"finish it.")


def diverged_list(diverged: pd.DataFrame, display=str) -> str:
    """``"PReLU seed 2 (epoch 27); SELU seeds 0, 1 (epochs 3, 4)"`` for the
    diverged rows of :func:`final_and_diverged` ("" when there are none)."""
    parts = []
    for a, g in diverged.groupby("activation", sort=False):
        seeds, at = [str(int(k)) for k in g.seed], [str(int(e)) for e in g.diverged_epoch]
        parts.append(f"{display(a)} seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)} "
                     f"(epoch{'s' if len(at) > 1 else ''} {', '.join(at)})")
    return "; ".join(parts)


def diverged_note(sweep: Sweep, display=str) -> str:
    """A paragraph naming the cells of ``sweep`` that diverged and saying what
    is done with them ("" when none did)."""
    if sweep.diverged.empty:
        return ""
    n = len(sweep.diverged)
    return (f"**Diverged {'cell' if n == 1 else 'cells'}** in the `{sweep.profile}` sweep: "
            f"{diverged_list(sweep.diverged, display)}, the epoch in which the training loss stopped being finite. "
            f"{'Such a cell' if n == 1 else 'These cells'} learn nothing from then on; "
            f"{'it is' if n == 1 else 'they are'} left out of every mean, table and paired comparison below "
            f"(the pairs with {'it' if n == 1 else 'them'} are dropped) and counted here instead.")


def code_commits(cells: list[dict]) -> list[str]:
    """The code commits (10 hex digits, "(dirty)" for uncommitted changes) that made ``cells``, sorted."""
    out = set()
    for c in cells:
        git = c["provenance"].get("git") or {}
        out.add((git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else ""))
    return sorted(out)


def origin_sentence(sweeps: dict[str, list[dict]]) -> str:
    """One sentence saying which code commits made the results of each regime
    (``{"regime 1": cells, ...}``) and whether that is today's runner.

    Files before schema 3 come from the TensorFlow runner that read its data
    through ``tf.data``; the runner has since changed (schema 3, a new data
    stream), so those files do not reproduce with the current code.
    """
    commits = {label: code_commits(cells) for label, cells in sweeps.items()}
    if len({tuple(cs) for cs in commits.values()}) == 1:
        cs = next(iter(commits.values()))
        made = f"at commit{'s' if len(cs) > 1 else ''} {', '.join(cs)}"
    else:
        made = join_and([f"at commit{'s' if len(cs) > 1 else ''} {', '.join(cs)} ({label})"
                     for label, cs in commits.items()])
    old = [label for label, cells in sweeps.items() if any(c.get("schema", 1) < 3 for c in cells)]
    if not old:
        backends = sorted({backend(c) for cells in sweeps.values() for c in cells})
        return f"The committed results were made by the current runner, with {join_and(backends)}, {made}."
    which = ("with the earlier TensorFlow runner" if len(old) == len(sweeps) else
             f"those of {join_and(old)} with the earlier TensorFlow runner")
    return (f"The committed results were made by the code {made}, {which}. The runner has since changed (it is "
            f"backend-portable and feeds the data through a new data stream), so rerunning a sweep with the current "
            f"code does not reproduce these numbers.")


def made_by(cells: list[dict]) -> dict:
    """What made a set of cells, from their provenance, as one row for a table:
    how many cells, the code commits, CPUs, kernels, backends, threads, data
    sets and the time span. Several values in a column are listed, sorted."""
    def values(get) -> str:
        found = sorted({str(v) for v in map(get, cells) if v not in (None, "")})
        return ", ".join(found) or "unrecorded"

    prov = [c["provenance"] for c in cells]
    return {
        "cells": len(cells),
        "code": ", ".join(code_commits(cells)),
        "CPU": values(lambda c: (c["provenance"].get("hardware") or {}).get("cpu")),
        "kernels": values(_kernels),
        "backend": values(lambda c: f"{backend(c)} {(c['provenance'].get('backend') or {}).get('version', '')}".strip()),
        "threads": values(lambda c: (c["provenance"].get("backend") or {}).get("threads")),
        "data set": values(lambda c: (c["provenance"].get("dataset") or {}).get("dataset")),
        # The runner stamps every time in UTC (provenance.now()).
        "from (UTC)": min((p.get("started") or "") for p in prov)[:16].replace("T", " "),
        "to (UTC)": max((p.get("finished") or "") for p in prov)[:16].replace("T", " "),
    }


def sweep_facts(cells: list[dict], history: pd.DataFrame) -> dict:
    """What a chapter says of a sweep, from its cells' provenance: how many
    cells, the minutes of training in all, the training and test images used,
    the data sets (with the start of their checksums), the CPUs, the kernels
    and the span of time it ran."""
    prov = [c["provenance"] for c in cells]
    datasets = {p["dataset"]["sha256"]: p["dataset"]["dataset"] for p in prov}
    kernels = sorted({(p["hardware"].get("kernels") or {}).get("effective_isa") or "not recorded" for p in prov})
    return {
        "cells": len(cells),
        "minutes": float(history["seconds"].sum()) / 60,
        "train_images": prov[0]["train_images_used"],
        "test_images": prov[0]["test_images_used"],
        "dataset": "; ".join(f"{d} (sha256 {s[:12]}...)" for s, d in datasets.items()),
        "hardware": ", ".join(sorted({p["hardware"]["cpu"] for p in prov})),
        "kernels": ", ".join(kernels),
        "span": f"{min(p['started'] for p in prov)[:16]} to {max(p['finished'] for p in prov)[:16]} UTC",
    }

