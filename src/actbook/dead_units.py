"""Dead units: ReLU units that output 0 for every input, so get no gradient.

A unit is *dead* on a data set when its pre-activation is <= 0 for every
example: ReLU's derivative is 0 there, so no gradient reaches its weights
and nothing can revive it. The measurement works for any Keras model whose
activations are separate layers (as every model built by ``actbook`` is).
"""

from __future__ import annotations

from actbook import tf_runtime  # noqa: F401  (TensorFlow first, without start-up noise)
import keras
import numpy as np
import pandas as pd

from actbook.layers import make_activation

__all__ = ["dead_fraction", "activation_outputs", "dying_relu_experiment"]


def dead_fraction(outputs: np.ndarray) -> float:
    """Fraction of units (last axis; spatial positions pooled) never > 0."""
    outputs = np.asarray(outputs)
    active = (outputs.reshape(-1, outputs.shape[-1]) > 0).any(axis=0)
    return float(1.0 - active.mean())


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


def _mlp(width: int, depth: int, arm: str, seed: int, inputs: int) -> keras.Model:
    init = keras.initializers.HeNormal(seed=seed)
    x = inp = keras.Input((inputs,))
    for i in range(depth):
        x = keras.layers.Dense(width, kernel_initializer=init, name=f"dense_{i + 1}")(x)
        x = make_activation(arm, name=f"act_{i + 1}")(x)
    out = keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=seed), name="output")(x)
    return keras.Model(inp, out)


def dying_relu_experiment(learning_rates=(1e-3, 1e-2, 2e-2, 3e-2, 4e-2), arm: str = "relu", seed: int = 0,
                          n: int = 4096, inputs: int = 32, width: int = 128, depth: int = 3,
                          epochs: int = 5) -> pd.DataFrame:
    """Train the same MLP with plain SGD at several learning rates and count
    the units that end up dead on the training inputs, per hidden layer.

    The task is a fixed random regression (a noisy one-unit teacher), so the
    only thing that changes between rows is the learning rate. A run whose
    loss became NaN is marked ``diverged`` and gets no dead fraction.
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
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
        hist = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
        after = activation_outputs(model, x)
        loss = float(hist.history["loss"][-1])
        diverged = not np.isfinite(loss)
        for name in after:
            rows.append({"learning rate": lr, "layer": name,
                         "dead at init": dead_fraction(before[name]),
                         # NaN outputs are never > 0: a diverged run is not "dead"
                         "dead after training": np.nan if diverged else dead_fraction(after[name]),
                         "final loss": loss, "diverged": diverged})
    return pd.DataFrame(rows)
