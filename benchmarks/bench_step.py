#!/usr/bin/env python3
"""Training-step time per activation, side by side in one run: the fair clock.

    python benchmarks/bench_step.py [--rounds 7] [--steps 10] [--precision float32|mixed_bfloat16]
                                    [--profile cpu] [--out data/benchmarks/step_time_<precision>.json]

A profile's network (default the ``cpu`` profile's, width 32) at its batch size and precision,
with TensorFlow's op determinism on, exactly as the sweeps train. Each
round times ``--steps`` training steps of every arm in turn (``timeit``,
after a warm-up), so slow phases of the machine hit every arm alike; the
median over rounds is reported, with every round's time, the step time
relative to ReLU (from the medians, and paired round by round with its
range over rounds, which a slow phase of the machine cannot bias) and the
two RReLU ratios the runner budgets for (targets: per example and
channel <= 1.10, per element <= 1.30 of Leaky ReLU (slope 1/5.5)). Synthetic
inputs of CIFAR-10's shape, so only compute is timed. Writes a JSON file
with the numbers and their provenance (the training chapter reads it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from pathlib import Path

from actbook.tf_runtime import tf  # first: applies the kernel policy before TensorFlow loads oneDNN
import keras
import numpy as np

from actbook.runner import backend, provenance
from actbook.runner.files import write_json_atomic
from actbook.runner.models import build_model
from actbook.runner.profiles import get_profile
from actbook.runner.train import compile_model, precision_policy

#: Every arm of the comparisons, once (the later ones joined the overfit profile's arms).
ARMS = tuple(dict.fromkeys((*get_profile("overfit")["arms"], "tanh", "selu", "gelu", "silu")))


def step_function(arm: str, config: dict, x, y):
    backend.seed_everything(0)
    model = build_model(config["model"], arm, seed=0, **config["model_kwargs"])
    compile_model(model, config, steps_per_epoch=100)
    model.train_on_batch(x, y)  # trace and warm up
    model.train_on_batch(x, y)
    return lambda: model.train_on_batch(x, y)


def paired_ratios(times: dict, reference: str) -> dict:
    """Each arm's step time over ``reference``'s, round by round (the rounds
    are interleaved, so a slow phase of the machine hits both sides of a
    ratio alike): ``{arm: {"median": .., "low": .., "high": ..}}`` over rounds."""
    out = {}
    for arm, t in times.items():
        ratios = [a / b for a, b in zip(t, times[reference])]
        out[arm] = {"median": statistics.median(ratios), "low": min(ratios), "high": max(ratios)}
    return out


def time_rounds(steps: dict, rounds: int, number: int, report=None) -> dict:
    """Seconds per call of every step function, ``rounds`` times, interleaved:
    each round times ``number`` calls of every step in turn, so slow phases of
    the machine hit them alike. ``report(round, times)`` is called after each
    round. Returns ``{key: [seconds per call, one per round]}``."""
    times = {key: [] for key in steps}
    for r in range(rounds):
        for key, step in steps.items():
            times[key].append(timeit.timeit(step, number=number) / number)
        if report:
            report(r, times)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None,
                        help="default: data/benchmarks/step_time_float32.json or step_time_bf16.json")
    parser.add_argument("--conditions", default="", help="what else the machine was doing, recorded with the numbers")
    parser.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default=None,
                        help="default: the profile's")
    parser.add_argument("--profile", default="cpu",
                        help="whose network, batch size and precision to time (default: cpu)")
    args = parser.parse_args(argv)
    config = get_profile(args.profile)
    if args.precision:
        config = {**config, "precision": args.precision}
    if args.out is None:
        short = "bf16" if config["precision"] == "mixed_bfloat16" else config["precision"]
        which = "" if args.profile == "cpu" else f"{args.profile}_"
        args.out = Path(f"data/benchmarks/step_time_{which}{short}.json")
    backend.setup(config["threads"])  # the sweeps' thread pools and op determinism
    rng = np.random.default_rng(0)
    bs = config["batch_size"]
    x = rng.standard_normal((bs, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, bs)
    with precision_policy(config["precision"]):
        steps = {arm: step_function(arm, config, x, y) for arm in ARMS}
        times = time_rounds(steps, args.rounds, args.steps, report=lambda r, t: print(
            f"round {r + 1}/{args.rounds}: " + "  ".join(f"{a} {1e3 * t[a][-1]:.1f} ms" for a in ARMS), flush=True))
    median = {arm: statistics.median(t) for arm, t in times.items()}
    paired = paired_ratios(times, "relu")
    rows = [{"activation": arm, "ms per step (median)": 1e3 * median[arm],
             "spread over rounds (ms)": 1e3 * (max(times[arm]) - min(times[arm])),
             "time vs ReLU": median[arm] / median["relu"],
             # The same ratio taken round by round, where a slow phase hits both arms alike.
             "time vs ReLU, paired by round (median)": paired[arm]["median"],
             "time vs ReLU, paired by round (low)": paired[arm]["low"],
             "time vs ReLU, paired by round (high)": paired[arm]["high"],
             "ms per round": [1e3 * v for v in times[arm]],
             "images/s": bs / median[arm]} for arm in ARMS]
    ratios = {"rrelu / lrelu_1/5.5": median["rrelu"] / median["lrelu_1/5.5"],
              "rrelu_channel / lrelu_1/5.5": median["rrelu_channel"] / median["lrelu_1/5.5"]}
    for row in rows:
        print(f"{row['activation']:>14}  {row['ms per step (median)']:7.1f} ms  x{row['time vs ReLU']:.2f} vs ReLU")
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    write_json_atomic(args.out, {"arms": rows, "ratios": ratios,
                                 "settings": {"profile": args.profile, "batch_size": bs, "precision": config["precision"],
                                              "rounds": args.rounds, "steps_per_round": args.steps,
                                              "op_determinism": True, "conditions": args.conditions},
                                 "provenance": {**provenance.collect(), "finished": provenance.now()}})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
