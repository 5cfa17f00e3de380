"""The runner under ``KERAS_BACKEND=jax``: cells that repeat and resume bit
for bit, results that name their backend and go to their own folder, and a
process that never imports TensorFlow. CI's second leg runs this file in an
environment without TensorFlow; elsewhere it is skipped."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actbook.runner import backend as B

pytestmark = pytest.mark.skipif(B.name() != "jax", reason="runs under KERAS_BACKEND=jax (CI's second leg)")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    from synthetic import TINY, synthetic_cifar, write_profiles
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "profiles.json", tiny=TINY))
    monkeypatch.delenv("ACTBOOK_DEVICES", raising=False)
    return synthetic_cifar()


def test_cells_repeat_resume_and_name_their_backend(tiny, tmp_path, monkeypatch):
    from actbook.runner import experiment as E
    from synthetic import interrupt_after_first_checkpoint, strip_timing as _strip
    a = E.run("tiny", tmp_path / "a", data=tiny, progress=False, arms=["rrelu"])[0]
    b = E.run("tiny", tmp_path / "b", data=tiny, progress=False, arms=["rrelu"])[0]
    cell = json.loads(a.read_text())
    assert a.parent.name == "tiny@jax-cpu" and cell["provenance"]["backend"]["name"] == "jax"
    assert cell["provenance"]["backend"]["matmul_precision"] == "highest"
    assert _strip(cell["history"]) == _strip(json.loads(b.read_text())["history"])

    interrupt_after_first_checkpoint(
        monkeypatch, lambda: E.run("tiny", tmp_path / "c", data=tiny, progress=False, arms=["rrelu"]))
    resumed = E.run("tiny", tmp_path / "c", data=tiny, progress=False, arms=["rrelu"])[0]
    assert _strip(json.loads(resumed.read_text())["history"]) == _strip(cell["history"])
    assert E.check("tiny", tmp_path / "a", runtime="jax-cpu") == ["missing: relu-seed0"]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ACTBOOK_CIFAR10"), reason="ACTBOOK_CIFAR10 not set")
def test_smoke_profile_from_the_command_line(tmp_path):
    """The acceptance command: ``KERAS_BACKEND=jax python -m actbook run --profile smoke``."""
    cmd = [sys.executable, "-m", "actbook", "run", "--profile", "smoke", "--results", str(tmp_path),
           "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted((tmp_path / "smoke@jax-cpu").glob("*.json"))
    assert [f.name for f in files] == ["relu-seed0.json", "rrelu-seed0.json"]
    check = subprocess.run([sys.executable, "-m", "actbook", "check", "--profile", "smoke", "--results",
                            str(tmp_path), "--runtime", "jax-cpu"], capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 0 and "complete and consistent" in check.stdout, check.stdout
