"""What depth does to an activation: the helpers of the ELU, "After 2015" and
vanishing-gradient chapters.

- the vanishing-gradient experiment's settings (:data:`VANISHING`, plain data)
  and its CIFAR-10 batches (:func:`probe_data`);
- the typical-case (mean-field) recursion of a deep random network, whose
  backward gain per layer is :math:`\\chi = n\\,\\mathrm{Var}(W)\\,E[f'(z)^2]`
  (:func:`mean_field`, :func:`gradient_estimate`, :func:`critical_weight_variance`);
- measurements on a :class:`actbook.gradients.DeepMLP`: first/last ratios,
  activation norms, the fraction of units with a small slope;
- the shape of an activation (:func:`curve`, :func:`dip`, :func:`shapes_figure`);
- SELU's constants: moments by quadrature and the exact values in 50 digits;
- the later arms' paired comparison on CIFAR-10 as one table and one sentence
  (:func:`later_arms_table`, :func:`later_arms_sentence`), shared with the
  training chapter.

TensorFlow is imported only by the functions that run a network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, getcontext, localcontext

import numpy as np
import pandas as pd
from scipy import integrate, optimize
from scipy import stats as _st

from actbook import activations as A
from actbook import arms
from actbook.finite_differences import central_difference

__all__ = ["VANISHING", "ProbeData", "probe_data", "first_over_last", "mean_field", "gradient_estimate",
           "critical_weight_variance", "saturated_fraction", "activation_norms", "unit_statistics", "curve", "dip",
           "shapes_figure", "selu_output_moments", "selu_constants_exact", "selu_constants_against_exact",
           "later_arms_table", "later_arms_sentence", "output_mean", "fixed_point_gain"]

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


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

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


def probe_data(settings: dict | None = None, cifar=None) -> ProbeData:
    """The vanishing-gradient chapter's images (:data:`VANISHING` by default).

    One class-balanced subset of ``n_train + n_probe`` training images; the
    per-channel statistics are those of the whole subset; the last ``n_probe``
    images are the probe batch."""
    from actbook.runner import data as D
    s = {**VANISHING, **(settings or {})}
    cifar = D.load_cifar10() if cifar is None else cifar
    x, y = D.subset(cifar.x_train, cifar.y_train, s["n_train"] + s["n_probe"], seed=s["data_seed"])
    mean, std = D.channel_stats(x)
    x = D.normalize(x, mean, std).reshape(len(x), -1)
    n = s["n_train"]
    return ProbeData(x[:n], y[:n], x[n:], y[n:], cifar.description)


# --------------------------------------------------------------------------
# Typical case: the mean-field recursion
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Measured on a network
# --------------------------------------------------------------------------

def first_over_last(frame: pd.DataFrame, column: str = "weight_grad_norm") -> float:
    """``column`` at the first hidden layer over its value at the last (1: nothing vanishes)."""
    ordered = frame.sort_values("layer")
    return float(ordered[column].iloc[0] / ordered[column].iloc[-1])


def activation_norms(net, x: np.ndarray) -> pd.DataFrame:
    """Per hidden layer ``l``: the RMS per-example norm of its input :math:`a_{l-1}`
    (``a_0`` is ``x``), the other factor of :math:`\\partial L/\\partial W_l = \\delta_l a_{l-1}^\\top`."""
    import tensorflow as tf
    x = np.asarray(x, np.float32)
    _, _, hs = net.forward(tf.constant(x), training=False)
    inputs = [x] + [h.numpy() for h in hs[:-1]]
    return pd.DataFrame({"layer": np.arange(1, len(hs) + 1),
                         "input_norm": [float(np.sqrt(np.mean(np.sum(a.astype(np.float64) ** 2, axis=1))))
                                        for a in inputs]})


def unit_statistics(net, x: np.ndarray, threshold: float = VANISHING["small_slope"]) -> pd.DataFrame:
    """Per hidden layer, on the examples ``x``: ``small_slope``, the fraction of
    pre-activations where :math:`|f'(z)| \\le` ``threshold`` (a saturated sigmoid
    unit; the negative side of ReLU, and of Leaky ReLU with slope 0.01), and
    ``never_positive``, the fraction of units whose output is positive for no example."""
    import tensorflow as tf
    from actbook.dead_units import dead_fraction
    from actbook.gradients import local_derivative
    _, zs, hs = net.forward(tf.constant(np.asarray(x, np.float32)), training=False)
    rows = []
    for l, (z, h) in enumerate(zip(zs, hs)):
        slope = np.abs(local_derivative(net, l, z.numpy()))
        rows.append({"layer": l + 1, "small_slope": float(np.mean(slope <= threshold)),
                     "never_positive": dead_fraction(h.numpy())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------

def curve(arm: str):
    """``(display name, f, f')`` of an arm, for :func:`actbook.plotting.function_and_derivative`."""
    spec = arms.get(arm)
    ref = A.get(spec.function)
    return spec.display, (lambda x: ref(x, **spec.params)), (lambda x: ref.grad(x, **spec.params))


def shapes_figure(curves):
    """:func:`actbook.plotting.function_and_derivative`, with the value of each
    derivative at exactly 0 marked by a black-edged star, a marker no curve uses."""
    from actbook import plotting
    fig = plotting.function_and_derivative(curves, mark_zero=False)
    ax_d = fig.axes[1]
    for k, (_, _, df) in enumerate(curves):
        colour = plotting.curve_style(k)["color"]
        ax_d.plot([0.0], np.asarray(df(np.array([0.0]))), marker="*", ms=11, color=colour, mec="k", mew=0.8,
                  ls="none", zorder=5)
    ax_d.set_title("derivative (star: value at $x = 0$)")
    return fig


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


# --------------------------------------------------------------------------
# SELU's constants
# --------------------------------------------------------------------------

def selu_output_moments(alpha: float, scale: float) -> tuple[float, float]:
    """Mean and variance of SELU(z) for z ~ N(0, 1), by numerical integration."""
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    f = lambda z: float(A.selu(z, alpha, scale))
    mean = integrate.quad(lambda z: f(z) * pdf(z), -np.inf, np.inf, epsabs=1e-14)[0]
    second = integrate.quad(lambda z: f(z) ** 2 * pdf(z), -np.inf, np.inf, epsabs=1e-14)[0]
    return mean, second - mean ** 2


def _pi() -> Decimal:
    """pi in the current decimal context (Machin: 16 atan(1/5) - 4 atan(1/239))."""
    def atan_inv(n: int) -> Decimal:
        x, total, k, sign = Decimal(1) / n, Decimal(0), 1, 1
        term, n2 = x, n * n
        while term:
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


# --------------------------------------------------------------------------
# The later arms on CIFAR-10: one table, one sentence
# --------------------------------------------------------------------------

def later_arms_table(final: pd.DataFrame, later, baseline: str = "relu", reference: str = "lrelu_1/5.5",
                     display=arms.display, alpha: float = 0.05) -> pd.DataFrame:
    """Each of ``later`` paired by seed against ``baseline`` and ``reference`` on the
    test error, all ``2 * len(later)`` comparisons one family (Holm-adjusted p-values).

    One row per arm that has cells in ``final``; the columns are ``("", "seeds")``,
    ``("", "test error")`` (mean ± sd over seeds) and, under ``"against <name>"``
    for each of the two references, ``"difference (pp)"`` (arm minus reference,
    percentage points), ``"interval (pp)"`` and ``"Holm p"``. The intervals are
    simultaneous Bonferroni intervals at ``1 - alpha`` for the whole family (each
    at ``1 - alpha / m``), so an interval that excludes 0 goes with a resolved
    difference."""
    from actbook.analysis.stats import against_two
    later = [a for a in later if a in set(final.activation)]
    if not later:
        return pd.DataFrame()
    vs_base, vs_ref = against_two(final, later, baseline=baseline, reference=reference,
                                  confidence=1 - alpha / (2 * len(later)))
    errors = final.groupby("activation")["test_error"]
    means, sds = errors.mean(), errors.std(ddof=1)
    rows = []
    for arm in later:
        row = {("", "seeds"): int(vs_base.loc[arm, "seeds"]),
               ("", "test error"): f"{means[arm]:.2%} ± {sds[arm]:.2%}"}
        for name, table in ((baseline, vs_base), (reference, vs_ref)):
            r, top = table.loc[arm], f"against {display(name)}"
            diff = float(r[[k for k in r.index if str(k).startswith("mean diff")][0]])
            lo, hi = float(r["ci low"]), float(r["ci high"])
            row[(top, "difference (pp)")] = f"{100 * diff:+.2f}"
            row[(top, "interval (pp)")] = (f"{100 * lo:+.2f} to {100 * hi:+.2f}" if np.isfinite(lo) else
                                          "too few seeds" if r["seeds"] < 2 else "none (no spread)")
            row[(top, "Holm p")] = float(r["p (Holm)"])
        rows.append(row)
    out = pd.DataFrame(rows, index=pd.Index([display(a) for a in later], name="activation"))
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def later_arms_sentence(table: pd.DataFrame, alpha: float = 0.05, shown_seeds: int = 5) -> str:
    """The conclusion of :func:`later_arms_table` in one sentence (two when a
    resolved difference rests on fewer than ``shown_seeds`` seeds)."""
    if table.empty:
        return "None of the later activations has a cell that trained in these results."
    seeds = table[("", "seeds")]
    n = int(seeds.min())
    clauses, any_found = [], False
    for top in [c for c in table.columns.get_level_values(0).unique() if c]:
        p = table[(top, "Holm p")]
        diff = table[(top, "difference (pp)")].astype(float)
        found = [f"{arm}'s test error is {'lower' if diff[arm] < 0 else 'higher'}" for arm in table.index[p < alpha]]
        label = top.removeprefix("against ")
        clauses.append(f"{top}, {_join(found)}" if found else f"no difference from {label} is resolved")
        any_found = any_found or bool(found)
    opening = f"With {n} seeds per arm" if int(seeds.max()) == n else f"With {n} or more seeds per arm"
    sentence = f"{opening}, {'; '.join(clauses)} (Holm-adjusted p below {alpha:g})."
    if any_found and n < shown_seeds:
        sentence += f" With fewer than {shown_seeds} seeds a resolved difference is suggestive only."
    return sentence


def _join(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def output_mean(arm: str, q: float) -> float:
    """E[f(z)] for z ~ N(0, q): the mean activation of a layer whose pre-activations
    have mean 0 and variance ``q`` (as they have, whatever the layer below, with
    zero-mean weights and no biases)."""
    f, _ = _arm_functions(arm)
    return _gauss(f, q)
