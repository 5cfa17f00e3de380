"""Result files, read and validated in one place.

:func:`read_result` reads as :func:`actbook.runner.files.read_json_file` reads
(a regular file, a size cap, never blocking) and checks the file against
``result.schema.json``, whose ``config`` is a profile (the profile schema of
:mod:`actbook.runner.profiles`), and against the rules a schema cannot say.
A module of its own because it needs the profile schema, and the profiles
need :mod:`actbook.runner.files`: imports run one way.

The loaders of the analysis and the runner's ``check`` also read the formats
of the earlier sweeps (1 to 3): :func:`any_format_problems` checks a file of
any format for what they read of it, and :func:`load_predictions` reads a
final cell's predictions file back, refusing one that is not the cell's own.

What no check here can catch: a result file whose numbers were edited so that
they agree with each other (a format-4 cell has no predictions to check them
against, and ``train_error``, ``test_loss`` and the diagnostics have nothing to
be checked against at all). Without a key kept outside the results folder,
git history is the record of the committed results.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from actbook.runner.backend import BACKENDS
from actbook.runner.errors import printable
from actbook.runner.files import MAX_RESULT_BYTES, Malformed, Unreadable, read_json_file, read_regular_file
from actbook.runner.profiles import SCHEMA as PROFILE_SCHEMA
from actbook.runner.profiles import STAGES, Cell
from actbook.runner.profiles import is_finite_number, non_finite_fields, shown_number

__all__ = ["read_result", "result_problems", "RESULT_FORMATS", "OLDER_FORMATS", "measured_metrics", "predictions_name",
           "PREDICTION_ERROR_TOLERANCE", "ResultsError", "SCHEMAS", "any_format_problems", "later_format_problems",
           "any_format_measured_metrics", "outcome", "diverged_epoch", "load_predictions", "MAX_PREDICTIONS_UNPACKED",
           "folder_made_for", "settings_format_4_lacks", "mixed_format_problem"]


class ResultsError(RuntimeError):
    """The results on disk are missing or inconsistent; the message says which.
    (Raised here by :func:`load_predictions`; the analysis's loaders raise it for the rest.)
    What the message quotes of a file (a name, an activation) is escaped where a terminal
    could not show it (:func:`actbook.runner.errors.printable`, as ``check``'s lines are)."""

    def __init__(self, message: str = "", *args):
        super().__init__(printable(str(message)), *args)


#: The result formats :func:`read_result` validates (``result.schema.json``); older ones are the
#: business of whoever still reads them (with :func:`any_format_problems`).
RESULT_FORMATS = (4, 5)
#: The formats of the earlier sweeps (``data/earlier``), which only the analysis still reads.
OLDER_FORMATS = (1, 2, 3)


@functools.lru_cache(maxsize=1)
def _result_schema():
    """``(validator of the whole file, {format: validator of one history row})`` for
    ``result.schema.json``, whose ``config`` is a profile (``urn:actbook:profile``)."""
    from importlib import resources

    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    schema = json.loads(resources.files("actbook.runner").joinpath("result.schema.json").read_text())
    registry = Registry().with_resources([
        ("urn:actbook:profile", Resource.from_contents(PROFILE_SCHEMA, DRAFT202012)),
        ("urn:actbook:result", Resource.from_contents(schema, DRAFT202012))])
    # As for profiles: 2.0 is not an integer (JSON Schema 2020-12 counts it as one), nor is True.
    strict = jsonschema.validators.extend(jsonschema.Draft202012Validator,
                                          type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
                                              "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)))
    rows = {4: strict({"$ref": "urn:actbook:result#/$defs/row4"}, registry=registry),
            5: strict({"$ref": "urn:actbook:result#/$defs/row5"}, registry=registry)}
    return strict(schema, registry=registry), rows, _row_bounds(schema)


def _row_bounds(schema: dict) -> dict:
    """{format: (required keys, {key: (types, minimum, maximum)})} of the history rows'
    definitions, for :func:`_row_surely_valid`."""
    defs = schema["$defs"]

    def resolve(sub):
        sub = defs[sub["$ref"].rsplit("/", 1)[1]] if "$ref" in sub else sub
        assert set(sub) <= {"type", "minimum", "maximum", "$comment"}, sub  # all the fast check knows
        types = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        return set(types), sub.get("minimum", -math.inf), sub.get("maximum", math.inf)

    row4 = defs["row4"]
    props = {k: resolve(v) for k, v in row4["properties"].items()}
    required4 = set(row4["required"])
    return {4: (required4, props), 5: (required4 | set(defs["row5"]["required"]), props)}


def _row_surely_valid(row, bounds) -> bool:
    """True only for a history row its definition accepts (checked without jsonschema,
    which takes a millisecond a row); a row it cannot vouch for is validated in full."""
    required, props = bounds
    if not (isinstance(row, dict) and required <= row.keys() <= props.keys()):
        return False
    for key, value in row.items():
        types, low, high = props[key]
        if value is None:
            if "null" not in types:
                return False
        elif isinstance(value, bool) or not isinstance(value, int if "number" not in types else (int, float)):
            return False
        elif not low <= value <= high:
            return False
    return True


def measured_metrics(data: dict) -> tuple[str, ...]:
    """The metrics the last epoch of a finished format-4 or 5 cell measures, by its config:
    training, inference-mode training, test (unless the config skips the test set) and
    validation (where it holds images out) loss and error; format 5 each loss also as cross-entropy."""
    config = data["config"]
    parts = ["train", "train_eval"]
    if config.get("evaluate_test", True) is not False:
        parts.append("test")
    if config.get("validation_size"):
        parts.append("val")
    names = ("loss", "error", "xent") if data["schema"] >= 5 else ("loss", "error")
    return tuple(f"{p}_{m}" for p in parts for m in names)


#: How far a predictions file's error (a count over the test images, in float64) may be from the
#: last epoch's test_error (the same count, as float32 accuracy from Keras): float32 rounding only.
PREDICTION_ERROR_TOLERANCE = 1e-6
#: How far the last epoch's ``test_xent`` may be from the mean of -log p_true over the predictions
#: file, relative. Keras's metric is a float32 running mean of per-batch means computed from the
#: logits; the file's p_true are the float32 softmax outputs, whose rounding (6e-8 relative) moves
#: -log p by at most 6e-8. Float32 accumulation over the test batches stays below 1e-6 relative (the
#: committed cells: 3.8e-7 at most; the worst case over 10,000 images is near 1e-5), so 1e-4 leaves
#: a margin for other devices while an edited ``test_xent`` is caught from its fourth digit. Two cells
#: whose cross-entropies agree closer than that are not told apart by it: in fit1k the five sigmoid
#: cells (all at chance, 2.3026) and lrelu_1/5.5 seed 1 against prelu seed 3 (1.8e-5); every
#: other pair of committed cells differs by 2.2e-4 or more.
XENT_TOLERANCE = 1e-4
#: A p_true of 0 is a float32 probability below the smallest normal one, 2**-126 (TensorFlow flushes
#: subnormal results to zero; rounding alone would need 2**-150): its -log is above this, less float32
#: rounding. The recorded cross-entropy of such images is bounded below by it.
_LOG_OF_ROUNDED_ZERO = 126 * math.log(2) - 1e-3


def settings_format_4_lacks(config: dict) -> list[str]:
    """The settings of ``config`` that came with result format 5 and change which numbers a
    cell computes or where its rates come from: the format-4 runner had none of them, so a
    format-4 cell cannot have been made with one. (``grid.extended`` came then too, but says
    only which rates a grid tried: a folder of format-4 final cells may gain format-5 cells of
    a grid extended since.)"""
    found = []
    if config.get("seeding", "offset") != "offset":
        found.append(f"seeding {config['seeding']!r}")
    if config.get("subset_per_seed", False) is not False:
        found.append(f"subset_per_seed {config['subset_per_seed']!r}")
    if "rates_from" in config:
        found.append("rates_from")
    return found


def mixed_format_problem(cells: list[tuple[str, dict]]) -> str | None:
    """What is wrong with a folder's final cells (``(file name, parsed result)``) of formats 4
    and 5 side by side, where one of them uses a setting format 4 lacks
    (:func:`settings_format_4_lacks`): a format-4 cell cannot be their sibling, so it is a
    format-5 cell rewritten as format 4 (its predictions and calibration gone with the
    checks they carry). None where the formats do not mix, or may."""
    fours = [name for name, data in cells if data.get("schema") == 4]
    using = [(name, found) for name, data in cells
             if isinstance(data.get("config"), dict) and (found := settings_format_4_lacks(data["config"]))]
    if not fours or not using or not any(data.get("schema") == 5 for _, data in cells):
        return None
    return (f"final cells of result formats 4 ({len(fours)} file(s), e.g. {fours[0]}) and 5 together, though "
            f"{using[0][0]} uses settings that format 4 did not have ({', '.join(using[0][1])}): a format-4 cell "
            f"cannot be its sibling (a format-5 cell rewritten as format 4?)")


def _rule_problems(data: dict) -> list[str]:
    """What the schema cannot say, for a file that passed it: one row per epoch,
    a history as long as its outcome says, a finished cell's last row with
    every metric its config measures, and its predictions its own (named after
    its cell, of its last epoch's test error)."""
    history, epochs, result = data["history"], data["config"]["epochs"], data["outcome"]
    later = settings_format_4_lacks(data["config"]) if data["schema"] == 4 else []
    if later:
        return [f"config: {', '.join(later)}, settings of result format 5 that a format-4 cell cannot have "
                f"(a format-5 cell rewritten as format 4?)"]
    for i, row in enumerate(history):
        if row["epoch"] != i + 1:
            return [f"history[{i}].epoch: {row['epoch']}, expected {i + 1}"]
    if data["stage"] == "grid" and ("grid" not in data["config"] or data["config"].get("evaluate_test") is not False):
        return ["config: a grid cell's config has a grid and evaluate_test false"]
    early = [r["epoch"] for r in history[:-1] if r["train_loss"] is None]
    if early:
        return [f"history[{early[0] - 1}].train_loss: null, but the history goes on (a cell stops there)"]
    subset = _subset_problems(data)
    if subset:
        return subset
    if result == "diverged":
        at = data["diverged_epoch"]
        if not (len(history) == at <= epochs):
            return [f"diverged_epoch: {at}, but {len(history)} epochs recorded of {epochs}"]
        if history[-1]["train_loss"] is not None:
            return [f"history[{at - 1}].train_loss: a number, but the cell diverged there"]
        return []
    if len(history) != epochs:
        return [f"history: {len(history)} epochs recorded, config.epochs is {epochs} (unfinished)"]
    last = history[-1]
    absent = [k for k in measured_metrics(data) if last.get(k) is None]
    if absent:
        return [f"history[{epochs - 1}].{absent[0]}: null in a finished cell, whose config measures it"
                + (f" (also {', '.join(absent[1:])})" if absent[1:] else "")]
    return _prediction_problems(data) or _calibration_problems(data)


def _subset_problems(data: dict) -> list[str]:
    """A cell copied to another seed's name (its seed and predictions edited) still records the
    training subset it drew: the key of that draw must be the one its own seed and config give
    (:func:`actbook.runner.data.subset_key`, the rule the runner drew it by)."""
    from actbook.runner.data import subset_key
    from actbook.runner.profiles import with_defaults
    recorded = (data["provenance"].get("train_subset") or {}).get("key")
    if recorded is None:
        return []
    config = with_defaults(data["config"])
    try:
        expected = subset_key(config, data["seed"])
    except (KeyError, TypeError, ValueError) as e:
        return [f"provenance.train_subset.key: cannot be checked against the config ({type(e).__name__}: {e})"]
    if recorded != expected:
        return [f"provenance.train_subset.key: {recorded!r}, but seed {data['seed']} of this config draws "
                f"{expected!r} (a copy of another cell?)"]
    return []


def folder_made_for(data: dict) -> str:
    """The results folder the runner writes this (well-formed) result's cell into:
    its profile, the tag of its ``--set`` overrides (recorded as the effective
    ones) and the runtime its ``provenance.backend`` records
    (:func:`actbook.runner.profiles.profile_folder`). A cell moved into another
    folder (a TensorFlow cell under ``@jax-cpu``, a cell of ``--set epochs=2``'s
    folder under the profile's own) is told apart by it."""
    from actbook.runner.backend import recorded_runtime_tag
    from actbook.runner.profiles import overrides_tag
    overrides = data.get("overrides") or {}
    name = f"{data['profile']}+{overrides_tag(overrides)}" if overrides else data["profile"]
    runtime = recorded_runtime_tag((data.get("provenance") or {}).get("backend"))
    return f"{name}@{runtime}" if runtime else name


def predictions_name(data: dict) -> str:
    """The name of a final cell's predictions file: ``<its cell's stem>.predictions.npz``
    (the result file's own name, unless the file is misnamed, which ``check`` reports)."""
    return f"{Cell(data['profile'], data['activation'], data['seed']).stem}.predictions.npz"


def _prediction_problems(data: dict) -> list[str]:
    """Predictions copied from another cell, cut short, or a test error edited apart
    from them, would pass every other check and be read as this cell's."""
    pred, last = data.get("predictions"), data["history"][-1] if data["history"] else {}
    if not isinstance(pred, dict):
        return []
    if pred["file"] != predictions_name(data):
        return [f"predictions.file: {pred['file']!r}, but this cell's predictions are {predictions_name(data)}"]
    tested = data["provenance"].get("test_images_used")
    if pred["images"] != tested:  # a file cut short, its count edited to match
        return [f"predictions.images: {pred['images']}, but the cell tested provenance.test_images_used = {tested}"]
    error = last.get("test_error")
    if error is None or abs(pred["error"] - error) > PREDICTION_ERROR_TOLERANCE:
        return [f"predictions.error: {pred['error']!r}, but history[{len(data['history']) - 1}].test_error is "
                f"{error!r}"]
    return []


def _calibration_problems(data: dict) -> list[str]:
    """A calibration block from another cell, or edited, would be read as this cell's
    temperature and calibrated cross-entropy: its uncalibrated cross-entropies are this
    cell's last-epoch ones (computed from the same logits in float64, :data:`XENT_TOLERANCE`),
    its temperature lies in the searched bounds, and, since T = 1 is among the
    temperatures searched, calibration never raises the validation cross-entropy."""
    from actbook.runner.calibration import TEMPERATURE_BOUNDS
    cal, last = data.get("calibration"), data["history"][-1] if data["history"] else {}
    if not isinstance(cal, dict):
        return []
    for key in ("test_xent", "val_xent"):
        recorded = last.get(key)
        if recorded is not None and abs(cal[key] - recorded) > XENT_TOLERANCE * max(abs(recorded), 1.0):
            return [f"calibration.{key}: {cal[key]!r}, but history[{len(data['history']) - 1}].{key} is {recorded!r} "
                    f"(another cell's calibration, or an edited one)"]
    low, high = TEMPERATURE_BOUNDS
    if not low <= cal["temperature"] <= high:
        return [f"calibration.temperature: {cal['temperature']!r}, outside the temperatures searched, {low:g} to {high:g}"]
    if cal["val_xent_calibrated"] > cal["val_xent"] * (1 + 1e-6):
        return [f"calibration.val_xent_calibrated: {cal['val_xent_calibrated']!r}, above the uncalibrated "
                f"{cal['val_xent']!r}, which the temperature 1 (among those searched) already gives"]
    return []


def _where(error) -> str:
    parts = list(error.absolute_path)
    if error.validator == "required":  # the missing key itself
        parts.append(next(k for k in error.validator_value if error.message == f"{k!r} is a required property"))
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return path or "(top level)"


def _message(error) -> str:
    """jsonschema's message, without a whole object or list quoted in it."""
    kind = {dict: "an object", list: "a list", type(None): "null", bool: "a boolean", str: "a string"}.get(
        type(error.instance), "a number")
    if error.validator == "required":  # named where it is missing, as config.optimizer
        return "missing"
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{kind}, expected {' or '.join(wanted)}"
    if error.validator == "not" and error.validator_value == {}:  # "$defs/absent": a field of another format
        return "not a field of this result format"
    return error.message if len(error.message) <= 200 else error.message[:200] + " ..."


def result_problems(data) -> list[str]:
    """Every way ``data`` (a parsed result file of format 4 or 5) breaks
    ``result.schema.json`` or its rules, each naming the field; empty when it is well-formed."""
    if not isinstance(data, dict):
        return [f"(top level): a JSON {type(data).__name__}, expected an object"]
    huge = [f"{''.join(f'[{p}]' if isinstance(p, int) else f'.{p}' for p in path).lstrip('.')}: "
            f"{shown_number(v)} is not a finite number" for path, v in non_finite_fields(data)]
    if huge:
        return huge
    if not (type(data.get("schema")) is int and data["schema"] in RESULT_FORMATS):
        return [f"schema: result format {data.get('schema')!r}, not one of {', '.join(map(str, RESULT_FORMATS))}"]
    import jsonschema
    validator, row_validators, bounds = _result_schema()
    history = data.get("history")
    rows = list(enumerate(history)) if isinstance(history, list) else []
    # The rows are validated apart: most are vouched for at once, the rest in full.
    errors = list(validator.iter_errors({**data, "history": []} if rows else data))
    for i, row in rows:
        if not _row_surely_valid(row, bounds[data["schema"]]):
            for e in row_validators[data["schema"]].iter_errors(row):
                e.path.extendleft([i, "history"])  # named where it is in the file
                errors.append(e)
    errors.sort(key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        out = []
        for e in errors:
            e = jsonschema.exceptions.best_match([e])  # the deepest reason of a oneOf/if
            out.append(f"{_where(e)}: {_message(e)}")
        return out
    return _rule_problems(data)


def read_result(path, max_bytes: int = MAX_RESULT_BYTES, also_formats: tuple = ()) -> dict:
    """A result file of format 4 or 5, read as :func:`read_json_file` reads (a
    regular file, at most ``max_bytes``, never blocking; nesting, recursion and
    memory errors are "unreadable") and validated against
    ``result.schema.json`` and its rules (:func:`result_problems`).

    Raises :class:`Malformed` naming the first failing field, :class:`Unreadable`
    when the file is no JSON object it can read, ``OSError`` when it cannot be
    opened. A file of a format in ``also_formats`` (e.g. :data:`OLDER_FORMATS`,
    for a caller that checks those itself) is returned as parsed.
    """
    data = read_json_file(path, max_bytes)
    if isinstance(data, dict) and type(data.get("schema", 1)) is int and data.get("schema", 1) in also_formats:
        return data
    problems = result_problems(data)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise Malformed(problems[0] + more)
    return data


# --------------------------------------------------------------------------
# Every result format (1 to 5), as the loaders and ``check`` read it
# --------------------------------------------------------------------------

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


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    return _is_number(v) and is_finite_number(v)  # an integer too large for a float is not finite


def _kind(v) -> str:
    return "null" if v is None else type(v).__name__


def any_format_problems(data) -> list[str]:
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
        problems += _predictions_field_problems(data)
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
        # A row's own "activation" or "seed" would relabel its cell in the loaders' frames: a row holds
        # its epoch's numbers only (as result.schema.json says of formats 4 and 5).
        foreign = sorted(map(str, set(row) - {"epoch", *METRICS}))
        if foreign:
            problems.append(f"history row {i} (epoch {i + 1}) has fields no result format records in a row: "
                            f"{', '.join(foreign)}")
            break
        out_of_range = [f"{k} {row[k]!r}" for k in METRICS if row.get(k) is not None and not (
            0 <= row[k] <= (1 if k.endswith("_error") else math.inf))]
        if out_of_range:
            problems.append(f"history row {i} (epoch {i + 1}): {', '.join(out_of_range)} out of range (an error "
                            f"lies in [0, 1]; a loss, time or rate is not negative)")
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


def any_format_measured_metrics(data: dict) -> tuple[str, ...]:
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
    absent = [k for k in any_format_measured_metrics(data) if not _finite(last.get(k))]
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


def _predictions_field_problems(data: dict) -> list[str]:
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


# --------------------------------------------------------------------------
# A final cell's predictions file
# --------------------------------------------------------------------------

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
    problem = _predictions_content_problem(arrays, pred, cell)
    if problem:
        raise ResultsError(f"{path}: {problem}")
    return arrays


#: The dtype of each array of a predictions file, as the runner writes them (runner/predictions.py).
_PREDICTION_DTYPES = {"predicted": "uint8", "p_true": "float32"}
def _unpacked_problem(data: bytes, images: int) -> str | None:
    """What makes the zip archive ``data`` unfit to unpack as a predictions file, read
    from its headers before any array is (:func:`actbook.runner.npz.npz_problem`):
    exactly ``predicted`` and ``p_true``, each of ``images`` values of the dtype the
    runner writes (:data:`_PREDICTION_DTYPES`), at most :data:`MAX_PREDICTIONS_UNPACKED`
    bytes in all, packed as the runner packs them."""
    from actbook.runner.npz import npz_problem
    expected = {key: ((images,), dtype) for key, dtype in _PREDICTION_DTYPES.items()}
    return npz_problem(data, expected, MAX_PREDICTIONS_UNPACKED, "a predictions file")


def _predictions_content_problem(arrays: dict, pred: dict, cell: dict) -> str | None:
    """What makes ``arrays`` not this cell's predictions: a shape or values no
    classifier of 10 classes writes, or another cell's file. Their error cannot be
    recomputed without the labels; the result's ``predictions.error`` must agree
    with its last epoch's test error instead (within float32 rounding)."""
    import numpy as np
    predicted, p_true = arrays["predicted"], arrays["p_true"]
    if any(a.shape != (pred["images"],) for a in arrays.values()):
        return (f"not {pred['images']} images (arrays of shape {predicted.shape} and {p_true.shape}, "
                f"expected ({pred['images']},))")
    if predicted.dtype != _PREDICTION_DTYPES["predicted"]:  # as the runner writes them
        return f"predicted must be classes 0 to 9 (uint8), found {predicted.dtype}"
    if predicted.max() > 9:
        return f"predicted must be classes 0 to 9, found class {predicted.max()}"
    if p_true.dtype != _PREDICTION_DTYPES["p_true"] or not (np.all(np.isfinite(p_true)) and np.all(p_true >= 0)
                                                              and np.all(p_true <= 1)):
        return f"p_true must be probabilities (float32, finite, in [0, 1]), found {p_true.dtype} or values outside them"
    own = predictions_name(cell) if {"profile", "activation", "seed"} <= cell.keys() else pred.get("file")
    if pred.get("file") != own:
        return f"the predictions of another cell (this cell's are {own})"
    history = cell.get("history") or [{}]
    error, test_error = pred.get("error"), history[-1].get("test_error")
    if error is not None and (test_error is None or abs(error - test_error) > PREDICTION_ERROR_TOLERANCE):
        return f"its error {error!r} is not the last epoch's test_error {test_error!r}"
    return _content_against_history(p_true, error, history[-1].get("test_xent"), pred)


def _xent_where_p_true_is_0(zero, pred: dict) -> tuple[float | None, str | None]:
    """``(the summed cross-entropy of the images whose p_true is 0, None)`` as the result records it
    (``predictions.xent_sum_where_p_true_is_0``), or ``(None, why it cannot be used)``."""
    count, total = int(zero.sum()), pred.get("xent_sum_where_p_true_is_0")
    if not count:
        if total is not None or pred.get("images_with_p_true_0") is not None:
            return None, "it records images whose p_true is 0 (images_with_p_true_0), but no p_true is 0"
        return 0.0, None
    if total is None:
        return None, (f"{count} image(s) have a p_true of 0, whose -log the file cannot give, and the result "
                      f"records no predictions.xent_sum_where_p_true_is_0: its test_xent cannot be checked")
    if pred.get("images_with_p_true_0") != count:
        return None, (f"{count} image(s) have a p_true of 0, but predictions.images_with_p_true_0 is "
                      f"{pred.get('images_with_p_true_0')!r}")
    if not (_finite(total) and total >= count * _LOG_OF_ROUNDED_ZERO):
        return None, (f"predictions.xent_sum_where_p_true_is_0 is {total!r}, below the {count * _LOG_OF_ROUNDED_ZERO:.7g} "
                      f"that {count} image(s) whose p_true is 0 give at least")
    return float(total), None


def _content_against_history(p_true, error, test_xent, pred: dict) -> str | None:
    """What in ``p_true`` contradicts the cell's recorded test cross-entropy and error:
    the predictions of another cell behind a recomputed sha256, or an edited metric.

    The test cross-entropy is the mean of -log p_true (:data:`XENT_TOLERANCE`); for
    images whose p_true is 0 the result records their summed cross-entropy from the
    logits (at least :data:`_LOG_OF_ROUNDED_ZERO` each), without which a larger
    ``test_xent`` could not be told from theirs.
    The error needs the labels, which the file does not hold; p_true bounds it
    all the same: an image whose true class has more than half the probability
    is classified right, one whose true class has less than a tenth (below the
    largest of ten probabilities) wrong. (``check`` does not load the test set
    to compare the predicted classes with its labels: the result records their
    sha256, ``predictions.test_labels_sha256``, for a reader who has them.)"""
    import numpy as np
    p = p_true.astype(np.float64)
    zero = p == 0
    zeros_xent, why = _xent_where_p_true_is_0(zero, pred)
    if why:
        return why
    if test_xent is not None:
        mean = float((-np.log(p[~zero]).sum() + zeros_xent) / len(p)) if len(p) else 0.0
        if abs(mean - test_xent) > XENT_TOLERANCE * max(abs(test_xent), 1.0):
            return (f"the mean of -log p_true, {mean:.7g}, is not the last epoch's test_xent {test_xent!r} "
                    f"(the predictions of another cell, or an edited test_xent)")
    if error is not None and len(p):
        margin = 1e-4  # far above the float32 rounding of probabilities that sum to 1
        surely_wrong, maybe_wrong = float(np.mean(p < 0.1 - margin)), float(np.mean(p <= 0.5 + margin))
        if not surely_wrong - PREDICTION_ERROR_TOLERANCE <= error <= maybe_wrong + PREDICTION_ERROR_TOLERANCE:
            return (f"its error {error!r} is impossible with its p_true: between {surely_wrong:.4g} (true class "
                    f"below 0.1) and {maybe_wrong:.4g} (true class not above 0.5)")
    return None
