"""The networks of the CIFAR-10 comparison as Keras models, built from the arm factory.

The networks are defined in :mod:`actbook.runner.architectures`. Every model
puts ``make_activation(arm)`` after every convolution (as Xu et al. 2015 do
in Network in Network), so two arms differ in their activation layers and
in nothing else. Activation layers are named ``act_<k>`` so
diagnostics (dead units, learned PReLU slopes) can find them.
"""

from __future__ import annotations

import numpy as np

from actbook.runner import architectures
from actbook.runner.backend import keras_module

keras = keras_module()  # through actbook.tf_runtime on TensorFlow: no start-up noise

from actbook.arms import slug as arm_slug  # noqa: E402
from actbook.layers import initializer, kernel_initializer, make_activation  # noqa: E402

__all__ = ["build_model", "layer_seed"]
#: The kinds of seeded layer, kept apart in :func:`layer_seed`'s key.
_CONV, _DROPOUT, _DENSE, _NOISE = 1, 2, 3, 4


def layer_seed(seed: int, kind: int, index: int) -> int:
    """An independent seed for layer ``index`` of ``kind`` in the cell of seed ``seed``.

    ``SeedSequence`` hashes the whole key, so no two (seed, kind, index) share a
    stream: seed s + 1's first layer is not seed s's second, as it is when
    layers take ``seed + index``. Keras seeds are 32-bit signed, hence the mask.
    """
    return int(np.random.SeedSequence([int(seed), kind, int(index)]).generate_state(1, np.uint32)[0] & 0x7FFFFFFF)


class _Builder:
    """Numbers the activation layers, shares the kernel settings and hands out the layers' seeds."""

    def __init__(self, arm: str, weight_decay: float, seed: int, init: str, seeding: str = "offset"):
        if seeding not in architectures.SEEDINGS:
            raise ValueError(f"unknown seeding {seeding!r}; valid: {', '.join(architectures.SEEDINGS)}")
        self.arm, self.seed, self.init, self.seeding, self.k = arm, seed, init, seeding, 0
        self.reg = keras.regularizers.L2(weight_decay) if weight_decay else None

    def seed_for(self, kind: int, index: int) -> int | None:
        """The seed of a layer. ``offset``, the earlier sweeps' rule: seed + index
        (the dense layer the cell's seed; RReLU's generator none, so drawn from
        the global seed); ``independent``: :func:`layer_seed`."""
        if self.seeding == "independent":
            return layer_seed(self.seed, kind, index)
        return {_CONV: self.seed + index, _DROPOUT: self.seed + index, _DENSE: self.seed, _NOISE: None}[kind]

    def conv(self, x, filters: int, size: int):
        self.k += 1
        x = keras.layers.Conv2D(
            filters, size, padding="same", name=f"conv_{self.k}",
            kernel_initializer=kernel_initializer(self.arm, self.init, self.seed_for(_CONV, self.k)),
            kernel_regularizer=self.reg)(x)
        noise_seed = self.seed_for(_NOISE, self.k)
        extra = {} if noise_seed is None else {"seed": noise_seed}
        return make_activation(self.arm, name=f"act_{self.k}", **extra)(x)


def build_model(name: str, arm: str, num_classes: int = 10, seed: int = 0, init: str = "he",
                seeding: str = "offset", **settings) -> keras.Model:
    """Network ``name`` (:data:`actbook.runner.architectures.NETWORKS`) with
    activation ``arm`` after every convolution, its ``settings`` (a profile's
    ``model_kwargs``; the network's defaults for those left out) and the
    layers' seeds drawn from ``seed`` by ``seeding``."""
    net = architectures.network(name)
    settings = {**net.settings, **settings}
    b = _Builder(arm, settings["weight_decay"], seed, init, seeding)
    x = inputs = keras.Input((32, 32, 3))
    for spec in architectures.layers(name, num_classes=num_classes, **settings):
        kind = spec[0]
        if kind == "conv":
            x = b.conv(x, spec[1], spec[2])
        elif kind == "maxpool":
            x = keras.layers.MaxPooling2D(spec[1], strides=spec[2], padding=spec[3])(x)
        elif kind == "avgpool":
            x = keras.layers.AveragePooling2D(spec[1], strides=spec[2], padding=spec[3])(x)
        elif kind == "dropout":
            x = keras.layers.Dropout(settings["dropout"], seed=b.seed_for(_DROPOUT, spec[1]))(x)
        elif kind == "gap":
            x = keras.layers.GlobalAveragePooling2D()(x)
        elif kind == "dense":
            x = keras.layers.Dense(spec[1], name="logits",
                                   kernel_initializer=initializer("glorot", b.seed_for(_DENSE, 0),
                                                                  distribution="uniform"))(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"{net.keras_name}_{arm_slug(arm)}")
