"""Files that are never half-written and never written by two processes at once."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

__all__ = ["write_json_atomic", "write_bytes_atomic", "json_safe", "cell_lock", "LockBusy"]


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

    lock = FileLock(str(path) + ".lock", timeout=0)

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
