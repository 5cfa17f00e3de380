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

__all__ = ["RReLU", "RandomSlopeReLU", "ChannelPReLU", "ARMS", "STUDY_ARMS", "ARM_REFERENCE",
           "make_activation", "arm_slug"]


def _check_bounds(lower: float, upper: float) -> tuple[float, float]:
    lower, upper = float(lower), float(upper)
    if not (math.isfinite(lower) and math.isfinite(upper)):
        raise ValueError(f"lower and upper must be finite, got lower={lower}, upper={upper}")
    if lower <= 0:
        raise ValueError(f"lower must be > 0, got {lower}")
    if lower > upper:
        raise ValueError(f"lower must be <= upper, got lower={lower}, upper={upper}")
    return lower, upper


class _RandomNegativeSlope(keras.layers.Layer):
    """Shared machinery: ``x`` for ``x > 0``, ``slope * x`` otherwise, where the
    slope is drawn per element in training and fixed at inference."""

    def __init__(self, lower: float, upper: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.lower, self.upper = _check_bounds(lower, upper)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _negative_branch(self, inputs, training):
        """The output for ``inputs <= 0``."""
        raise NotImplementedError

    def call(self, inputs, training=None):
        return ops.where(inputs > 0, inputs, self._negative_branch(inputs, bool(training)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "lower": self.lower, "upper": self.upper, "seed": self.seed}


@keras.saving.register_keras_serializable(package="actbook")
class RReLU(_RandomNegativeSlope):
    """Randomized leaky ReLU as in Xu et al. (2015): ``y = x / a`` for ``x < 0``.

    Training: ``a ~ U(lower, upper)`` drawn independently per element.
    Inference: ``a = (lower + upper) / 2`` (5.5 by default). The defaults
    ``lower=3, upper=8`` are the paper's.
    """

    def __init__(self, lower: float = 3.0, upper: float = 8.0, seed: int | None = None, **kwargs):
        super().__init__(lower, upper, seed, **kwargs)

    def _negative_branch(self, inputs, training):
        if training:
            # Draw the divisor a, not the slope: 1/a is not uniform.
            # Drawn in float32: bfloat16 would round a to steps of 1/32.
            a = keras.random.uniform(ops.shape(inputs), self.lower, self.upper,
                                     dtype="float32", seed=self.seed_generator)
            return inputs / ops.cast(a, inputs.dtype)
        # A Python float keeps full precision in float64 (ops.cast would
        # go through a float32 tensor first).
        return inputs / ((self.lower + self.upper) / 2)


@keras.saving.register_keras_serializable(package="actbook")
class RandomSlopeReLU(_RandomNegativeSlope):
    """RReLU in the *slope* parameterisation of PyTorch and MXNet.

    Training: ``slope ~ U(lower, upper)``, default ``U(1/8, 1/3)``; inference:
    ``slope = (lower + upper) / 2 = 11/48``. Not the same distribution, nor
    the same test-time slope, as :class:`RReLU` (paper: ``2 / 11``).
    """

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3, seed: int | None = None, **kwargs):
        super().__init__(lower, upper, seed, **kwargs)

    def _negative_branch(self, inputs, training):
        if training:
            slope = keras.random.uniform(ops.shape(inputs), self.lower, self.upper,
                                         dtype="float32", seed=self.seed_generator)
            return inputs * ops.cast(slope, inputs.dtype)
        return inputs * ((self.lower + self.upper) / 2)


@keras.saving.register_keras_serializable(package="actbook")
class ChannelPReLU(keras.layers.Layer):
    """PReLU of He et al. (2015): ``x`` for ``x > 0``, ``alpha_c * x`` otherwise.

    One learnable ``alpha`` per channel (last axis), or one for the whole
    layer with ``channel_shared=True``; initialised to 0.25 as in the paper
    and never weight-decayed (the paper: decay pushes alpha to zero). The
    gradient at ``x = 0`` is ``alpha``, matching :func:`actbook.activations.prelu_grad`;
    Keras's ``PReLU`` gives 0 there and initialises alpha to 0.
    """

    def __init__(self, alpha_init: float = 0.25, channel_shared: bool = False, **kwargs):
        super().__init__(**kwargs)
        alpha_init = float(alpha_init)
        if not math.isfinite(alpha_init):
            raise ValueError(f"alpha_init must be finite, got {alpha_init}")
        self.alpha_init = alpha_init
        self.channel_shared = bool(channel_shared)
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


# The arms of the study. Keras's own defaults (LeakyReLU 0.3, PReLU alpha 0)
# are never used: every parameter is spelled out here.
ARMS: dict[str, callable] = {
    "sigmoid": lambda **kw: keras.layers.Activation("sigmoid", **kw),
    "relu": lambda **kw: keras.layers.ReLU(**kw),
    "lrelu_0.01": lambda **kw: keras.layers.LeakyReLU(negative_slope=0.01, **kw),   # a = 100
    "lrelu_1/5.5": lambda **kw: keras.layers.LeakyReLU(negative_slope=1 / 5.5, **kw),  # a = 5.5
    "prelu": lambda **kw: ChannelPReLU(alpha_init=0.25, **kw),
    "prelu_shared": lambda **kw: ChannelPReLU(alpha_init=0.25, channel_shared=True, **kw),
    "rrelu": lambda **kw: RReLU(lower=3.0, upper=8.0, **kw),
    "elu": lambda **kw: keras.layers.ELU(alpha=1.0, **kw),
    "softmax": lambda **kw: keras.layers.Softmax(axis=-1, **kw),
}

#: The hidden-layer activations compared in the training experiments.
STUDY_ARMS = ("sigmoid", "relu", "lrelu_0.01", "lrelu_1/5.5", "prelu", "rrelu", "elu")

#: Each arm's NumPy reference in ``actbook.activations``: (registry name, parameters).
#: PReLU's entry holds its *initial* slope; a trained layer's slopes are in ``layer.alpha``.
ARM_REFERENCE: dict[str, tuple[str, dict]] = {
    "sigmoid": ("sigmoid", {}),
    "relu": ("relu", {}),
    "lrelu_0.01": ("leaky_relu", {"alpha": 0.01}),
    "lrelu_1/5.5": ("leaky_relu", {"alpha": 1 / 5.5}),
    "prelu": ("prelu", {"alpha": 0.25}),
    "prelu_shared": ("prelu", {"alpha": 0.25}),
    "rrelu": ("rrelu", {"lower": 3.0, "upper": 8.0}),
    "elu": ("elu", {"alpha": 1.0}),
    "softmax": ("softmax", {}),
}


def arm_slug(arm: str) -> str:
    """An arm's name usable in file names, model names and glue keys ("lrelu_1/5.5" -> "lrelu_1_5.5")."""
    return arm.replace("/", "_")


def make_activation(arm: str, **layer_kwargs) -> keras.layers.Layer:
    """A fresh Keras layer for the arm ``arm`` (see :data:`ARMS`).

    ``layer_kwargs`` (e.g. ``name=``) go to the layer's constructor.
    """
    try:
        factory = ARMS[arm]
    except KeyError:
        raise ValueError(f"unknown activation {arm!r}; valid names: {', '.join(ARMS)}") from None
    return factory(**layer_kwargs)
