"""Scale-out (issue #14): training under a MirroredStrategy over two logical
CPU devices, the paper's Network in Network on the CPU, and the Slurm
array script.

TensorFlow fixes its logical devices when it first initialises them, so the
two-device runs happen in fresh interpreters that split the CPU before
anything else: this file, run as a script with a JSON spec, is that worker.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPT = ROOT / "scripts" / "slurm_sweep.sh"
TWO_CPUS = "/cpu:0,/cpu:1"
TIMING = ("seconds", "train_images_per_second")


def _strip(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


# --------------------------------------------------------------------------
# The worker (a fresh interpreter)
# --------------------------------------------------------------------------

def _worker(spec: dict) -> dict:
    """Split the CPU into ``spec["logical_cpus"]`` logical devices, then run
    ``spec["runs"]`` through :func:`actbook.experiment.run` on synthetic data.
    A run with ``"interrupt": true`` dies (KeyboardInterrupt) right after its
    first checkpoint, as a killed job would."""
    from actbook.tf_runtime import tf

    n = spec.get("logical_cpus", 1)
    if n > 1:  # before TensorFlow initialises its devices
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])

    from actbook import experiment as E
    from actbook import train as T
    from synthetic import synthetic_cifar

    seen = []  # the strategy each trained model ran under, captured at the end of its cell
    real_diagnostics, real_save = T._layer_diagnostics, T.save_checkpoint

    def diagnostics(model, x):
        s = model.distribute_strategy
        devices = list(s.extended.worker_devices) if isinstance(s, tf.distribute.MirroredStrategy) else []
        seen.append({"strategy": type(s).__name__, "replicas": s.num_replicas_in_sync, "devices": devices})
        return real_diagnostics(model, x)

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    T._layer_diagnostics = diagnostics
    if "iterators_per_fit" in spec:
        T.ITERATORS_PER_FIT = spec["iterators_per_fit"]
    data = synthetic_cifar()
    out = {"logical_cpus": [d.name for d in tf.config.list_logical_devices("CPU")], "runs": []}
    for run in spec["runs"]:
        T.save_checkpoint = save_then_die if run.get("interrupt") else real_save
        try:
            path = E.run(run["profile"], Path(run["results"]), arms=run["arms"], data=data, progress=False)[0]
        except KeyboardInterrupt:
            out["runs"].append({"interrupted": True})
            continue
        out["runs"].append({"path": str(path), **seen[-1]})
    return out


def _in_fresh_process(profiles: str, runs: list, devices: str | None, logical_cpus: int, **spec) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ACTBOOK_DEVICES"}
    env["ACTBOOK_PROFILES"] = profiles
    if devices:
        env["ACTBOOK_DEVICES"] = devices
    spec = json.dumps({**spec, "logical_cpus": logical_cpus, "runs": runs})
    proc = subprocess.run([sys.executable, str(Path(__file__)), spec], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("RESULT ")][-1][len("RESULT "):])


def _history(path) -> list:
    return json.loads(Path(path).read_text())["history"]


# --------------------------------------------------------------------------
# MirroredStrategy over two logical CPUs
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    from synthetic import TINY, write_profiles
    # One full batch per epoch, no augmentation, no dropout, ReLU, float32:
    # every epoch's single step sees all 200 images whatever their order, and
    # nothing in the model draws random numbers, so one and two replicas can
    # differ only in the order floating-point sums are taken in. (With
    # minibatches they would also see other data: see the resume tests.)
    full_batch = {**TINY, "precision": "float32", "batch_size": 200, "augment": False, "epochs": 4,
                  "model_kwargs": {**TINY["model_kwargs"], "dropout": 0.0}, "arms": ["relu"],
                  "optimizer": {**TINY["optimizer"], "schedule": "constant", "warmup_epochs": 0}}
    return write_profiles(tmp_path_factory.mktemp("profiles") / "profiles.json", tiny=TINY, full_batch=full_batch)


def test_strategy_default_and_bad_device_names(monkeypatch):
    """No ACTBOOK_DEVICES: the default strategy on a machine without GPUs; a
    name that is not a device of this process is refused with the list."""
    from actbook import train as T
    from actbook.tf_runtime import tf
    monkeypatch.delenv("ACTBOOK_DEVICES", raising=False)
    if len(tf.config.list_logical_devices("GPU")) < 2:
        assert T.strategy() is tf.distribute.get_strategy()
    monkeypatch.setenv("ACTBOOK_DEVICES", "/cpu:0,/cpu:7")
    with pytest.raises(ValueError, match=r"/cpu:7.*logical devices: .*CPU:0"):
        T.strategy()


@pytest.mark.slow
def test_mirrored_two_logical_cpus_matches_default_strategy(profiles, tmp_path):
    """The same cell, same seed, trained with the default strategy and with a
    MirroredStrategy over two logical CPUs: same epochs, finite losses that
    agree to 1e-5 (relative) over 4 full-batch SGD steps.

    Not bit-identical, and not expected to be: with two replicas each
    computes the loss and gradients of half the batch and the gradients are
    all-reduced (summed) across replicas, so every gradient is the same sum
    taken in another order; float32 rounding then differs in the last bits
    (measured: about 1e-7 relative) and SGD carries the difference forward.
    """
    run = [{"profile": "full_batch", "results": str(tmp_path / "one"), "arms": ["relu"]}]
    one = _in_fresh_process(profiles, run, devices=None, logical_cpus=1)
    run = [{"profile": "full_batch", "results": str(tmp_path / "two"), "arms": ["relu"]}]
    two = _in_fresh_process(profiles, run, devices=TWO_CPUS, logical_cpus=2)

    assert len(one["logical_cpus"]) == 1 and len(two["logical_cpus"]) == 2
    assert one["runs"][0]["replicas"] == 1 and one["runs"][0]["strategy"] != "MirroredStrategy"
    assert two["runs"][0]["strategy"] == "MirroredStrategy" and two["runs"][0]["replicas"] == 2
    assert [d.split("/")[-1] for d in two["runs"][0]["devices"]] == ["device:CPU:0", "device:CPU:1"]

    h1, h2 = _history(one["runs"][0]["path"]), _history(two["runs"][0]["path"])
    assert [r["epoch"] for r in h1] == [r["epoch"] for r in h2] == [1, 2, 3, 4]
    for a, b in zip(h1, h2):
        for key in ("train_loss", "train_eval_loss", "test_loss"):
            if a[key] is None:
                assert b[key] is None
                continue
            assert math.isfinite(a[key]) and math.isfinite(b[key])
            assert b[key] == pytest.approx(a[key], rel=1e-5), (key, a["epoch"])
    assert h2[-1]["train_loss"] < h2[0]["train_loss"]


@pytest.fixture(scope="module")
def mirrored_whole(profiles, tmp_path_factory):
    """History of an uninterrupted mirrored cell (RReLU, dropout, bf16, augmentation)."""
    res = tmp_path_factory.mktemp("whole")
    out = _in_fresh_process(profiles, [{"profile": "tiny", "results": str(res), "arms": ["rrelu"]}],
                            devices=TWO_CPUS, logical_cpus=2)
    assert out["runs"][0]["replicas"] == 2
    return _history(out["runs"][0]["path"])


def _interrupt_then_resume(profiles, results: Path, **spec) -> list:
    """Kill a mirrored cell after its first checkpoint; resume it in a new
    process under the mirrored strategy; its history."""
    first = _in_fresh_process(profiles, [{"profile": "tiny", "results": str(results), "arms": ["rrelu"],
                                          "interrupt": True}], devices=TWO_CPUS, logical_cpus=2, **spec)
    assert first["runs"] == [{"interrupted": True}]
    ckpt = results / "tiny" / ".checkpoints" / "rrelu-seed0"
    assert len(json.loads((ckpt / "state.json").read_text())["history"]) == 1
    again = _in_fresh_process(profiles, [{"profile": "tiny", "results": str(results), "arms": ["rrelu"]}],
                              devices=TWO_CPUS, logical_cpus=2, **spec)
    run = again["runs"][0]
    assert run["strategy"] == "MirroredStrategy" and run["replicas"] == 2
    assert not ckpt.exists()
    return _history(run["path"])


@pytest.mark.slow
def test_mirrored_resume_inside_strategy_scope(profiles, mirrored_whole, tmp_path):
    """A mirrored cell killed after its first checkpoint resumes inside the
    mirrored strategy's scope and completes all its epochs, bit-identical to
    an uninterrupted mirrored run: the runner replays one more iterator per
    epoch under a strategy (Keras's ``_maybe_symbolic_build`` draws a batch
    from an extra one whenever the model was built under a non-default strategy)."""
    history = _interrupt_then_resume(profiles, tmp_path)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert all(math.isfinite(r["train_loss"]) for r in history)
    assert _strip(history) == _strip(mirrored_whole)


# --------------------------------------------------------------------------
# The paper's Network in Network
# --------------------------------------------------------------------------

def _nin_flops_from_docstring() -> int:
    """2 x multiply-adds of the nine convolutions listed in
    :func:`actbook.models.network_in_network`'s docstring, on a 32x32x3
    image with 'same' padding; each 3x3 stride-2 pool halves the side."""
    stages = [(32, [(5, 192), (1, 160), (1, 96)]),   # then max pool /2
              (16, [(5, 192), (1, 192), (1, 192)]),  # then avg pool /2
              (8, [(3, 192), (1, 192), (1, 10)])]    # then global average pool
    total, cin = 0, 3
    for side, convs in stages:
        for k, cout in convs:
            total += 2 * side * side * k * k * cin * cout
            cin = cout
    return total


def test_nin_forward_flops_is_445_mflop_per_image():
    from actbook.models import build_model, forward_flops
    expected = _nin_flops_from_docstring()
    assert expected == 444_973_056
    model = build_model("nin", "relu", dropout=0.5, weight_decay=1e-4)
    assert [l.name for l in model.layers if l.name.startswith("conv_")] == [f"conv_{k}" for k in range(1, 10)]
    assert forward_flops(model) == pytest.approx(expected, rel=0.01)
    assert forward_flops(model) == pytest.approx(445e6, rel=0.01)


@pytest.mark.slow
def test_nin_trains_a_few_steps_on_synthetic_images(tmp_path, monkeypatch):
    """The paper's model through the runner: 200 synthetic images, float32,
    constant learning rate, 3 epochs of 4 steps; the loss stays finite and falls."""
    from actbook import experiment as E
    from synthetic import synthetic_cifar, write_profiles
    nin = {"description": "NIN on synthetic images", "model": "nin",
           "model_kwargs": {"dropout": 0.5, "weight_decay": 0.0001},
           "train_size": None, "test_size": None, "data_seed": 0, "epochs": 3, "eval_every": 3, "batch_size": 50,
           "augment": False, "precision": "float32",
           "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9, "nesterov": False,
                         "schedule": "constant"},
           "arms": ["relu"], "seeds": [0]}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "profiles.json", nin=nin))
    monkeypatch.delenv("ACTBOOK_DEVICES", raising=False)
    path = E.run("nin", tmp_path, data=synthetic_cifar(200, 100), progress=False)[0]
    cell = json.loads(path.read_text())
    losses = [r["train_loss"] for r in cell["history"]]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0], losses
    assert math.isfinite(cell["history"][-1]["test_loss"])
    assert set(cell["diagnostics"]["never_active_fraction"]) == {f"act_{k}" for k in range(1, 10)}


# --------------------------------------------------------------------------
# The Slurm array script
# --------------------------------------------------------------------------

def _slurm(env_extra: dict, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(PYTHON="echo", **env_extra)  # print the command instead of training
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, cwd=ROOT, capture_output=True, text=True)


def test_slurm_script_syntax_and_directives():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    text = SCRIPT.read_text()
    for directive in ["--array=0-7", "--gres=gpu:1", "--requeue", "--time=", "--output=slurm-%A_%a.out"]:
        assert f"#SBATCH {directive}" in text
    assert "set -euo pipefail" in text


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_slurm_script_runs_one_shard_per_array_task():
    done = _slurm({"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "8", "RESULTS": "/r",
                   "EXTRA_ARGS": "--seeds 0"}, "--set", "epochs=1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == ("-m actbook.experiment run --profile paper --results /r --shard 2/8 "
                                            "--no-progress --seeds 0 --set epochs=1")
    alone = _slurm({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "1", "SHARDS": "8", "PROFILE": "cpu"})
    assert alone.returncode == 0 and "--profile cpu --results data/results --shard 4/8" in alone.stdout
    wrong = _slurm({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "1"})
    assert wrong.returncode == 2 and "set SHARDS" in wrong.stderr
    assert _slurm({}).returncode != 0  # not an array task


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    print("RESULT " + json.dumps(_worker(json.loads(sys.argv[1]))), flush=True)
