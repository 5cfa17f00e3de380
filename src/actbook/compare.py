"""NumPy reference against Keras / TensorFlow: forward values and gradients.

The chapters print these tables; the tests assert on the same numbers, so the
book and the test suite can never disagree about how close Keras is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from actbook import tf_runtime  # noqa: F401  (TensorFlow first, without start-up noise)
import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from actbook import activations as A
from actbook import arms
from actbook.layers import make_activation

__all__ = ["Counterpart", "COUNTERPARTS", "probe_points", "keras_value_and_grad", "agreement", "agreement_table",
           "keras_defaults", "keras_selu_constants", "gelu_defaults", "gelu_approximation_error"]


@dataclass(frozen=True)
class Counterpart:
    """A Keras/TF implementation to hold against the NumPy reference of an arm."""

    label: str                  # how the table names the Keras side
    arm: str                    # the arm (actbook.arms) whose reference and parameters apply
    build: Callable[[str, dict], Callable]  # (dtype name, arm parameters) -> a callable on tf tensors
    overrides: dict = field(default_factory=dict)  # reference parameters other than the arm's (a variant)

    @property
    def reference(self) -> str:
        return arms.get(self.arm).function

    @property
    def params(self) -> dict:
        return {**arms.get(self.arm).params, **self.overrides}


def _fn(f):
    """A Keras function that needs neither the dtype nor the parameters."""
    return lambda dt, p: f


def _slope_label(template: str, arm: str) -> str:
    return template.format(arms.get(arm).params["alpha"])


COUNTERPARTS: dict[str, list[Counterpart]] = {
    "sigmoid": [Counterpart("keras.activations.sigmoid", "sigmoid", _fn(keras.activations.sigmoid))],
    "relu": [
        Counterpart("keras.activations.relu", "relu", _fn(keras.activations.relu)),
        Counterpart("keras.layers.ReLU()", "relu", lambda dt, p: keras.layers.ReLU(dtype=dt)),
    ],
    "leaky_relu": [
        Counterpart(_slope_label("keras.layers.LeakyReLU(negative_slope={:g})", "lrelu_0.01"), "lrelu_0.01",
                    lambda dt, p: keras.layers.LeakyReLU(negative_slope=p["alpha"], dtype=dt)),
        Counterpart("keras.activations.leaky_relu(x, 1/5.5)", "lrelu_1/5.5",
                    lambda dt, p: lambda x: keras.activations.leaky_relu(x, negative_slope=p["alpha"])),
    ],
    "prelu": [
        Counterpart("keras.layers.PReLU(alpha_initializer=Constant(0.25))", "prelu",
                    lambda dt, p: keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(p["alpha"]),
                                                     dtype=dt)),
        Counterpart("actbook.layers.ChannelPReLU(0.25)", "prelu_shared",
                    lambda dt, p: make_activation("prelu_shared", dtype=dt)),
    ],
    "rrelu": [Counterpart("actbook.layers.RReLU (inference)", "rrelu", lambda dt, p: make_activation("rrelu", dtype=dt))],
    "elu": [
        Counterpart("keras.activations.elu", "elu", _fn(keras.activations.elu)),
        Counterpart("tf.nn.elu", "elu", _fn(tf.nn.elu)),
        # At alpha != 1 the two branches' slopes differ at 0, so these rows show which one Keras takes there.
        Counterpart("keras.activations.elu(x, alpha=0.5)", "elu",
                    lambda dt, p: lambda x: keras.activations.elu(x, alpha=p["alpha"]), {"alpha": 0.5}),
        Counterpart("keras.layers.ELU(alpha=2)", "elu", lambda dt, p: keras.layers.ELU(alpha=p["alpha"], dtype=dt),
                    {"alpha": 2.0}),
    ],
    "softmax": [Counterpart("keras.activations.softmax", "softmax", _fn(keras.activations.softmax))],
    "tanh": [
        Counterpart("keras.activations.tanh", "tanh", _fn(keras.activations.tanh)),
        Counterpart("keras.layers.Activation('tanh')", "tanh", lambda dt, p: make_activation("tanh", dtype=dt)),
    ],
    "selu": [
        Counterpart("keras.activations.selu", "selu", _fn(keras.activations.selu)),
        Counterpart("tf.nn.selu", "selu", _fn(tf.nn.selu)),
    ],
    "gelu": [
        Counterpart("keras.activations.gelu (approximate=False)", "gelu", _fn(keras.activations.gelu)),
        Counterpart("tf.nn.gelu (approximate=False)", "gelu", _fn(tf.nn.gelu)),
        Counterpart("keras.ops.gelu(x, approximate=True)", "gelu",
                    lambda dt, p: lambda x: keras.ops.gelu(x, approximate=True), {"approximate": True}),
    ],
    "silu": [
        Counterpart("keras.activations.silu (= swish)", "silu", _fn(keras.activations.silu)),
        Counterpart("tf.nn.silu", "silu", _fn(tf.nn.silu)),
    ],
}


def probe_points(dtype=np.float64, n: int = 2001, seed: int = 0) -> np.ndarray:
    """Random normal points (scale 3) plus the edge cases: 0, +-tiny, +-large."""
    rng = np.random.default_rng(seed)
    edges = [0.0, 1e-8, -1e-8, 1e-3, -1e-3, 20.0, -20.0, 80.0, -80.0]
    return np.concatenate([rng.normal(scale=3.0, size=n), edges]).astype(dtype)


def keras_value_and_grad(fn: Callable, x: np.ndarray, softmax: bool = False):
    """Forward value and element-wise derivative through ``tf.GradientTape``.

    For softmax the "gradient" is the full Jacobian of a 1-D input.
    """
    xt = tf.constant(x)
    with tf.GradientTape(persistent=softmax) as tape:
        tape.watch(xt)
        y = fn(xt[None, :] if softmax else xt)
        if softmax:
            y = y[0]
    if softmax:
        jac = tape.jacobian(y, xt).numpy()
        return y.numpy(), jac
    # For an element-wise f, d(sum f(x)) / dx_i = f'(x_i).
    return y.numpy(), tape.gradient(y, xt).numpy()


def agreement(c: Counterpart, dtype) -> dict:
    """Max |NumPy - Keras| of the forward pass and of the derivative."""
    ref = A.get(c.reference)
    is_softmax = c.reference == "softmax"
    x = (np.random.default_rng(0).normal(scale=3.0, size=10).astype(dtype) if is_softmax
         else probe_points(dtype))
    y_tf, g_tf = keras_value_and_grad(c.build(np.dtype(dtype).name, c.params), x, softmax=is_softmax)
    y_np = ref(x, **c.params)
    g_np = ref.grad(x, **c.params)
    zero = np.flatnonzero(x == 0)
    row = {
        "reference": c.reference,
        "keras": c.label,
        "dtype": np.dtype(dtype).name,
        "max |diff| f": float(np.max(np.abs(y_np - y_tf))),
        "max |diff| f'": float(np.max(np.abs(g_np - g_tf))),
    }
    if not is_softmax:
        row["f'(0) numpy"] = float(g_np[zero[0]])
        row["f'(0) keras"] = float(g_tf[zero[0]])
    return row


def agreement_table(reference: str) -> pd.DataFrame:
    """One row per Keras counterpart of ``reference`` and per float dtype."""
    try:
        counterparts = COUNTERPARTS[reference]
    except KeyError:
        raise ValueError(f"no Keras counterparts for {reference!r}; valid: {', '.join(COUNTERPARTS)}") from None
    rows = [agreement(c, dt) for c in counterparts for dt in (np.float32, np.float64)]
    return pd.DataFrame(rows)


def keras_defaults() -> pd.DataFrame:
    """The defaults Keras ships, read from Keras itself, beside the papers'."""
    import inspect

    def default(fn, param):
        return inspect.signature(fn).parameters[param].default

    prelu = keras.layers.PReLU()
    prelu.build((None, 4))
    # (callable, what the parameter is, its argument's name there, Keras's default, the paper's value)
    rows = [
        ("keras.layers.LeakyReLU()", "negative slope", "negative_slope", keras.layers.LeakyReLU().negative_slope,
         "0.01 (Maas et al. 2013)"),
        ("keras.activations.leaky_relu", "negative slope", "negative_slope",
         default(keras.activations.leaky_relu, "negative_slope"), "0.01"),
        ("tf.nn.leaky_relu", "negative slope", "alpha", default(tf.nn.leaky_relu, "alpha"), "0.01"),
        ("keras.layers.PReLU()", "initial alpha", "alpha_initializer", float(np.unique(prelu.alpha.numpy())[0]),
         "0.25 (He et al. 2015)"),
        ("keras.layers.ELU()", "alpha", "alpha", keras.layers.ELU().alpha, "1.0 (Clevert et al. 2016)"),
        ("tf.nn.elu", "alpha", "(none)", "none (fixed at 1)", "1.0"),
    ]
    return pd.DataFrame(rows, columns=["Keras / TF", "parameter", "argument", "Keras default", "paper"])


def keras_selu_constants() -> pd.DataFrame:
    """SELU's constants as Keras computes them (read off ``keras.activations.selu``
    in float64, not from its docstring) beside those :mod:`actbook.activations`
    derives from the fixed-point conditions of Klambauer et al. (2017)."""
    # TensorFlow's kernel holds lambda and lambda * alpha (the negative saturation
    # value); both can be read exactly: e^-50 is below float64's resolution of 1.
    x = tf.constant([1.0, -50.0], tf.float64)
    y = keras.activations.selu(x).numpy()
    scale, scale_alpha = float(y[0]), float(-y[1])
    rows = [("lambda (scale)", scale, A.SELU_SCALE),
            ("lambda * alpha", scale_alpha, A.SELU_SCALE * A.SELU_ALPHA),
            ("alpha = (lambda * alpha) / lambda", scale_alpha / scale, A.SELU_ALPHA)]
    out = pd.DataFrame(rows, columns=["constant", "Keras", "derived (actbook)"]).set_index("constant")
    out["Keras - derived"] = out["Keras"] - out["derived (actbook)"]
    out["ulps of float64"] = out["Keras - derived"] / np.spacing(out["derived (actbook)"])
    return out


def gelu_defaults() -> pd.DataFrame:
    """Which GELU each Keras / TF entry point computes when ``approximate`` is not given,
    read from the signatures installed here."""
    import inspect

    def default(fn):
        return inspect.signature(fn).parameters["approximate"].default

    layer = keras.layers.Activation("gelu")
    rows = [
        ("keras.activations.gelu", default(keras.activations.gelu)),
        ("keras.layers.Activation('gelu')", default(layer.activation)),
        ("keras.ops.gelu", default(keras.ops.gelu)),
        ("tf.nn.gelu", default(tf.nn.gelu)),
    ]
    out = pd.DataFrame(rows, columns=["entry point", "approximate (default)"])
    out["computes"] = np.where(out["approximate (default)"], "tanh approximation", "exact (erf)")
    return out


def gelu_approximation_error(lo: float = -8.0, hi: float = 8.0, n: int = 160_001) -> dict:
    """Where and by how much the tanh approximation of GELU departs from the exact form,
    for the value and the derivative, on a grid of ``[lo, hi]`` (float64 references)."""
    x = np.linspace(lo, hi, n)
    d_f = A.gelu(x, approximate=True) - A.gelu(x)
    d_g = A.gelu_grad(x, approximate=True) - A.gelu_grad(x)
    i, j = int(np.argmax(np.abs(d_f))), int(np.argmax(np.abs(d_g)))
    return {"max_abs_f": float(abs(d_f[i])), "argmax_f": float(x[i]), "signed_f": float(d_f[i]),
            "max_abs_grad": float(abs(d_g[j])), "argmax_grad": float(x[j]), "signed_grad": float(d_g[j]),
            "x": x, "diff_f": d_f, "diff_grad": d_g}
