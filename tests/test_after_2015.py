"""tanh, SELU, GELU and SiLU: the numbers the "After 2015" chapter rests on."""

import math
import warnings

import numpy as np
import pytest
from scipy import optimize, special, stats

from actbook import activations as A
from actbook import arms
from actbook.selu_constants import selu_output_moments

FLOATS = [np.float32, np.float64]
NEW = {
    "tanh": (A.tanh, A.tanh_grad, {}),
    "selu": (A.selu, A.selu_grad, {}),
    "gelu": (A.gelu, A.gelu_grad, {}),
    "gelu_tanh": (A.gelu, A.gelu_grad, {"approximate": True}),
    "silu": (A.silu, A.silu_grad, {}),
}


# --- SELU's constants ------------------------------------------------------------

def test_selu_constants_give_the_fixed_point():
    """N(0, 1) in, mean 0 and variance 1 out (Klambauer et al. 2017)."""
    mean, var = selu_output_moments(A.SELU_ALPHA, A.SELU_SCALE)
    assert abs(mean) < 1e-12 and var == pytest.approx(1, abs=1e-12)
    assert A.SELU_ALPHA == pytest.approx(1.6732632423543772, rel=1e-14)
    assert A.SELU_SCALE == pytest.approx(1.0507009873554805, rel=1e-14)


def test_selu_constants_solved_numerically_agree_with_the_closed_form():
    def conditions(p):
        mean, var = selu_output_moments(*p)
        return mean, var - 1
    alpha, scale = optimize.fsolve(conditions, [1.5, 1.0], xtol=1e-12)
    assert alpha == pytest.approx(A.SELU_ALPHA, rel=1e-10)
    assert scale == pytest.approx(A.SELU_SCALE, rel=1e-10)


def test_selu_is_scaled_elu():
    x = np.linspace(-6, 6, 121)
    np.testing.assert_allclose(A.selu(x), A.SELU_SCALE * A.elu(x, A.SELU_ALPHA), rtol=1e-15, atol=1e-16)
    assert A.selu_grad(0.0) == pytest.approx(A.SELU_SCALE * A.SELU_ALPHA, rel=1e-15)  # the negative branch
    assert A.selu_grad(1e-300) == A.SELU_SCALE


# --- exact values and tails ----------------------------------------------------------

def test_known_values():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    phi = 0.5 * special.erfc(-x / math.sqrt(2))
    np.testing.assert_allclose(A.gelu(x), x * phi, rtol=1e-15)
    np.testing.assert_allclose(A.silu(x), x / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(A.tanh(x), np.tanh(x), rtol=0)
    np.testing.assert_allclose(A.tanh_grad(x), 1 / np.cosh(x) ** 2, rtol=1e-15)
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    np.testing.assert_allclose(A.gelu(x, approximate=True), 0.5 * x * (1 + np.tanh(u)), rtol=1e-13)
    # tf.nn.gelu's docstring gives -0.00363752 at x = -3: float32 with the cancellation in 1 + tanh(u).
    assert float(A.gelu(np.float32(-3.0), approximate=True)) == pytest.approx(-0.0036373920817730195, rel=1e-6)
    for f in (A.gelu_grad, A.silu_grad):
        assert f(0.0) == 0.5
    assert A.gelu_grad(0.0, approximate=True) == 0.5


@pytest.mark.parametrize("x", [-5.0, -10.0, -20.0, -30.0, -37.0])
def test_gelu_negative_tail_keeps_relative_precision(x):
    exact = x * math.exp(stats.norm.logcdf(x))
    assert A.gelu(x) == pytest.approx(exact, rel=1e-12)
    grad = math.exp(stats.norm.logcdf(x)) + x * stats.norm.pdf(x)
    assert A.gelu_grad(x) == pytest.approx(grad, rel=1e-10)


def test_gelu_with_erf_would_cancel():
    x = -10.0
    naive = 0.5 * x * (1 + math.erf(x / math.sqrt(2)))
    assert naive == 0.0 and A.gelu(x) < -1e-23


@pytest.mark.parametrize("dt", FLOATS)
def test_tails_in_each_dtype(dt):
    """Relative error within the problem's conditioning: |x Phi'(x) / Phi(x)| ~ x^2 in the tail."""
    x = np.array([-5.0, -10.0], dtype=dt)
    exact = x.astype(np.float64) * np.exp(stats.norm.logcdf(x.astype(np.float64)))
    np.testing.assert_allclose(A.gelu(x), exact, rtol=4 * 100 * np.finfo(dt).eps)
    silu_exact = x.astype(np.float64) * np.exp(x.astype(np.float64)) / (1 + np.exp(x.astype(np.float64)))
    np.testing.assert_allclose(A.silu(x), silu_exact, rtol=10 * np.finfo(dt).eps)


def test_tanh_grad_tail_accurate():
    for x in [20.0, -20.0, 300.0]:
        assert A.tanh_grad(x) == pytest.approx(4 * math.exp(-2 * abs(x)) / (1 + math.exp(-2 * abs(x))) ** 2,
                                               rel=4e-15)
    assert 1 - np.tanh(20.0) ** 2 == 0.0   # what the textbook form gives


@pytest.mark.parametrize("name", list(NEW))
@pytest.mark.parametrize("dt", FLOATS)
def test_whole_float_range_without_warnings(name, dt):
    f, g, kw = NEW[name]
    big = np.finfo(dt).max
    x = np.array([-np.inf, -big, -1e30, -1e4, -800, -50, 50, 1e4, 1e30, big, np.inf, np.nan], dtype=dt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, d = f(x, **kw), g(x, **kw)
    assert y.dtype == dt and d.dtype == dt
    assert np.isnan(y[-1]) and np.isnan(d[-1])
    assert np.all(np.isfinite(d[:-1]))
    lim_neg = {"tanh": -1, "selu": -A.SELU_SCALE * A.SELU_ALPHA}.get(name, 0)
    np.testing.assert_allclose(y[:4], lim_neg, rtol=np.finfo(dt).eps)
    assert y[-2] == np.inf or (name == "tanh" and y[-2] == 1)


# --- the tanh approximation, the dips -------------------------------------------------

def test_gelu_tanh_approximation_error():
    from actbook.compare import gelu_approximation_error
    e = gelu_approximation_error()
    assert 4e-4 < e["max_abs_f"] < 5e-4 and -3 < e["argmax_f"] < -2.5
    assert e["max_abs_grad"] < 1e-3


@pytest.mark.parametrize("name, x_min, y_min", [
    ("silu", -1.2784645427610738, -0.2784645427610738),   # x* = -1 - W(1/e); f(x*) = x* + 1
    ("gelu", -0.7517915246935, -0.16997120),
])
def test_negative_dip(name, x_min, y_min):
    f, g, kw = NEW[name]
    root = optimize.brentq(lambda t: float(g(t, **kw)), -3, -0.1, xtol=1e-15)
    assert root == pytest.approx(x_min, rel=1e-9)
    assert float(f(root, **kw)) == pytest.approx(y_min, rel=1e-7)


def test_silu_dip_closed_form():
    x_star = -1 - float(special.lambertw(1 / math.e).real)
    assert float(A.silu_grad(x_star)) == pytest.approx(0, abs=1e-15)
    assert float(A.silu(x_star)) == pytest.approx(x_star + 1, rel=1e-14)


# --- arms ----------------------------------------------------------------------------

def test_arms():
    assert {n: (arms.get(n).display, arms.get(n).init) for n in ("tanh", "selu", "gelu", "silu")} == {
        "tanh": ("tanh", "glorot"), "selu": ("SELU", "lecun"), "gelu": ("GELU", "he"), "silu": ("SiLU", "he")}
    assert arms.get("gelu").params == {"approximate": False}
    assert arms.get("selu").params == {"alpha": A.SELU_ALPHA, "scale": A.SELU_SCALE}
    assert {"tanh", "selu", "gelu", "silu"} <= set(arms.train_arms())


# --- self-normalisation ----------------------------------------------------------------

def test_selu_moments_converge_with_lecun_and_not_with_he():
    from actbook.properties import moments_through_depth
    lecun = moments_through_depth("selu", "lecun", depth=24, width=256, batch=256, input_mean=1.0, input_std=2.0)
    last = lecun.iloc[-4:]
    assert np.all(np.abs(last["mean"]) < 0.1) and np.all(np.abs(last["variance"] - 1) < 0.15)
    he = moments_through_depth("selu", "he", depth=24, width=256, batch=256)
    assert he["variance"].iloc[-1] > 10
    with pytest.raises(ValueError, match="init"):
        moments_through_depth("selu", "orthogonal")
