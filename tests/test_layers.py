"""The Keras layers: RReLU, ChannelPReLU, the arm factory."""

import keras
import numpy as np
import pytest

from actbook import activations as A
from actbook.layers import ARM_REFERENCE, ARMS, STUDY_ARMS, ChannelPReLU, RandomSlopeReLU, RReLU, arm_slug, make_activation


def test_rrelu_inference_matches_numpy():
    x = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    np.testing.assert_array_equal(RReLU()(x, training=False), A.rrelu(x))


def test_rrelu_training_samples_per_element():
    layer = RReLU(seed=1)
    x = -np.ones((400, 500), dtype="float32")
    a = x / np.asarray(layer(x, training=True))
    assert a.min() >= 3 and a.max() <= 8
    assert a.mean() == pytest.approx(5.5, abs=0.01)
    assert a.var() == pytest.approx(25 / 12, rel=0.02)
    assert np.unique(a).size > 10_000
    pos = np.ones((3, 3), dtype="float32")
    np.testing.assert_array_equal(layer(pos, training=True), pos)


def test_rrelu_seeded_repeatability():
    x = -np.ones((10, 10), dtype="float32")
    y1 = np.asarray(RReLU(seed=3)(x, training=True))
    y2 = np.asarray(RReLU(seed=3)(x, training=True))
    np.testing.assert_array_equal(y1, y2)


def test_random_slope_parameterisation():
    layer = RandomSlopeReLU(seed=0)
    x = -np.ones((300, 300), dtype="float32")
    slope = -np.asarray(layer(x, training=True))
    assert slope.min() >= 1 / 8 and slope.max() <= 1 / 3
    assert slope.mean() == pytest.approx(11 / 48, abs=0.002)
    assert float(layer(np.float32(-1.0), training=False)) == pytest.approx(-11 / 48)


@pytest.mark.parametrize("bad", [dict(lower=0.0), dict(lower=9.0, upper=8.0), dict(lower=float("nan"))])
def test_rrelu_bad_bounds(bad):
    with pytest.raises(ValueError, match="lower"):
        RReLU(**bad)


def test_rrelu_config_round_trip_and_save_load(tmp_path):
    layer = RReLU(lower=2.0, upper=6.0, seed=5)
    clone = RReLU.from_config(layer.get_config())
    assert (clone.lower, clone.upper, clone.seed) == (2.0, 6.0, 5)

    inputs = keras.Input((4,))
    h = keras.layers.Dense(4, kernel_initializer="ones")(inputs)
    h = RReLU(lower=2.0, upper=6.0)(h)
    h = ChannelPReLU(alpha_init=0.3)(h)
    model = keras.Model(inputs, h)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.array([[-1.0, -2.0, 0.5, 1.0]], dtype="float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert isinstance(loaded.layers[2], RReLU) and loaded.layers[2].upper == 6.0


def test_channel_prelu_one_alpha_per_channel_no_decay():
    layer = ChannelPReLU()
    x = np.random.default_rng(1).normal(size=(2, 5, 5, 7)).astype("float32")
    y = layer(x)
    assert layer.alpha.shape == (7,)
    np.testing.assert_array_equal(layer.alpha.numpy(), 0.25)
    assert layer.alpha.regularizer is None
    np.testing.assert_allclose(y, A.prelu(x, np.full(7, 0.25, "float32")), rtol=1e-7)
    shared = ChannelPReLU(channel_shared=True)
    shared(x)
    assert shared.alpha.shape == (1,)


def test_factory_spells_out_every_parameter():
    assert set(STUDY_ARMS) <= set(ARMS)
    assert make_activation("lrelu_0.01").negative_slope == pytest.approx(0.01)
    assert make_activation("lrelu_1/5.5").negative_slope == pytest.approx(1 / 5.5)
    prelu = make_activation("prelu")
    prelu.build((None, 3))
    np.testing.assert_array_equal(prelu.alpha.numpy(), 0.25)
    rrelu = make_activation("rrelu")
    assert (rrelu.lower, rrelu.upper) == (3.0, 8.0)
    assert make_activation("elu").alpha == 1.0
    assert make_activation("relu", name="act_1").name == "act_1"
    # each call returns a fresh layer
    assert make_activation("prelu") is not make_activation("prelu")


@pytest.mark.parametrize("name", list(ARMS))
def test_factory_layers_agree_with_numpy(name):
    x = np.random.default_rng(2).normal(size=(4, 6)).astype("float32")
    y = np.asarray(make_activation(name)(x))
    reference, params = ARM_REFERENCE[name]
    np.testing.assert_allclose(y, A.get(reference)(x, **params), rtol=1e-6, atol=1e-7)


def test_every_arm_has_a_reference_and_a_slug():
    assert set(ARM_REFERENCE) == set(ARMS)
    assert ARM_REFERENCE["lrelu_1/5.5"] == ("leaky_relu", {"alpha": 1 / 5.5})
    assert arm_slug("lrelu_1/5.5") == "lrelu_1_5.5" and arm_slug("relu") == "relu"


def test_factory_unknown_name():
    with pytest.raises(ValueError, match="valid names: sigmoid, relu"):
        make_activation("swish")
