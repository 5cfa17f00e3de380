"""The NumPy reference: values, derivatives, numerics, dtypes, errors."""

import math
import warnings

import numpy as np
import pytest
from scipy import optimize, special, stats
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from actbook import activations as A
from actbook.finite_differences import central_difference, jacobian

FLOATS = [np.float32, np.float64]

# (function, derivative, extra kwargs) for every element-wise activation.
ELEMENTWISE = {
    "sigmoid": (A.sigmoid, A.sigmoid_grad, {}),
    "relu": (A.relu, A.relu_grad, {}),
    "leaky_relu": (A.leaky_relu, A.leaky_relu_grad, {"alpha": 0.01}),
    "leaky_relu_5.5": (A.leaky_relu, A.leaky_relu_grad, {"alpha": 1 / 5.5}),
    "prelu": (A.prelu, A.prelu_grad, {"alpha": 0.25}),
    "rrelu": (A.rrelu, A.rrelu_grad, {}),
    "elu": (A.elu, A.elu_grad, {"alpha": 1.0}),
    "tanh": (A.tanh, A.tanh_grad, {}),
    "selu": (A.selu, A.selu_grad, {}),
    "gelu": (A.gelu, A.gelu_grad, {}),
    "gelu_tanh": (A.gelu, A.gelu_grad, {"approximate": True}),
    "silu": (A.silu, A.silu_grad, {}),
}


# --- exact values -----------------------------------------------------------

def test_known_values():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(A.relu(x), [0, 0, 0, 0.5, 2])
    np.testing.assert_allclose(A.leaky_relu(x), [-0.02, -0.005, 0, 0.5, 2], rtol=1e-15)
    np.testing.assert_allclose(A.rrelu(x), [-2 / 5.5, -0.5 / 5.5, 0, 0.5, 2], rtol=1e-15)
    np.testing.assert_allclose(A.elu(x), [math.expm1(-2), math.expm1(-0.5), 0, 0.5, 2], rtol=1e-15)
    np.testing.assert_allclose(A.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(A.sigmoid_grad(0.0), 0.25, rtol=0)


def test_conventions_at_zero():
    """x > 0 has slope 1; x <= 0 takes the negative branch, as in TensorFlow."""
    assert A.relu_grad(0.0) == 0.0
    assert A.leaky_relu_grad(0.0, alpha=0.01) == 0.01
    assert A.prelu_grad(0.0, 0.25) == 0.25
    assert A.rrelu_grad(0.0) == pytest.approx(1 / 5.5, rel=1e-15)
    assert A.elu_grad(0.0, alpha=1.0) == 1.0
    assert A.elu_grad(0.0, alpha=2.0) == 2.0
    assert A.relu_grad(1e-300) == 1.0


def test_softmax_article_cases():
    """The three worked examples of the source article, to 3 decimals."""
    np.testing.assert_allclose(A.softmax([3, 0.7, 0.5]), [0.846, 0.085, 0.069], atol=5e-4)
    np.testing.assert_allclose(A.softmax([1.2, 1, 1.5]), [0.316, 0.258, 0.426], atol=5e-4)
    p = A.softmax([1.5] + [1.2] * 9)
    np.testing.assert_allclose(p, [0.13] + [0.097] * 9, atol=5e-4)


# --- numerics ---------------------------------------------------------------

def test_sigmoid_whole_float_range_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dt in FLOATS:
            big = np.finfo(dt).max
            x = np.array([-big, -1e4, 1e4, big], dtype=dt)
            np.testing.assert_array_equal(A.sigmoid(x), np.array([0, 0, 1, 1], dtype=dt))
            np.testing.assert_array_equal(A.sigmoid_grad(x), 0)


def test_sigmoid_grad_tails_accurate():
    # exact: e^-x / (1 + e^-x)^2; at x = 36, e^-36 ~ 2.3e-16 is below float64 eps
    for x in [36.0, -36.0, 20.0, -700.0]:
        exact = math.exp(-abs(x)) / (1 + math.exp(-abs(x))) ** 2
        assert A.sigmoid_grad(x) == pytest.approx(exact, rel=2e-15)
    naive = A.sigmoid(36.0) * (1 - A.sigmoid(36.0))  # the cancellation we avoid
    assert abs(naive - math.exp(-36)) / math.exp(-36) > 0.01


@pytest.mark.parametrize("dt", FLOATS)
def test_elu_uses_expm1(dt):
    y = A.elu(np.array(-1e-8, dtype=dt))
    assert y.dtype == dt
    assert float(y) == pytest.approx(math.expm1(-1e-8), rel=float(np.finfo(dt).eps))


def test_elu_large_positive_no_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(A.elu(np.array([1e4, 1e308])), [1e4, 1e308])
        np.testing.assert_array_equal(A.elu_grad(np.array([1e4, -1e4])), [1, 0])


def test_softmax_large_and_infinite_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = A.softmax([1000.0, 999.0, -np.inf])
        np.testing.assert_allclose(p, [1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1)), 0], rtol=1e-15)
        assert A.softmax(np.array([1e38, -1e38], dtype=np.float32)).tolist() == [1.0, 0.0]
        assert np.all(np.isnan(A.softmax([-np.inf, -np.inf])))
        assert np.all(np.isnan(A.softmax([np.inf, 1.0])))
        assert np.all(np.isnan(A.softmax([np.nan, 1.0])))


def test_softmax_axis():
    x = np.random.default_rng(0).normal(size=(3, 4, 5))
    for axis in range(3):
        p = A.softmax(x, axis=axis)
        np.testing.assert_allclose(p.sum(axis=axis), 1, rtol=1e-14)
        np.testing.assert_allclose(p, np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True), rtol=1e-13)


def test_softmax_jacobian_structure():
    x = np.array([0.3, -1.2, 2.0, 0.0])
    J = A.softmax_jacobian(x)
    p = A.softmax(x)
    np.testing.assert_allclose(J, J.T, rtol=0, atol=0)
    np.testing.assert_allclose(J.sum(axis=0), 0, atol=1e-16)
    np.testing.assert_allclose(np.diag(J), p * (1 - p), rtol=1e-15)


# --- dtypes and NaN -----------------------------------------------------------

@pytest.mark.parametrize("name", list(ELEMENTWISE))
@pytest.mark.parametrize("dt", FLOATS)
def test_dtype_preserved(name, dt):
    f, g, kw = ELEMENTWISE[name]
    x = np.linspace(-3, 3, 7).astype(dt)
    assert f(x, **kw).dtype == dt
    assert g(x, **kw).dtype == dt


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_integer_input_gives_float(name):
    f, g, kw = ELEMENTWISE[name]
    assert f(np.array([-2, 0, 3]), **kw).dtype == np.float64
    assert g([-2, 0, 3], **kw).dtype == np.float64
    assert A.softmax([1, 2, 3]).dtype == np.float64


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_nan_propagates_elementwise(name):
    f, g, kw = ELEMENTWISE[name]
    x = np.array([-1.0, np.nan, 2.0])
    for out in (f(x, **kw), g(x, **kw)):
        assert np.isnan(out[1]) and np.all(np.isfinite(out[[0, 2]]))
    out = A.rrelu(x, training=True, rng=np.random.default_rng(0))
    assert np.isnan(out[1]) and np.all(np.isfinite(out[[0, 2]]))


# --- derivatives against finite differences ------------------------------------

@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_derivative_matches_finite_difference(name):
    f, g, kw = ELEMENTWISE[name]
    x = np.random.default_rng(1).normal(scale=3, size=200)
    x = x[np.abs(x) > 1e-3]  # away from the kink, where the derivative jumps
    numeric = central_difference(lambda t: f(t, **kw), x)
    np.testing.assert_allclose(g(x, **kw), numeric, rtol=1e-6, atol=1e-9)


def test_prelu_per_channel_and_alpha_derivative():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 5, 3))
    alpha = np.array([0.1, 0.25, 0.5])
    y = A.prelu(x, alpha)
    np.testing.assert_array_equal(y, np.where(x > 0, x, x * alpha))
    np.testing.assert_array_equal(A.prelu_grad(x, alpha), np.where(x > 0, 1.0, np.broadcast_to(alpha, x.shape)))
    # d y / d alpha_c by finite differences, channel by channel
    dalpha = A.prelu_grad_alpha(x, alpha)
    numeric = jacobian(lambda a: A.prelu(x, a), alpha)      # d y[..., k] / d alpha_c at [..., k, c]
    for c in range(3):
        np.testing.assert_allclose(dalpha[..., c], numeric[..., c, c], rtol=1e-7, atol=1e-12)
        np.testing.assert_array_equal(numeric[..., [k for k in range(3) if k != c], c], 0)


def test_softmax_jacobian_finite_difference():
    x = np.random.default_rng(3).normal(size=6)
    J = A.softmax_jacobian(x)
    np.testing.assert_allclose(J, jacobian(A.softmax, x), rtol=1e-6, atol=1e-10)


# --- RReLU --------------------------------------------------------------------

def test_rrelu_training_statistics():
    x = -np.ones(200_000)
    y = A.rrelu(x, training=True, rng=np.random.default_rng(0))
    a = x / y  # the divisor each element drew
    assert a.min() >= 3 and a.max() <= 8
    assert a.mean() == pytest.approx(5.5, abs=0.01)
    assert a.var() == pytest.approx(25 / 12, rel=0.02)
    assert np.unique(a).size > 190_000  # drawn per element, not once


def test_rrelu_seeded_repeatability_and_inference():
    x = np.random.default_rng(4).normal(size=1000)
    y1 = A.rrelu(x, training=True, rng=np.random.default_rng(7))
    y2 = A.rrelu(x, training=True, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y1[x > 0], x[x > 0])
    np.testing.assert_array_equal(A.rrelu(x), np.where(x > 0, x, x / 5.5))
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    np.testing.assert_array_equal(A.rrelu(x, rng=rng), np.where(x > 0, x, x / 5.5))
    assert rng.bit_generator.state == state  # inference draws no random numbers
    np.testing.assert_array_equal(A.rrelu(x, 2, 2, training=True), np.where(x > 0, x, x / 2))


# --- properties (hypothesis) ------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False)
monotone = ["sigmoid", "relu", "leaky_relu", "leaky_relu_5.5", "prelu", "rrelu", "elu", "tanh", "selu"]


@settings(max_examples=200, deadline=None)
@given(a=finite, b=finite)
def test_monotone_nondecreasing(a, b):
    lo, hi = min(a, b), max(a, b)
    for name in monotone:
        f, _, kw = ELEMENTWISE[name]
        assert f(lo, **kw) <= f(hi, **kw), name


@settings(max_examples=200, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=True))
def test_bounds(x):
    s = A.sigmoid(x)
    assert 0 <= s <= 1
    assert 0 <= A.sigmoid_grad(x) <= 0.25
    assert A.relu(x) >= 0
    assert A.elu(x) >= -1
    assert 0 <= A.elu_grad(x) <= 1  # underflows to 0 below about -745
    assert -1 <= A.tanh(x) <= 1 and 0 <= A.tanh_grad(x) <= 1
    assert A.selu(x) >= -A.SELU_SCALE * A.SELU_ALPHA
    assert 0 <= A.selu_grad(x) <= A.SELU_SCALE * A.SELU_ALPHA
    assert A.silu(x) >= -0.2785 and -0.1 <= A.silu_grad(x) <= 1.1   # the dip and the overshoot
    for approximate in (False, True):
        assert A.gelu(x, approximate=approximate) >= -0.1701
        assert -0.13 <= A.gelu_grad(x, approximate=approximate) <= 1.13


@settings(max_examples=200, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-50, 50)),
       shift=st.floats(-1e3, 1e3))
def test_softmax_shift_invariance(x, shift):
    p = A.softmax(x)
    assert p.sum() == pytest.approx(1, rel=1e-12)
    assert np.all(p >= 0)
    np.testing.assert_allclose(A.softmax(x + shift), p, rtol=1e-9, atol=1e-15)


# --- registry and bad input ---------------------------------------------------------

def test_registry():
    assert A.names() == ["sigmoid", "relu", "leaky_relu", "prelu", "rrelu", "elu", "softmax",
                         "tanh", "selu", "gelu", "silu"]
    act = A.get("elu")
    assert act.params == {"alpha": 1.0}
    assert act(-1.0) == pytest.approx(math.expm1(-1))
    assert act.grad(-1.0, alpha=2.0) == pytest.approx(2 * math.exp(-1))
    with pytest.raises(ValueError, match="valid names: sigmoid, relu"):
        A.get("swish")


@pytest.mark.parametrize("call, param", [
    (lambda: A.leaky_relu([1.0], alpha=np.nan), "alpha"),
    (lambda: A.leaky_relu_grad([1.0], alpha=np.inf), "alpha"),
    (lambda: A.elu([1.0], alpha=float("inf")), "alpha"),
    (lambda: A.elu_grad([1.0], alpha="x"), "alpha"),
    (lambda: A.prelu([1.0], alpha=[np.nan]), "alpha"),
    (lambda: A.prelu(np.ones((2, 3)), alpha=[0.1, 0.2]), "alpha"),
    (lambda: A.prelu(np.ones((2, 3)), alpha=np.ones((3, 3))), "alpha"),
    (lambda: A.rrelu([1.0], lower=0.0), "lower"),
    (lambda: A.rrelu([1.0], lower=-1.0, upper=2.0), "lower"),
    (lambda: A.rrelu([1.0], lower=9.0, upper=8.0), "lower"),
    (lambda: A.rrelu_grad([1.0], lower=3.0, upper=np.inf), "upper"),
    (lambda: A.rrelu([1.0], training=True, rng=42), "rng"),
    (lambda: A.softmax_jacobian(np.ones((2, 2))), "1-D"),
    (lambda: A.softmax(1.0), "axis"),
    (lambda: A.selu([1.0], alpha=np.nan), "alpha"),
    (lambda: A.selu_grad([1.0], scale=np.inf), "scale"),
    (lambda: A.gelu([1.0], approximate="yes"), "approximate"),
    (lambda: A.gelu_grad([1.0], approximate=1), "approximate"),
])
def test_bad_parameters_raise_naming_them(call, param):
    with pytest.raises(ValueError, match=param):
        call()


def test_non_numeric_input_rejected():
    with pytest.raises(TypeError, match="dtype"):
        A.relu(np.array(["a", "b"]))

# --- tanh, SELU, GELU and SiLU: values, tails, dips -----------------------------------------

LATER = {
    "tanh": (A.tanh, A.tanh_grad, {}),
    "selu": (A.selu, A.selu_grad, {}),
    "gelu": (A.gelu, A.gelu_grad, {}),
    "gelu_tanh": (A.gelu, A.gelu_grad, {"approximate": True}),
    "silu": (A.silu, A.silu_grad, {}),
}


def test_selu_is_scaled_elu():
    x = np.linspace(-6, 6, 121)
    np.testing.assert_allclose(A.selu(x), A.SELU_SCALE * A.elu(x, A.SELU_ALPHA), rtol=1e-15, atol=1e-16)
    assert A.selu_grad(0.0) == pytest.approx(A.SELU_SCALE * A.SELU_ALPHA, rel=1e-15)  # the negative branch
    assert A.selu_grad(1e-300) == A.SELU_SCALE


def test_gelu_silu_and_tanh_known_values():
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


@pytest.mark.parametrize("name", list(LATER))
@pytest.mark.parametrize("dt", FLOATS)
def test_whole_float_range_without_warnings(name, dt):
    f, g, kw = LATER[name]
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


@pytest.mark.parametrize("name, x_min, y_min", [
    ("silu", -1.2784645427610738, -0.2784645427610738),   # x* = -1 - W(1/e); f(x*) = x* + 1
    ("gelu", -0.7517915246935, -0.16997120),
])
def test_negative_dip(name, x_min, y_min):
    f, g, kw = LATER[name]
    root = optimize.brentq(lambda t: float(g(t, **kw)), -3, -0.1, xtol=1e-15)
    assert root == pytest.approx(x_min, rel=1e-9)
    assert float(f(root, **kw)) == pytest.approx(y_min, rel=1e-7)


def test_silu_dip_closed_form():
    x_star = -1 - float(special.lambertw(1 / math.e).real)
    assert float(A.silu_grad(x_star)) == pytest.approx(0, abs=1e-15)
    assert float(A.silu(x_star)) == pytest.approx(x_star + 1, rel=1e-14)


@pytest.mark.parametrize("bad", ["no", 1, None])
def test_numpy_rrelu_training_flag_takes_booleans_only(bad):
    with pytest.raises(TypeError, match="training"):
        A.rrelu(np.ones(3), training=bad)
