"""The typical case of a deep random network: the mean-field recursion.

With zero-mean weights and no biases, layer ``l``'s pre-activations have
mean 0 and a variance :math:`q_l` fixed by the layer below, and the
backpropagated error is scaled on average by the gain
:math:`\\chi = n\\,\\mathrm{Var}(W)\\,E[f'(z)^2]` per layer (Poole et al.
2016; Schoenholz et al. 2017). Every expectation is a one-dimensional
Gaussian integral, done by quadrature; no network is run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import integrate, optimize

from actbook import activations as A
from actbook import arms
from actbook.vanishing import VANISHING

__all__ = ["mean_field", "gradient_estimate", "fixed_point_gain", "critical_weight_variance", "saturated_fraction",
           "output_mean"]


def _gauss(fn, q: float) -> float:
    """E[fn(z)] for z ~ N(0, q), by quadrature in the standardised variable
    (split at 0, where the kinks are, so a narrow or a wide q is handled alike)."""
    if q <= 0:
        return float(fn(0.0))
    s = math.sqrt(q)
    pdf = lambda u: math.exp(-u * u / 2) / math.sqrt(2 * math.pi)
    lo = integrate.quad(lambda u: fn(s * u) * pdf(u), -np.inf, 0.0, limit=200, epsabs=1e-300, epsrel=1e-11)[0]
    hi = integrate.quad(lambda u: fn(s * u) * pdf(u), 0.0, np.inf, limit=200, epsabs=1e-300, epsrel=1e-11)[0]
    return lo + hi


def _arm_functions(arm: str):
    spec = arms.get(arm)
    ref = A.get(spec.function)
    return (lambda t: float(ref(t, **spec.params))), (lambda t: float(ref.grad(t, **spec.params)))


def mean_field(arm: str, init: str, depth: int, width: int, inputs: int,
               input_second_moment: float = 1.0) -> pd.DataFrame:
    r"""Layer by layer, what a random network does on average.

    Hidden layer ``l`` has pre-activations :math:`z_l = W_l a_{l-1}` with
    zero-mean weights of variance ``arms.init_variance(init, n_in, n_out)`` and
    zero biases, so :math:`z_l` has mean 0 whatever the mean of :math:`a_{l-1}`,
    and variance :math:`q_l = n_{l-1}\mathrm{Var}(W_l)\,E[a_{l-1}^2]`
    (treated as normal). The backpropagated error then obeys, on average,
    :math:`E\|\delta_l\|^2 = \chi_l\,E\|\delta_{l+1}\|^2` with the gain
    :math:`\chi_l = n_l \mathrm{Var}(W_{l+1})\,E[f'(z_l)^2]`.

    Columns: ``layer``, ``q`` (variance of :math:`z_l`), ``second_moment``
    (:math:`E[f(z_l)^2]`), ``chi`` (:math:`\chi_l`; the last layer's uses the
    weight scale of a square layer), ``sigma_w2`` (:math:`n_{l-1}\mathrm{Var}(W_l)`).
    """
    f, df = _arm_functions(arm)
    rows, m2 = [], float(input_second_moment)
    for layer in range(1, depth + 1):
        n_in = inputs if layer == 1 else width
        sw2 = n_in * arms.init_variance(init, n_in, width)
        q = sw2 * m2
        m2 = _gauss(lambda t: f(t) ** 2, q)
        g2 = _gauss(lambda t: df(t) ** 2, q)
        rows.append({"layer": layer, "sigma_w2": sw2, "q": q, "second_moment": m2, "g2": g2})
    out = pd.DataFrame(rows)
    # The weights *above* layer l scale its error: square hidden layers, so width * Var(W).
    out["chi"] = width * arms.init_variance(init, width, width) * out["g2"]
    return out.drop(columns="g2")


def gradient_estimate(arm: str, init: str, depth: int, width: int, inputs: int,
                      input_second_moment: float = 1.0) -> dict:
    r"""The typical-case first/last ratios of :func:`mean_field`.

    ``delta_ratio`` :math:`= \|\delta_1\| / \|\delta_n\| = (\prod_{l<n}\chi_l)^{1/2}`;
    ``activation_ratio`` :math:`= \|a_0\| / \|a_{n-1}\|`, the RMS norms of the
    inputs of the first and the last hidden layer; ``weight_ratio``, their
    product, estimates :math:`\|\partial L/\partial W_1\| / \|\partial L/\partial W_n\|`
    since :math:`\partial L/\partial W_l = \delta_l a_{l-1}^\top`. ``chi`` is the
    geometric mean of the gains. An estimate of the typical case, not a bound."""
    mf = mean_field(arm, init, depth, width, inputs, input_second_moment)
    chis = mf["chi"].to_numpy()[:-1]
    delta = float(np.sqrt(np.prod(chis)))
    a_first = math.sqrt(inputs * input_second_moment)
    a_last = math.sqrt(width * float(mf["second_moment"].iloc[-2]))
    return {"chi": float(np.exp(np.mean(np.log(chis)))), "delta_ratio": delta,
            "activation_ratio": a_first / a_last, "weight_ratio": delta * a_first / a_last}


def _fixed_point(arm: str, sigma_w2: float, iterations: int = 500) -> float:
    f, _ = _arm_functions(arm)
    q = 1.0
    for _ in range(iterations):
        q_new = sigma_w2 * _gauss(lambda t: f(t) ** 2, q)
        if abs(q_new - q) <= 1e-12 * max(1.0, q):
            return q_new
        q = q_new
    return q


def fixed_point_gain(arm: str, sigma_w2: float) -> tuple[float, float]:
    """``(q*, chi)``: the pre-activation variance a deep square stack settles at with
    weights of variance ``sigma_w2 / n`` (no biases), and the gain per layer there."""
    _, df = _arm_functions(arm)
    q = _fixed_point(arm, sigma_w2)
    return q, sigma_w2 * _gauss(lambda t: df(t) ** 2, q)


def critical_weight_variance(arm: str, lo: float = 1.0, hi: float = 1e4) -> float:
    """The ``sigma_w2 = n Var(W)`` at which the fixed-point gain is 1 (the "edge of
    chaos" of the backward pass)."""
    return float(optimize.brentq(lambda s: math.log(fixed_point_gain(arm, s)[1]), lo, hi, xtol=1e-6, rtol=1e-8))


def saturated_fraction(arm: str, q: float, threshold: float = VANISHING["small_slope"]) -> float:
    """P(|f'(z)| <= threshold) for z ~ N(0, q)."""
    _, df = _arm_functions(arm)
    return _gauss(lambda t: float(abs(df(t)) <= threshold), q)


def output_mean(arm: str, q: float) -> float:
    """E[f(z)] for z ~ N(0, q): the mean activation of a layer whose pre-activations
    have mean 0 and variance ``q`` (as they have, whatever the layer below, with
    zero-mean weights and no biases)."""
    f, _ = _arm_functions(arm)
    return _gauss(f, q)
