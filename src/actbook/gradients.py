"""Gradient diagnostics for deep networks: the vanishing-gradient experiment's network and measurements.

A deep fully connected network is run *by hand*, layer by layer, inside one
``tf.GradientTape``, so that the tape sees every pre-activation ``z_l`` and
can return both the weight gradients ``dL/dW_l`` and the backpropagated
errors ``delta_l = dL/dz_l``. With the identity activation the errors obey
``delta_l = W_{l+1} delta_{l+1}`` exactly, which the tests check against
NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actbook import tf_runtime  # noqa: F401  (TensorFlow first, without start-up noise)
import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from actbook import activations as A
from actbook.dead_units import dead_fraction
from actbook import arms
from actbook.layers import ChannelPReLU, initializer, make_activation
from actbook.vanishing import VANISHING

__all__ = ["DeepMLP", "gradient_norms", "local_derivative", "layer_statistics", "train_and_track",
           "INITIALISERS", "first_over_last", "activation_norms", "unit_statistics", "layer_moments"]

#: The deep networks' initialisers, Keras's named ones (:func:`actbook.layers.initializer`):
#: Glorot and Bengio's uniform draw, He et al.'s truncated normal for a = 0.
INITIALISERS = {
    "glorot": lambda seed: initializer("glorot", seed, distribution="uniform"),
    "he": lambda seed: initializer("he", seed),
}


@dataclass
class DeepMLP:
    """``depth`` hidden Dense layers of ``width`` units, each followed by the arm's activation."""

    arm: str
    depth: int = 15
    width: int = 256
    init: str = "glorot"
    seed: int = 0
    num_classes: int = 10
    dense: list = field(init=False)
    acts: list = field(init=False)
    head: keras.layers.Dense = field(init=False)

    def __post_init__(self):
        if self.init not in INITIALISERS:
            raise ValueError(f"unknown init {self.init!r}; valid: {', '.join(INITIALISERS)}")
        keras.utils.set_random_seed(self.seed)
        make_init = INITIALISERS[self.init]
        self.dense = [keras.layers.Dense(self.width, kernel_initializer=make_init(self.seed + l),
                                         name=f"dense_{l + 1}") for l in range(self.depth)]
        self.acts = [keras.layers.Activation("linear", name=f"act_{l + 1}") if self.arm == "linear"
                     else make_activation(self.arm, name=f"act_{l + 1}") for l in range(self.depth)]
        self.head = keras.layers.Dense(self.num_classes, kernel_initializer=make_init(self.seed + 10_000),
                                       name="head")

    @property
    def trainable_weights(self):
        return [w for layer in self.dense + self.acts + [self.head] for w in layer.trainable_weights]

    def forward(self, x, training: bool = False):
        """Logits, pre-activations ``z_l`` and activations ``a_l`` of every hidden layer."""
        h = tf.reshape(x, (tf.shape(x)[0], -1))
        zs, hs = [], []
        for dense, act in zip(self.dense, self.acts):
            z = dense(h)
            h = act(z, training=training)
            zs.append(z)
            hs.append(h)
        return self.head(h), zs, hs


def _loss(logits, y):
    return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


def gradient_norms(net: DeepMLP, x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Per hidden layer: ||dL/dW_l||_F and the RMS per-example norm of delta_l = dL/dz_l."""
    x = tf.constant(x, tf.float32)
    y = tf.constant(y)
    with tf.GradientTape() as tape:
        logits, zs, _ = net.forward(x, training=False)
        loss = _loss(logits, y)
    kernels = [d.kernel for d in net.dense]
    grads = tape.gradient(loss, kernels + zs)
    gw, gz = grads[:net.depth], grads[net.depth:]
    batch = float(x.shape[0])
    return pd.DataFrame({
        "layer": np.arange(1, net.depth + 1),
        "weight_grad_norm": [float(tf.norm(g)) for g in gw],
        "delta_norm": [float(tf.norm(g)) / np.sqrt(batch) for g in gz],
        "loss": float(loss),
    })


def local_derivative(net: DeepMLP, layer: int, z: np.ndarray) -> np.ndarray:
    """f'(z) of hidden layer ``layer`` (0-based) with the NumPy reference,
    using the layer's current parameters (PReLU's learned slopes)."""
    if net.arm == "linear":
        return np.ones_like(z)
    arm = arms.get(net.arm)
    name, params = arm.function, arm.params
    act = net.acts[layer]
    if isinstance(act, ChannelPReLU):
        params = {"alpha": act.alpha.numpy()}
    return A.get(name).grad(z, **params)


def layer_statistics(net: DeepMLP, x: np.ndarray, blocked: float = 1e-2) -> pd.DataFrame:
    """Per hidden layer, on the examples ``x``: the fraction of units never
    positive ("dead" for ReLU), the fraction of pre-activations whose local
    derivative is below ``blocked`` ("saturated" for the sigmoid), and the
    mean activation."""
    _, zs, hs = net.forward(tf.constant(x, tf.float32), training=False)
    rows = []
    for l, (z, h) in enumerate(zip(zs, hs)):
        z, h = z.numpy(), h.numpy()
        rows.append({"layer": l + 1,
                     "never_positive": dead_fraction(h),
                     "blocked": float(np.mean(np.abs(local_derivative(net, l, z)) < blocked)),
                     "mean_activation": float(h.mean())})
    return pd.DataFrame(rows)


def train_and_track(net: DeepMLP, x_train, y_train, x_probe, y_probe, epochs: int = 5,
                    batch_size: int = 128, learning_rate: float = 0.01, momentum: float = 0.9,
                    seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plain SGD with momentum; after every epoch, the probe batch's per-layer
    gradient norms and statistics. Returns ``(per_epoch, per_layer)`` frames;
    epoch 0 is the network before training."""
    opt = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    net.forward(tf.constant(x_probe[:1], tf.float32))  # build the layers: their weights exist from here
    weights = net.trainable_weights
    opt.build(weights)

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            logits, _, _ = net.forward(xb, training=True)
            loss = _loss(logits, yb)
        opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    rng = np.random.default_rng(seed)
    per_epoch, per_layer = [], []

    def record(epoch, train_loss):
        norms = gradient_norms(net, x_probe, y_probe)
        stats = layer_statistics(net, x_probe)
        merged = norms.merge(stats, on="layer").assign(epoch=epoch)
        per_layer.append(merged)
        per_epoch.append({"epoch": epoch, "train_loss": train_loss, "probe_loss": float(norms["loss"].iloc[0])})

    record(0, float("nan"))
    n = len(y_train)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        losses = [float(step(tf.constant(x_train[idx]), tf.constant(y_train[idx])))
                  for idx in np.array_split(order, max(n // batch_size, 1))]
        record(epoch, float(np.mean(losses)))
    return pd.DataFrame(per_epoch), pd.concat(per_layer, ignore_index=True)


def first_over_last(frame: pd.DataFrame, column: str = "weight_grad_norm") -> float:
    """``column`` at the first hidden layer over its value at the last (1: nothing vanishes)."""
    ordered = frame.sort_values("layer")
    return float(ordered[column].iloc[0] / ordered[column].iloc[-1])


def activation_norms(net, x: np.ndarray) -> pd.DataFrame:
    """Per hidden layer ``l``: the RMS per-example norm of its input :math:`a_{l-1}`
    (``a_0`` is ``x``), the other factor of :math:`\\partial L/\\partial W_l = \\delta_l a_{l-1}^\\top`."""
    x = np.asarray(x, np.float32)
    _, _, hs = net.forward(tf.constant(x), training=False)
    inputs = [x] + [h.numpy() for h in hs[:-1]]
    return pd.DataFrame({"layer": np.arange(1, len(hs) + 1),
                         "input_norm": [float(np.sqrt(np.mean(np.sum(a.astype(np.float64) ** 2, axis=1))))
                                        for a in inputs]})


def unit_statistics(net, x: np.ndarray, threshold: float = VANISHING["small_slope"]) -> pd.DataFrame:
    """Per hidden layer, on the examples ``x``: ``small_slope``, the fraction of
    pre-activations where :math:`|f'(z)| \\le` ``threshold`` (a saturated sigmoid
    unit; the negative side of ReLU, and of Leaky ReLU with slope 0.01), and
    ``never_positive``, the fraction of units whose output is positive for no example."""
    _, zs, hs = net.forward(tf.constant(np.asarray(x, np.float32)), training=False)
    rows = []
    for l, (z, h) in enumerate(zip(zs, hs)):
        slope = np.abs(local_derivative(net, l, z.numpy()))
        rows.append({"layer": l + 1, "small_slope": float(np.mean(slope <= threshold)),
                     "never_positive": dead_fraction(h.numpy())})
    return pd.DataFrame(rows)


def layer_moments(net: DeepMLP, x: np.ndarray) -> pd.DataFrame:
    """Per hidden layer, on the examples ``x`` (inference mode): ``spread``, the
    variance of each unit's output across the examples, averaged over the
    layer's units; ``second_moment``, the mean square output; ``offset_share``,
    :math:`\\sum_j \\bar a_j^2 / \\sum_j E[a_j^2]`, the part of the mean square
    that is each unit's mean output (1 - offset share = spread / mean square);
    ``mean_activation``; ``out_min`` and ``out_max``, the smallest and largest
    output; ``spacing``, the float32 spacing at the mean absolute output (the
    resolution left to tell outputs apart); and ``rounding_var``, the variance
    float32 rounding adds to an output, averaged over every output of the layer."""
    _, _, hs = net.forward(tf.constant(np.asarray(x, np.float32)), training=False)
    rows = []
    for l, h in enumerate(hs):
        a = h.numpy().astype(np.float64)
        second = float(np.mean(a ** 2))
        rows.append({"layer": l + 1, "spread": float(a.var(axis=0).mean()), "second_moment": second,
                     "offset_share": float(np.mean(a.mean(axis=0) ** 2) / second),
                     "mean_activation": float(a.mean()),
                     "out_min": float(a.min()), "out_max": float(a.max()),
                     "spacing": float(np.spacing(np.float32(np.abs(a).mean()))),
                     # A rounding error spread evenly over one spacing has variance spacing^2 / 12.
                     "rounding_var": float(np.mean(np.spacing(h.numpy().astype(np.float32))
                                                   .astype(np.float64) ** 2) / 12)})
    return pd.DataFrame(rows)
