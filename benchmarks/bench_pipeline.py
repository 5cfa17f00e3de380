#!/usr/bin/env python3
"""The training stream against the former tf.data pipeline: numbers, not assertions.

    python benchmarks/bench_pipeline.py [--images 7680] [--rounds 3]

Trains the cpu profile's network (ReLU, float32, batch 128) for one epoch of
``--images`` random CIFAR-shaped images per measurement, alternating the two
pipelines round by round (this machine's throughput jumps between levels, so
only ratios measured side by side mean anything), and prints images/s per
round and the ratio stream / tf.data. Both shuffle, pad-crop and flip.
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from actbook.tf_runtime import tf  # first: applies the kernel policy before TensorFlow loads oneDNN
import keras
import numpy as np

from actbook.runner import backend as B
from actbook.runner.profiles import get_profile
from actbook.runner.models import build_model
from actbook.runner.stream import make_train_stream
from actbook.runner.train import compile_model


def tf_data_pipeline(x, y, batch_size, seed, pad=4):
    """The runner's pipeline before the (seed, epoch) stream, kept here to compare against."""
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32))).cache()
    ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    h, w, c = x.shape[1:]
    noise = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def crop_flip(example, r):
        image, label = example
        s = tf.stack([r, tf.constant(seed, tf.int64)])
        s2 = tf.stack([r, tf.constant(seed + 1, tf.int64)])
        image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        image = tf.image.stateless_random_crop(image, (h, w, c), seed=s)
        image = tf.image.stateless_random_flip_left_right(image, seed=s2)
        return image, label

    ds = tf.data.Dataset.zip((ds, noise)).map(crop_flip, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=7680)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = get_profile("cpu")
    B.setup(config["threads"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.images, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, args.images)
    bs = config["batch_size"]
    steps = math.ceil(args.images / bs)
    stream = make_train_stream(x, y, bs, 0)
    pipelines = {"tf.data": tf_data_pipeline(x, y, bs, 0), "stream": B.feed(stream)}  # as the runner feeds it
    models = {}
    for name in pipelines:
        keras.utils.set_random_seed(0)
        models[name] = build_model(config["model"], "relu", seed=0, **config["model_kwargs"])
        compile_model(models[name], config, steps)
        models[name].fit(pipelines[name], epochs=1, verbose=0, shuffle=False)  # compile and warm up
    rates = {name: [] for name in pipelines}
    for r in range(args.rounds):
        for name, data in pipelines.items():
            stream.epoch = r + 1
            t = time.perf_counter()
            models[name].fit(data, epochs=1, verbose=0, shuffle=False)
            rates[name].append(args.images / (time.perf_counter() - t))
        print(f"round {r + 1}: tf.data {rates['tf.data'][-1]:7.0f} img/s   stream {rates['stream'][-1]:7.0f} img/s"
              f"   ratio {rates['stream'][-1] / rates['tf.data'][-1]:.3f}", flush=True)
    ratio = np.median([s / t for s, t in zip(rates["stream"], rates["tf.data"])])
    print(f"median ratio stream / tf.data over {args.rounds} rounds: {ratio:.3f} "
          f"({os.cpu_count()} CPUs, {config['threads']} threads)")


if __name__ == "__main__":
    main()
