"""A wheel built from the repository carries the committed results, and actbook.data_folder finds them there."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    for name in ("src", "data"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return next(out.glob("actbook-*.whl"))


def test_the_wheel_ships_the_committed_results(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in ("results/PROTOCOL.md", "literature/xu2015_cifar10_nin.csv", "earlier/overfit/relu-seed0.json"):
        assert f"actbook/_data/{rel}" in names, rel
    assert "actbook/runner/profiles.json" in names
    assert not any(n.endswith((".lock", ".tmp")) for n in names)


def test_an_installed_wheel_finds_its_results_outside_any_clone(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import actbook, actbook.data_folder as r; print(actbook.__file__); "
            "print(r.committed('literature', 'xu2015_cifar10_nin.csv'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr
    where, csv = proc.stdout.split()
    assert where.startswith(str(site)) and csv.startswith(str(site / "actbook" / "_data"))


def test_in_a_clone_the_repository_data_folder_is_used(monkeypatch, tmp_path):
    from actbook import data_folder as results
    monkeypatch.delenv(results.ENV_VAR, raising=False)
    assert results.data_dir() == ROOT / "data"
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    assert results.data_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="not among the committed results"):
        results.committed("results", "nothing.json")
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        results.data_dir()


def test_the_wheel_installs_the_actbook_command(wheel):
    archive = zipfile.ZipFile(wheel)
    entry_points = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
    text = archive.read(entry_points).decode()
    assert "[console_scripts]" in text and "actbook = actbook.__main__:run" in text


def test_python_m_actbook_is_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "actbook", "plan", "--profile", "no_such_profile"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown profile 'no_such_profile'")
    assert proc.stderr.count("\n") == 1
