"""NumPy reference against Keras/TensorFlow, forward and gradient (GradientTape).

Where Keras follows another convention the difference is pinned, not hidden.
"""

import numpy as np
import pytest
import tensorflow as tf

from actbook import activations as A
from actbook.compare import COUNTERPARTS, agreement, keras_value_and_grad, probe_points

# Tolerances: a few ulps of the dtype, scaled by the largest |x| probed (80).
TOL = {"float32": 80 * 4 * np.finfo(np.float32).eps, "float64": 80 * 4 * np.finfo(np.float64).eps}

# Keras casts a Python slope through float32 even for float64 inputs, so in
# float64 the result carries the float32 rounding of the slope.
FLOAT32_SLOPE_LAYERS = ("keras.layers.LeakyReLU", "keras.activations.leaky_relu")

# TensorFlow's GELU casts its Python constants (1/sqrt(2); 0.044715) through
# float32, also for float64 inputs: the float64 results carry that rounding.
FLOAT32_CONSTANT_GELU = ("keras.activations.gelu (approximate=False)", "tf.nn.gelu (approximate=False)",
                         "keras.ops.gelu(x, approximate=True)")

CASES = [(ref, c) for ref, cs in COUNTERPARTS.items() for c in cs]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ref, c", CASES, ids=[c.label for _, c in CASES])
def test_numpy_matches_keras(ref, c, dtype):
    row = agreement(c, dtype)
    tol = TOL[row["dtype"]]
    if row["dtype"] == "float64" and c.label.startswith(FLOAT32_SLOPE_LAYERS):
        slope = c.params["alpha"]
        rounding = abs(float(np.float32(slope)) - slope)
        assert 0 < row["max |diff| f"] <= 80 * rounding * 1.01
        assert 0 < row["max |diff| f'"] <= rounding * 1.01
        return
    if row["dtype"] == "float64" and c.label in FLOAT32_CONSTANT_GELU:
        # Checked against an emulation in test_tf_gelu_float64_uses_float32_constants.
        assert 1e-10 < row["max |diff| f"] <= 1e-8 and row["max |diff| f'"] <= 1e-8
        return
    assert row["max |diff| f"] <= tol
    if c.reference == "selu":
        # TensorFlow's SELU kernel takes the positive branch at x = 0 (scale);
        # the book's convention takes the negative one (scale * alpha).
        eps = float(np.finfo(row["dtype"]).eps)
        assert row["f'(0) keras"] == pytest.approx(A.SELU_SCALE, rel=eps)
        assert row["f'(0) numpy"] == pytest.approx(A.SELU_SCALE * A.SELU_ALPHA, rel=eps)
        assert row["max |diff| f'"] == pytest.approx(A.SELU_SCALE * (A.SELU_ALPHA - 1), rel=1e-6)
    elif c.label == "keras.layers.PReLU(alpha_initializer=Constant(0.25))":
        # Keras computes relu(x) - alpha * relu(-x): gradient 0 at exactly x = 0.
        assert row["f'(0) keras"] == 0.0 and row["f'(0) numpy"] == 0.25
        assert row["max |diff| f'"] == 0.25
    else:
        assert row["max |diff| f'"] <= tol
        if "f'(0) keras" in row:
            assert row["f'(0) keras"] == row["f'(0) numpy"]


def test_tf_nn_elu_loses_precision_near_zero_in_float32():
    """tf.nn.elu computes exp(x) - 1, not expm1: tiny negatives vanish in float32."""
    x = np.array([-1e-8], dtype=np.float32)
    y_tf, _ = keras_value_and_grad(tf.nn.elu, x)
    assert y_tf[0] == 0.0
    assert A.elu(x)[0] == pytest.approx(-1e-8, rel=1e-6)


def test_probe_points_cover_the_kink():
    x = probe_points()
    assert (x == 0).sum() == 1 and (x < 0).any() and (x > 0).any()


def _tf_gelu_emulated(x, approximate):
    """TensorFlow's float64 GELU formulas, with its constants rounded to float32."""
    from scipy.special import erfc
    if approximate:
        k = float(np.float32(A.GELU_TANH_COEFF))
        c = 0.7978845608028654
        t = np.tanh(c * (x + k * x ** 3))
        f = 0.5 * x * (1 + t)
        g = 0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * c * (1 + 3 * k * x ** 2)
        return f, g
    s = float(np.float32(1 / np.sqrt(2)))
    f = 0.5 * x * erfc(-x * s)
    g = 0.5 * erfc(-x * s) + x * s * np.exp(-(x * s) ** 2) / np.sqrt(np.pi)
    return f, g


@pytest.mark.parametrize("approximate", [False, True])
def test_tf_gelu_float64_uses_float32_constants(approximate):
    """The float64 gap between actbook's GELU and TensorFlow's is the float32
    rounding of TensorFlow's constants, nothing else."""
    x = np.linspace(-8, 8, 4001)
    fn = (lambda t: tf.nn.gelu(t, approximate=True)) if approximate else tf.nn.gelu
    y_tf, g_tf = keras_value_and_grad(fn, x)
    f_em, g_em = _tf_gelu_emulated(x, approximate)
    np.testing.assert_allclose(y_tf, f_em, rtol=0, atol=1e-14)
    np.testing.assert_allclose(g_tf, g_em, rtol=0, atol=1e-13)  # tanh's tails: cancellation order differs
    gap = np.max(np.abs(y_tf - A.gelu(x, approximate=approximate)))
    assert 1e-10 < gap < 1e-8
    if not approximate:
        # First order in the constant's rounding: max |x^2 exp(-x^2/2)| / sqrt(pi) = 2 / (e sqrt(pi)).
        rounding = abs(float(np.float32(1 / np.sqrt(2))) - 1 / np.sqrt(2))
        assert gap == pytest.approx(2 / (np.e * np.sqrt(np.pi)) * rounding, rel=0.01)


def test_keras_gelu_defaults_differ_between_entry_points():
    """keras.activations.gelu (and the "gelu" string) is exact; keras.ops.gelu
    defaults to the tanh approximation."""
    import keras
    from actbook.compare import gelu_defaults
    table = gelu_defaults().set_index("entry point")["approximate (default)"]
    assert not table["keras.activations.gelu"] and not table["keras.layers.Activation('gelu')"]
    assert table["keras.ops.gelu"] and not table["tf.nn.gelu"]
    x = np.linspace(-4, 4, 81).astype("float32")
    np.testing.assert_allclose(np.asarray(keras.ops.gelu(x)), A.gelu(x, approximate=True), atol=1e-6)
    np.testing.assert_allclose(np.asarray(keras.layers.Activation("gelu")(x)), A.gelu(x), atol=1e-6)


def test_keras_silu_is_swish_with_beta_one():
    import keras
    assert keras.activations.swish is keras.activations.silu
    x = np.linspace(-10, 10, 201)
    y, g = keras_value_and_grad(keras.activations.swish, x)
    np.testing.assert_allclose(y, A.silu(x), rtol=0, atol=1e-14)
    np.testing.assert_allclose(g, A.silu_grad(x), rtol=0, atol=1e-14)


def test_keras_selu_constants_match_the_derived_ones():
    from actbook.compare import keras_selu_constants
    table = keras_selu_constants()
    assert np.all(np.abs(table["ulps of float64"]) <= 4)


def test_every_reference_of_the_registry_has_a_keras_comparison_under_its_own_name():
    """A new activation without a Keras counterpart would have no agreement table in its chapter."""
    assert set(COUNTERPARTS) == set(A.REGISTRY)
    for ref, counterparts in COUNTERPARTS.items():
        assert counterparts and all(c.reference == ref for c in counterparts), ref


def test_the_agreement_table_has_a_row_per_counterpart_and_dtype_with_both_differences():
    from actbook.compare import agreement_table
    table = agreement_table("sigmoid")
    assert len(table) == 2 * len(COUNTERPARTS["sigmoid"])
    assert {"dtype", "keras", "max |diff| f", "max |diff| f'"} <= set(table.columns)
    assert (table[["max |diff| f", "max |diff| f'"]] < 1e-6).all().all()


def test_gelu_tanh_approximation_error():
    from actbook.compare import gelu_approximation_error
    e = gelu_approximation_error()
    assert 4e-4 < e["max_abs_f"] < 5e-4 and -3 < e["argmax_f"] < -2.5
    assert e["max_abs_grad"] < 1e-3
