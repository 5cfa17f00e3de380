"""The arms of the study, as plain data: one entry per activation setting.

Everything else is derived from this table: the Keras layer factory
(:func:`actbook.layers.make_activation`), the NumPy reference of each arm,
the parameters of the Keras comparison tables, the display names in figures
and tables, the initialisation under ``init: per_activation``, and the list
of valid names on the command line. Parameters not given here are the
registry defaults of :mod:`actbook.activations`, so each value is written
once. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from actbook import activations as A

__all__ = ["Arm", "ARMS", "INITS", "init_variance", "get", "names", "slug", "display",
           "train_arms", "rrelu_mean_slope"]


#: The weight initialisations, as Keras's ``VarianceScaling`` reads them: the
#: fan the variance divides by, and the scale for a unit whose negative slope
#: is ``a``. Variance = scale / fan, with ``fan_avg = (n_in + n_out) / 2``:
#: He et al. (2015, eq. 15) 2 / (1 + a^2) / n_in, Glorot and Bengio (2010)
#: 2 / (n_in + n_out), LeCun et al. (1998) 1 / n_in. The one table behind the
#: Keras kernels (:func:`actbook.layers.kernel_initializer`) and the NumPy
#: depth experiments (:func:`actbook.properties.moments_through_depth`).
INITS = {
    "he": ("fan_in", lambda a: 2.0 / (1.0 + a * a)),
    "glorot": ("fan_avg", lambda a: 1.0),
    "lecun": ("fan_in", lambda a: 1.0),
}


def init_variance(init: str, n_in: int, n_out: int, negative_slope: float = 0.0) -> float:
    """The weight variance of ``init`` (a key of :data:`INITS`) for an ``n_in`` x ``n_out`` layer."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
    mode, scale = INITS[init]
    fan = n_in if mode == "fan_in" else (n_in + n_out) / 2
    return scale(negative_slope) / fan


@dataclass(frozen=True)
class Arm:
    """One activation setting.

    ``function`` names the NumPy reference in :mod:`actbook.activations`;
    ``overrides`` replaces some of its default parameters; ``layer`` holds
    options that only the Keras layer has (how parameters or noise are shared);
    ``init`` is the kernel initialisation under ``init: per_activation``
    (``"he"``: He et al.'s gain for the arm's negative slope at
    initialisation, ``"glorot"``, ``"lecun"``).
    """

    function: str
    display: str
    overrides: dict = field(default_factory=dict)
    layer: dict = field(default_factory=dict)
    init: str = "he"
    trainable_arm: bool = True   # usable as a hidden-layer activation in the training study

    @property
    def params(self) -> dict:
        """The NumPy reference's parameters: registry defaults, then overrides."""
        return {**A.get(self.function).params, **self.overrides}

    @property
    def negative_slope(self) -> float:
        """The slope for x < 0 the initialisation assumes (He et al. 2015, eq. 15):
        Leaky ReLU's and PReLU's (initial) alpha, RReLU's test-time 1/a; 0 otherwise."""
        p = self.params
        if self.function in ("leaky_relu", "prelu"):
            return float(p["alpha"])
        if self.function == "rrelu":
            return 2.0 / (p["lower"] + p["upper"])
        return 0.0

    def reference(self, x, **kwargs):
        """The arm's NumPy reference applied to ``x`` (inference behaviour)."""
        return A.get(self.function)(x, **{**self.params, **kwargs})


ARMS: dict[str, Arm] = {
    "sigmoid": Arm("sigmoid", "Sigmoid", init="glorot"),
    "relu": Arm("relu", "ReLU"),
    "lrelu_0.01": Arm("leaky_relu", "Leaky ReLU (slope 0.01)", {"alpha": 0.01}),
    "lrelu_1/5.5": Arm("leaky_relu", "Leaky ReLU (slope 1/5.5)", {"alpha": 1 / 5.5}),
    "prelu": Arm("prelu", "PReLU"),
    "prelu_shared": Arm("prelu", "PReLU (one slope per layer)", layer={"channel_shared": True}),
    "rrelu": Arm("rrelu", "RReLU (per element)"),
    "rrelu_channel": Arm("rrelu", "RReLU (per example and channel)", layer={"shared_axes": [1, 2]}),
    "elu": Arm("elu", "ELU"),
    "softmax": Arm("softmax", "Softmax", init="glorot", trainable_arm=False),
    "tanh": Arm("tanh", "tanh", init="glorot"),
    "selu": Arm("selu", "SELU", init="lecun"),
    "gelu": Arm("gelu", "GELU"),
    "silu": Arm("silu", "SiLU"),
}

def names() -> list[str]:
    return list(ARMS)


def train_arms() -> list[str]:
    """Arms that can be a hidden-layer activation (the CLI's valid names)."""
    return [n for n, a in ARMS.items() if a.trainable_arm]


def get(name: str) -> Arm:
    return A.lookup(ARMS, name)


def slug(name: str) -> str:
    """An arm's name usable in file names, model names and glue keys ("lrelu_1/5.5" -> "lrelu_1_5.5")."""
    return name.replace("/", "_")


def display(name: str) -> str:
    """The arm's name for figures, tables and prose ("lrelu_1/5.5" -> "Leaky ReLU (slope 1/5.5)")."""
    return get(name).display


def rrelu_mean_slope(lower: float, upper: float) -> float:
    """RReLU's mean training slope, E[1/a] = ln(u/l) / (u - l) for a divisor a ~ U(l, u).

    Xu et al. (2015) divide negative inputs by a ~ U(l, u) in training and by
    (l + u) / 2 at inference; 1/a is convex, so (Jensen) its mean exceeds the
    inference slope 2 / (l + u).
    """
    if not 0 < lower < upper:
        raise ValueError(f"need 0 < lower < upper, got lower={lower!r}, upper={upper!r}")
    return math.log(upper / lower) / (upper - lower)
