"""Result files of formats 4 and 5, read and validated in one place.

:func:`read_result` reads as :func:`actbook.runner.files.read_json_file` reads
(a regular file, a size cap, never blocking) and checks the file against
``result.schema.json``, whose ``config`` is a profile (the profile schema of
:mod:`actbook.runner.profiles`), and against the rules a schema cannot say.
A module of its own because it needs the profile schema, and the profiles
need :mod:`actbook.runner.files`: imports run one way.
"""

from __future__ import annotations

import functools
import json
import math

from actbook.runner.files import MAX_RESULT_BYTES, Malformed, read_json_file
from actbook.runner.profiles import SCHEMA as PROFILE_SCHEMA
from actbook.runner.profiles import Cell
from actbook.runner.profiles import non_finite_fields, shown_number

__all__ = ["read_result", "result_problems", "RESULT_FORMATS", "OLDER_FORMATS", "measured_metrics", "predictions_name",
           "PREDICTION_ERROR_TOLERANCE"]


#: The result formats :func:`read_result` validates (``result.schema.json``); older ones are the
#: business of whoever still reads them (``actbook.analysis.results.result_problems``).
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


def _rule_problems(data: dict) -> list[str]:
    """What the schema cannot say, for a file that passed it: one row per epoch,
    a history as long as its outcome says, a finished cell's last row with
    every metric its config measures, and its predictions its own (named after
    its cell, of its last epoch's test error)."""
    history, epochs, result = data["history"], data["config"]["epochs"], data["outcome"]
    for i, row in enumerate(history):
        if row["epoch"] != i + 1:
            return [f"history[{i}].epoch: {row['epoch']}, expected {i + 1}"]
    if data["stage"] == "grid" and ("grid" not in data["config"] or data["config"].get("evaluate_test") is not False):
        return ["config: a grid cell's config has a grid and evaluate_test false"]
    early = [r["epoch"] for r in history[:-1] if r["train_loss"] is None]
    if early:
        return [f"history[{early[0] - 1}].train_loss: null, but the history goes on (a cell stops there)"]
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
    return _prediction_problems(data)


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
