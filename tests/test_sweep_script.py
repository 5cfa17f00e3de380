"""scripts/sweep_at_commit.sh refuses what it cannot run, before it touches a worktree or a branch.

Its run itself (a pinned worktree, the runner, one commit per finished cell) is
what carries the committed sweeps across sessions; it is exercised by those sweeps."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "sweep_at_commit.sh"


def _run(*args, env_extra=None, drop=()):
    env = {**os.environ, "ACTBOOK_CIFAR10": "/nonexistent/cifar10.tar.gz", **(env_extra or {})}
    env = {k: v for k, v in env.items() if k not in drop}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


@pytest.mark.parametrize("args, message", [
    ((), "usage:"),
    (("HEAD",), "usage:"),
    (("HEAD", "fit8k", "sideways"), "usage:"),
    (("HEAD", "fit8k", "final", "extra"), "usage:"),
    (("no-such-commit", "fit8k"), "is not a commit of this repository"),
    (("HEAD", "fit8k;rm"), "is not a profile name"),
])
def test_bad_arguments_are_refused_with_a_message(args, message):
    done = _run(*args)
    assert done.returncode == 2 and message in done.stderr


def test_the_dataset_path_is_required():
    done = _run("HEAD", "fit8k", drop=("ACTBOOK_CIFAR10",))
    assert done.returncode != 0 and "ACTBOOK_CIFAR10" in done.stderr


def test_a_worktree_at_another_commit_is_refused(tmp_path):
    where = tmp_path / "wt"
    subprocess.run(["git", "worktree", "add", "--detach", str(where), "HEAD"], cwd=ROOT, check=True,
                   capture_output=True)
    try:  # a commit of its own (dangling once the worktree goes), so the test needs no history beyond HEAD
        subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-q",
                        "--allow-empty", "--no-verify", "-m", "another commit"], cwd=where, check=True,
                       capture_output=True)
        done = _run("HEAD", "fit8k", env_extra={"SWEEP_WORKTREE": str(where)})
        assert done.returncode == 1 and "not HEAD" in done.stderr
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT, capture_output=True)
