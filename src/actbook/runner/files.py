"""Files that are never half-written and never written by two processes at once."""

from __future__ import annotations

import functools
import json
import math
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["write_json_atomic", "write_bytes_atomic", "json_safe", "cell_lock", "LockBusy", "Unreadable",
           "read_regular_file", "read_json_file", "parse_json", "MAX_RESULT_BYTES", "read_result", "result_problems",
           "RESULT_FORMATS", "OLDER_FORMATS", "measured_metrics", "Malformed"]

#: A result file is about 35 kB; anything near this is not one, and is not read into memory.
MAX_RESULT_BYTES = 64 * 1024 * 1024


class Unreadable(ValueError):
    """A file that is not a regular file, too large, not UTF-8 or not JSON; the message says which."""


class Malformed(Unreadable):
    """JSON that is not a well-formed result file; the message names the field."""


def read_regular_file(path, max_bytes: int) -> bytes:
    """The bytes of ``path``: a regular file of at most ``max_bytes``.

    Opened without blocking and checked on the open descriptor, so a FIFO
    does not hang and ``/dev/zero`` is not read into memory; raises
    :class:`Unreadable` (or ``OSError`` when it cannot be opened).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("not a regular file")
        if info.st_size > max_bytes:
            raise Unreadable(f"{info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        data = b""
        while len(data) <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew after the check
        raise Unreadable(f"more than the {max_bytes:,} bytes allowed")
    return data


def _refuse_constant(name):
    # The runner writes non-finite numbers as null; a NaN in a file was put there by something else.
    raise ValueError(f"{name} is not a number JSON allows")


def _no_duplicate_keys(pairs: list) -> dict:
    # json.loads keeps the last of two equal keys, where a reader of the file may see the
    # first: a file that says two things is refused, not read as one of them.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"the key {twice!r} appears twice in one object")
    return obj


def _finite_float(text: str) -> float:
    # json.loads reads 1e999 as infinity: a number no runner wrote, refused like NaN.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is not a finite number")
    return value


#: Result and profile files nest about 6 deep; deeper JSON would make later code recurse without bound.
MAX_JSON_DEPTH = 64


def json_depth(obj) -> int:
    """How deeply ``obj`` nests (a scalar: 0), counted without recursion."""
    deepest, todo = 0, [(obj, 0)]
    while todo:
        value, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(value, dict):
            todo += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            todo += [(v, depth + 1) for v in value]
    return deepest


def read_json_file(path, max_bytes: int = MAX_RESULT_BYTES):
    """The parsed JSON of a regular file (see :func:`read_regular_file`), with
    NaN and infinities refused and at most :data:`MAX_JSON_DEPTH` levels. Every
    way it can fail is :class:`Unreadable` (``OSError`` aside)."""
    data = read_regular_file(path, max_bytes)
    try:
        return parse_json(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise Unreadable(f"not UTF-8 text ({e.reason} at byte {e.start})") from None


def parse_json(text: str, allow_nan: bool = False):
    """``json.loads`` of ``text`` with at most :data:`MAX_JSON_DEPTH` levels, no
    key twice in one object and, unless ``allow_nan`` (for a caller that names
    them itself), NaN and infinities refused; every failure is :class:`Unreadable`."""
    try:
        obj = (json.loads(text, object_pairs_hook=_no_duplicate_keys) if allow_nan else
               json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant,
                          parse_float=_finite_float))
        if json_depth(obj) > MAX_JSON_DEPTH:
            raise Unreadable(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
        return obj
    except Unreadable:
        raise
    except ValueError as e:
        raise Unreadable(f"not JSON ({e})") from None
    except RecursionError:
        raise Unreadable("JSON nested too deeply") from None
    except MemoryError:
        raise Unreadable("too large to parse") from None


# --------------------------------------------------------------------------
# Result files
# --------------------------------------------------------------------------

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

    from actbook.runner.profiles import SCHEMA as PROFILE_SCHEMA
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


def _rule_problems(data: dict) -> list[str]:
    """What the schema cannot say, for a file that passed it: one row per epoch,
    a history as long as its outcome says, and a finished cell's last row with
    every metric its config measures."""
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


def json_safe(obj):
    """``obj`` with every non-finite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_bytes_atomic(path: Path, write) -> None:
    """Call ``write(f)`` on a unique temp file beside ``path``, fsync, then rename over ``path``.

    A kill at any moment leaves either the old file or the new one, never a
    mix; the temp name is unique, so two writers never collide on it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj) -> None:
    """JSON with strict floats (NaN and infinities become ``null``), written atomically."""
    text = json.dumps(json_safe(obj), indent=1, allow_nan=False).encode()
    write_bytes_atomic(path, lambda f: f.write(text))


class LockBusy(RuntimeError):
    """Another process holds the lock of this cell."""


def cell_lock(path: Path):
    """An exclusive, non-blocking lock for one cell (``<result>.lock``).

    Use as a context manager; raises :class:`LockBusy` when another process
    is running the same cell. The lock is released when the process dies,
    even by ``kill -9`` (an OS-level ``flock``).
    """
    from filelock import FileLock, Timeout

    from actbook.runner.profiles import UsageError
    lock_path = Path(str(path) + ".lock")
    if lock_path.is_symlink() or (lock_path.exists() and not lock_path.is_file()):
        # Taking the lock truncates its file: through a link that is a file outside the results.
        raise UsageError(f"{lock_path} is {'a symbolic link' if lock_path.is_symlink() else 'not a regular file'}; "
                         f"move it away")
    lock = FileLock(str(lock_path), timeout=0)

    class _Ctx:
        def __enter__(self):
            try:
                lock.acquire()
            except Timeout:
                raise LockBusy(f"{path.name}: another process is running this cell") from None
            return lock

        def __exit__(self, *exc):
            lock.release()
            return False

    return _Ctx()
