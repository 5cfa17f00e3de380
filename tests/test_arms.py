"""actbook.arms: the arms' table and RReLU's mean training slope."""

import numpy as np
import pytest
from scipy import integrate

from actbook import activations as A
from actbook import arms
from actbook.arms import rrelu_mean_slope


def test_rrelu_mean_slope_is_the_mean_of_one_over_a_uniform_divisor():
    for lower, upper in ((3.0, 8.0), (1.0, 1.5)):
        mean = integrate.quad(lambda a: 1 / a, lower, upper, epsabs=0, epsrel=1e-13)[0] / (upper - lower)
        assert rrelu_mean_slope(lower, upper) == pytest.approx(mean, rel=1e-12)


def test_rrelu_mean_slope_matches_sampling():
    divisors = np.random.default_rng(0).uniform(3.0, 8.0, 1_000_000)
    assert rrelu_mean_slope(3.0, 8.0) == pytest.approx(np.mean(1 / divisors), rel=2e-3)


@pytest.mark.parametrize("lower, upper", [(3.0, 8.0), (1.0, 1.5), (0.5, 100.0)])
def test_rrelu_mean_slope_exceeds_inference_slope(lower, upper):
    # Jensen: E[1/a] > 1/E[a] for a non-degenerate divisor
    assert rrelu_mean_slope(lower, upper) > 2 / (lower + upper)


def test_rrelu_mean_slope_narrow_interval_tends_to_inference_slope():
    assert rrelu_mean_slope(5.5, 5.5 + 1e-6) == pytest.approx(1 / 5.5, rel=1e-6)


@pytest.mark.parametrize("lower, upper", [(0.0, 8.0), (8.0, 3.0), (3.0, 3.0), (-1.0, 2.0)])
def test_rrelu_mean_slope_rejects_bad_bounds(lower, upper):
    with pytest.raises(ValueError):
        rrelu_mean_slope(lower, upper)


def test_arms():
    assert {n: (arms.get(n).display, arms.get(n).init) for n in ("tanh", "selu", "gelu", "silu")} == {
        "tanh": ("tanh", "glorot"), "selu": ("SELU", "lecun"), "gelu": ("GELU", "he"), "silu": ("SiLU", "he")}
    assert arms.get("gelu").params == {"approximate": False}
    assert arms.get("selu").params == {"alpha": A.SELU_ALPHA, "scale": A.SELU_SCALE}
    assert {"tanh", "selu", "gelu", "silu"} <= set(arms.train_arms())
