"""The networks of the CIFAR-10 comparison, each defined once, as plain data (no Keras).

A network is its layer specs and its settings (a profile's ``model_kwargs``,
with their defaults and their schema). :func:`actbook.runner.models.build_model`
turns the specs into a Keras model; :func:`forward_flops` counts them, so
``actbook plan`` prices a profile without a deep-learning framework and
without allocating a single weight; :mod:`actbook.runner.profiles` validates
``model_kwargs`` against :data:`SETTINGS_SCHEMA`. Changing a network means
changing this file only.

Specs: ``("conv", filters, size)`` (padding "same", followed by the arm's
activation), ``("maxpool" | "avgpool", size, stride, padding)``,
``("dropout", seed_offset)``, ``("gap",)`` (global average pool) and
``("dense", units)``. The model ends in a float32 softmax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

__all__ = ["Network", "NETWORKS", "MODEL_KWARGS", "SETTINGS_SCHEMA", "MAX_WIDTH", "SEEDINGS", "network", "layers",
           "forward_flops"]

#: The widest ``small_cnn`` a profile may ask for: far beyond any profile's (NIN
#: has 192 channels), so a typo is an error line, not a run that exhausts memory.
MAX_WIDTH = 1024

#: How a cell's seed becomes its layers' seeds (a profile's ``seeding``;
#: :func:`actbook.runner.models.layer_seed`).
SEEDINGS = ("offset", "independent")

#: The JSON Schema of each network setting (a profile's ``model_kwargs.<name>``).
SETTINGS_SCHEMA = {
    "width": {"type": "integer", "minimum": 1, "maximum": MAX_WIDTH},
    "dropout": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
    "weight_decay": {"type": "number", "minimum": 0},
}


@dataclass(frozen=True)
class Network:
    """One network: ``specs(num_classes, **settings)`` gives its layers;
    ``settings`` its ``model_kwargs`` with their defaults (the rate of its
    dropout layers, the L2 penalty on its kernels, ...); ``keras_name`` the
    start of its Keras model's name."""

    specs: Callable[..., list[tuple]]
    settings: dict
    keras_name: str


def _network_in_network(num_classes: int = 10, **_) -> list[tuple]:
    """Network in Network (Lin et al. 2014) as used by Xu et al. (2015).

    conv5x5-192, 1x1-160, 1x1-96, 3x3 max pool /2, dropout;
    conv5x5-192, 1x1-192, 1x1-192, 3x3 avg pool /2, dropout;
    conv3x3-192, 1x1-192, 1x1-10, global average pool, softmax.
    The activation follows every convolution, the last one included, as in
    the paper's description; weight decay is on kernels only.
    """
    return [("conv", 192, 5), ("conv", 160, 1), ("conv", 96, 1), ("maxpool", 3, 2, "same"), ("dropout", 0),
            ("conv", 192, 5), ("conv", 192, 1), ("conv", 192, 1), ("avgpool", 3, 2, "same"), ("dropout", 1),
            ("conv", 192, 3), ("conv", 192, 1), ("conv", num_classes, 1), ("gap",)]


def _small_cnn(num_classes: int = 10, width: int = 32, **_) -> list[tuple]:
    """The CPU profiles' fast CNN, in the NIN spirit (no normalisation).

    conv3x3-w, conv3x3-w, max pool, dropout; conv3x3-2w, conv3x3-2w, max pool,
    dropout; conv3x3-4w, conv1x1-4w, global average pool, dense-10, softmax.
    """
    specs = []
    for stage, mult in enumerate([1, 2]):
        specs += [("conv", width * mult, 3), ("conv", width * mult, 3), ("maxpool", 2, 2, "valid"),
                  ("dropout", stage)]
    return specs + [("conv", width * 4, 3), ("conv", width * 4, 1), ("gap",), ("dense", num_classes)]


NETWORKS = {
    "nin": Network(_network_in_network, {"dropout": 0.5, "weight_decay": 1e-4}, "nin"),
    "small_cnn": Network(_small_cnn, {"width": 32, "dropout": 0.25, "weight_decay": 5e-4}, "cnn"),
}
#: The keyword arguments each model takes (a profile's ``model_kwargs``).
MODEL_KWARGS = {name: tuple(n.settings) for name, n in NETWORKS.items()}


def network(name: str) -> Network:
    if name not in NETWORKS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(NETWORKS)}")
    return NETWORKS[name]


def layers(name: str, num_classes: int = 10, **settings) -> list[tuple]:
    """The layer specs of network ``name`` with ``settings`` (its defaults for those left out)."""
    net = network(name)
    unknown = sorted(set(settings) - set(net.settings))
    if unknown:
        raise ValueError(f"model {name!r} does not take {', '.join(unknown)} (it takes {', '.join(net.settings)})")
    return net.specs(num_classes, **{**net.settings, **settings})


def forward_flops(name: str, image_size: int = 32, channels: int = 3, **settings) -> float:
    """FLOPs of one forward pass per image: 2 x the multiply-adds of every
    convolution and dense layer (activations, pooling and biases ignored)."""
    size, depth, total = image_size, channels, 0
    for spec in layers(name, **settings):
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
