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
    assert row["max |diff| f"] <= tol
    if c.label == "keras.layers.PReLU(alpha=0.25)":
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
