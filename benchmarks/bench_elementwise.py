#!/usr/bin/env python3
"""Time per element of ReLU and ELU, NumPy reference against TensorFlow.

    python benchmarks/bench_elementwise.py            # 4 million float32 values, best of 7
    python benchmarks/bench_elementwise.py --n 1000000 --repeats 3

Speed only, so it lives here and not in the book: a timing taken while the
book builds measures whatever else the machine is doing. The ELU chapter
explains what the numbers mean (an exponential per negative input against a
comparison); run this on a quiet machine to see them.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import tensorflow as tf

from actbook import activations as A


def time_per_element(fn, n: int = 4_000_000, repeats: int = 7, dtype=np.float32, seed: int = 0) -> float:
    """Best-of-``repeats`` wall time of ``fn(x)`` per element, in nanoseconds."""
    x = np.random.default_rng(seed).standard_normal(n).astype(dtype)
    fn(x)  # warm up (allocations, tracing)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(x)
        if hasattr(out, "numpy"):
            out = out.numpy()
        best = min(best, time.perf_counter() - t)
    return best / n * 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4_000_000, help="elements per call")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls; the best is kept")
    args = parser.parse_args(argv)
    kw = {"n": args.n, "repeats": args.repeats}
    impls = {
        "NumPy (actbook)": (A.relu, A.elu),
        "TensorFlow (tf.nn)": (lambda x: tf.nn.relu(x), lambda x: tf.nn.elu(x)),
    }
    rows = [{"implementation": name, "relu ns/elem": time_per_element(relu, **kw),
             "elu ns/elem": time_per_element(elu, **kw)} for name, (relu, elu) in impls.items()]
    table = pd.DataFrame(rows).set_index("implementation")
    table["elu / relu"] = table["elu ns/elem"] / table["relu ns/elem"]
    print(f"float32, {args.n:,} elements, best of {args.repeats}")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
