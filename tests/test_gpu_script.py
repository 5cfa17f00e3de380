"""The GPU slot's script, run end to end on this CPU under JAX with tiny overrides (CI's JAX leg runs it),
so the device's minutes go to training, not to debugging."""

import json
import os
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax", reason="the GPU script runs under JAX (CI's JAX leg)")
@pytest.mark.skipif(not os.environ.get("ACTBOOK_CIFAR10"), reason="ACTBOOK_CIFAR10 not set")
def test_the_gpu_script_measures_plans_trains_and_packs_on_a_cpu(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "GPU_PAPER_NO_INSTALL": "1", "OUT": str(out), "LIMIT_S": "900", "PYTHON": sys.executable,
           "ACTBOOK_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_paper.sh"), "--set", "epochs=2", "--set",
                           "train_size=100", "--set", "test_size=50", "--arms", "relu,rrelu", "--seeds", "0",
                           "--no-concurrency-test"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu_paper.json").read_text())
    assert report["backend"] == "jax" and report["images_per_second"] > 0 and report["cells_that_fit"] >= 2
    assert [c["exit"] for c in report["cells"]] == [0, 0]
    with tarfile.open(out / "gpu_paper.tar.gz") as tar:
        names = tar.getnames()
    cells = [n for n in names if n.endswith(".json") and ".checkpoints" not in n]
    assert len(cells) == 2 and all("@jax-cpu" in n for n in cells), names
    assert "one epoch of 100 images" in proc.stdout and "cells fit" in proc.stdout
