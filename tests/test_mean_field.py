"""actbook.mean_field: the typical-case recursion of a deep random network."""

import math

import numpy as np
import pytest

from actbook import mean_field as MF


def test_relu_gain_is_half_under_glorot_and_one_under_he():
    for init, chi in (("glorot", 0.5), ("he", 1.0)):
        mf = MF.mean_field("relu", init, depth=5, width=64, inputs=64)
        np.testing.assert_allclose(mf["chi"], chi, rtol=1e-9)
    est = MF.gradient_estimate("relu", "glorot", depth=15, width=64, inputs=64)
    assert est["delta_ratio"] == pytest.approx(0.5 ** 7, rel=1e-9)          # (1/sqrt 2)^14
    assert est["activation_ratio"] == pytest.approx(2 ** 7, rel=1e-6)       # a^2 halves per layer going up
    he = MF.gradient_estimate("relu", "he", depth=15, width=64, inputs=64)
    assert he["delta_ratio"] == pytest.approx(1, rel=1e-9)


def test_relu_second_moment_recursion():
    mf = MF.mean_field("relu", "he", depth=3, width=100, inputs=100, input_second_moment=3.0)
    # q_1 = 2 * 3; E[relu(z)^2] = q / 2, so every layer has q = 6.
    np.testing.assert_allclose(mf["q"], 6.0, rtol=1e-9)
    np.testing.assert_allclose(mf["second_moment"], 3.0, rtol=1e-9)


def test_sigmoid_gain_and_critical_point():
    q, chi = MF.fixed_point_gain("sigmoid", 1.0)
    assert 0.25 < q < 0.28 and 0.054 < chi < 0.057
    s = MF.critical_weight_variance("sigmoid")
    assert 90 < s < 115
    q_c, chi_c = MF.fixed_point_gain("sigmoid", s)
    assert chi_c == pytest.approx(1, abs=1e-6)
    assert 0.4 < MF.saturated_fraction("sigmoid", q_c) < 0.6


def test_gaussian_expectations_for_narrow_and_wide_variances():
    for q in (1e-10, 1.0, 1e4):
        assert MF._gauss(lambda t: t * t, q) == pytest.approx(q, rel=1e-9)
    assert MF.output_mean("relu", 2.0) == pytest.approx(math.sqrt(2 / (2 * math.pi)), rel=1e-9)
    assert MF.saturated_fraction("relu", 1.0) == pytest.approx(0.5, abs=1e-9)
