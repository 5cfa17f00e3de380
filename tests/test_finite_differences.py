"""The central-difference helper the book's gradient checks use."""

import numpy as np
import pytest

from actbook.finite_differences import central_difference, jacobian


def test_central_difference_of_a_smooth_function_has_second_order_error():
    x = np.linspace(-2, 2, 9)
    errors = [np.max(np.abs(central_difference(np.sin, x, h) - np.cos(x))) for h in (1e-2, 1e-3)]
    assert errors[0] < 2e-5 and errors[1] == pytest.approx(errors[0] / 100, rel=0.05)   # O(h^2)


def test_central_difference_at_a_kink_is_the_mean_of_the_one_sided_slopes():
    assert central_difference(lambda t: np.maximum(t, 0.1 * t), 0.0, 1e-3) == pytest.approx(0.55)


def test_jacobian_has_one_column_per_input():
    a = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    np.testing.assert_allclose(jacobian(lambda v: a @ v + v[0] ** 2, np.array([0.5, 1.0, -1.0]), 1e-5),
                               a + np.array([[1.0, 0, 0], [1.0, 0, 0]]), rtol=1e-8)


def test_jacobian_of_a_scalar_function_is_its_gradient():
    g = jacobian(lambda v: float(np.sum(v ** 2)), np.array([1.0, -2.0, 3.0]), 1e-5)
    assert g.shape == (3,)
    np.testing.assert_allclose(g, [2.0, -4.0, 6.0], rtol=1e-8)
