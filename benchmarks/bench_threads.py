#!/usr/bin/env python3
"""One two-thread cell against two one-thread cells side by side: numbers, not assertions.

    python benchmarks/bench_threads.py [--images 7680] [--rounds 2]

A cell's ``threads`` is part of its experiment, so a machine with more cores
runs more cells at once rather than giving one cell more threads. This
measures what that costs on this machine: the training images per second of
one process with 2 threads, against the sum over two concurrent processes
with 1 thread each (the cpu profile's network, ReLU, float32, the runner's
training stream), alternating the two set-ups round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORKER = r"""
import json, math, sys, time
import numpy as np
threads, images = int(sys.argv[1]), int(sys.argv[2])
from actbook.runner import backend as B
B.setup(threads)
keras = B.keras_module()
from actbook.runner.profiles import get_profile
from actbook.runner.models import build_model
from actbook.runner.stream import make_train_stream
from actbook.runner.train import compile_model
config = get_profile("cpu")
rng = np.random.default_rng(0)
x = rng.standard_normal((images, 32, 32, 3)).astype(np.float32)
y = rng.integers(0, 10, images)
stream = make_train_stream(x, y, config["batch_size"], 0)
data = B.feed(stream)
model = build_model(config["model"], "relu", seed=0, **config["model_kwargs"])
compile_model(model, config, math.ceil(images / config["batch_size"]))
model.fit(data, epochs=1, verbose=0)
print("READY", flush=True)
sys.stdin.readline()
stream.epoch = 1
t = time.perf_counter()
model.fit(data, epochs=1, verbose=0, shuffle=False)
print(json.dumps({"images_per_second": images / (time.perf_counter() - t)}), flush=True)
"""


def measure(processes: int, threads: int, images: int) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(threads), str(images)], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
             for _ in range(processes)]
    for p in procs:  # compiled and warmed up, all of them, before any is timed
        while p.stdout.readline().strip() != "READY":
            pass
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    rates = [json.loads(p.stdout.readline())["images_per_second"] for p in procs]
    for p in procs:
        p.wait()
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=7680)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ratios = []
    for r in range(args.rounds):
        one = measure(1, 2, args.images)
        two = measure(2, 1, args.images)
        ratios.append(two / one)
        print(f"round {r + 1}: one cell x 2 threads {one:6.0f} img/s   two cells x 1 thread {two:6.0f} img/s in all"
              f"   ratio {two / one:.3f}", flush=True)
    print(f"median ratio (two one-thread cells / one two-thread cell): {sorted(ratios)[len(ratios) // 2]:.3f} "
          f"on {len(os.sched_getaffinity(0))} cores ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")


if __name__ == "__main__":
    main()
