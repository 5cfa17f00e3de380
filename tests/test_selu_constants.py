"""actbook.selu_constants: SELU's exact constants and the float64 values measured against them."""

from decimal import Decimal, localcontext

import pytest
from scipy import optimize

from actbook import activations as A
from actbook.selu_constants import selu_constants_against_exact, selu_constants_exact, selu_output_moments


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


def test_selu_exact_constants():
    exact = selu_constants_exact()
    # Klambauer et al. (2017) print alpha_01 ~ 1.6733 and lambda_01 ~ 1.0507; more digits, from the closed form:
    assert str(exact["alpha"]).startswith("1.67326324235437728481704299167")
    assert str(exact["lambda"]).startswith("1.05070098735548049341933498529")
    with localcontext() as ctx:
        ctx.prec = 60
        assert abs(exact["lambda * alpha"] - exact["alpha"] * exact["lambda"]) < Decimal("1e-45")


def test_selu_exact_constants_against_mpmath():
    """The decimal closed form against the same closed form in mpmath, all three constants to 50 digits."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(70):
        phi = lambda t: mpmath.erfc(-t / mpmath.sqrt(2)) / 2             # standard normal CDF
        alpha = mpmath.sqrt(2 / mpmath.pi) / (1 - mpmath.exp(0.5) * mpmath.erfc(1 / mpmath.sqrt(2)))
        neg = mpmath.exp(2) * phi(-2) - 2 * mpmath.exp(0.5) * phi(-1) + mpmath.mpf(1) / 2
        scale = 1 / mpmath.sqrt(mpmath.mpf(1) / 2 + alpha ** 2 * neg)
        expected = {"alpha": alpha, "lambda": scale, "lambda * alpha": scale * alpha}
        exact = selu_constants_exact()
        for name, value in expected.items():
            assert abs(Decimal(mpmath.nstr(value, 60)) - exact[name]) < Decimal("1e-48"), name


def test_selu_ulps_table():
    exact = selu_constants_exact()
    nearest = {k: float(v) for k, v in exact.items()}         # Decimal -> float rounds correctly
    table = selu_constants_against_exact({"nearest": nearest, "actbook": {
        "lambda": A.SELU_SCALE, "lambda * alpha": A.SELU_SCALE * A.SELU_ALPHA, "alpha": A.SELU_ALPHA}})
    assert (table["nearest, ulps from exact"].abs() <= 0.5).all()
    # The chapter's prose: actbook's lambda is correctly rounded, its alpha and lambda * alpha are not.
    assert abs(table.loc["lambda", "actbook, ulps from exact"]) <= 0.5
    assert table.loc["alpha", "actbook, ulps from exact"] > 0.5
    assert table.loc["lambda * alpha", "actbook, ulps from exact"] > 0.5


def test_keras_selu_constants_are_correctly_rounded():
    """TensorFlow's kernel holds lambda and lambda * alpha, both correctly rounded;
    alpha read back as their quotient carries the division's rounding too."""
    from actbook.compare import keras_selu_constants
    k = keras_selu_constants()["Keras"]
    table = selu_constants_against_exact({"Keras": {"lambda": k["lambda (scale)"],
                                                          "lambda * alpha": k["lambda * alpha"],
                                                          "alpha": k["alpha = (lambda * alpha) / lambda"]}})
    ulps = table["Keras, ulps from exact"].abs()
    assert ulps["lambda"] <= 0.5 and ulps["lambda * alpha"] <= 0.5
    assert ulps["alpha"] < 1.5
