"""The runner refuses to be silently wrong: checkpoints that must match their
cell, divergence as an outcome, foreign and mixed cells named by ``check``,
the code recorded per segment, kernel settings it cannot vouch for, and
errors as one line instead of tracebacks."""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actbook.runner import experiment as E
from actbook.runner import provenance
from actbook.runner import train as T
from synthetic import TINY, interrupt_after_first_checkpoint, strip_timing, synthetic_cifar, write_profiles

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_strip = strip_timing


def _history(path):
    return _strip(json.loads(Path(path).read_text())["history"])


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "profiles.json", tiny=TINY))
    return synthetic_cifar()


def _interrupt_after_first_checkpoint(monkeypatch, tiny, results, arm):
    interrupt_after_first_checkpoint(monkeypatch, lambda: E.run("tiny", results, data=tiny, progress=False, arms=[arm]))
    return results / "tiny" / ".checkpoints"


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_a_checkpoint_copied_to_another_cell_is_not_resumed(tiny, tmp_path, monkeypatch, capsys):
    """relu-seed0's checkpoint copied to rrelu-seed0: discarded, and rrelu is trained from scratch."""
    ckpts = _interrupt_after_first_checkpoint(monkeypatch, tiny, tmp_path / "a", "relu")
    shutil.copytree(ckpts / "relu-seed0", ckpts / "rrelu-seed0")
    path = E.run("tiny", tmp_path / "a", data=tiny, progress=False, arms=["rrelu"])[0]
    err = capsys.readouterr().err
    assert "discarding checkpoint" in err and "activation ('relu' in the checkpoint, 'rrelu' now)" in err
    fresh = E.run("tiny", tmp_path / "b", data=tiny, progress=False, arms=["rrelu"])[0]
    assert _history(path) == _history(fresh)
    assert json.loads(path.read_text())["activation"] == "rrelu"


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_a_checkpoint_of_other_data_is_not_resumed(tiny, tmp_path, monkeypatch, capsys):
    _interrupt_after_first_checkpoint(monkeypatch, tiny, tmp_path / "a", "relu")
    other = synthetic_cifar(seed=1)
    other.sha256 = "6" * 64
    E.run("tiny", tmp_path / "a2", data=other, progress=False, arms=["relu"])  # a clean folder for the other data
    src = tmp_path / "a" / "tiny" / ".checkpoints" / "relu-seed0"
    dst = tmp_path / "a2" / "tiny" / ".checkpoints" / "relu-seed0"
    (tmp_path / "a2" / "tiny" / "relu-seed0.json").unlink()
    shutil.copytree(src, dst)
    E.run("tiny", tmp_path / "a2", data=other, progress=False, arms=["relu"])
    assert "dataset_sha256" in capsys.readouterr().err


def test_a_diverged_cell_stops_and_is_recorded_as_an_outcome(tiny, tmp_path, monkeypatch):
    wild = {**TINY, "epochs": 4, "arms": ["relu"],
            "optimizer": {**TINY["optimizer"], "learning_rate": 1e6, "schedule": "constant", "warmup_epochs": 0}}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "p.json", tiny=wild))
    path = E.run("tiny", tmp_path, data=tiny, progress=False)[0]
    cell = json.loads(path.read_text())
    assert cell["outcome"] == "diverged" and cell["diverged_epoch"] == len(cell["history"]) < 4
    assert cell["history"][-1]["train_loss"] is None and cell["diagnostics"] is None
    assert E.check("tiny", tmp_path) == []  # an outcome, not an unfinished cell
    mtime = path.stat().st_mtime_ns
    E.run("tiny", tmp_path, data=tiny, progress=False)  # and not rerun
    assert path.stat().st_mtime_ns == mtime


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_check_names_cells_outside_the_plan_and_mixed_data(tiny, tmp_path, capsys):
    E.run("tiny", tmp_path, data=tiny, progress=False)
    folder = tmp_path / "tiny"
    foreign = json.loads((folder / "relu-seed0.json").read_text())
    foreign.update(activation="elu", predictions={**foreign["predictions"], "file": "elu-seed0.predictions.npz"})
    (folder / "elu-seed0.json").write_text(json.dumps(foreign))
    assert E.main(["check", "--profile", "tiny", "--results", str(tmp_path)]) == 1
    assert "outside the plan: elu-seed0.json" in capsys.readouterr().out
    (folder / "elu-seed0.json").unlink()
    other = json.loads((folder / "rrelu-seed0.json").read_text())
    other["provenance"]["dataset"]["sha256"] = "7" * 64
    (folder / "rrelu-seed0.json").write_text(json.dumps(other))
    assert E.main(["check", "--profile", "tiny", "--results", str(tmp_path)]) == 1
    assert "mixed data sets" in capsys.readouterr().out


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_run_refuses_to_add_cells_from_another_data_set(tiny, tmp_path):
    E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])
    other = synthetic_cifar(seed=1)
    other.sha256 = "8" * 64
    with pytest.raises(E.UsageError, match="another data set"):
        E.run("tiny", tmp_path, data=other, progress=False, arms=["rrelu"])
    assert not (tmp_path / "tiny" / "rrelu-seed0.json").exists()


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_a_checkpoint_left_beside_a_finished_result_is_not_in_progress(tiny, tmp_path):
    E.run("tiny", tmp_path, data=tiny, progress=False)
    (tmp_path / "tiny" / ".checkpoints" / "relu-seed0").mkdir(parents=True)  # a kill after the result was written
    assert E.check("tiny", tmp_path) == []


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_a_complete_folder_needs_no_write_access(tiny, tmp_path, monkeypatch, capsys):
    E.run("tiny", tmp_path, data=tiny, progress=False)
    monkeypatch.setattr(E, "check_writable", lambda folder: pytest.fail("wrote to a complete folder"))
    E.run("tiny", tmp_path, data=tiny, progress=False)
    assert "0 to run" in capsys.readouterr().out


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_results_of_an_older_runner_are_stale(tiny, tmp_path):
    path = E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])[0]
    cell = json.loads(path.read_text())
    cell["schema"] = 2
    path.write_text(json.dumps(cell))
    assert E.cell_status(path, cell["config"]) == "stale"


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_the_code_is_read_when_each_segment_starts(tiny, tmp_path, monkeypatch):
    """A commit made while a cell trains is not recorded as the code that
    made the epochs before it; a resumed cell records both segments."""
    monkeypatch.setattr(provenance, "git_state", lambda: {"commit": "a" * 40, "dirty": False})
    _interrupt_after_first_checkpoint(monkeypatch, tiny, tmp_path, "relu")
    monkeypatch.setattr(provenance, "git_state", lambda: {"commit": "b" * 40, "dirty": False})
    path = E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])[0]
    prov = json.loads(path.read_text())["provenance"]
    assert [s["commit"] for s in prov["segments"]] == ["a" * 40, "b" * 40]
    assert prov["git"]["commit"] == "a" * 40 and prov["git"]["mixed_segments"] is True


def test_a_dirty_tree_records_a_hash_of_its_diff():
    state = provenance.git_state()
    if state.get("commit") is None:
        pytest.skip("not a git checkout")
    assert ("diff_sha256" in state) == bool(state["dirty"])


@pytest.mark.parametrize("program, command", [("/venv/lib/actbook/__main__.py", "python -m actbook"),
                                              ("/venv/bin/actbook", "actbook")])
def test_the_command_keeps_no_path_outside_the_repository(monkeypatch, program, command):
    monkeypatch.setattr(sys, "argv", [program, "run", "--results", "/home/someone/runs/results",
                                      f"--results={provenance.REPO}/data/results", "--profile", "cpu"])
    assert provenance.command_line() == f"{command} run --results results --results=data/results --profile cpu"


@pytest.mark.parametrize("env, message", [({"ONEDNN_MAX_CPU_ISA": "AVX2_VNNI_2"}, "AVX2_VNNI_2"),
                                          ({"TF_ENABLE_ONEDNN_OPTS": "maybe"}, "neither 0 nor 1")])
def test_kernel_settings_the_policy_does_not_know_are_refused(tiny, tmp_path, monkeypatch, capsys, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr("actbook.runner.data.load_cifar10", lambda *a, **k: pytest.fail("data loaded"))
    assert E.main(["run", "--profile", "tiny", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_eigen_kernels_are_recorded_as_no_onednn(monkeypatch):
    from actbook.runner import precision
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    kernels = precision.describe("tensorflow")
    assert kernels["onednn"] is False and kernels["effective_isa"] is None


def test_disk_full_while_checkpointing_is_one_error_line(tiny, tmp_path, monkeypatch, capsys):
    def full(path, write):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("actbook.runner.checkpoints.write_bytes_atomic", full)
    from actbook.runner import data as D
    real_prepare = D.prepare
    monkeypatch.setattr(D, "prepare", lambda config, data=None, seed=None: real_prepare(config, synthetic_cifar(), seed=seed))
    assert E.main(["run", "--profile", "tiny", "--results", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: No space left on device" in err.splitlines()[-1] and "Traceback" not in err
    ckpt = tmp_path / "tiny" / ".checkpoints" / "relu-seed0"
    assert not list(ckpt.glob("*.tmp.keras")) and not (ckpt / "assets").exists()


def test_diagnostics_reduce_batch_by_batch(tiny):
    """The never-active fractions from the batch-wise reduction equal those of
    all outputs held at once."""
    from actbook.dead_units import activation_outputs, dead_fraction, never_active_fractions
    from actbook.runner.models import build_model
    model = build_model("small_cnn", "relu", width=4, seed=0)
    x = np.random.default_rng(0).standard_normal((70, 32, 32, 3)).astype(np.float32) - 0.5
    whole = {name: dead_fraction(o) for name, o in activation_outputs(model, x).items()}
    assert never_active_fractions(model, x, batch_size=16) == whole


# --------------------------------------------------------------------------
# Fresh processes: thread count, another backend, no TensorFlow
# --------------------------------------------------------------------------

def _tiny_cell(results: Path, env: dict, prefix=()) -> dict:
    proc = subprocess.run([*prefix, sys.executable, str(HERE / "run_tiny_cell.py"), str(results), "relu"],
                          env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2,
                    reason="needs taskset and two cores")
def test_one_and_two_cores_give_the_same_history(tmp_path):
    """The cell's threads come from its config (2), not from the cores it finds."""
    env = dict(os.environ, ACTBOOK_PROFILES=write_profiles(tmp_path / "p.json", tiny=TINY))
    two = _tiny_cell(tmp_path / "two", env)
    one = _tiny_cell(tmp_path / "one", env, prefix=("taskset", "-c", "0"))
    assert _strip(one["history"]) == _strip(two["history"])
    assert one["backend"]["threads"] == two["backend"]["threads"] == 2
    assert one["backend"]["affinity"] == [0] and len(two["backend"]["affinity"]) >= 2


def _has(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


@pytest.mark.slow
@pytest.mark.skipif(not _has("jax"), reason="jax is not installed")
def test_jax_cells_repeat_and_resume_bit_identically(tmp_path):
    """Under KERAS_BACKEND=jax: two runs give identical histories, a killed
    cell resumes bit-identically, and the result names the backend."""
    env = dict(os.environ, ACTBOOK_PROFILES=write_profiles(tmp_path / "p.json", tiny=TINY), KERAS_BACKEND="jax")
    env.pop("ACTBOOK_DEVICES", None)
    a = _tiny_cell(tmp_path / "a", env)
    b = _tiny_cell(tmp_path / "b", env)
    assert _strip(a["history"]) == _strip(b["history"]) and a["backend"]["name"] == "jax"
    killed = subprocess.run([sys.executable, str(HERE / "run_tiny_cell.py"), str(tmp_path / "c"), "rrelu",
                             "--die-after-first-checkpoint"], env=env, capture_output=True, text=True, timeout=900)
    assert killed.returncode != 0 and (tmp_path / "c" / "tiny@jax-cpu" / ".checkpoints" / "rrelu-seed0").is_dir()
    resumed = subprocess.run([sys.executable, str(HERE / "run_tiny_cell.py"), str(tmp_path / "c"), "rrelu"],
                             env=env, capture_output=True, text=True, timeout=900)
    whole = subprocess.run([sys.executable, str(HERE / "run_tiny_cell.py"), str(tmp_path / "d"), "rrelu"],
                           env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0 and whole.returncode == 0, resumed.stderr[-2000:] + whole.stderr[-2000:]
    r, w = (json.loads(p.stdout.strip().splitlines()[-1]) for p in (resumed, whole))
    assert _strip(r["history"]) == _strip(w["history"])


def test_plan_needs_no_framework(tmp_path):
    """``plan --profile paper`` with TensorFlow, JAX and PyTorch all unimportable."""
    code = ("import sys\n"
            "for m in ('tensorflow', 'jax', 'torch', 'keras'): sys.modules[m] = None\n"
            "from actbook.runner import experiment as E\n"
            "sys.exit(E.main(['plan', '--profile', 'paper']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "445 MFLOP per image" in proc.stdout and "float32" in proc.stdout


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_a_checkpoint_made_under_another_kernel_cap_is_not_resumed(tiny, tmp_path, monkeypatch, capsys):
    from actbook.runner import precision
    if precision.cpu_isa() in (None, "SSE41", "AVX", "AVX2", "AVX2_VNNI"):
        pytest.skip("needs an AVX-512 CPU to cap below it")
    _interrupt_after_first_checkpoint(monkeypatch, tiny, tmp_path, "relu")
    other = "AVX2" if precision.effective_isa() != "AVX2" else "AVX512_CORE"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", other)  # what the checkpoint's epoch did not run at
    E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])
    assert "kernels.effective_isa" in capsys.readouterr().err


def test_the_runtime_tag_keeps_backends_and_device_sets_apart(monkeypatch):
    from actbook.runner import backend as B
    monkeypatch.setattr(B, "name", lambda: "tensorflow")
    assert B.runtime_tag(["/device:CPU:0"]) == ""
    assert B.runtime_tag(["/device:CPU:0", "/device:CPU:1"]) == "tensorflow-cpu-2dev"
    assert B.runtime_tag(["/device:GPU:0"]) == "tensorflow-gpu"
    monkeypatch.setattr(B, "name", lambda: "jax")
    assert B.runtime_tag(["cpu:0"]) == "jax-cpu" and B.runtime_tag(["gpu:0", "gpu:1"]) == "jax-gpu-2dev"


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_check_names_mixed_kernels_and_malformed_files(tiny, tmp_path, capsys):
    E.run("tiny", tmp_path, data=tiny, progress=False)
    folder = tmp_path / "tiny"
    cell = json.loads((folder / "rrelu-seed0.json").read_text())
    cell["provenance"]["hardware"]["kernels"]["effective_isa"] = "SSE41"  # no other cell ran there
    (folder / "rrelu-seed0.json").write_text(json.dumps(cell))
    assert E.main(["check", "--profile", "tiny", "--results", str(tmp_path)]) == 1
    assert "mixed kernels" in capsys.readouterr().out
    cell.update(seed="0")
    (folder / "rrelu-seed0.json").write_text(json.dumps(cell))
    assert E.main(["check", "--profile", "tiny", "--results", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "not a well-formed result file: rrelu-seed0.json" in out and "Traceback" not in out


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_a_bf16_cell_trains_where_the_kernels_have_bf16(tiny, tmp_path, monkeypatch):
    """The one bf16 training test, guarded by the ISA: the fast tests train in
    float32 so they pass on every x86-64 CPU, and bf16 is refused (not run)
    below AVX-512 BF16."""
    from actbook.runner import precision
    isa = precision.effective_isa()
    bf16 = {**TINY, "precision": "mixed_bfloat16", "epochs": 1, "arms": ["rrelu"]}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "p.json", tiny=bf16))
    if isa is None or precision.ISA_ORDER.index(isa) < precision.ISA_ORDER.index(precision.PINNED_ISA):
        with pytest.raises(E.UsageError, match="bf16"):
            E.run("tiny", tmp_path, data=tiny, progress=False)
        return
    cell = json.loads(E.run("tiny", tmp_path, data=tiny, progress=False)[0].read_text())
    assert cell["config"]["precision"] == "mixed_bfloat16" and cell["outcome"] == "finished"


def test_the_untested_torch_backend_is_refused_in_one_line(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run([sys.executable, "-m", "actbook", "run", "--profile", "smoke", "--results", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr == "error: KERAS_BACKEND='torch' is not one the runner supports (tensorflow, jax)\n"
    assert not any(tmp_path.iterdir())
