"""Where a result came from: code version, packages, hardware, time.

Recorded next to every result file and printed on the book's provenance
page, so a number can always be traced to the code and machine that made it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["git_state", "package_versions", "hardware", "collect", "now", "segment", "code", "command_line"]

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("actbook", "numpy", "scipy", "tensorflow", "jax", "jaxlib", "torch", "keras", "pandas", "matplotlib", "jupyter-book", "myst-nb", "pillow")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def git_state(repo: Path = REPO) -> dict:
    """Commit, whether the tracked files differ from it (``dirty``) and, if so, a hash of the diff."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None, "note": head.stderr.strip()[:200]}
        status = git("status", "--porcelain", "--untracked-files=no")
        dirty = bool(status.stdout.strip())
        state = {"commit": head.stdout.strip(), "dirty": dirty}
        if dirty:  # which uncommitted change, so two dirty runs can be told apart
            diff = git("diff", "HEAD", "--binary")
            state["diff_sha256"] = hashlib.sha256(diff.stdout.encode()).hexdigest()
        return state
    except (OSError, subprocess.SubprocessError) as e:
        return {"commit": None, "dirty": None, "note": str(e)[:200]}


def package_versions(names=PACKAGES) -> dict:
    out = {"python": platform.python_version()}
    for name in names:
        if name == "actbook":  # the book's version as the code says it (an editable install's metadata lags)
            from actbook import __version__
            out[name] = __version__
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(include_gpus: bool = True) -> dict:
    from actbook.runner.backend import affinity, name
    from actbook.runner.precision import describe
    info = {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "affinity": affinity(),
            "platform": platform.platform(), "kernels": describe(name())}
    if include_gpus and "tensorflow" in sys.modules:
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        info["gpus"] = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    return info


def collect() -> dict:
    return {"git": git_state(), "versions": package_versions(), "hardware": hardware()}


def command_line() -> str | None:
    """The command that made the result, with paths outside the repository reduced to their names."""
    if not sys.argv or not sys.argv[0]:
        return None

    def clean(arg: str) -> str:
        if "/" not in arg:
            return arg
        key, eq, value = arg.rpartition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
        path = Path(value)
        try:
            shown = path.resolve().relative_to(REPO).as_posix()
        except (ValueError, OSError):
            shown = path.name if path.is_absolute() or value.startswith("..") else value
        return f"{key}{eq}{shown}"

    args = [clean(a) for a in sys.argv[1:]]
    if Path(sys.argv[0]).name == "__main__.py":
        return " ".join(["python -m actbook", *args])
    return " ".join([Path(sys.argv[0]).name, *args])


def segment() -> dict:
    """The code a stretch of training ran: read when it starts, not when the cell ends."""
    state = git_state()
    return {"started": now(), **state}


def code(segments: list[dict]) -> dict:
    """The code that made the cell: its first segment's, flagged when later segments ran other code."""
    first = {k: v for k, v in segments[0].items() if k != "started"}
    mixed = any({k: v for k, v in s.items() if k != "started"} != first for s in segments[1:])
    return {"git": {**first, "mixed_segments": mixed}}
