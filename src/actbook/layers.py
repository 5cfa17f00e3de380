"""Keras 3 layers for the study: RReLU (Keras has none), a channel-wise PReLU,
and the factory that builds the activation of every arm.

Each arm differs from the others only in the layer :func:`make_activation`
returns, so a model built from it compares activations and nothing else.
The layers use ``keras.ops`` and ``keras.random`` only, so they run on every
Keras backend.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from actbook import activations as A
from actbook import arms as _arms

__all__ = ["RANDOM_BITS", "RANDOM_LEVELS", "DRAWS_PER_WORD", "RReLU", "RandomSlopeReLU", "ChannelPReLU",
           "make_activation", "initializer", "kernel_initializer"]


def _check_bool(value, name: str) -> bool:
    """Boolean flags take booleans only: ``"False"`` or ``"no"`` would be truthy."""
    if isinstance(value, bool):
        return value
    raise TypeError(f"{name} must be True or False, got {value!r}")


#: Random bits per RReLU draw and the equally likely values a draw takes.
RANDOM_BITS = 8
RANDOM_LEVELS = 2 ** RANDOM_BITS
#: Draws taken from one random integer of ``keras.random.randint`` (24 random bits).
DRAWS_PER_WORD = 3


def _random_levels(shape, seed_generator):
    """Independent integers uniform on ``0 .. RANDOM_LEVELS - 1`` (uint8), of ``shape``.

    Why three from each integer: every integer ``keras.random.randint``
    returns costs the generator at least one 32-bit word whatever its range,
    so one integer below ``2**24`` gives :data:`DRAWS_PER_WORD` draws for
    the price of one. One call, so ``seed_generator`` advances one step.
    """
    n = math.prod(shape)
    words = keras.random.randint((-(-n // DRAWS_PER_WORD),), 0, 2 ** (RANDOM_BITS * DRAWS_PER_WORD),
                                 seed=seed_generator)
    mask = RANDOM_LEVELS - 1
    # One byte per level: the concatenation moves a quarter of the int32 bytes.
    levels = ops.concatenate([ops.cast(ops.bitwise_and(words, mask), "uint8"),
                              ops.cast(ops.bitwise_and(ops.right_shift(words, RANDOM_BITS), mask), "uint8"),
                              ops.cast(ops.right_shift(words, 2 * RANDOM_BITS), "uint8")])
    return ops.reshape(levels[:n], shape)


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

    def _draw(self, inputs):
        """The random numbers of a training call: ``lower + step * (k + 1/2)``,
        ``step = (upper - lower) / RANDOM_LEVELS``, ``k`` uniform on
        ``0 .. RANDOM_LEVELS - 1`` (the midpoints of :data:`RANDOM_LEVELS`
        equal cells of ``[lower, upper)``), one per position of the noise
        shape; computed in float32 (float64 for float64 inputs) and returned
        in the inputs' dtype.

        Why a grid: per element, drawing the random numbers is most of what
        RReLU adds to a Leaky ReLU, and an 8-bit level lets one random integer
        serve :data:`DRAWS_PER_WORD` elements. The law stays within
        ``1 / (2 * RANDOM_LEVELS)`` of U(lower, upper) in CDF, closer than
        bf16 rounding of a continuous draw (``tests/test_layers.py``).
        """
        shape = ops.shape(inputs)
        if self.shared_axes is not None:
            shape = A.noise_shape(shape, self.shared_axes)
        k = _random_levels(shape, self.seed_generator)
        dtype = "float64" if keras.backend.standardize_dtype(inputs.dtype) == "float64" else "float32"
        step = (self.upper - self.lower) / RANDOM_LEVELS
        return ops.cast(ops.cast(k, dtype) * step + (self.lower + step / 2), inputs.dtype)

    def _scale(self, inputs, r):
        """The negative branch given ``r`` (divisor or slope), exact for ``r = 1``.

        An operator, not ``ops.divide`` or ``ops.multiply``: every backend then
        takes a Python float at full precision (``ops`` would make it a
        float32 tensor on PyTorch first).
        """
        raise NotImplementedError

    def call(self, inputs, training=None):
        training = False if training is None else _check_bool(training, "training")
        if not training:
            # A Python float keeps full precision in float64 (see _scale).
            return ops.where(inputs > 0, inputs, self._scale(inputs, (self.lower + self.upper) / 2))
        # Scaling by exactly 1 where x > 0 instead of selecting x there: the
        # same numbers, and the backward pass is one product instead of a
        # selection between two branches.
        return self._scale(inputs, ops.where(inputs > 0, 1.0, self._draw(inputs)))

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
        # Divide by a, not multiply by a slope drawn uniformly: 1/a is not uniform.
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
# and layer options. Keras's defaults that differ from the reference
# (LeakyReLU 0.3, PReLU alpha 0) are never used: those parameters come from
# the arm table. ReLU's layer uses keras.layers.ReLU's defaults and SELU
# Keras's built-in constants; both equal the reference (actbook.compare).
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


#: The functions whose layers draw random numbers in training, and so take a seed.
RANDOM_FUNCTIONS = ("rrelu",)


def make_activation(arm: str, seed: int | None = None, **layer_kwargs) -> keras.layers.Layer:
    """A fresh Keras layer for the arm ``arm`` of :data:`actbook.arms.ARMS`.

    ``seed`` seeds the layer's generator for an arm that draws random numbers
    in training (RReLU; without it Keras draws the generator's seed from its
    global seed); the other arms have no generator and ignore it.
    ``layer_kwargs`` (e.g. ``name=``) go to the layer's constructor.
    """
    spec = _arms.get(arm)
    if seed is not None and spec.function in RANDOM_FUNCTIONS:
        layer_kwargs["seed"] = seed
    return _KERAS[spec.function](spec.params, spec.layer, **layer_kwargs)


def initializer(init: str, seed: int, negative_slope: float = 0.0,
                distribution: str = "truncated_normal") -> keras.initializers.Initializer:
    """Every Keras initialiser of the book: the variance of ``init`` (a key of
    :data:`actbook.arms.INITS`) for a unit with negative slope ``negative_slope``,
    drawn from ``distribution`` as Keras's ``VarianceScaling`` reads it.

    Keras's named initialisers are special cases: ``("he", seed)`` is its
    ``HeNormal(seed)`` and ``("glorot", seed, distribution="uniform")`` its
    ``GlorotUniform(seed)``, the same numbers for the same seed."""
    if init not in _arms.INITS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(_arms.INITS)}")
    mode, scale = _arms.INITS[init]
    return keras.initializers.VarianceScaling(scale(negative_slope), mode, distribution, seed=seed)


def kernel_initializer(arm: str, init: str, seed: int) -> keras.initializers.Initializer:
    """The convolution kernels' initialiser, truncated normal with the variance of :data:`actbook.arms.INITS`.

    ``"he"``: He et al.'s for a = 0 for every arm (the ``cpu`` sweep's setting).
    ``"per_activation"``: the arm's own (:attr:`actbook.arms.Arm.init`): He
    et al.'s variance 2 / ((1 + a^2) n_in) for a unit with negative slope a
    (a = 0: ReLU, ELU), Glorot for the sigmoid, LeCun for SELU-like units.
    """
    if init not in ("he", "per_activation"):
        raise ValueError(f"unknown init {init!r}; valid: he, per_activation")
    spec = _arms.get(arm)
    name, slope = ("he", 0.0) if init == "he" else (spec.init, spec.negative_slope)
    if name not in _arms.INITS:
        raise ValueError(f"arm {arm!r} has unknown init {name!r}")
    return initializer(name, seed, slope)
