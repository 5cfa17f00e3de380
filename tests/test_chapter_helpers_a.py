"""Helpers of the softmax, sigmoid and foundations chapters."""

import numpy as np

from actbook import activations as A
from actbook.softmax_notes import run_length


def test_run_length_groups_equal_runs():
    assert run_length([1.5] + [1.2] * 9, "{:g}") == "1.5, 1.2 × 9"
    assert run_length([3.0, 0.7, 0.5], "{:g}") == "3, 0.7, 0.5"
    assert run_length([1.0, 2.0, 1.0], "{:g}") == "1, 2, 1"      # only adjacent values form a run
    assert run_length([], "{:g}") == ""


def test_run_length_compares_the_shown_digits():
    # The explainer's third example: nine probabilities equal to every digit shown.
    p = A.softmax([1.5] + [1.2] * 9)
    assert run_length(p) == "0.130, 0.097 × 9"
    assert run_length([0.1234, 0.1231]) == "0.123 × 2"
    assert run_length(np.float32([0.5, 0.25])) == "0.500, 0.250"
