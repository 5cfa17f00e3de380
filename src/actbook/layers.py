"""Keras 3 layers for the study: RReLU (Keras has none), a channel-wise PReLU,
and the factory that builds the activation of every arm.

Each arm differs from the others only in the layer :func:`make_activation`
returns, so a model built from it compares activations and nothing else.
"""

from __future__ import annotations

import math

from actbook import tf_runtime  # noqa: F401  (TensorFlow first, without start-up noise)
import keras
from keras import ops

from actbook import activations as A
from actbook import arms as _arms

__all__ = ["RANDOM_BITS", "RANDOM_LEVELS", "RReLU", "RandomSlopeReLU", "ChannelPReLU", "make_activation", "kernel_initializer"]


def _check_bool(value, name: str) -> bool:
    """Boolean flags take booleans only: ``"False"`` or ``"no"`` would be truthy."""
    if isinstance(value, bool):
        return value
    raise TypeError(f"{name} must be True or False, got {value!r}")


#: Random bits per RReLU draw (one uint8 per element) and the equally likely
#: values a draw takes.
RANDOM_BITS = 8
RANDOM_LEVELS = 2 ** RANDOM_BITS


def _uniform_levels(shape, lower, upper, seed_generator):
    """``RANDOM_LEVELS`` equally likely midpoints of ``[lower, upper)``, float32.

    The seed is drawn from ``seed_generator`` exactly as ``keras.random.uniform``
    draws it (one step of its state per call), so checkpoints and resumes see
    the same generator state as before.
    """
    tf = tf_runtime.tf
    seed = seed_generator.next()
    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)  # as Keras's TF backend does
    n = tf.reduce_prod(tf.cast(shape, tf.int32))
    per_word = 32 // RANDOM_BITS  # draws per 32-bit Philox word
    words = tf.random.stateless_uniform([(n + per_word - 1) // per_word], seed, minval=None, maxval=None,
                                        dtype=tf.uint32)
    k = tf.reshape(tf.reshape(tf.bitcast(words, tf.uint8), [-1])[:n], shape)
    step = (upper - lower) / RANDOM_LEVELS
    return lower + step * (tf.cast(k, tf.float32) + 0.5)


class _RandomNegativeSlope(keras.layers.Layer):
    """Shared machinery: ``x`` for ``x > 0``, ``slope * x`` otherwise, where the
    slope is drawn in training (per element, or shared over ``shared_axes``)
    and fixed at inference."""

    #: (lower, upper) when not given; each subclass sets its own.
    DEFAULT_BOUNDS: tuple[float, float]

    def __init__(self, lower: float | None = None, upper: float | None = None, seed: int | None = None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        lower = self.DEFAULT_BOUNDS[0] if lower is None else lower
        upper = self.DEFAULT_BOUNDS[1] if upper is None else upper
        self.lower, self.upper = A.rrelu_bounds(lower, upper)
        self.seed = seed
        if shared_axes is not None:
            if isinstance(shared_axes, int):
                shared_axes = [shared_axes]
            shared_axes = list(shared_axes)
            if not shared_axes or not all(isinstance(a, int) and not isinstance(a, bool) and a != 0
                                          for a in shared_axes):
                raise ValueError(f"shared_axes must be non-zero axis indices (0 is the batch), got {shared_axes!r}")
        self.shared_axes = shared_axes
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _draw(self, inputs, lower, upper):
        """One random number per position of the noise shape, on a grid of
        :data:`RANDOM_LEVELS` equally likely values (the midpoints of equal
        cells of ``[lower, upper)``), in float32.

        Why a grid: per element, the random-number generator was the largest
        part of RReLU's extra cost (a layer-level timing: about 60 % of
        the time one RReLU layer's forward and backward pass took). Philox
        produces 32 random bits per word; a float32 uniform spends a whole
        word per element, while 8-bit levels take four elements from one
        word, a quarter of the generator's work. The step-time ratios with
        the grid are measured by ``benchmarks/bench_step.py``.

        In float32, 256 levels put the divisor's distribution within 1/512 of
        U(lower, upper) in CDF, closer than rounding a continuous draw to
        bf16 keeps it (bf16 holds 193 values in [3, 8], up to 1/320 away in
        CDF); ``tests/test_layers.py`` checks this. The grid is not invisible:
        a Kolmogorov-Smirnov test on a few hundred thousand draws notices it.
        Under bf16 mixed precision the layer rounds the draws to bf16
        afterwards, which coarsens them somewhat more than rounding a
        continuous draw would.
        """
        shape = ops.shape(inputs)
        if self.shared_axes is not None:
            shape = A.noise_shape(shape, self.shared_axes)
        return _uniform_levels(shape, lower, upper, self.seed_generator)

    def _scale(self, inputs, r):
        """The negative branch given the random number ``r`` (divisor or slope)."""
        raise NotImplementedError

    def call(self, inputs, training=None):
        training = False if training is None else _check_bool(training, "training")
        if training:
            r = ops.cast(self._draw(inputs, self.lower, self.upper), inputs.dtype)
        else:
            # A Python float keeps full precision in float64 (ops.cast would
            # go through a float32 tensor first).
            r = (self.lower + self.upper) / 2
        return ops.where(inputs > 0, inputs, self._scale(inputs, r))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "lower": self.lower, "upper": self.upper, "seed": self.seed,
                "shared_axes": self.shared_axes}


@keras.saving.register_keras_serializable(package="actbook")
class RReLU(_RandomNegativeSlope):
    """Randomized leaky ReLU as in Xu et al. (2015): ``y = x / a`` for ``x < 0``.

    Training: ``a`` uniform on ``[lower, upper]`` (on a 256-level grid, see
    ``_draw``), drawn independently per element (what
    PyTorch and MXNet do), or once per position of the noise shape with
    ``shared_axes`` (like ``keras.layers.PReLU``): ``shared_axes=[1, 2]`` on
    images gives one divisor per example and channel, the paper's ``a_ji``.
    Inference: ``a = (lower + upper) / 2`` (5.5 by default). The defaults
    are the paper's U(3, 8).
    """

    DEFAULT_BOUNDS = (A.RRELU_LOWER, A.RRELU_UPPER)

    def _scale(self, inputs, a):
        # Divide by a, not multiply by a slope drawn uniformly: 1/a is not
        # uniform. With shared draws the reciprocal is taken on the small
        # noise tensor and broadcast as a product (cheaper than a division
        # over the whole activation; they differ by at most one rounding).
        if self.shared_axes is not None and not isinstance(a, (int, float)):
            return inputs * (1 / a)
        return inputs / a


@keras.saving.register_keras_serializable(package="actbook")
class RandomSlopeReLU(_RandomNegativeSlope):
    """RReLU in the *slope* parameterisation of PyTorch and MXNet.

    Training: ``slope`` uniform on ``[lower, upper]`` (256-level grid),
    default ``U(1/8, 1/3)`` (the
    reciprocals of the paper's bounds); inference: ``slope = (lower + upper) / 2
    = 11/48``. Not the same distribution, nor the same test-time slope, as
    :class:`RReLU` (paper: ``2 / 11``).
    """

    DEFAULT_BOUNDS = (1 / A.RRELU_UPPER, 1 / A.RRELU_LOWER)

    def _scale(self, inputs, slope):
        return inputs * slope


@keras.saving.register_keras_serializable(package="actbook")
class ChannelPReLU(keras.layers.Layer):
    """PReLU of He et al. (2015): ``x`` for ``x > 0``, ``alpha_c * x`` otherwise.

    One learnable ``alpha`` per channel (last axis), or one for the whole
    layer with ``channel_shared=True``; initialised to 0.25 as in the paper
    and never weight-decayed (the paper: decay pushes alpha to zero). The
    gradient at ``x = 0`` is ``alpha``, matching :func:`actbook.activations.prelu_grad`;
    Keras's ``PReLU`` gives 0 there and initialises alpha to 0.
    """

    def __init__(self, alpha_init: float = A.PRELU_ALPHA_INIT, channel_shared: bool = False, **kwargs):
        super().__init__(**kwargs)
        alpha_init = float(alpha_init)
        if not math.isfinite(alpha_init):
            raise ValueError(f"alpha_init must be finite, got {alpha_init}")
        self.alpha_init = alpha_init
        self.channel_shared = _check_bool(channel_shared, "channel_shared")
        self.supports_masking = True

    def build(self, input_shape):
        shape = (1,) if self.channel_shared else (input_shape[-1],)
        self.alpha = self.add_weight(
            name="alpha", shape=shape,
            initializer=keras.initializers.Constant(self.alpha_init),
            regularizer=None, trainable=True)

    def call(self, inputs):
        alpha = ops.cast(self.alpha, inputs.dtype)
        return ops.where(inputs > 0, inputs, inputs * alpha)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "alpha_init": self.alpha_init, "channel_shared": self.channel_shared}


# How each NumPy reference becomes a Keras layer, given the arm's parameters
# and layer options. Keras's own defaults (LeakyReLU 0.3, PReLU alpha 0) are
# never used: every parameter comes from the arm table.
_KERAS = {
    "sigmoid": lambda p, o, **kw: keras.layers.Activation("sigmoid", **kw),
    "relu": lambda p, o, **kw: keras.layers.ReLU(**kw),
    "leaky_relu": lambda p, o, **kw: keras.layers.LeakyReLU(negative_slope=p["alpha"], **kw),
    "prelu": lambda p, o, **kw: ChannelPReLU(alpha_init=p["alpha"], **o, **kw),
    "rrelu": lambda p, o, **kw: RReLU(lower=p["lower"], upper=p["upper"], **o, **kw),
    "elu": lambda p, o, **kw: keras.layers.ELU(alpha=p["alpha"], **kw),
    "softmax": lambda p, o, **kw: keras.layers.Softmax(axis=-1, **kw),
    "tanh": lambda p, o, **kw: keras.layers.Activation("tanh", **kw),
    # Keras's SELU has its constants built in (equal to actbook's derived ones to
    # a few ulps, see actbook.compare); the arm table never overrides them.
    "selu": lambda p, o, **kw: keras.layers.Activation("selu", **kw),
    # The string "gelu" is keras.activations.gelu with approximate=False, the
    # exact form; keras.ops.gelu defaults to the tanh approximation instead.
    "gelu": lambda p, o, **kw: keras.layers.Activation(
        "gelu" if not p["approximate"] else (lambda x: keras.activations.gelu(x, approximate=True)), **kw),
    "silu": lambda p, o, **kw: keras.layers.Activation("silu", **kw),
}


def make_activation(arm: str, **layer_kwargs) -> keras.layers.Layer:
    """A fresh Keras layer for the arm ``arm`` of :data:`actbook.arms.ARMS`.

    ``layer_kwargs`` (e.g. ``name=``) go to the layer's constructor.
    """
    spec = _arms.get(arm)
    return _KERAS[spec.function](spec.params, spec.layer, **layer_kwargs)


def kernel_initializer(arm: str, init: str, seed: int) -> keras.initializers.Initializer:
    """The convolution kernels' initialiser.

    ``"he"``: He normal for every arm (the ``cpu`` sweep's setting).
    ``"per_activation"``: the arm's own (:attr:`actbook.arms.Arm.init`): He
    et al.'s variance 2 / ((1 + a^2) n_in) for a unit with negative slope a
    (a = 0: ReLU, ELU), Glorot for the sigmoid, LeCun for SELU-like units.
    """
    if init == "he":
        return keras.initializers.HeNormal(seed=seed)
    if init != "per_activation":
        raise ValueError(f"unknown init {init!r}; valid: he, per_activation")
    spec = _arms.get(arm)
    if spec.init == "he":
        return keras.initializers.VarianceScaling(2.0 / (1.0 + spec.negative_slope ** 2), "fan_in",
                                                  "truncated_normal", seed=seed)
    if spec.init == "glorot":
        return keras.initializers.GlorotNormal(seed=seed)
    if spec.init == "lecun":
        return keras.initializers.LecunNormal(seed=seed)
    raise ValueError(f"arm {arm!r} has unknown init {spec.init!r}")
