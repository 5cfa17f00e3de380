#!/usr/bin/env python3
"""float32 against bf16 mixed precision, side by side: the speed half of the
precision policy (the agreement half is ``scripts/cross_isa.py``).

    python benchmarks/bench_precision.py [--rounds 5] [--steps 5] [--out data/benchmarks/precision.json]

For the ``cpu`` profile's network at its batch size (128) and the
``overfit`` profile's (32), one model per (arm, precision), all built first;
then each round times ``--steps`` training steps of every model in turn
(op determinism on, as the sweeps train), so the machine's slow phases hit
every model alike. Reports the median step time and the float32 / bf16
ratio per arm and batch size, with the kernels in force (the policy caps
oneDNN at AVX-512 BF16; set ``ONEDNN_MAX_CPU_ISA`` to time others).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from actbook.tf_runtime import tf  # noqa: F401  (first: the kernel policy before oneDNN loads)
import numpy as np

from actbook.runner import backend as B, precision, provenance
from actbook.runner.files import write_json_atomic
from actbook.runner.profiles import get_profile
from actbook.runner.train import precision_policy

from bench_step import step_function, time_rounds

ARMS = ("relu", "lrelu_1/5.5", "prelu", "rrelu", "rrelu_channel", "sigmoid")
PRECISIONS = ("float32", "mixed_bfloat16")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--profiles", default="cpu,overfit")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/precision.json"))
    parser.add_argument("--conditions", default="", help="what else the machine was doing, recorded with the numbers")
    args = parser.parse_args(argv)
    rows = []
    for name in args.profiles.split(","):
        config = get_profile(name)
        bs = config["batch_size"]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((bs, 32, 32, 3)).astype("float32")
        y = rng.integers(0, 10, bs)
        steps = {}
        for prec in PRECISIONS:
            with precision_policy(prec):
                for arm in ARMS:
                    steps[(prec, arm)] = step_function(arm, {**config, "precision": prec}, x, y)
        times = time_rounds(steps, args.rounds, args.steps,
                            report=lambda r, _: print(f"{name}: round {r + 1}/{args.rounds}", flush=True))
        for arm in ARMS:
            ms = {prec: 1e3 * statistics.median(times[(prec, arm)]) for prec in PRECISIONS}
            rows.append({"profile": name, "batch_size": bs, "activation": arm,
                         "float32 ms per step": ms["float32"], "bf16 ms per step": ms["mixed_bfloat16"],
                         "float32 / bf16": ms["float32"] / ms["mixed_bfloat16"]})
            print(f"{name:>8} bs {bs:3d} {arm:>14}  float32 {ms['float32']:7.1f} ms  bf16 {ms['mixed_bfloat16']:7.1f} ms"
                  f"  float32/bf16 {ms['float32'] / ms['mixed_bfloat16']:.2f}", flush=True)
    write_json_atomic(args.out, {"rows": rows,
                                 "settings": {"rounds": args.rounds, "steps_per_round": args.steps,
                                              "op_determinism": True, "conditions": args.conditions},
                                 "kernels": precision.describe(B.name()),
                                 "provenance": {**provenance.collect(), "finished": provenance.now()}})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
