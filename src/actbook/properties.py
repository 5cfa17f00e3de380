"""Measured properties of each activation, the ones the source article argues
about: output range, where the gradient vanishes, sparsity, mean output.

Everything is measured on a seeded standard normal sample (the input a unit
sees at initialisation when pre-activations are normalised), so the chapters
can glue the numbers instead of asserting them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from actbook import activations as A
from actbook import arms
from actbook.finite_differences import central_difference
from actbook.prose import number

__all__ = ["standard_normal_sample", "measure", "properties_table", "moments_through_depth",
           "sigmoid_grad_inverse", "derivative_bound", "curve", "dip", "shape_summary"]

#: The largest value of the sigmoid's derivative, sigma'(0) = 1/4.
SIGMOID_GRAD_MAX = 0.25


def standard_normal_sample(n: int = 1_000_000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def measure(name: str, params: dict | None = None, n: int = 1_000_000, seed: int = 0,
            vanish: float = 1e-2) -> dict:
    """Properties of one element-wise activation, measured.

    - ``range``: the smallest and largest output over ``x`` in [-1e3, 1e3]
      (a numeric stand-in for the infimum and supremum);
    - ``mean``, ``std``: of f(x) for x ~ N(0, 1);
    - ``sparsity``: fraction of outputs exactly 0 for x ~ N(0, 1);
    - ``vanishing``: fraction of x ~ N(0, 1) where |f'(x)| < ``vanish``.
    """
    act = A.get(name)
    if name == "softmax":
        raise ValueError("softmax is not element-wise; measure its properties per vector")
    kw = dict(A.get(name).params, **(params or {}))
    x = standard_normal_sample(n, seed)
    y = act(x, **kw)
    g = act.grad(x, **kw)
    grid = np.linspace(-1e3, 1e3, 200_001)
    yg = act(grid, **kw)
    return {
        "activation": name,
        "params": ", ".join(f"{k}={v:g}" for k, v in kw.items()),
        "min f on [-1e3, 1e3]": float(yg.min()),
        "max f on [-1e3, 1e3]": float(yg.max()),
        "mean f(x)": float(y.mean()),
        "std f(x)": float(y.std()),
        "sparsity": float(np.mean(y == 0)),
        f"P(|f'| < {vanish:g})": float(np.mean(np.abs(g) < vanish)),
        "mean f'(x)": float(g.mean()),
    }


def properties_table(names, **kwargs) -> pd.DataFrame:
    """One row per activation: ``names`` is a list of names or (name, params)."""
    rows = []
    for item in names:
        name, params = (item, None) if isinstance(item, str) else item
        rows.append(measure(name, params, **kwargs))
    return pd.DataFrame(rows).set_index("activation")


def moments_through_depth(arm: str, init: str = "lecun", depth: int = 32, width: int = 512, batch: int = 512,
                          seed: int = 0, input_mean: float = 0.0, input_std: float = 1.0) -> pd.DataFrame:
    """Mean and variance of the activations after each of ``depth`` random dense layers.

    The input is ``batch`` vectors with i.i.d. ``N(input_mean, input_std**2)``
    entries; each layer is ``width`` x ``width`` with weights
    ``N(0, arms.init_variance(init, width, width))``, no biases, followed by the arm's NumPy
    reference. The moments are pooled over all units and examples of a layer:
    not Klambauer et al.'s (2017) per-unit (mu, nu), whose fixed point (0, 1)
    they prove attracting for SELU with LeCun-normal weights; after the first
    layer, per-unit offsets count in the pooled variance, not in the pooled mean.
    """
    spec = arms.get(arm)
    rng = np.random.default_rng(seed)
    h = input_mean + input_std * rng.standard_normal((batch, width))
    scale = np.sqrt(arms.init_variance(init, width, width))
    rows = []
    for layer in range(1, depth + 1):
        w = rng.normal(scale=scale, size=(width, width))
        h = spec.reference(h @ w)
        rows.append({"layer": layer, "mean": float(h.mean()), "variance": float(h.var())})
    return pd.DataFrame(rows)


def sigmoid_grad_inverse(t):
    """The ``x >= 0`` with ``sigma'(x) = t``, in closed form, for ``t`` in (0, 1/4].

    ``sigma'(x) = sigma(x) (1 - sigma(x)) = 1 / (4 cosh^2(x / 2))``, so
    ``x = 2 arccosh(1 / (2 sqrt(t)))``; ``sigma'`` is even, so ``-x`` solves it
    too. Equivalently ``s (1 - s) = t`` gives ``s = (1 + sqrt(1 - 4t)) / 2``
    and ``x = log(s / (1 - s))``.
    """
    t = np.asarray(t, dtype=float)
    if np.any((t <= 0) | (t > SIGMOID_GRAD_MAX)):
        raise ValueError(f"t must be in (0, 1/4], the range of sigma'; got {t}")
    x = 2.0 * np.arccosh(1.0 / (2.0 * np.sqrt(t)))
    return float(x) if x.ndim == 0 else x


def derivative_bound(layers: int, bound: float = SIGMOID_GRAD_MAX) -> float:
    """Upper bound on the product of activation derivatives that the error
    crosses between the top and the bottom of ``layers`` layers.

    Between the pre-activations of layer ``n`` and those of layer 1 lie
    ``n - 1`` derivative factors (delta_1 = D_1 W_2^T ... D_{n-1} W_n^T delta_n),
    so the bound is ``bound ** (layers - 1)``: (1/4)^(n-1) for the sigmoid.
    """
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    return float(bound) ** (layers - 1)


def curve(arm: str):
    """``(display name, f, f')`` of an arm, for :func:`actbook.plotting.function_and_derivative`."""
    spec = arms.get(arm)
    ref = A.get(spec.function)
    return spec.display, (lambda x: ref(x, **spec.params)), (lambda x: ref.grad(x, **spec.params))


def dip(arm: str) -> dict:
    """Where a non-monotonic activation (GELU, SiLU) dips below 0, found by root
    finding on the exact derivative, and the extremes of its derivative (f'' = 0
    on either side of 0, by central differences of f')."""
    spec = arms.get(arm)
    ref = A.get(spec.function)
    g = lambda t: float(ref.grad(t, **spec.params))
    x_min = optimize.brentq(g, -3.0, -0.1, xtol=1e-15)
    second = lambda t: central_difference(g, t, 1e-6)
    g_min_at = optimize.brentq(second, -6.0, -0.5, xtol=1e-12)
    g_max_at = optimize.brentq(second, 0.5, 6.0, xtol=1e-12)
    return {"dip at x": x_min, "dip depth f(x)": float(ref(x_min, **spec.params)),
            "min f'(x)": g(g_min_at), "min f' at x": g_min_at,
            "max f'(x)": g(g_max_at), "max f' at x": g_max_at}


def shape_summary(name: str, far: float = 1e3, near: float = 15.0, h: float = 1e-6) -> dict:
    """The shape of one element-wise activation of the registry, computed and
    written for a table cell: its ``range`` (interval notation), its ``mean`` on
    N(0, 1) (:func:`measure`), whether it is ``smooth`` (f' and f'' continuous
    at 0, where piecewise definitions join), ``monotone``, where it
    ``saturates`` and whether a unit can go ``dead`` (get no gradient).

    ``far`` stands for infinity in the limits; ``near`` is a point in the tails
    short of it; ``h`` is the step of the difference quotients at 0."""
    act = A.get(name)
    fx = lambda x: float(act(np.array(x, dtype=float)))
    gx = lambda x: float(act.grad(np.array(x, dtype=float)))
    m = measure(name)
    grid = np.linspace(-near, near, 300_001)
    # Range: unbounded where f keeps growing far out; otherwise the limit far out, closed where a finite x reaches it.
    inner = min(float(act(grid).min()), optimize.minimize_scalar(fx, bounds=(-near, near), method="bounded").fun)
    if fx(-far) < fx(-far / 2) - 1:
        low = "(\u2212\u221e"
    elif inner <= fx(-far):
        low = "[" + ("0" if abs(inner) < 1e-12 else number(inner, ".3g"))
    else:
        low = "(" + number(fx(-far), ".4g")
    high = "\u221e)" if fx(far) > fx(far / 2) + 1 else number(fx(far), ".4g") + ")"
    jump1 = abs(gx(h) - gx(-h))
    jump2 = abs((gx(2 * h) - gx(h)) / h - (gx(-h) - gx(-2 * h)) / h)
    smooth = ("yes" if jump1 < 1e-4 and jump2 < 1e-2 else "f\u2032 continuous, f\u2033 jumps at 0" if jump1 < 1e-4
              else "no: kink at 0")
    g = act.grad(grid)
    mono = "yes" if g.min() >= 0 else f"no: f\u2032 dips to {number(float(g.min()), '.2f')}"
    sides = [s for s, x in (("x \u2192 \u2212\u221e", -near), ("x \u2192 +\u221e", near)) if abs(gx(x)) < 1e-3]
    gneg = g[grid < 0]
    flat_left = bool(np.all(gneg == 0))
    if flat_left:
        dead = "high: a unit never positive on the data gets no gradient"
    elif gneg.min() > 1e-3:
        dead = f"none: f\u2032 = {number(float(gneg.min()), '.3g')} for x < 0" + (" (at test)" if name == "rrelu" else "")
    else:
        dead = f"none exactly; |f\u2032({number(-near, 'g')})| = {number(abs(gx(-near)), '.0e')}"
    return {"range": f"{low}, {high}", "mean": m["mean f(x)"], "smooth": smooth, "monotone": mono,
            "saturates": ("flat (f\u2032 = 0) for every x < 0" if flat_left else "both sides" if len(sides) == 2
                          else "as x \u2192 \u2212\u221e" if sides else "no"), "dead": dead}
