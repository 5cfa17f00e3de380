"""Scale-out: data-parallel training over two logical CPU devices (on
TensorFlow and on JAX), the paper's Network in Network on the CPU, and the
Slurm array script.

Backends fix their devices when they first initialise them, so the
two-device runs happen in fresh interpreters: this file, run as a script
with a JSON spec, is that worker.
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
    """Run ``spec["runs"]`` through :func:`actbook.runner.experiment.run` on synthetic
    data, on the devices ``ACTBOOK_DEVICES`` names (the backend splits the
    CPU into logical devices itself). A run with ``"interrupt": true`` dies
    (KeyboardInterrupt) right after its first checkpoint, as a killed job would."""
    from actbook.runner import experiment as E
    from actbook.runner import train as T
    from synthetic import synthetic_cifar

    real_save = T.save_checkpoint

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    data = synthetic_cifar()
    out = {"runs": []}
    for run in spec["runs"]:
        T.save_checkpoint = save_then_die if run.get("interrupt") else real_save
        try:
            path = E.run(run["profile"], Path(run["results"]), arms=run["arms"], data=data, progress=False)[0]
        except KeyboardInterrupt:
            out["runs"].append({"interrupted": True})
            continue
        backend = json.loads(path.read_text())["provenance"]["backend"]
        out["runs"].append({"path": str(path), **backend})
    return out


def _in_fresh_process(profiles: str, runs: list, devices: str | None, backend: str = "tensorflow", **spec) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ACTBOOK_DEVICES", "XLA_FLAGS")}
    env.update(ACTBOOK_PROFILES=profiles, KERAS_BACKEND=backend)
    if backend == "jax":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    if devices:
        env["ACTBOOK_DEVICES"] = devices
    spec = json.dumps({**spec, "runs": runs})
    proc = subprocess.run([sys.executable, str(Path(__file__)), spec], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("RESULT ")][-1][len("RESULT "):])


def _history(path) -> list:
    return json.loads(Path(path).read_text())["history"]


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------
# Data parallel over two logical CPUs
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    from synthetic import TINY, write_profiles
    # One full batch per epoch, no augmentation, no dropout, ReLU, float32:
    # every epoch's single step sees all 200 images whatever their order, and
    # nothing in the model draws random numbers, so one and two replicas can
    # differ only in the order floating-point sums are taken in.
    full_batch = {**TINY, "precision": "float32", "batch_size": 200, "augment": False, "epochs": 4,
                  "model_kwargs": {**TINY["model_kwargs"], "dropout": 0.0}, "arms": ["relu"],
                  "optimizer": {**TINY["optimizer"], "schedule": "constant", "warmup_epochs": 0}}
    return write_profiles(tmp_path_factory.mktemp("profiles") / "profiles.json", tiny=TINY, full_batch=full_batch)


def test_bad_device_names_are_one_error_line(monkeypatch, tmp_path, capsys):
    """A device this process lacks, or a garbage name, is refused before any
    data loads, as one ``error:`` line naming it."""
    from actbook.runner import experiment as E
    for value, message in [("/gpu:0", "/gpu:0"), ("banana", "'banana' is not a device name"),
                           ("/cpu:0,/cpu:0", "twice")]:
        monkeypatch.setenv("ACTBOOK_DEVICES", value)
        assert E.main(["run", "--profile", "smoke", "--results", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
        assert not list(tmp_path.rglob("*.json"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_two_logical_cpus_matches_one_device(profiles, tmp_path, backend):
    """The same cell trained on one device and data parallel over two logical
    CPUs (MirroredStrategy on TensorFlow, ``keras.distribution.DataParallel``
    on JAX): other folders, the strategy recorded, and losses that agree to
    1e-5 (relative) over 4 full-batch SGD steps.

    Not bit-identical, and not expected to be: each replica computes the
    gradients of half the batch and the sums are taken in another order.
    """
    if not _has(backend):
        pytest.skip(f"{backend} is not installed")
    run = [{"profile": "full_batch", "results": str(tmp_path / "one"), "arms": ["relu"]}]
    one = _in_fresh_process(profiles, run, devices=None, backend=backend)["runs"][0]
    run = [{"profile": "full_batch", "results": str(tmp_path / "two"), "arms": ["relu"]}]
    two = _in_fresh_process(profiles, run, devices=TWO_CPUS, backend=backend)["runs"][0]

    assert one["strategy"] == "single" and len(one["devices"]) == 1
    assert two["strategy"] == ("mirrored" if backend == "tensorflow" else "data_parallel")
    assert len(two["devices"]) == 2
    assert Path(two["path"]).parent.name.endswith("-cpu-2dev")  # its own folder: another experiment
    assert Path(one["path"]).parent.name == ("full_batch" if backend == "tensorflow" else "full_batch@jax-cpu")

    h1, h2 = _history(one["path"]), _history(two["path"])
    assert [r["epoch"] for r in h1] == [r["epoch"] for r in h2] == [1, 2, 3, 4]
    for a, b in zip(h1, h2):
        for key in ("train_loss", "train_eval_loss", "test_loss"):
            if a[key] is None:
                assert b[key] is None
                continue
            assert math.isfinite(a[key]) and math.isfinite(b[key])
            assert b[key] == pytest.approx(a[key], rel=1e-5), (key, a["epoch"])
    assert h2[-1]["train_loss"] < h2[0]["train_loss"]


@pytest.mark.slow
def test_mirrored_resume_is_bit_identical(profiles, tmp_path):
    """A mirrored cell (RReLU, dropout, augmentation) killed after its first
    checkpoint resumes in a new process on the same two devices and ends
    bit-identical to an uninterrupted mirrored run: the stream is a function
    of (seed, epoch), so nothing needs replaying."""
    whole = _in_fresh_process(profiles, [{"profile": "tiny", "results": str(tmp_path / "a"), "arms": ["rrelu"]}],
                              devices=TWO_CPUS)["runs"][0]
    first = _in_fresh_process(profiles, [{"profile": "tiny", "results": str(tmp_path / "b"), "arms": ["rrelu"],
                                          "interrupt": True}], devices=TWO_CPUS)
    assert first["runs"] == [{"interrupted": True}]
    again = _in_fresh_process(profiles, [{"profile": "tiny", "results": str(tmp_path / "b"), "arms": ["rrelu"]}],
                              devices=TWO_CPUS)["runs"][0]
    assert again["strategy"] == "mirrored" and not (Path(again["path"]).parent / ".checkpoints" / "rrelu-seed0").exists()
    assert _strip(_history(again["path"])) == _strip(_history(whole["path"]))


# --------------------------------------------------------------------------
# The paper's Network in Network
# --------------------------------------------------------------------------

def _nin_flops_from_the_paper() -> int:
    """2 x multiply-adds of the nine convolutions of Network in Network as Xu
    et al. (2015) use it, on a 32x32x3 image with 'same' padding; each 3x3
    stride-2 pool halves the side."""
    stages = [(32, [(5, 192), (1, 160), (1, 96)]),   # then max pool /2
              (16, [(5, 192), (1, 192), (1, 192)]),  # then avg pool /2
              (8, [(3, 192), (1, 192), (1, 10)])]    # then global average pool
    total, cin = 0, 3
    for side, convs in stages:
        for k, cout in convs:
            total += 2 * side * side * k * k * cin * cout
            cin = cout
    return total


def _keras_flops(model) -> float:
    """2 x the multiply-adds of every Conv2D and Dense layer of a built Keras model."""
    import keras
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            h, w, cout = layer.output.shape[1:]
            kh, kw = layer.kernel_size
            total += 2 * h * w * cout * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return float(total)


def test_nin_forward_flops_is_445_mflop_per_image():
    from actbook.runner import architectures
    from actbook.runner.models import build_model
    expected = _nin_flops_from_the_paper()
    assert expected == 444_973_056
    assert architectures.forward_flops("nin") == expected  # what plan counts, without building a model
    for width in (4, 32):
        small = build_model("small_cnn", "relu", width=width)
        assert architectures.forward_flops("small_cnn", width=width) == _keras_flops(small)
    model = build_model("nin", "relu")
    assert [l.name for l in model.layers if l.name.startswith("conv_")] == [f"conv_{k}" for k in range(1, 10)]
    assert _keras_flops(model) == expected


@pytest.mark.slow
def test_nin_trains_a_few_steps_on_synthetic_images(tmp_path, monkeypatch):
    """The paper's model through the runner: 200 synthetic images, float32,
    constant learning rate, 3 epochs of 4 steps; the loss stays finite and falls."""
    from actbook.runner import experiment as E
    from synthetic import synthetic_cifar, write_profiles
    nin = {"description": "NIN on synthetic images", "model": "nin",
           "model_kwargs": {"dropout": 0.5, "weight_decay": 0.0001},
           "train_size": None, "test_size": None, "data_seed": 0, "epochs": 3, "eval_every": 3, "batch_size": 50,
           "augment": False, "precision": "float32", "threads": 2,
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
    assert done.stdout.splitlines()[-1] == ("-m actbook run --profile paper --results /r --shard 2/8 "
                                            "--no-progress --seeds 0 --set epochs=1")
    alone = _slurm({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "1", "SHARDS": "8", "PROFILE": "cpu"})
    assert alone.returncode == 0 and "--profile cpu --results data/results --shard 4/8" in alone.stdout
    wrong = _slurm({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "1"})
    assert wrong.returncode == 2 and "set SHARDS" in wrong.stderr
    assert _slurm({}).returncode != 0  # not an array task


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    print("RESULT " + json.dumps(_worker(json.loads(sys.argv[1]))), flush=True)
