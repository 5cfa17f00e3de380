"""The networks of the CIFAR-10 comparison as plain data (no Keras).

Each architecture is a list of layer specs that :mod:`actbook.runner.models` turns
into a Keras model and :func:`forward_flops` counts, so ``experiment plan``
prices a profile without a deep-learning framework and without allocating
a single weight.

Specs: ``("conv", filters, size)`` (padding "same", followed by the arm's
activation), ``("maxpool" | "avgpool", size, stride, padding)``,
``("dropout", seed_offset)``, ``("gap",)`` (global average pool) and
``("dense", units)``.
"""

from __future__ import annotations

import math

__all__ = ["ARCHITECTURES", "layers", "forward_flops", "MODEL_KWARGS"]


def network_in_network(num_classes: int = 10, **_) -> list[tuple]:
    """Network in Network (Lin et al. 2014) as used by Xu et al. (2015)."""
    return [("conv", 192, 5), ("conv", 160, 1), ("conv", 96, 1), ("maxpool", 3, 2, "same"), ("dropout", 0),
            ("conv", 192, 5), ("conv", 192, 1), ("conv", 192, 1), ("avgpool", 3, 2, "same"), ("dropout", 1),
            ("conv", 192, 3), ("conv", 192, 1), ("conv", num_classes, 1), ("gap",)]


def small_cnn(num_classes: int = 10, width: int = 32, **_) -> list[tuple]:
    """The CPU profiles' small VGG-like CNN: two stages of two 3x3
    convolutions, then a 3x3 and a 1x1 convolution at four times the width,
    global average pooling and a dense layer."""
    specs = []
    for stage, mult in enumerate([1, 2]):
        specs += [("conv", width * mult, 3), ("conv", width * mult, 3), ("maxpool", 2, 2, "valid"),
                  ("dropout", stage)]
    return specs + [("conv", width * 4, 3), ("conv", width * 4, 1), ("gap",), ("dense", num_classes)]


ARCHITECTURES = {"nin": network_in_network, "small_cnn": small_cnn}
#: The keyword arguments each model takes (a profile's ``model_kwargs``).
MODEL_KWARGS = {"nin": ("dropout", "weight_decay"), "small_cnn": ("width", "dropout", "weight_decay")}


def layers(name: str, **kwargs) -> list[tuple]:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name](**kwargs)


def forward_flops(name: str, image_size: int = 32, channels: int = 3, **kwargs) -> float:
    """FLOPs of one forward pass per image: 2 x the multiply-adds of every
    convolution and dense layer (activations, pooling and biases ignored)."""
    size, depth, total = image_size, channels, 0
    for spec in layers(name, **kwargs):
        kind = spec[0]
        if kind == "conv":
            _, filters, k = spec
            total += 2 * size * size * filters * k * k * depth
            depth = filters
        elif kind in ("maxpool", "avgpool"):
            _, k, stride, padding = spec
            size = math.ceil(size / stride) if padding == "same" else (size - k) // stride + 1
        elif kind == "gap":
            size = 1
        elif kind == "dense":
            total += 2 * depth * spec[1]
            depth = spec[1]
    return float(total)
