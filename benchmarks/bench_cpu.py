#!/usr/bin/env python3
"""Speed of the cpu-profile model on this machine: numbers, not assertions.

    python benchmarks/bench_cpu.py               # everything below
    python benchmarks/bench_cpu.py --quick       # fewer steps

Prints, for the cpu profile's model:
- the machine's matmul peak (fp32 and bf16), measured;
- training images/s per arm (fp32 and bf16), cost relative to ReLU, and the
  achieved GFLOP/s as a fraction of the matching matmul peak ("MFU");
- RReLU against Keras's LeakyReLU per training step (target: <= 10 % slower);
- the input pipeline: tf.data with and without cache/prefetch, and batch size.
Synthetic inputs of CIFAR-10's shape are used so only compute is timed.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from actbook.tf_runtime import tf  # first: applies the kernel policy before TensorFlow loads oneDNN
import keras
import numpy as np

from actbook.runner.profiles import get_profile
from actbook.runner.architectures import forward_flops
from actbook.runner.models import build_model


def matmul_peak(dtype, n=2048, reps=10) -> float:
    a = tf.random.normal((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    f = tf.function(lambda x: tf.matmul(x, x))
    f(a).numpy()
    t = time.perf_counter()
    for _ in range(reps):
        out = f(a)
    out.numpy()
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def train_rate(arm: str, precision: str, batch: int, steps: int, cache: bool = True, prefetch: bool = True) -> float:
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    cfg = get_profile("cpu")
    model = build_model(cfg["model"], arm, seed=0, **cfg["model_kwargs"])
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch * 8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, batch * 8)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.map(lambda a, b: (tf.image.random_flip_left_right(a), b))
    if cache:
        ds = ds.cache()
    ds = ds.repeat().batch(batch)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # build and trace
    t = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    rate = steps * batch / (time.perf_counter() - t)
    keras.mixed_precision.set_global_policy("float32")
    return rate, forward_flops(cfg["model"], **cfg["model_kwargs"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steps = 15 if args.quick else 40
    cfg = get_profile("cpu")
    batch = cfg["batch_size"]

    peak = {"float32": matmul_peak(tf.float32), "mixed_bfloat16": matmul_peak(tf.bfloat16)}
    print(f"matmul peak: fp32 {peak['float32']:.0f} GFLOP/s, bf16 {peak['mixed_bfloat16']:.0f} GFLOP/s "
          f"({peak['mixed_bfloat16'] / peak['float32']:.2f}x)")
    print(f"\nmodel: {cfg['model']} {cfg['model_kwargs']}, batch {batch}, {steps} timed steps")
    print(f"{'arm':>12} {'precision':>15} {'img/s':>8} {'vs relu':>8} {'GFLOP/s':>8} {'MFU':>6}")
    rates, flops = {}, None
    for precision in ("float32", "mixed_bfloat16"):
        for arm in cfg["arms"]:
            rates[arm, precision], flops = train_rate(arm, precision, batch, steps)
        for arm in cfg["arms"]:
            rate = rates[arm, precision]
            achieved = 3 * flops * rate / 1e9  # forward + backward ~ 3x forward
            print(f"{arm:>12} {precision:>15} {rate:8.0f} {rate / rates['relu', precision]:8.2f} "
                  f"{achieved:8.1f} {achieved / peak[precision]:6.1%}")
    print(f"(forward pass: {flops / 1e6:.1f} MFLOP per image; training counted as 3x forward)")

    print("\nRReLU against LeakyReLU(1/5.5), time per training step:")
    for precision in ("float32", "mixed_bfloat16"):
        slow = rates["lrelu_1/5.5", precision] / rates["rrelu", precision] - 1
        print(f"   {precision:>15}: RReLU {slow:+.1%} per step (target <= +10 %)")

    print("\ninput pipeline and batch size (relu, cpu-profile precision):")
    prec = cfg["precision"]
    for cache, prefetch in [(False, False), (True, False), (True, True)]:
        rate, _ = train_rate("relu", prec, batch, steps, cache=cache, prefetch=prefetch)
        print(f"   cache={cache!s:5} prefetch={prefetch!s:5}: {rate:6.0f} img/s")
    for b in (64, 128, 256):
        rate, _ = train_rate("relu", prec, b, max(steps * batch // b, 5))
        print(f"   batch {b:4}: {rate:6.0f} img/s")


if __name__ == "__main__":
    main()
