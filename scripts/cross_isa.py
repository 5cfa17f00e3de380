#!/usr/bin/env python3
"""The same training cell under each oneDNN instruction set and precision:
does it give the same numbers, and how fast is it?

    python scripts/cross_isa.py [--profile overfit --activation relu --seed 0]
                                [--isas AVX512_CORE_AMX,AVX512_CORE_BF16,AVX512_CORE,AVX2]
                                [--precisions mixed_bfloat16,float32]
                                [--out data/reproducibility/cross_isa.json]

Each run is a fresh process with ``ONEDNN_MAX_CPU_ISA`` set, which simulates
a CPU that has nothing beyond that instruction set (an ISA this CPU lacks is
reported as such). The bf16 runs use the profile as it is; the float32 runs
override ``precision`` (``--set precision="float32"``). Every run is held
against the committed result of the same cell (``data/results/<profile>/``):
its final test error, whether its whole history is bit-identical, and its
training speed. The table in the book is read from the JSON this writes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from actbook import precision, provenance  # noqa: E402  (no TensorFlow)
from actbook.files import write_json_atomic  # noqa: E402
from actbook.profiles import Cell, result_path  # noqa: E402

TIMING = ("seconds", "train_images_per_second")


def strip(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def run_one(profile, arm, seed, isa, prec, results: Path) -> dict:
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA=isa)
    cmd = [sys.executable, "-m", "actbook.experiment", "run", "--profile", profile, "--activations", arm,
           "--seeds", str(seed), "--results", str(results), "--no-progress"]
    overrides = None
    if prec == "float32":
        cmd += ["--set", 'precision="float32"']
        overrides = {"precision": "float32"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{isa} {prec}: the run failed:\n{done.stderr[-3000:]}")
    return json.loads(result_path(results, Cell(profile, arm, seed), overrides).read_text()) | {"wall_seconds": wall}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="overfit")
    p.add_argument("--activation", default="relu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--isas", default="AVX512_CORE_AMX,AVX512_CORE_BF16,AVX512_CORE,AVX2")
    p.add_argument("--precisions", default="mixed_bfloat16,float32")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "reproducibility" / "cross_isa.json")
    args = p.parse_args(argv)
    committed = json.loads(result_path(ROOT / "data" / "results", Cell(args.profile, args.activation, args.seed))
                           .read_text())
    best = precision.cpu_isa()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for prec in args.precisions.split(","):
            for isa in args.isas.split(","):
                if best and precision.ISA_ORDER.index(isa) > precision.ISA_ORDER.index(best):
                    print(f"{isa}: this CPU lacks it (best: {best}); skipped", flush=True)
                    continue
                cell = run_one(args.profile, args.activation, args.seed, isa, prec, Path(tmp) / f"{isa}-{prec}")
                last = cell["history"][-1]
                row = {"ONEDNN_MAX_CPU_ISA": isa, "precision": prec,
                       "effective_isa": cell["provenance"]["hardware"]["kernels"]["effective_isa"],
                       "final_test_error": last["test_error"], "final_train_eval_error": last["train_eval_error"],
                       "train_images_per_second": sum(r["train_images_per_second"] for r in cell["history"]) / len(cell["history"]),
                       "wall_seconds": cell["wall_seconds"],
                       "identical_to_committed": (prec == committed["config"]["precision"]
                                                  and strip(cell["history"]) == strip(committed["history"])),
                       "test_error_minus_committed": last["test_error"] - committed["history"][-1]["test_error"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    write_json_atomic(args.out, {
        "cell": {"profile": args.profile, "activation": args.activation, "seed": args.seed},
        "committed": {"final_test_error": committed["history"][-1]["test_error"],
                      "effective_isa": (committed["provenance"]["hardware"].get("kernels") or {}).get("effective_isa"),
                      "cpu": committed["provenance"]["hardware"]["cpu"]},
        "runs": rows,
        "provenance": {**provenance.collect(), "finished": provenance.now(), "cpu_isa": best},
    })
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
