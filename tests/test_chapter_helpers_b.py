"""Helpers of the ReLU-family chapters: RReLU's mean training slope."""

import math

import numpy as np
import pytest

from actbook import arms
from actbook.arms import rrelu_mean_slope


def test_rrelu_mean_slope_paper_bounds():
    # U(3, 8): ln(8/3) / 5
    assert rrelu_mean_slope(3, 8) == pytest.approx(math.log(8 / 3) / 5, rel=1e-15)


def test_rrelu_mean_slope_matches_sampling():
    divisors = np.random.default_rng(0).uniform(3.0, 8.0, 1_000_000)
    assert rrelu_mean_slope(3.0, 8.0) == pytest.approx(np.mean(1 / divisors), rel=2e-3)


@pytest.mark.parametrize("lower, upper", [(3.0, 8.0), (1.0, 1.5), (0.5, 100.0)])
def test_rrelu_mean_slope_exceeds_inference_slope(lower, upper):
    # Jensen: E[1/a] > 1/E[a] for a non-degenerate divisor
    assert rrelu_mean_slope(lower, upper) > 2 / (lower + upper)


def test_rrelu_mean_slope_narrow_interval_tends_to_inference_slope():
    assert rrelu_mean_slope(5.5, 5.5 + 1e-6) == pytest.approx(1 / 5.5, rel=1e-6)


def test_rrelu_mean_slope_of_the_rrelu_arm():
    p = arms.get("rrelu").params
    assert rrelu_mean_slope(p["lower"], p["upper"]) == pytest.approx(math.log(p["upper"] / p["lower"])
                                                                      / (p["upper"] - p["lower"]))


@pytest.mark.parametrize("lower, upper", [(0.0, 8.0), (8.0, 3.0), (3.0, 3.0), (-1.0, 2.0)])
def test_rrelu_mean_slope_rejects_bad_bounds(lower, upper):
    with pytest.raises(ValueError):
        rrelu_mean_slope(lower, upper)
