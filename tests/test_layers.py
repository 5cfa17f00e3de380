"""The Keras layers (RReLU, RandomSlopeReLU, ChannelPReLU), tested the way
Keras tests its own, and the arm factory derived from ``actbook.arms``.

The layers use ``keras.ops`` and ``keras.random`` only, so this module runs
on every Keras backend: under TensorFlow (the default) it reruns itself in a
subprocess under each other installed backend (:func:`test_under_other_backend`);
``KERAS_BACKEND=jax python -m pytest tests/test_layers.py`` runs it directly.
"""

import contextlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy import stats

from actbook import activations as A
from actbook import arms
from actbook.layers import (DRAWS_PER_WORD, RANDOM_BITS, RANDOM_LEVELS, ChannelPReLU, RandomSlopeReLU, RReLU,
                            kernel_initializer, make_activation)

BACKEND = keras.config.backend()
OTHER_BACKENDS = ("jax", "torch")
#: Set in the reruns under other backends, so that they do not spawn reruns of their own.
CHILD = "ACTBOOK_LAYER_TESTS_BACKEND_RUN"

to_numpy = keras.ops.convert_to_numpy

CUSTOM = {
    "RReLU": lambda **kw: RReLU(lower=2.0, upper=6.0, seed=5, **kw),
    "RReLU_channel": lambda **kw: RReLU(seed=5, shared_axes=[1, 2], **kw),
    "RandomSlopeReLU": lambda **kw: RandomSlopeReLU(seed=5, **kw),
    "ChannelPReLU": lambda **kw: ChannelPReLU(alpha_init=0.3, **kw),
}


def _reference(layer, x):
    """What the layer computes at inference, from the NumPy reference."""
    if isinstance(layer, RReLU):
        return A.rrelu(x, layer.lower, layer.upper)
    if isinstance(layer, RandomSlopeReLU):
        return A.leaky_relu(x, (layer.lower + layer.upper) / 2)
    return A.prelu(x, to_numpy(layer.alpha).astype(x.dtype))


def _dtype_scope(dtype):
    """JAX computes in float32 unless 64-bit types are switched on."""
    if dtype == "float64" and BACKEND == "jax":
        import jax
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def _as_float(y):
    """A layer's output as a NumPy array (bf16 widened to float32 first)."""
    return to_numpy(keras.ops.cast(y, "float32")) if keras.backend.standardize_dtype(y.dtype) == "bfloat16" \
        else to_numpy(y)


@pytest.mark.parametrize("name", CUSTOM)
def test_config_round_trip(name):
    layer = CUSTOM[name]()
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("name", CUSTOM)
def test_save_and_load_in_a_model(name, tmp_path):
    inputs = keras.Input((5, 5, 3))
    outputs = CUSTOM[name]()(keras.layers.Conv2D(3, 1, kernel_initializer=keras.initializers.RandomNormal(seed=0))(inputs))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(loaded.layers[-1]) is type(model.layers[-1])
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()


@pytest.mark.parametrize("dtype", ["float32", "float64", "mixed_bfloat16"])
@pytest.mark.parametrize("name", CUSTOM)
def test_inference_matches_numpy_in_each_dtype(name, dtype):
    with _dtype_scope(dtype):
        layer = CUSTOM[name](dtype=dtype)
        x = np.random.default_rng(1).normal(size=(3, 4, 4, 3)).astype("float32" if dtype == "mixed_bfloat16" else dtype)
        y = layer(x, training=False) if not isinstance(layer, ChannelPReLU) else layer(x)
        expected_dtype = "bfloat16" if dtype == "mixed_bfloat16" else dtype
        assert keras.backend.standardize_dtype(y.dtype) == expected_dtype
        if dtype == "mixed_bfloat16":
            xb = to_numpy(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"))
            np.testing.assert_allclose(_as_float(y), _reference(layer, xb), rtol=2 ** -7, atol=0)
        else:
            np.testing.assert_allclose(to_numpy(y), _reference(layer, x), rtol=4 * np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["RReLU", "RReLU_channel", "RandomSlopeReLU"])
def test_inference_uses_the_mean_exactly(name, dtype):
    """At inference the divisor (or slope) is (lower + upper) / 2, rounded once to the dtype."""
    with _dtype_scope(dtype):
        layer = CUSTOM[name](dtype=dtype)
        x = np.random.default_rng(3).normal(size=(2, 3, 3, 4)).astype(dtype)
        mean = np.asarray((layer.lower + layer.upper) / 2, dtype=dtype)
        expected = np.where(x > 0, x, x / mean if isinstance(layer, RReLU) else x * mean)
        y = to_numpy(layer(x, training=False))
        if BACKEND == "jax":  # XLA divides by a constant as a product with its reciprocal: one rounding more
            np.testing.assert_allclose(y, expected, rtol=np.finfo(dtype).eps, atol=0)
        else:
            np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("dtype", ["float32", "float64", "mixed_bfloat16"])
@pytest.mark.parametrize("name", ["RReLU", "RReLU_channel", "RandomSlopeReLU"])
def test_training_keeps_the_dtype_and_draws_on_the_grid(name, dtype):
    """The draws are grid points computed in float32 (float64 for float64
    inputs), then rounded to the compute dtype."""
    with _dtype_scope(dtype):
        layer = CUSTOM[name](dtype=dtype)
        x = -np.ones((8, 4, 4, 6), dtype="float32" if dtype == "mixed_bfloat16" else dtype)
        y = layer(x, training=True)
        expected_dtype = "bfloat16" if dtype == "mixed_bfloat16" else dtype
        assert keras.backend.standardize_dtype(y.dtype) == expected_dtype
        r = -_as_float(y).astype("float64")                       # 1/a (RReLU) or the slope
        r = 1 / r if isinstance(layer, RReLU) else r
        step = (layer.upper - layer.lower) / RANDOM_LEVELS
        grid = layer.lower + step * (np.arange(RANDOM_LEVELS) + 0.5)
        if dtype == "float64":
            nearest = grid[np.abs(r.reshape(-1, 1) - grid).argmin(axis=1)]
            np.testing.assert_allclose(r.ravel(), nearest, rtol=4 * np.finfo("float64").eps, atol=0)
        else:
            tol = 2 ** -7 if dtype == "mixed_bfloat16" else 4 * np.finfo("float32").eps
            assert np.all(r >= layer.lower * (1 - tol)) and np.all(r <= layer.upper * (1 + tol))


@pytest.mark.parametrize("name", ["RReLU", "RReLU_channel", "RandomSlopeReLU"])
def test_training_differs_from_inference_only_for_negative_inputs(name):
    layer = CUSTOM[name]()
    x = np.random.default_rng(2).normal(size=(4, 6, 6, 3)).astype("float32")
    train, infer = to_numpy(layer(x, training=True)), to_numpy(layer(x, training=False))
    pos = x > 0
    np.testing.assert_array_equal(train[pos], x[pos])
    assert np.all(train[~pos] != infer[~pos])
    slope = train[~pos] / x[~pos]
    assert slope.min() >= 1 / layer.upper - 1e-6 if isinstance(layer, RReLU) else slope.min() >= layer.lower - 1e-6


@pytest.mark.parametrize("bad", ["no", "False", 1, 0])
def test_boolean_flags_take_booleans_only(bad):
    with pytest.raises(TypeError, match="channel_shared"):
        ChannelPReLU(channel_shared=bad)
    with pytest.raises(TypeError, match="training"):
        RReLU()(np.ones((2, 2), "float32"), training=bad)


@pytest.mark.parametrize("bad", [dict(lower=0.0), dict(lower=9.0, upper=8.0), dict(lower=float("nan"))])
def test_rrelu_bad_bounds(bad):
    with pytest.raises(ValueError, match="lower"):
        RReLU(**bad)


@pytest.mark.parametrize("bad", [[0], [], ["1"], [True]])
def test_rrelu_bad_shared_axes(bad):
    with pytest.raises(ValueError, match="shared_axes"):
        RReLU(shared_axes=bad)


def test_rrelu_per_element_divisor_is_uniform_on_its_grid():
    x = -np.ones((400, 500), dtype="float32")
    a = (x / to_numpy(RReLU(seed=1)(x, training=True))).ravel()
    grid = (3 + 5 / RANDOM_LEVELS * (np.arange(RANDOM_LEVELS) + 0.5)).astype("float32")
    levels, counts = np.unique(a, return_counts=True)
    np.testing.assert_allclose(levels, grid, rtol=1e-6)       # every level, and only those
    assert stats.chisquare(counts).pvalue > 1e-3                # equally likely
    assert stats.kstest(a[:20_000], stats.uniform(3, 5).cdf).pvalue > 1e-3
    ks = stats.kstest(a, stats.uniform(3, 5).cdf).statistic   # 200,000 draws
    assert ks < 1 / (2 * RANDOM_LEVELS) + 3 / np.sqrt(a.size)


def test_rrelu_grid_is_closer_to_uniform_than_bf16_rounding():
    """The bar for the 8-bit grid: the sampled law stays U(3, 8) to within what bf16 resolves."""
    fine = np.linspace(3, 8, 1_000_001, dtype="float32")
    rounded = to_numpy(keras.ops.cast(keras.ops.cast(fine, "bfloat16"), "float32"))
    bf16_cdf_error = np.max(np.abs(fine - rounded)) / 5      # sup |F_rounded - F| for U(3, 8)
    grid_cdf_error = 1 / (2 * RANDOM_LEVELS)
    assert grid_cdf_error < bf16_cdf_error


def test_rrelu_channel_shares_the_divisor_within_example_and_channel():
    """shared_axes=[1, 2]: one a per (example, channel), the paper's a_ji."""
    x = -np.ones((300, 4, 5, 8), dtype="float32")
    a = x / to_numpy(RReLU(seed=2, shared_axes=[1, 2])(x, training=True))
    per_ec = a.reshape(300, 20, 8)
    np.testing.assert_array_equal(per_ec, np.broadcast_to(per_ec[:, :1, :], per_ec.shape))  # shared spatially
    draws = per_ec[:, 0, :]                    # one per example and channel
    # different across examples and channels: neighbours coincide only by chance (1 in 256)
    assert (draws[1:] != draws[:-1]).mean() > 0.98 and (draws[:, 1:] != draws[:, :-1]).mean() > 0.98
    assert stats.kstest(draws.ravel(), stats.uniform(3, 5).cdf).pvalue > 1e-3


def test_numpy_rrelu_shared_axes_matches_the_layer_semantics():
    x = -np.ones((6, 3, 3, 4))
    a = x / A.rrelu(x, training=True, rng=np.random.default_rng(0), shared_axes=(1, 2))
    assert np.all(a == a[:, :1, :1, :]) and np.unique(a).size == 24


def test_rrelu_seeded_repeatability_and_variation_between_calls():
    x = -np.ones((10, 10), dtype="float32")
    layer = RReLU(seed=3)
    y1 = to_numpy(layer(x, training=True))
    np.testing.assert_array_equal(y1, to_numpy(RReLU(seed=3)(x, training=True)))
    assert not np.array_equal(y1, to_numpy(layer(x, training=True)))  # the generator advances


@pytest.mark.parametrize("name", ["RReLU", "RReLU_channel", "RandomSlopeReLU"])
def test_seed_generator_state_is_the_only_random_state(name):
    """What a checkpoint saves (``seed_generator.state``) replays the draws exactly."""
    layer, x = CUSTOM[name](), -np.ones((4, 3, 3, 5), dtype="float32")
    layer(x, training=True)
    saved = to_numpy(layer.seed_generator.state)
    y1, y2 = to_numpy(layer(x, training=True)), to_numpy(layer(x, training=True))
    assert not np.array_equal(y1, y2)
    layer.seed_generator.state.assign(saved)
    np.testing.assert_array_equal(to_numpy(layer(x, training=True)), y1)
    np.testing.assert_array_equal(to_numpy(layer(x, training=True)), y2)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_rrelu_draws_use_every_position_whatever_the_size(n):
    """Sizes that are not a multiple of DRAWS_PER_WORD: every element gets a grid value."""
    x = -np.ones((n, 5), dtype="float32")
    a = x / to_numpy(RReLU(seed=n)(x, training=True))
    grid = (3 + 5 / RANDOM_LEVELS * (np.arange(RANDOM_LEVELS) + 0.5)).astype("float32")
    assert a.shape == (n, 5)
    np.testing.assert_allclose(a.ravel(), grid[np.abs(a.reshape(-1, 1) - grid).argmin(axis=1)], rtol=1e-6)
    assert DRAWS_PER_WORD * RANDOM_BITS <= 31  # one keras.random.randint int32 holds them


@pytest.mark.parametrize("name", ["RReLU", "RReLU_channel", "RandomSlopeReLU"])
def test_trains_in_a_compiled_model_with_unknown_batch_size(name):
    """``fit`` runs the training branch compiled (a graph, XLA or eager torch),
    with the batch dimension unknown; the generator advances once per step."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 4, 4, 3)).astype("float32"), rng.integers(0, 2, 12)
    inputs = keras.Input((4, 4, 3))
    h = CUSTOM[name]()(keras.layers.Conv2D(6, 1, kernel_initializer=keras.initializers.RandomNormal(seed=0))(inputs))
    outputs = keras.layers.Dense(2, kernel_initializer=keras.initializers.RandomNormal(seed=1))(
        keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = to_numpy(model.layers[2].seed_generator.state)
    history = model.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)  # batches of 5, 5 and 2
    assert np.isfinite(history.history["loss"][0])
    after = to_numpy(model.layers[2].seed_generator.state)
    assert not np.array_equal(before, after)


def test_random_slope_parameterisation():
    layer = RandomSlopeReLU(seed=0)
    x = -np.ones((300, 300), dtype="float32")
    slope = -to_numpy(layer(x, training=True))
    assert slope.min() >= 1 / 8 and slope.max() <= 1 / 3
    assert stats.kstest(slope.ravel()[:20_000], stats.uniform(1 / 8, 1 / 3 - 1 / 8).cdf).pvalue > 1e-3
    assert float(layer(np.float32(-1.0), training=False)) == pytest.approx(-11 / 48)


def test_channel_prelu_one_alpha_per_channel_no_decay():
    layer = ChannelPReLU()
    x = np.random.default_rng(1).normal(size=(2, 5, 5, 7)).astype("float32")
    layer(x)
    assert layer.alpha.shape == (7,) and layer.alpha.regularizer is None
    np.testing.assert_array_equal(to_numpy(layer.alpha), A.PRELU_ALPHA_INIT)
    shared = ChannelPReLU(channel_shared=True)
    shared(x)
    assert shared.alpha.shape == (1,)


@pytest.mark.parametrize("name", arms.names())
def test_factory_layers_agree_with_the_arm_reference(name):
    x = np.random.default_rng(2).normal(size=(4, 3, 3, 6)).astype("float32")
    y = to_numpy(make_activation(name)(x))
    # PyTorch's vectorised erf on AVX2 kernels is up to about 40 float32 ulps
    # off for small negative inputs (measured: 1.5e-7 at GELU = -0.0359).
    atol = 3e-7 if (BACKEND == "torch" and name == "gelu") else 1e-7
    np.testing.assert_allclose(y, arms.get(name).reference(x), rtol=1e-6, atol=atol)


def test_factory_passes_layer_options_and_names():
    assert make_activation("rrelu_channel").shared_axes == [1, 2]
    assert make_activation("rrelu").shared_axes is None
    assert make_activation("prelu_shared").channel_shared is True
    assert make_activation("relu", name="act_1").name == "act_1"


def test_factory_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="valid names: sigmoid, relu"):
        make_activation("swishy")


def test_arm_table_imports_without_tensorflow():
    code = "import sys, actbook.arms; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_slug_and_display():
    assert arms.slug("lrelu_1/5.5") == "lrelu_1_5.5"
    assert arms.display("lrelu_1/5.5") == "Leaky ReLU (slope 1/5.5)"
    assert "softmax" not in arms.train_arms()


@pytest.mark.parametrize("name", ["relu", "lrelu_1/5.5", "prelu", "rrelu", "sigmoid"])
def test_per_activation_init_has_he_et_al_variance(name):
    """Var(W) = 2 / ((1 + a^2) n_in) for a leaky unit, 2 / (n_in + n_out) for Glorot."""
    fan_in = fan_out = 3 * 3 * 64  # a conv kernel: receptive field x channels
    w = to_numpy(kernel_initializer(name, "per_activation", seed=0)((3, 3, 64, 64)))
    arm = arms.get(name)
    expected = 2 / (fan_in + fan_out) if arm.init == "glorot" else 2 / ((1 + arm.negative_slope ** 2) * fan_in)
    assert w.var() == pytest.approx(expected, rel=0.05)
    he = to_numpy(kernel_initializer(name, "he", seed=0)((3, 3, 64, 64)))
    assert he.var() == pytest.approx(2 / fan_in, rel=0.05)


def test_layers_import_no_tensorflow_under_another_backend():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    code = "import sys, actbook.layers; assert 'tensorflow' not in sys.modules, 'actbook.layers imported TensorFlow'"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "KERAS_BACKEND": "jax"})


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_under_other_backend(backend):
    """This module again, under ``backend``, in a fresh process (Keras picks its backend at import)."""
    if BACKEND != "tensorflow" or os.environ.get(CHILD):
        pytest.skip("the TensorFlow run starts the runs under the other backends")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, CHILD: backend}
    proc = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"],
                          cwd=Path(__file__).resolve().parent.parent, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"tests/test_layers.py under KERAS_BACKEND={backend}:\n" + proc.stdout[-6000:]
