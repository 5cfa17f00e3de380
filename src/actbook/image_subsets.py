"""Class-balanced subsets of labelled images and their per-channel normalisation, in NumPy.

One home for the draws of the runner's cells (:mod:`actbook.runner.data`) and
of the book's own experiments (:mod:`actbook.vanishing`): the same seed draws
the same images in both.
"""

from __future__ import annotations

import numpy as np

__all__ = ["subset_indices", "subset", "channel_stats", "normalize"]


def subset_indices(y: np.ndarray, n: int | None, seed=0) -> np.ndarray | None:
    """The sorted indices of a class-balanced random subset of ``n`` of the
    labels ``y`` (None, meaning all, if ``n`` is None or not smaller); ``seed``
    is anything ``np.random.default_rng`` takes."""
    if n is None or n >= len(y):
        return None
    classes = np.unique(y)
    if n % len(classes):
        raise ValueError(f"subset size {n} must be a multiple of the {len(classes)} classes")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), n // len(classes), replace=False)
                          for c in classes])
    idx.sort()
    return idx


def subset(x: np.ndarray, y: np.ndarray, n: int | None, seed=0):
    """A class-balanced random subset of ``n`` examples (all if ``n`` is None)."""
    idx = subset_indices(y, n, seed)
    return (x, y) if idx is None else (x[idx], y[idx])


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation, in [0, 1] pixel units."""
    xf = x.reshape(-1, x.shape[-1]).astype(np.float64) / 255.0
    return xf.mean(axis=0).astype(np.float32), xf.std(axis=0).astype(np.float32)


def normalize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 images -> float32, each channel to zero mean and unit variance."""
    return ((x.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)
