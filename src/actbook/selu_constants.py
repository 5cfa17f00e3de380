"""SELU's constants: the moments they are chosen for, and their exact values.

Klambauer et al. (2017) fix ``alpha`` and ``lambda`` so that SELU maps a
standard normal input to mean 0 and variance 1. Their closed form (see
:func:`actbook.activations._selu_constants`) is evaluated here in 50-digit
decimal arithmetic, so that a float64 value, Keras's or this package's, can
be measured against it in units in the last place. The tests check the
digits against mpmath.
"""

from __future__ import annotations

import math
from decimal import Decimal, getcontext, localcontext

import numpy as np
import pandas as pd
from scipy import integrate

from actbook import activations as A

__all__ = ["selu_output_moments", "selu_constants_exact", "selu_constants_against_exact"]


def selu_output_moments(alpha: float, scale: float) -> tuple[float, float]:
    """Mean and variance of SELU(z) for z ~ N(0, 1), by numerical integration."""
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    f = lambda z: float(A.selu(z, alpha, scale))
    mean = integrate.quad(lambda z: f(z) * pdf(z), -np.inf, np.inf, epsabs=1e-14)[0]
    second = integrate.quad(lambda z: f(z) ** 2 * pdf(z), -np.inf, np.inf, epsabs=1e-14)[0]
    return mean, second - mean ** 2


def _pi() -> Decimal:
    """pi in the current decimal context (Machin: 16 atan(1/5) - 4 atan(1/239))."""
    negligible = Decimal(10) ** (-(getcontext().prec + 5))  # below half a unit in the last place of the sum

    def atan_inv(n: int) -> Decimal:
        x, total, k, sign = Decimal(1) / n, Decimal(0), 1, 1
        term, n2 = x, n * n
        while term >= negligible:  # a decimal term reaches 0 only at the exponent limit, ~10^6 steps away
            total += sign * term / k
            term /= n2
            k += 2
            sign = -sign
        return total
    return 16 * atan_inv(5) - 4 * atan_inv(239)


def _erf(x: Decimal, pi: Decimal) -> Decimal:
    """erf(x) = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1)), for moderate x."""
    total, power, n = Decimal(0), x, 0       # power = (-1)^n x^(2n+1) / n!
    while True:
        term = power / (2 * n + 1)
        if abs(term) < Decimal(10) ** (-(getcontext().prec + 5)):
            break
        total += term
        n += 1
        power = -power * x * x / n
    return 2 * total / pi.sqrt()


def selu_constants_exact(digits: int = 50) -> dict:
    """SELU's ``alpha``, ``lambda`` and ``lambda * alpha`` to ``digits`` significant digits
    (as :class:`decimal.Decimal`), from the closed form of Klambauer et al. (2017)
    (see :func:`actbook.activations._selu_constants`), evaluated in decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = digits + 15
        pi, one, half = _pi(), Decimal(1), Decimal("0.5")
        phi = lambda t: (one - _erf(-t / Decimal(2).sqrt(), pi)) / 2    # standard normal CDF
        alpha = (one / (2 * pi).sqrt()) / (half - half.exp() * phi(Decimal(-1)))
        neg = Decimal(2).exp() * phi(Decimal(-2)) - 2 * half.exp() * phi(Decimal(-1)) + half
        scale = one / (half + alpha * alpha * neg).sqrt()
        out = {"alpha": alpha, "lambda": scale, "lambda * alpha": scale * alpha}
    with localcontext() as ctx:
        ctx.prec = digits
        return {k: +v for k, v in out.items()}


def _ulps(value: float, exact: Decimal) -> float:
    """(value - exact) in units of the last place of the float64 ``value``."""
    with localcontext() as ctx:
        ctx.prec = 60
        return float((Decimal(value) - exact) / Decimal(float(np.spacing(value))))


def selu_constants_against_exact(values: dict[str, dict[str, float]], digits: int = 25) -> pd.DataFrame:
    """Float64 values of SELU's constants, each against the exact value.

    ``values`` maps a source ("Keras", "actbook") to its ``{"lambda": ...,
    "lambda * alpha": ..., "alpha": ...}``; the table has the exact value (to
    ``digits`` digits), and per source the value and its distance from the exact
    value in float64 units in the last place (0 means correctly rounded when
    ``|ulps| <= 0.5``)."""
    exact = selu_constants_exact()
    rows = []
    for name in ("lambda", "lambda * alpha", "alpha"):
        row = {"constant": name, "exact": f"{exact[name]:.{digits}g}"}
        for source, vals in values.items():
            row[f"{source}"] = float(vals[name])
            row[f"{source}, ulps from exact"] = _ulps(float(vals[name]), exact[name])
        rows.append(row)
    return pd.DataFrame(rows).set_index("constant")
