"""The sweep runner: planning, bad input, and the smoke profile end to end."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actbook import experiment as E
from actbook import results as R

needs_cifar = pytest.mark.skipif(not os.environ.get("ACTBOOK_CIFAR10"), reason="ACTBOOK_CIFAR10 not set")


def test_profiles_are_complete_data():
    profiles = E.load_profiles()
    assert {"smoke", "demo", "cpu", "paper"} <= set(profiles)
    assert len(profiles["cpu"]["arms"]) == 7 and profiles["cpu"]["seeds"] == [0, 1, 2]
    assert profiles["paper"]["model"] == "nin" and profiles["paper"]["train_size"] is None
    keys = set(profiles["smoke"])
    assert all(set(p) == keys for p in profiles.values())


def test_plan_and_shards_partition_the_sweep():
    cells = E.plan("cpu")
    assert len(cells) == 21 and len(set(cells)) == 21
    shards = [E.plan("cpu", shard=f"{k}/4") for k in range(1, 5)]
    assert sorted(c for s in shards for c in s) == sorted(cells)
    assert E.result_path(Path("R"), E.Cell("cpu", "lrelu_1/5.5", 2)) == Path("R/cpu/lrelu_1_5.5-seed2.json")


@pytest.mark.parametrize("args, message", [
    (["--profile", "huge"], "valid profiles: smoke, demo, cpu, paper"),
    (["--profile", "smoke", "--activations", "relu,swish"], "valid: sigmoid, relu"),
    (["--profile", "smoke", "--shard", "5/4"], "1 <= K <= N"),
    (["--profile", "smoke", "--shard", "two"], "K/N"),
])
def test_bad_input_exits_nonzero_with_valid_names(args, message, tmp_path, capsys):
    assert E.main(["run", "--results", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_unwritable_results_fail_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert E.main(["run", "--profile", "smoke", "--results", str(blocker / "results")]) == 2
    assert "not writable" in capsys.readouterr().err


def _strip_timing(history):
    return [{k: v for k, v in row.items() if k not in ("seconds", "train_images_per_second")} for row in history]


@pytest.mark.slow
@needs_cifar
def test_smoke_end_to_end_rerun_and_repeatability(tmp_path):
    paths = E.run("smoke", tmp_path, progress=False)
    assert [p.name for p in paths] == ["relu-seed0.json", "rrelu-seed0.json"]
    cell = json.loads(paths[0].read_text())
    assert cell["config"] == E.get_profile("smoke") and cell["activation"] == "relu"
    row = cell["history"][0]
    assert set(row) >= {"epoch", "train_loss", "train_error", "test_loss", "test_error", "seconds"}
    assert 0 <= row["test_error"] <= 1
    prov = cell["provenance"]
    assert prov["dataset"]["sha256"] and prov["versions"]["tensorflow"] and "commit" in prov["git"]
    assert prov["started"] <= prov["finished"]
    assert set(cell["diagnostics"]["never_active_fraction"]) == {f"act_{k}" for k in range(1, 7)}
    assert not list((tmp_path / "smoke").glob(".*.tmp"))

    mtimes = [p.stat().st_mtime_ns for p in paths]
    E.run("smoke", tmp_path, progress=False)  # finished cells are skipped
    assert [p.stat().st_mtime_ns for p in paths] == mtimes

    again = E.run("smoke", tmp_path / "again", arms=["relu"], progress=False)
    assert _strip_timing(json.loads(again[0].read_text())["history"]) == _strip_timing(cell["history"])

    history = R.load_history(tmp_path, "smoke")
    assert len(history) == 2 and set(history["activation"]) == {"relu", "rrelu"}


@pytest.mark.slow
@needs_cifar
def test_kill_9_then_resume_loses_nothing(tmp_path):
    """A cell killed after its first checkpoint resumes from it; no partial file appears."""
    smoke = E.get_profile("smoke")
    two_epochs = dict(smoke, epochs=2, arms=["prelu"], train_size=1000)
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({"smoke2": two_epochs}))
    env = dict(os.environ, ACTBOOK_PROFILES=str(profiles))
    cmd = [sys.executable, "-m", "actbook.experiment", "run", "--profile", "smoke2",
           "--results", str(tmp_path / "res"), "--no-progress"]
    state = tmp_path / "res" / "smoke2" / ".checkpoints" / "prelu-seed0" / "state.json"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert state.exists(), "no checkpoint appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = tmp_path / "res" / "smoke2" / "prelu-seed0.json"
    assert not result.exists()
    assert not list(result.parent.glob("*.json"))
    first_epoch = json.loads(state.read_text())["history"]

    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    cell = json.loads(result.read_text())
    assert len(cell["history"]) == 2 and cell["history"][0] == first_epoch[0]
    assert len(cell["diagnostics"]["prelu_alpha"]) == 6
    assert not state.parent.exists()


def test_results_loader_refuses_inconsistent_files(tmp_path):
    with pytest.raises(R.ResultsError, match="no result files"):
        R.load_history(tmp_path, "smoke")
    folder = tmp_path / "smoke"
    folder.mkdir()
    config = E.get_profile("smoke")
    base = {"profile": "smoke", "config": config, "provenance": {},
            "history": [{"epoch": 1, "train_loss": 1.0, "train_error": 0.5, "test_loss": 1.0,
                         "test_error": 0.5, "seconds": 1.0}]}
    (folder / "relu-seed0.json").write_text(json.dumps(dict(base, activation="relu", seed=0)))
    with pytest.raises(R.ResultsError, match="cells missing"):
        R.load_history(tmp_path, "smoke")
    assert len(R.load_history(tmp_path, "smoke", require_complete=False)) == 1
    other = dict(config, epochs=1, batch_size=7)
    (folder / "rrelu-seed0.json").write_text(json.dumps(dict(base, activation="rrelu", seed=0, config=other)))
    with pytest.raises(R.ResultsError, match="different configs"):
        R.load_history(tmp_path, "smoke")
    (folder / "rrelu-seed0.json").write_text("{truncated")
    with pytest.raises(R.ResultsError, match="unreadable"):
        R.load_history(tmp_path, "smoke")
