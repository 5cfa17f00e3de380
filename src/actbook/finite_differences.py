"""Central differences: the numerical derivative the book checks its formulas against.

The symmetric quotient :math:`(f(x + h) - f(x - h)) / 2h` has error
:math:`O(h^2)` where ``f`` is smooth; at a kink it returns the mean of the two
one-sided slopes, which is why the book's gradient checks stay away from 0.
``scipy.differentiate.derivative`` adapts its step instead, and a step that
adapts across a kink is what a gradient check must not do, so the step here
is fixed and chosen by the caller.
"""

from __future__ import annotations

import numpy as np

__all__ = ["central_difference", "jacobian"]


def central_difference(f, x, h: float = 1e-6):
    """``(f(x + h) - f(x - h)) / (2 h)``, elementwise for an array ``x``."""
    return (f(x + h) - f(x - h)) / (2 * h)


def jacobian(f, x, h: float = 1e-6) -> np.ndarray:
    """The central-difference Jacobian of ``f`` at the vector ``x``: column
    ``j`` is :func:`central_difference` along the ``j``-th unit vector (for a
    scalar ``f``, the gradient)."""
    x = np.asarray(x, dtype=float)
    columns = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size).reshape(x.size, *x.shape)]
    return np.stack(columns, axis=-1)
