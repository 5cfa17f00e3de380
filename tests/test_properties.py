"""actbook.properties: measured properties of each activation, and its shape."""

import math

import numpy as np
import pytest

from actbook import activations as A
from actbook import properties
from actbook.properties import curve, dip, measure, properties_table


def test_relu_properties_match_theory():
    p = measure("relu", n=400_000)
    assert p["sparsity"] == pytest.approx(0.5, abs=0.005)
    assert p["mean f(x)"] == pytest.approx(1 / math.sqrt(2 * math.pi), abs=0.005)
    assert p["min f on [-1e3, 1e3]"] == 0 and p["max f on [-1e3, 1e3]"] == 1e3


def test_sigmoid_and_elu_properties():
    t = properties_table(["sigmoid", ("elu", {"alpha": 1.0}), ("leaky_relu", {"alpha": 0.2})], n=200_000)
    assert t.loc["sigmoid", "mean f(x)"] == pytest.approx(0.5, abs=0.005)
    assert t.loc["sigmoid", "sparsity"] == 0
    assert t.loc["elu", "min f on [-1e3, 1e3]"] == -1
    assert t.loc["elu", "mean f(x)"] < measure("relu", n=200_000)["mean f(x)"]
    assert t.loc["leaky_relu", "params"] == "alpha=0.2"
    with pytest.raises(ValueError, match="softmax"):
        measure("softmax")


def test_sigmoid_grad_inverse_is_closed_form_of_bisection_target():
    from actbook.properties import sigmoid_grad_inverse
    for t in (0.25, 0.1, 1e-2, 1e-4, 1e-12):
        x = sigmoid_grad_inverse(t)
        assert A.sigmoid_grad(x) == pytest.approx(t, rel=1e-9)
        root = math.sqrt(1 - 4 * t)                          # s (1 - s) = t: s = (1 + root) / 2
        s, one_minus_s = (1 + root) / 2, 2 * t / (1 + root)  # 1 - s without cancellation
        assert x == pytest.approx(math.log(s / one_minus_s), rel=1e-9, abs=1e-12)
    assert sigmoid_grad_inverse(0.25) == 0.0
    np.testing.assert_allclose(sigmoid_grad_inverse(np.array([1e-2, 1e-4])),
                               [sigmoid_grad_inverse(1e-2), sigmoid_grad_inverse(1e-4)])
    for bad in (0.0, -1.0, 0.26):
        with pytest.raises(ValueError, match="1/4"):
            sigmoid_grad_inverse(bad)


def test_derivative_bound_counts_n_minus_one_factors():
    from actbook.properties import derivative_bound
    assert derivative_bound(1) == 1.0
    assert derivative_bound(15) == pytest.approx(0.25 ** 14)
    assert derivative_bound(3, bound=1.0) == 1.0
    with pytest.raises(ValueError):
        derivative_bound(0)


def test_curve_and_dip():
    label, f, df = curve("silu")
    assert label == "SiLU" and f(1.0) == pytest.approx(A.silu(1.0)) and df(0.0) == 0.5
    d = dip("silu")
    assert d["dip at x"] == pytest.approx(-1.2784645427610738, rel=1e-9)
    assert d["dip depth f(x)"] == pytest.approx(d["dip at x"] + 1, rel=1e-9)
    assert d["min f'(x)"] < 0 < d["max f'(x)"] - 1


def test_shape_summary_of_bounded_unbounded_smooth_and_kinked_functions():
    from actbook.properties import shape_summary
    relu, sigmoid, gelu = shape_summary("relu"), shape_summary("sigmoid"), shape_summary("gelu")
    assert relu["range"] == "[0, \u221e)" and relu["smooth"] == "no: kink at 0" and relu["monotone"] == "yes"
    assert relu["dead"].startswith("high") and relu["saturates"] == "flat (f\u2032 = 0) for every x < 0"
    assert sigmoid["range"] == "(0, 1)" and sigmoid["smooth"] == "yes" and sigmoid["saturates"] == "both sides"
    assert gelu["monotone"].startswith("no: f\u2032 dips to \u2212") and gelu["range"].startswith("[\u2212")
    assert shape_summary("elu")["smooth"] == "f\u2032 continuous, f\u2033 jumps at 0"
    assert shape_summary("leaky_relu")["dead"] == "none: f\u2032 = 0.01 for x < 0"


def test_selu_moments_converge_with_lecun_and_not_with_he():
    lecun = properties.moments_through_depth("selu", "lecun", depth=24, width=256, batch=256, input_mean=1.0, input_std=2.0)
    last = lecun.iloc[-4:]
    assert np.all(np.abs(last["mean"]) < 0.1) and np.all(np.abs(last["variance"] - 1) < 0.15)
    he = properties.moments_through_depth("selu", "he", depth=24, width=256, batch=256)
    assert he["variance"].iloc[-1] > 10
    with pytest.raises(ValueError, match="init"):
        properties.moments_through_depth("selu", "orthogonal")
