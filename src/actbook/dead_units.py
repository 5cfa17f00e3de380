"""Dead units: ReLU units that output 0 for every input, so get no gradient.

A unit is *dead* on a data set when its pre-activation is <= 0 for every
example: ReLU's derivative is 0 there, so no gradient reaches its incoming
weights through it. As long as its inputs do not change, nothing revives it:
a dead unit of the first hidden layer (fixed inputs) stays dead. A unit of a
deeper layer can come back when the layers below it keep learning and move
its inputs, which :func:`dying_relu_experiment` counts. For Leaky ReLU, PReLU
and ELU "never positive" is not death: their derivative on the negative side
is not zero. The measurement works for any Keras model whose activations are
separate layers (as every model built by ``actbook`` is).
"""

from __future__ import annotations

from actbook.keras_backend import keras_module

keras = keras_module()  # through actbook.tf_runtime on TensorFlow: no start-up noise
import numpy as np  # noqa: E402
import pandas as pd

from actbook import activations as A
from actbook.layers import initializer, make_activation

__all__ = ["dead_fraction", "dead_units", "activation_outputs", "never_active_fractions", "dying_relu_experiment", "dying_units_by_arm",
           "switched_off_unit"]


def dead_fraction(outputs: np.ndarray) -> float:
    """Fraction of units (last axis; spatial positions pooled) never > 0."""
    outputs = np.asarray(outputs)
    active = (outputs.reshape(-1, outputs.shape[-1]) > 0).any(axis=0)
    return float(1.0 - active.mean())


def dead_units(outputs: np.ndarray) -> np.ndarray:
    """Boolean mask over units (last axis; spatial positions pooled): never > 0."""
    outputs = np.asarray(outputs)
    return ~(outputs.reshape(-1, outputs.shape[-1]) > 0).any(axis=0)


def activation_outputs(model: keras.Model, x: np.ndarray, prefix: str = "act_", batch_size: int = 512) -> dict:
    """Outputs on ``x`` of every hidden activation layer of ``model`` (the
    layers ``actbook``'s models name ``act_<k>``), by layer name."""
    layers = [l for l in model.layers if l.name.startswith(prefix)]
    if not layers:
        raise ValueError(f"model {model.name!r} has no layer named {prefix}*")
    probe = keras.Model(model.inputs, [l.output for l in layers])
    outs = probe.predict(x, batch_size=batch_size, verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    return {l.name: o for l, o in zip(layers, outs)}


def never_active_fractions(model: keras.Model, x: np.ndarray, prefix: str = "act_", batch_size: int = 256) -> dict:
    """:func:`dead_fraction` of every ``act_<k>`` layer on ``x``, reduced batch
    by batch: only one "ever > 0" flag per unit is kept, never the outputs,
    so memory stays at one batch's activations whatever the size of ``x``."""
    layers = [l for l in model.layers if l.name.startswith(prefix)]
    if not layers:
        raise ValueError(f"model {model.name!r} has no layer named {prefix}*")
    probe = keras.Model(model.input, [l.output for l in layers])
    active = {l.name: np.zeros(l.output.shape[-1], bool) for l in layers}
    for start in range(0, len(x), batch_size):
        outs = probe(x[start:start + batch_size], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for l, o in zip(layers, outs):
            o = keras.ops.convert_to_numpy(o)
            active[l.name] |= (o.reshape(-1, o.shape[-1]) > 0).any(axis=0)
    return {name: float(1.0 - a.mean()) for name, a in active.items()}


def _mlp(width: int, depth: int, arm: str, seed: int, inputs: int) -> keras.Model:
    init = initializer("he", seed)   # one instance for every hidden layer, as this experiment has always drawn them
    x = inp = keras.Input((inputs,))
    for i in range(depth):
        x = keras.layers.Dense(width, kernel_initializer=init, name=f"dense_{i + 1}")(x)
        x = make_activation(arm, name=f"act_{i + 1}")(x)
    out = keras.layers.Dense(1, kernel_initializer=initializer("glorot", seed, distribution="uniform"), name="output")(x)
    return keras.Model(inp, out)


def dying_relu_experiment(learning_rates=(1e-3, 1e-2, 2e-2, 3e-2, 4e-2), arm: str = "relu", seed: int = 0,
                          n: int = 4096, inputs: int = 32, width: int = 128, depth: int = 3,
                          epochs: int = 5, batch_size: int = 64) -> pd.DataFrame:
    """Train the same MLP with plain SGD at several learning rates and count
    the units that end up never positive on the training inputs, per hidden layer.

    The task is a fixed random regression (a noisy one-unit teacher), so the
    only thing that changes between rows is the learning rate. The units are
    checked at initialisation and after every epoch: ``revived`` is the
    fraction of units that were never positive at one of those checks and
    are active again at the end (possible only when the layers below moved).
    A run whose loss became NaN is marked ``diverged`` and gets no fractions.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, inputs)).astype("float32")
    teacher = rng.standard_normal((inputs, 1)).astype("float32")
    y = np.tanh(x @ teacher / np.sqrt(inputs)) + 0.1 * rng.standard_normal((n, 1)).astype("float32")
    rows = []
    for lr in learning_rates:
        keras.utils.set_random_seed(seed)
        model = _mlp(width, depth, arm, seed, inputs)
        before = activation_outputs(model, x)
        ever_dead = {name: dead_units(out) for name, out in before.items()}
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
        loss = np.nan
        for _ in range(epochs):
            loss = float(model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True).history["loss"][-1])
            if not np.isfinite(loss):
                break
            after = activation_outputs(model, x)
            for name, out in after.items():
                ever_dead[name] |= dead_units(out)
        diverged = not np.isfinite(loss)
        for layer, name in enumerate(before, start=1):
            # NaN outputs are never > 0: a diverged run is not "dead"
            dead_end = None if diverged else dead_units(after[name])
            rows.append({"arm": arm, "learning rate": lr, "layer": layer,
                         "dead at init": dead_fraction(before[name]),
                         "dead after training": np.nan if diverged else float(dead_end.mean()),
                         "revived": np.nan if diverged else float((ever_dead[name] & ~dead_end).mean()),
                         "final loss": loss, "diverged": diverged})
    return pd.DataFrame(rows)


def dying_units_by_arm(arms=("relu", "lrelu_0.01", "lrelu_1/5.5", "prelu", "elu"), **kwargs) -> pd.DataFrame:
    """:func:`dying_relu_experiment` for several arms, same data, seeds and settings."""
    return pd.concat([dying_relu_experiment(arm=arm, **kwargs) for arm in arms], ignore_index=True)


def switched_off_unit(alpha: float, seed: int = 0, inputs: int = 10, examples: int = 1000, steps: int = 4000,
                      rate: float = 0.05, start_bias: float = -3.0) -> tuple[np.ndarray, np.ndarray]:
    """One unit f(w.x + b), f Leaky ReLU with slope ``alpha`` (0: ReLU), fitted by
    full-batch gradient descent on the squared error to a teacher ReLU unit on
    ``examples`` standard normal inputs, starting with bias ``start_bias`` (switched
    off on every example). Returns, step by step, the largest input w.x + b over
    the examples and the fraction of them above 0: a ReLU unit that starts off
    gets no gradient and stays off; a Leaky one moves back."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((examples, inputs))
    y = A.relu(x @ (rng.standard_normal(inputs) / np.sqrt(inputs)))          # the teacher's outputs
    w, b = 0.1 * rng.standard_normal(inputs) / np.sqrt(inputs), start_bias
    largest, active = np.empty(steps), np.empty(steps)
    for step in range(steps):
        z = x @ w + b
        largest[step], active[step] = z.max(), np.mean(z > 0)
        g = A.leaky_relu_grad(z, alpha) * (A.leaky_relu(z, alpha) - y)   # d(loss)/dz, per example
        w, b = w - rate * x.T @ g / examples, b - rate * g.mean()
    return largest, active
