"""The vanishing-gradient experiment's settings and data, written once.

A deep, narrow fully connected network on flattened CIFAR-10 images
(:data:`VANISHING`, plain data, read by the chapters and by
:mod:`actbook.mean_field`); :func:`probe_data` draws its images. The network
and the measurements on it are in :mod:`actbook.gradients`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actbook.image_subsets import channel_stats, normalize, subset

__all__ = ["VANISHING", "ProbeData", "probe_data"]

#: The vanishing-gradient experiment, written once: a deep, narrow fully connected
#: network on flattened CIFAR-10 images, trained with plain SGD and momentum.
#: ``small_slope`` is the threshold of "the unit passes almost no gradient":
#: |f'(z)| at most 1 % of ReLU's slope.
VANISHING = {
    "depth": 15, "width": 256,
    "n_train": 10_000, "n_probe": 1_000, "data_seed": 0,
    "epochs": 5, "learning_rate": 0.01, "momentum": 0.9, "batch_size": 128,
    "seed": 0, "small_slope": 0.01,
}


@dataclass(frozen=True)
class ProbeData:
    """Flattened, per-channel normalised CIFAR-10 training images: a training set and a
    held-out probe batch, drawn as one class-balanced subset."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_probe: np.ndarray
    y_probe: np.ndarray
    description: str

    @property
    def inputs(self) -> int:
        return int(self.x_train.shape[1])


def probe_data(cifar, settings: dict | None = None) -> ProbeData:
    """The vanishing-gradient chapter's images (:data:`VANISHING` by default)
    from ``cifar``, CIFAR-10 as :func:`actbook.runner.data.load_cifar10` loads
    it (``x_train``, ``y_train``, ``description``).

    One class-balanced subset of ``n_train + n_probe`` training images; the
    per-channel statistics are those of the whole subset; the last ``n_probe``
    images are the probe batch."""
    s = {**VANISHING, **(settings or {})}
    x, y = subset(cifar.x_train, cifar.y_train, s["n_train"] + s["n_probe"], seed=s["data_seed"])
    mean, std = channel_stats(x)
    x = normalize(x, mean, std).reshape(len(x), -1)
    n = s["n_train"]
    return ProbeData(x[:n], y[:n], x[n:], y[n:], cifar.description)
