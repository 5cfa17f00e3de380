#!/usr/bin/env python3
"""The paper's scale in one short GPU slot: measure first, then train what fits.

Run by ``scripts/gpu_paper.sh`` (which installs carried wheels and sets
``KERAS_BACKEND=jax``); every cell goes through the ordinary runner
(``actbook.runner.experiment.run``), so results, checkpoints and provenance
are the same as anywhere else.

1. **Measure.** One epoch of one arm, alone (compile included), then the same
   epoch as two processes side by side: images/s, the fraction of the
   device's peak at the run's precision, and whether two cells at once
   train more images per second than one.
2. **Plan.** From the measured epoch time, how many cells of the profile's
   epochs fit before the deadline, printed before anything long starts.
3. **Train.** The paper's five rectifiers at the first seed, then the other
   arms, then further seeds, each cell in its own process with a time limit,
   so the script stops itself before the slot ends. A cell cut short keeps
   its checkpoint, and a later slot resumes it.
4. **Bring back.** Everything under ``--out`` is packed into one archive
   after every cell (the slot returns a few files, not a folder of many).

    python scripts/gpu_paper.py --out OUT --deadline-s 540 [--set epochs=1 ...] [--precision mixed_bfloat16]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The paper's five rectifiers first (Xu et al.'s table), then the profile's other arms.
PRIORITY = ["relu", "lrelu_0.01", "lrelu_1/5.5", "prelu", "rrelu"]
#: Nominal dense peaks (FLOP/s) by device-name fragment and precision, from NVIDIA's
#: H100/H200 SXM datasheets (the H200 has the H100's compute): bf16 tensor cores
#: without sparsity, and float32 without TF32 (the precision policy's float32).
PEAKS = {"H200": {"mixed_bfloat16": 989e12, "float32": 67e12},
         "H100": {"mixed_bfloat16": 989e12, "float32": 67e12}}
#: Seconds kept free at the end for packing the results.
MARGIN_S = 25


def log(*parts) -> None:
    print("[gpu_paper]", *parts, flush=True)


def run_command(out: Path, arms: list[str], seeds: list[int], overrides: list[str]) -> list[str]:
    """``python -m actbook run`` for some cells of the paper profile into ``out``."""
    cmd = [sys.executable, "-m", "actbook", "run", "--profile", "paper", "--results", str(out),
           "--activations", ",".join(arms), "--seeds", ",".join(map(str, seeds)), "--no-progress"]
    for item in overrides:
        cmd += ["--set", item]
    return cmd


def run_cells(out: Path, arms: list[str], seeds: list[int], overrides: list[str], timeout: float) -> tuple[int, float]:
    """:func:`run_command` in a child process, killed at ``timeout`` seconds: (exit status, seconds it took)."""
    cmd = run_command(out, arms, seeds, overrides)
    start = time.monotonic()
    try:
        rc = subprocess.run(cmd, cwd=ROOT, timeout=max(timeout, 1)).returncode
    except subprocess.TimeoutExpired:
        rc = 124
    return rc, time.monotonic() - start


def cell_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.json") if ".checkpoints" not in p.parts)


def first_epoch(out: Path) -> dict:
    """The first history row of the (single) cell under ``out``."""
    files = cell_files(out)
    if not files:
        raise RuntimeError(f"the measurement cell wrote no result under {out}")
    return json.loads(files[0].read_text())["history"][0]


def pack(out: Path, archive: Path) -> None:
    """Everything under ``out`` (results and checkpoints) into ``archive``, replaced atomically."""
    tmp = archive.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(out, arcname=out.name)
    tmp.replace(archive)


def peak(precision: str) -> float | None:
    try:
        import jax
        kind = jax.devices()[0].device_kind
    except Exception:  # noqa: BLE001  (no JAX, or no device: no peak to compare with)
        return None
    return next((p[precision] for name, p in PEAKS.items() if name in kind), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder whose contents the slot returns")
    parser.add_argument("--deadline-s", type=float, required=True, help="seconds from now until the slot ends")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default="float32")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--arms", default=None, help="comma-separated arms, in priority order (default: the "
                                                     "paper's five rectifiers, then the profile's other arms)")
    parser.add_argument("--no-concurrency-test", action="store_true")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.deadline_s - MARGIN_S
    overrides = list(args.overrides)
    if args.precision != "float32":  # a declared variant: its own experiment, its own folder
        overrides.append(f'precision="{args.precision}"')
    args.out.mkdir(parents=True, exist_ok=True)
    results, scratch, archive = args.out / "results", args.out / "measure", args.out / "gpu_paper.tar.gz"
    report = {"precision": args.precision, "overrides": overrides, "backend": os.environ.get("KERAS_BACKEND")}

    from actbook.runner import profiles as P
    from actbook.runner.architectures import forward_flops
    config = P.get_profile("paper", P.parse_set(overrides))
    flops = forward_flops(config["model"], **config["model_kwargs"])
    train_images = P.training_images(config)

    # 1. Measure: one epoch of ReLU alone (compile included), then two processes at once.
    # The measurement's own epoch count replaces the caller's (a setting may be given only once).
    one = [o for o in overrides if o.split("=", 1)[0].strip() != "epochs"] + ["epochs=1"]
    rc, seconds = run_cells(scratch / "alone", ["relu"], [0], one, deadline - time.monotonic())
    if rc != 0:
        log(f"the measurement epoch failed (exit {rc}); stopping")
        return 1
    row = first_epoch(scratch / "alone")
    rate = row["train_images_per_second"]
    achieved = 3 * flops * rate  # training is about 3x the forward pass
    top = peak(args.precision)
    report.update({"epoch_seconds_with_compile": seconds, "epoch_seconds": row["seconds"], "images_per_second": rate,
                   "training_tflops": achieved / 1e12, "peak_tflops": None if top is None else top / 1e12,
                   "fraction_of_peak": None if top is None else achieved / top})
    log(f"one epoch of {train_images:,} images: {row['seconds']:.1f} s in the cell ({seconds:.1f} s with start-up "
        f"and compile), {rate:,.0f} images/s, {achieved / 1e12:.1f} TFLOP/s"
        + ("" if top is None else f", {achieved / top:.1%} of the {top / 1e12:.0f} TFLOP/s peak ({args.precision})"))
    concurrent = 1
    if not args.no_concurrency_test and deadline - time.monotonic() > 3 * seconds:
        start = time.monotonic()
        children = [subprocess.Popen(run_command(scratch / f"pair{k}", ["relu"], [k + 1], one), cwd=ROOT)
                    for k in range(2)]
        for child in children:
            child.wait(timeout=max(deadline - time.monotonic(), 1))
        pair_rate = sum(first_epoch(scratch / f"pair{k}")["train_images_per_second"] for k in range(2))
        report.update({"two_at_once_images_per_second": pair_rate, "two_at_once_seconds": time.monotonic() - start})
        concurrent = 2 if pair_rate > 1.1 * rate else 1
        log(f"two cells at once: {pair_rate:,.0f} images/s in all ({pair_rate / rate:.2f}x one alone); "
            f"running {concurrent} at a time")

    # 2. Plan.
    per_cell = row["seconds"] * config["epochs"] * 1.05  # evaluation epochs included, roughly
    left = deadline - time.monotonic()
    fit = max(0, math.floor(left / per_cell)) * concurrent
    seeds = [int(s) for s in args.seeds.split(",")]
    order = args.arms.split(",") if args.arms else PRIORITY + [a for a in config["arms"] if a not in PRIORITY]
    queue = [(a, s) for s in seeds for a in order]
    report.update({"cell_seconds_estimate": per_cell, "cells_that_fit": fit, "concurrent": concurrent,
                   "full_sweep_hours_one_gpu": per_cell * len(config["arms"]) * len(seeds) / 3600 / concurrent})
    log(f"{config['epochs']} epochs per cell: about {per_cell / 60:.1f} min; {fit} of {len(queue)} cells fit in the "
        f"{left / 60:.1f} min left; the whole sweep ({len(queue)} cells) would take "
        f"{report['full_sweep_hours_one_gpu']:.1f} h on one such GPU")
    (args.out / "gpu_paper.json").write_text(json.dumps(report, indent=1))

    # 3. Train, in priority order, concurrent cells side by side, each process killed before the deadline.
    finished = []
    while queue and deadline - time.monotonic() > 0.5 * per_cell:
        batch, queue = queue[:concurrent], queue[concurrent:]
        children = [(cell, subprocess.Popen(run_command(results, [cell[0]], [cell[1]], overrides), cwd=ROOT))
                    for cell in batch]
        for cell, child in children:
            try:
                rc = child.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                child.kill()
                rc = 124
            finished.append({"arm": cell[0], "seed": cell[1], "exit": rc})
            log(f"{cell[0]} seed {cell[1]}: " + ("finished" if rc == 0 else "stopped at the deadline; its "
                                                 "checkpoint is kept" if rc == 124 else f"exit {rc}"))
        report["cells"] = finished
        (args.out / "gpu_paper.json").write_text(json.dumps(report, indent=1))
        pack(results if results.exists() else args.out, archive)
    report["cells"] = finished
    (args.out / "gpu_paper.json").write_text(json.dumps(report, indent=1))
    if results.exists():
        pack(results, archive)
    log(f"done: {sum(c['exit'] == 0 for c in finished)} cell(s) finished; results in {archive.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
