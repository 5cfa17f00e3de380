"""Temperature scaling: the cross-entropy of a classifier once its confidence is calibrated.

A network fitted to near-zero training error is overconfident on new images,
and its test cross-entropy measures that overconfidence as much as its
ranking of the classes. Dividing the logits by one temperature ``T``, fitted
on held-out validation images (Guo et al. 2017), changes no prediction (the
arg max is the same) and removes most of the overconfidence, so two arms'
calibrated cross-entropies compare what they know rather than how sure they
say they are.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

__all__ = ["cross_entropy", "fit_temperature", "TEMPERATURE_BOUNDS"]

#: The temperatures searched (a fitted T at either bound is reported as such by its value).
TEMPERATURE_BOUNDS = (0.01, 100.0)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean of ``-log softmax(logits)[label]`` in float64, without overflow (log-sum-exp)."""
    z = np.asarray(logits, np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or y.shape != (len(z),):
        raise ValueError(f"logits must be (n, classes) and labels (n,), got {z.shape} and {y.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits must be finite")
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(y)), y]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The ``T`` in :data:`TEMPERATURE_BOUNDS` that minimises ``cross_entropy(logits / T, labels)``.

    The cross-entropy is convex in ``1 / T``, so a bounded scalar search over
    ``log T`` finds its minimum.
    """
    lo, hi = np.log(TEMPERATURE_BOUNDS)
    found = minimize_scalar(lambda log_t: cross_entropy(np.asarray(logits, np.float64) / np.exp(log_t), labels),
                            bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))
