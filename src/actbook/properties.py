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

__all__ = ["standard_normal_sample", "measure", "properties_table", "moments_through_depth",
           "sigmoid_grad_inverse", "derivative_bound", "learned_slopes", "curve", "dip"]

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


def learned_slopes(cells) -> pd.DataFrame:
    """PReLU's learned slopes from experiment result cells (``actbook.experiment``):
    one row per (arm, seed, layer) with the layer's number (1 = input side),
    the mean, smallest and largest slope and the number of slopes (channels)."""
    rows = []
    for cell in cells:
        for k, (layer, alphas) in enumerate(cell.get("diagnostics", {}).get("prelu_alpha", {}).items()):
            alphas = np.asarray(alphas, dtype=float)
            number = int(layer.rsplit("_", 1)[1]) if layer.rsplit("_", 1)[-1].isdigit() else k + 1
            rows.append({"activation": cell["activation"], "seed": cell["seed"], "layer": number,
                         "layer name": layer, "mean alpha": float(alphas.mean()),
                         "min": float(alphas.min()), "max": float(alphas.max()), "channels": int(alphas.size)})
    columns = ["activation", "seed", "layer", "layer name", "mean alpha", "min", "max", "channels"]
    return pd.DataFrame(rows, columns=columns)


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
