"""NumPy reference implementations of the book's activation functions.

Every function takes an array-like, is vectorised (no Python loop over
elements), keeps ``float32`` as ``float32`` and ``float64`` as ``float64``,
turns integer or boolean input into ``float64``, and lets NaN through
element-wise.

Convention at the kink: the derivative at 0 takes the negative branch (the
branch ``x > 0`` has slope 1, SELU's ``scale`` λ), as TensorFlow's kernels do
except for SELU. So ``relu_grad(0) == 0``,
``leaky_relu_grad(0, a) == a``, ``prelu_grad(0, a) == a``,
``rrelu_grad(0) == 2 / (lower + upper)``, ``elu_grad(0, a) == a`` and
``selu_grad(0) == scale * alpha`` (there TensorFlow's kernel takes ``scale``).
tanh, GELU and SiLU are smooth: no kink, no convention needed.

References used (not necessarily where a function first appeared): ReLU (Nair & Hinton 2010), Leaky ReLU (Maas et al. 2013), PReLU
(He et al. 2015), RReLU (Xu et al. 2015), ELU (Clevert et al. 2016), tanh
(recommended by LeCun et al. 1998), SELU (Klambauer et al. 2017), GELU (Hendrycks & Gimpel
2016), SiLU (named by Hendrycks & Gimpel 2016; Elfwing et al. 2018; Swish, Ramachandran et al. 2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# Default parameters, written once: the functions, the registry, the Keras
# layers and the arm table (actbook.arms) all take them from here.
LEAKY_ALPHA = 0.01            # Maas et al. (2013); the RReLU paper's a = 100
PRELU_ALPHA_INIT = 0.25       # He et al. (2015)
RRELU_LOWER, RRELU_UPPER = 3.0, 8.0   # Xu et al. (2015): a ~ U(3, 8)
ELU_ALPHA = 1.0               # Clevert et al. (2016)

__all__ = [
    "sigmoid", "sigmoid_grad",
    "relu", "relu_grad",
    "leaky_relu", "leaky_relu_grad",
    "prelu", "prelu_grad", "prelu_grad_alpha",
    "rrelu", "rrelu_grad", "rrelu_bounds", "noise_shape",
    "elu", "elu_grad", "LEAKY_ALPHA", "PRELU_ALPHA_INIT", "RRELU_LOWER", "RRELU_UPPER", "ELU_ALPHA",
    "softmax", "softmax_jacobian",
    "tanh", "tanh_grad", "selu", "selu_grad", "gelu", "gelu_grad", "silu", "silu_grad",
    "SELU_ALPHA", "SELU_SCALE", "GELU_TANH_COEFF",
    "Activation", "get", "names", "REGISTRY",
]


# --------------------------------------------------------------------------
# Input handling shared by every function
# --------------------------------------------------------------------------

def _as_float(x) -> np.ndarray:
    """Return ``x`` as a floating array: float dtypes kept, others -> float64."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
            raise TypeError(f"expected a real numeric array, got dtype {x.dtype}")
        x = x.astype(np.float64)
    return x


def _finite_scalar(value, name: str) -> float:
    """Validate a scalar hyper-parameter; the message names the parameter."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _keep_nan(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Derivatives built with comparisons lose NaN; put it back."""
    return np.where(np.isnan(x), x, y)


# --------------------------------------------------------------------------
# Sigmoid
# --------------------------------------------------------------------------

def sigmoid(x):
    r"""Logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`, range (0, 1).

    Evaluated through :math:`e^{-|x|}`, which never overflows, so the whole
    float range is safe. For large positive x, ``1 + e^{-x}`` rounds to 1 from
    x = 53 ln 2 (float64; 24 ln 2 in float32), one ulp before the correctly
    rounded value reaches 1 (54 ln 2); for large negative x the result is
    ``e^x / (1 + e^x)``, which underflows only with ``e^x`` itself.
    """
    x = _as_float(x)
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow anywhere
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def sigmoid_grad(x):
    r"""Derivative :math:`\sigma'(x) = \sigma(x)(1 - \sigma(x))`, at most 1/4.

    Written as :math:`e^{-|x|} / (1 + e^{-|x|})^2` (the derivative is even),
    which avoids the cancellation in ``1 - sigmoid(x)`` for large ``x``:
    relative error stays at rounding level in both tails.
    """
    x = _as_float(x)
    e = np.exp(-np.abs(x))
    one = x.dtype.type(1)
    # Near 0 the quotient can round one ulp above the true maximum 1/4.
    return np.minimum(e / ((one + e) * (one + e)), x.dtype.type(0.25))


# --------------------------------------------------------------------------
# ReLU family
# --------------------------------------------------------------------------

def relu(x):
    r"""Rectified linear unit :math:`\max(x, 0)` (Nair & Hinton 2010)."""
    x = _as_float(x)
    return np.maximum(x, x.dtype.type(0))  # np.maximum propagates NaN


def relu_grad(x):
    """Derivative of ReLU: 1 for ``x > 0``, 0 for ``x <= 0`` (0 at the kink)."""
    x = _as_float(x)
    return _keep_nan(x, (x > 0).astype(x.dtype))


def _negative_slope(x: np.ndarray, slope) -> np.ndarray:
    """``x`` where ``x > 0``, ``slope * x`` elsewhere, in ``x``'s dtype."""
    return np.where(x > 0, x, slope * x)


def _slope_grad(x: np.ndarray, slope) -> np.ndarray:
    one = x.dtype.type(1)
    slope = np.broadcast_to(np.asarray(slope, dtype=x.dtype), np.broadcast_shapes(np.shape(slope), x.shape))
    return _keep_nan(x, np.where(x > 0, one, slope))


def leaky_relu(x, alpha=LEAKY_ALPHA):
    r"""Leaky ReLU: :math:`x` for :math:`x > 0`, :math:`\alpha x` otherwise.

    The default ``alpha = 0.01`` is Maas et al. (2013), the RReLU paper's
    ``a = 100``. Keras's defaults differ (layer 0.3, function 0.2).
    """
    x = _as_float(x)
    a = x.dtype.type(_finite_scalar(alpha, "alpha"))
    return _negative_slope(x, a)


def leaky_relu_grad(x, alpha=LEAKY_ALPHA):
    """Derivative of Leaky ReLU: 1 for ``x > 0``, ``alpha`` for ``x <= 0``."""
    x = _as_float(x)
    a = x.dtype.type(_finite_scalar(alpha, "alpha"))
    return _slope_grad(x, a)


def _channel_alpha(alpha, x: np.ndarray) -> np.ndarray:
    """Validate PReLU's alpha: a scalar (channel-shared) or one per channel."""
    a = np.asarray(alpha)
    if not (np.issubdtype(a.dtype, np.number) and not np.iscomplexobj(a)):
        raise ValueError(f"alpha must be real, got {alpha!r}")
    if a.ndim > 1:
        raise ValueError(f"alpha must be a scalar or 1-D (one per channel), got shape {a.shape}")
    if a.ndim == 1 and a.size != 1:
        channels = x.shape[-1] if x.ndim else None
        if channels != a.size:
            raise ValueError(
                f"alpha has {a.size} entries but x has {channels} channels "
                f"(last axis of shape {x.shape})")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"alpha must be finite, got {alpha!r}")
    return a.astype(x.dtype)


def prelu(x, alpha):
    r"""Parametric ReLU (He et al. 2015): :math:`x` if :math:`x > 0`, else :math:`\alpha_c x`.

    ``alpha`` is a scalar (channel-shared) or a 1-D array with one entry per
    channel, broadcast over the last axis of ``x``.
    """
    x = _as_float(x)
    return _negative_slope(x, _channel_alpha(alpha, x))


def prelu_grad(x, alpha):
    """Derivative of PReLU with respect to ``x``: 1 for ``x > 0``, ``alpha_c`` for ``x <= 0``.

    Keras's ``PReLU`` layer computes ``relu(x) - alpha * relu(-x)`` and so has
    gradient 0 at exactly ``x = 0``; this reference uses ``alpha`` there.
    """
    x = _as_float(x)
    return _slope_grad(x, _channel_alpha(alpha, x))


def prelu_grad_alpha(x, alpha):
    r"""Derivative of PReLU with respect to ``alpha``, element-wise: :math:`\min(x, 0)`.

    He et al. (2015, eqs. 2-3): the gradient of a loss with respect to the
    channel's :math:`\alpha_c` is the sum over that channel's positions of the
    upstream gradient times this array (over all positions when shared).
    """
    x = _as_float(x)
    _channel_alpha(alpha, x)  # same validation as the forward pass
    zero = x.dtype.type(0)
    out = np.where(x > 0, zero, x)
    return np.broadcast_to(out, np.broadcast_shapes(x.shape, np.shape(alpha))).copy()


def rrelu_bounds(lower, upper) -> tuple[float, float]:
    """Validate RReLU's bounds (finite, ``0 < lower <= upper``); the one check
    that the NumPy reference and the Keras layers share."""
    lo = _finite_scalar(lower, "lower")
    hi = _finite_scalar(upper, "upper")
    if lo <= 0:
        raise ValueError(f"lower must be > 0 (it divides x), got {lower!r}")
    if lo > hi:
        raise ValueError(f"lower must be <= upper, got lower={lower!r}, upper={upper!r}")
    return lo, hi


def noise_shape(shape: tuple, shared_axes) -> tuple:
    """``shape`` with every axis in ``shared_axes`` set to 1 (negative axes count from the end).

    RReLU's divisor is drawn once per position of the noise shape and
    broadcast over the shared axes: ``shared_axes=(1, 2)`` on images
    ``(batch, height, width, channels)`` gives one divisor per example and
    channel, the paper's :math:`a_{ji}`."""
    if shared_axes is None:
        return tuple(shape)
    axes = {int(a) % len(shape) for a in shared_axes}
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def rrelu(x, lower=RRELU_LOWER, upper=RRELU_UPPER, training=False, rng=None, shared_axes=None):
    r"""Randomized leaky ReLU in the parameterisation of Xu et al. (2015).

    For :math:`x < 0` the output is :math:`x / a`. In training
    (``training=True``) :math:`a \sim U(\text{lower}, \text{upper})` is
    drawn from ``rng`` (a ``numpy.random.Generator``; pass a seeded one for
    repeatable runs, ``None`` draws fresh entropy): one per element, or one
    per position of :func:`noise_shape` when ``shared_axes`` is given
    (``(1, 2)``: per example and channel, as the paper indexes :math:`a_{ji}`).
    At inference :math:`a` is fixed to :math:`(\text{lower} + \text{upper}) / 2`,
    i.e. ``x / 5.5`` by default.
    """
    x = _as_float(x)
    lo, hi = rrelu_bounds(lower, upper)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training must be True or False, got {training!r}")  # "no" would be truthy
    if training:
        if rng is None:
            rng = np.random.default_rng()
        elif not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        a = rng.uniform(lo, hi, size=noise_shape(x.shape, shared_axes)).astype(x.dtype)
        return np.where(x > 0, x, x / a)
    return np.where(x > 0, x, x / x.dtype.type((lo + hi) / 2))


def rrelu_grad(x, lower=RRELU_LOWER, upper=RRELU_UPPER):
    """Inference derivative of RReLU: 1 for ``x > 0``, ``2 / (lower + upper)`` for ``x <= 0``."""
    x = _as_float(x)
    lo, hi = rrelu_bounds(lower, upper)
    return _slope_grad(x, x.dtype.type(1 / ((lo + hi) / 2)))


# --------------------------------------------------------------------------
# ELU
# --------------------------------------------------------------------------

def elu(x, alpha=ELU_ALPHA):
    r"""Exponential linear unit (Clevert et al. 2016).

    :math:`x` for :math:`x > 0`, :math:`\alpha (e^x - 1)` otherwise, computed
    with ``expm1`` so that ``elu(-1e-8) == -1e-8`` to full precision. The
    exponential only sees ``min(x, 0)``, so large positive ``x`` never
    overflows.
    """
    x = _as_float(x)
    a = x.dtype.type(_finite_scalar(alpha, "alpha"))
    neg = a * np.expm1(np.minimum(x, x.dtype.type(0)))
    return np.where(x > 0, x, neg)


def elu_grad(x, alpha=ELU_ALPHA):
    r"""Derivative of ELU: 1 for ``x > 0``, :math:`\alpha e^x` (= ELU(x) + alpha) for ``x <= 0``."""
    x = _as_float(x)
    a = x.dtype.type(_finite_scalar(alpha, "alpha"))
    neg = a * np.exp(np.minimum(x, x.dtype.type(0)))
    return _keep_nan(x, np.where(x > 0, x.dtype.type(1), neg))


# --------------------------------------------------------------------------
# Softmax
# --------------------------------------------------------------------------

def softmax(x, axis=-1):
    r"""Softmax :math:`p_j = e^{z_j} / \sum_k e^{z_k}` along ``axis``.

    The maximum is subtracted first, so no input overflows. ``-inf`` entries
    get probability 0. A slice with a NaN, a ``+inf`` or only ``-inf``
    entries has no defined softmax and comes out as NaN (no warning).
    """
    x = _as_float(x)
    if x.ndim == 0:
        raise ValueError("softmax needs at least one axis; got a scalar")
    m = np.max(x, axis=axis, keepdims=True)
    # Shift only by finite maxima: an all -inf or +inf slice is NaN anyway,
    # and shifting by an infinity would produce inf - inf with a warning.
    m = np.where(np.isfinite(m), m, x.dtype.type(0))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(x - m)
        total = np.sum(e, axis=axis, keepdims=True)
        p = e / total
    bad = ~np.all(np.isfinite(x) | (x == -np.inf), axis=axis, keepdims=True)
    bad |= ~np.any(np.isfinite(x), axis=axis, keepdims=True)
    return np.where(bad, x.dtype.type(np.nan), p)


def softmax_jacobian(x):
    r"""Jacobian of softmax for a 1-D ``x``: :math:`J_{ij} = p_i(\delta_{ij} - p_j)`."""
    x = _as_float(x)
    if x.ndim != 1:
        raise ValueError(f"softmax_jacobian takes a 1-D x, got shape {x.shape}")
    p = softmax(x)
    return np.diag(p) - np.outer(p, p)


# --------------------------------------------------------------------------
# tanh, SELU, GELU, SiLU
# --------------------------------------------------------------------------

def tanh(x):
    r"""Hyperbolic tangent :math:`\tanh x = (e^{x} - e^{-x}) / (e^{x} + e^{-x}) = 2\sigma(2x) - 1`,
    range (-1, 1); the classic choice of LeCun et al. (1998, "Efficient BackProp")."""
    x = _as_float(x)
    return np.tanh(x)  # NumPy's tanh is accurate and overflow-free on the whole float range


def tanh_grad(x):
    r"""Derivative :math:`\tanh'(x) = 1 - \tanh^2 x = 4 e^{-2|x|} / (1 + e^{-2|x|})^2`, at most 1.

    The second form (the derivative is even) keeps full relative precision
    in both tails, where ``1 - tanh(x)**2`` rounds to 0 from ``|x| ~ 19`` on.
    """
    x = _as_float(x)
    e = np.exp(-np.abs(x))
    e = e * e            # e^{-2|x|}; squaring, not exp(-2|x|): 2|x| overflows near the float maximum
    one = x.dtype.type(1)
    # Near 0 the quotient can round one ulp above the true maximum 1.
    return np.minimum(4 * e / ((one + e) * (one + e)), one)


def _selu_constants() -> tuple[float, float]:
    r"""SELU's :math:`(\alpha_{01}, \lambda_{01})`, derived, not typed.

    Klambauer et al. (2017) choose them so that a standard normal input
    :math:`z \sim N(0, 1)` gives an output of mean 0 and variance 1, the
    fixed point :math:`(\mu, \nu) = (0, 1)` of their moment map. With
    :math:`\Phi` the standard normal CDF and
    :math:`\mathbb{E}[e^{kz}; z \le 0] = e^{k^2/2}\Phi(-k)`,

    - mean 0: :math:`\tfrac{1}{\sqrt{2\pi}} + \alpha\,(e^{1/2}\Phi(-1) - \tfrac12) = 0`, so
      :math:`\alpha = \sqrt{2/\pi} / (1 - e^{1/2}\operatorname{erfc}(1/\sqrt2))`;
    - second moment 1:
      :math:`\lambda^2 \bigl(\tfrac12 + \alpha^2 (e^{2}\Phi(-2) - 2 e^{1/2}\Phi(-1) + \tfrac12)\bigr) = 1`.

    This is the paper's closed form (their eq. 14); the tests check both
    moments by numerical integration.
    """
    phi = lambda t: 0.5 * math.erfc(-t / math.sqrt(2))   # standard normal CDF
    alpha = (1 / math.sqrt(2 * math.pi)) / (0.5 - math.exp(0.5) * phi(-1))
    neg_second_moment = math.exp(2) * phi(-2) - 2 * math.exp(0.5) * phi(-1) + 0.5
    scale = 1 / math.sqrt(0.5 + alpha ** 2 * neg_second_moment)
    return alpha, scale


SELU_ALPHA, SELU_SCALE = _selu_constants()   # ~1.6733, ~1.0507


def selu(x, alpha=SELU_ALPHA, scale=SELU_SCALE):
    r"""Scaled exponential linear unit (Klambauer et al. 2017): :math:`\lambda\,\mathrm{ELU}_\alpha(x)`.

    :math:`\lambda x` for :math:`x > 0`, :math:`\lambda\alpha(e^{x} - 1)`
    otherwise, with the constants of :func:`_selu_constants` (``SELU_ALPHA``
    ~ 1.6733, ``SELU_SCALE`` ~ 1.0507) that make (mean 0, variance 1) a
    fixed point of a layer with LeCun-normal weights.
    """
    x = _as_float(x)
    a = x.dtype.type(_finite_scalar(alpha, "alpha"))
    s = x.dtype.type(_finite_scalar(scale, "scale"))
    neg = a * np.expm1(np.minimum(x, x.dtype.type(0)))
    with np.errstate(over="ignore"):  # scale * x beyond the float maximum is inf, correctly rounded
        return s * np.where(x > 0, x, neg)


def selu_grad(x, alpha=SELU_ALPHA, scale=SELU_SCALE):
    r"""Derivative of SELU: :math:`\lambda` for ``x > 0``, :math:`\lambda\alpha e^{x}` for ``x <= 0``.

    At ``x = 0`` the book's convention gives :math:`\lambda\alpha \approx 1.76`
    (negative branch); TensorFlow's SELU kernel gives :math:`\lambda` there.
    """
    x = _as_float(x)
    a = x.dtype.type(_finite_scalar(alpha, "alpha"))
    s = x.dtype.type(_finite_scalar(scale, "scale"))
    neg = s * a * np.exp(np.minimum(x, x.dtype.type(0)))
    return _keep_nan(x, np.where(x > 0, s, neg))


# Beyond these the negative tails of GELU and SiLU are exactly 0 in float32 and
# float64 (Phi(-40) ~ 4e-350, 800 e^-800 ~ 1e-345): clipping there avoids
# -inf * 0 and overflow in x**2 or x**3 without changing any finite result.
_GELU_CUT = 40.0
_SILU_CUT = 800.0
GELU_TANH_COEFF = 0.044715    # Hendrycks & Gimpel (2016), the tanh approximation


def _check_flag(value, name: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def _gelu_tanh_arg(t: np.ndarray) -> np.ndarray:
    r""":math:`2u` with :math:`u = \sqrt{2/\pi}\,(t + 0.044715\,t^3)`, in ``t``'s dtype."""
    c = t.dtype.type(math.sqrt(2 / math.pi))
    k = t.dtype.type(GELU_TANH_COEFF)
    return 2 * c * (t + k * t * t * t)


def gelu(x, approximate=False):
    r"""Gaussian error linear unit (Hendrycks & Gimpel 2016): :math:`x\,\Phi(x)`.

    Exact form (``approximate=False``):
    :math:`\tfrac{x}{2}\operatorname{erfc}(-x/\sqrt2)`. Through ``erfc``
    rather than :math:`\tfrac{x}{2}(1 + \operatorname{erf}(x/\sqrt2))`, which
    cancels to 0 for :math:`x \lesssim -6` while the true value is still
    about :math:`10^{-9}`; with ``erfc`` the relative error stays at
    rounding level down to the underflow.

    ``approximate=True``: the paper's tanh approximation
    :math:`\tfrac{x}{2}\bigl(1 + \tanh(\sqrt{2/\pi}(x + 0.044715x^3))\bigr)`,
    evaluated as :math:`x\,\sigma(2u)` (the same identity, :math:`1 + \tanh u
    = 2\sigma(2u)`, without the cancellation in the negative tail).
    """
    from scipy.special import erfc

    x = _as_float(x)
    t = np.clip(x, x.dtype.type(-_GELU_CUT), x.dtype.type(_GELU_CUT))
    xm = np.maximum(x, x.dtype.type(-_GELU_CUT))
    if _check_flag(approximate, "approximate"):
        return xm * sigmoid(_gelu_tanh_arg(t))
    half = x.dtype.type(0.5)
    return half * xm * erfc(-t * x.dtype.type(1 / math.sqrt(2)))


def gelu_grad(x, approximate=False):
    r"""Derivative of GELU.

    Exact: :math:`\Phi(x) + x\,\varphi(x)`, :math:`\varphi` the standard
    normal density. Approximate: :math:`\sigma(2u) + 2x\,u'\,\sigma'(2u)`
    with :math:`u' = \sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,x^2)`.
    """
    from scipy.special import erfc

    x = _as_float(x)
    t = np.clip(x, x.dtype.type(-_GELU_CUT), x.dtype.type(_GELU_CUT))
    if _check_flag(approximate, "approximate"):
        c = t.dtype.type(math.sqrt(2 / math.pi))
        du2 = 2 * c * (1 + t.dtype.type(3 * GELU_TANH_COEFF) * t * t)
        arg = _gelu_tanh_arg(t)
        return sigmoid(arg) + t * du2 * sigmoid_grad(arg)
    cdf = x.dtype.type(0.5) * erfc(-t * x.dtype.type(1 / math.sqrt(2)))
    pdf = np.exp(-t * t / 2) * x.dtype.type(1 / math.sqrt(2 * math.pi))
    return cdf + t * pdf


def silu(x):
    r"""Sigmoid-weighted linear unit :math:`x\,\sigma(x)` (Elfwing et al. 2018);
    Swish with :math:`\beta = 1` (Ramachandran et al. 2017).

    The stable :func:`sigmoid` never overflows; for :math:`x < -800` the
    output is 0 (its true value underflows every float format).
    """
    x = _as_float(x)
    xm = np.maximum(x, x.dtype.type(-_SILU_CUT))
    return xm * sigmoid(xm)


def silu_grad(x):
    r"""Derivative of SiLU: :math:`\sigma(x)\bigl(1 + x(1 - \sigma(x))\bigr) = \sigma(x) + x\,\sigma'(x)`."""
    x = _as_float(x)
    t = np.clip(x, x.dtype.type(-_SILU_CUT), x.dtype.type(_SILU_CUT))
    return sigmoid(t) + t * sigmoid_grad(t)


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Activation:
    """One activation: its function, derivative and default parameters."""

    name: str
    function: Callable
    derivative: Callable
    params: dict = field(default_factory=dict)
    source: str = ""

    def __call__(self, x, **kwargs):
        return self.function(x, **{**self.params, **kwargs})

    def grad(self, x, **kwargs):
        return self.derivative(x, **{**self.params, **kwargs})


REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("sigmoid", sigmoid, sigmoid_grad, {}, "logistic function"),
        Activation("relu", relu, relu_grad, {}, "Nair & Hinton 2010"),
        Activation("leaky_relu", leaky_relu, leaky_relu_grad, {"alpha": LEAKY_ALPHA}, "Maas et al. 2013"),
        Activation("prelu", prelu, prelu_grad, {"alpha": PRELU_ALPHA_INIT}, "He et al. 2015"),
        Activation("rrelu", rrelu, rrelu_grad, {"lower": RRELU_LOWER, "upper": RRELU_UPPER}, "Xu et al. 2015"),
        Activation("elu", elu, elu_grad, {"alpha": ELU_ALPHA}, "Clevert et al. 2016"),
        Activation("softmax", softmax, softmax_jacobian, {}, "Bridle 1990"),
        Activation("tanh", tanh, tanh_grad, {}, "recommended by LeCun et al. 1998"),
        Activation("selu", selu, selu_grad, {"alpha": SELU_ALPHA, "scale": SELU_SCALE}, "Klambauer et al. 2017"),
        Activation("gelu", gelu, gelu_grad, {"approximate": False}, "Hendrycks & Gimpel 2016"),
        Activation("silu", silu, silu_grad, {}, "named by Hendrycks & Gimpel 2016; Elfwing et al. 2018; Ramachandran et al. 2017 (Swish, β = 1)"),
    ]
}


def names() -> list[str]:
    """Names of every registered activation."""
    return list(REGISTRY)


def lookup(table: dict, name: str):
    """``table[name]``, or a ValueError that lists the valid names (also used by :mod:`actbook.arms`)."""
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(table)}") from None


def get(name: str) -> Activation:
    """Look up an activation by name; unknown names list the valid ones."""
    return lookup(REGISTRY, name)
