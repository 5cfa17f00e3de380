"""Measured properties of each activation, the ones the source article argues
about: output range, where the gradient vanishes, sparsity, mean output.

Everything is measured on a seeded standard normal sample (the input a unit
sees at initialisation when pre-activations are normalised), so the chapters
can glue the numbers instead of asserting them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from actbook import activations as A

__all__ = ["standard_normal_sample", "measure", "properties_table", "mean_through_depth", "time_per_element"]

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


def mean_through_depth(name: str, params: dict | None = None, depth: int = 10, width: int = 512,
                       batch: int = 2048, seed: int = 0) -> np.ndarray:
    """Mean activation after each of ``depth`` random dense layers.

    Inputs are standard normal; weights are He-initialised,
    ``W ~ N(0, 2 / width)``, biases zero. This isolates what the
    activation alone does to the mean as the signal goes deeper.
    """
    act = A.get(name)
    kw = dict(A.get(name).params, **(params or {}))
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((batch, width))
    means = []
    for _ in range(depth):
        w = rng.normal(scale=np.sqrt(2.0 / width), size=(width, width))
        h = act(h @ w, **kw)
        means.append(float(h.mean()))
    return np.array(means)


def time_per_element(fn, n: int = 4_000_000, repeats: int = 7, dtype=np.float32, seed: int = 0) -> float:
    """Best-of-``repeats`` wall time of ``fn(x)`` per element, in nanoseconds."""
    import time
    x = np.random.default_rng(seed).standard_normal(n).astype(dtype)
    fn(x)  # warm up (allocations, tracing)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(x)
        if hasattr(out, "numpy"):
            out = out.numpy()
        best = min(best, time.perf_counter() - t)
    return best / n * 1e9
