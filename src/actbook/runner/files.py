"""Files that are never half-written and never written by two processes at once."""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["write_json_atomic", "write_bytes_atomic", "json_safe", "cell_lock", "LockBusy", "Unreadable",
           "read_regular_file", "read_json_file", "parse_json", "MAX_RESULT_BYTES", "Malformed"]

#: The largest result file is about 40 kB (a predictions file of 10,000 images about 50 kB); a
#: hundred times that is a wide margin. A larger file is not one, and is refused before it is
#: parsed: a file padded with a long list would cost memory many times its size to parse.
MAX_RESULT_BYTES = 4 * 1024 * 1024


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
    """How deeply ``obj`` nests (a scalar: 0), counted without recursion, in one pass
    that keeps only the containers it has still to visit (never one entry per scalar)."""
    if not isinstance(obj, (dict, list)):
        return 0
    deepest, todo = 0, [(obj, 0)]
    while todo:
        value, depth = todo.pop()
        if value:  # its items, scalars too, lie one level deeper
            deepest = max(deepest, depth + 1)
        for v in value.values() if isinstance(value, dict) else value:
            if isinstance(v, (dict, list)):
                todo.append((v, depth + 1))
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

    from actbook.runner.errors import UsageError
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
