"""The networks of the CIFAR-10 comparison, built from the arm factory.

The architectures are data (:mod:`actbook.runner.architectures`). Every model puts ``make_activation(arm)`` after every convolution (as Xu et
al. 2015 do in Network in Network), so two arms differ in their activation
layers and in nothing else. Activation layers are named ``act_<k>`` so
diagnostics (dead units, learned PReLU slopes) can find them.
"""

from __future__ import annotations

import numpy as np

from actbook.runner import architectures as A
from actbook.runner.backend import keras_module

keras = keras_module()  # through actbook.tf_runtime on TensorFlow: no start-up noise

from actbook.arms import slug as arm_slug  # noqa: E402
from actbook.layers import kernel_initializer, make_activation  # noqa: E402

__all__ = ["network_in_network", "small_cnn", "build_model", "forward_flops", "MODELS", "SEEDINGS", "layer_seed"]

#: How a cell's seed becomes its layers' seeds (the profile's ``seeding``).
SEEDINGS = ("offset", "independent")
#: The kinds of seeded layer, kept apart in :func:`layer_seed`'s key.
_CONV, _DROPOUT, _DENSE, _NOISE = 1, 2, 3, 4


def layer_seed(seed: int, kind: int, index: int) -> int:
    """An independent seed for layer ``index`` of ``kind`` in the cell of seed ``seed``.

    ``SeedSequence`` hashes the whole key, so no two (seed, kind, index) share a
    stream: seed s + 1's first layer is not seed s's second, as it is when
    layers take ``seed + index``. Keras seeds are 32-bit signed, hence the mask.
    """
    return int(np.random.SeedSequence([int(seed), kind, int(index)]).generate_state(1, np.uint32)[0] & 0x7FFFFFFF)


class _Builder:
    """Numbers the activation layers, shares the kernel settings and hands out the layers' seeds."""

    def __init__(self, arm: str, weight_decay: float, seed: int, init: str, seeding: str = "offset"):
        if seeding not in SEEDINGS:
            raise ValueError(f"unknown seeding {seeding!r}; valid: {', '.join(SEEDINGS)}")
        self.arm, self.seed, self.init, self.seeding, self.k = arm, seed, init, seeding, 0
        self.reg = keras.regularizers.L2(weight_decay) if weight_decay else None

    def seed_for(self, kind: int, index: int) -> int | None:
        """The seed of a layer. ``offset``, the earlier sweeps' rule: seed + index
        (the dense layer the cell's seed; RReLU's generator none, so drawn from
        the global seed); ``independent``: :func:`layer_seed`."""
        if self.seeding == "independent":
            return layer_seed(self.seed, kind, index)
        return {_CONV: self.seed + index, _DROPOUT: self.seed + index, _DENSE: self.seed, _NOISE: None}[kind]

    def conv(self, x, filters: int, size: int):
        self.k += 1
        x = keras.layers.Conv2D(
            filters, size, padding="same", name=f"conv_{self.k}",
            kernel_initializer=kernel_initializer(self.arm, self.init, self.seed_for(_CONV, self.k)),
            kernel_regularizer=self.reg)(x)
        noise_seed = self.seed_for(_NOISE, self.k)
        extra = {} if noise_seed is None else {"seed": noise_seed}
        return make_activation(self.arm, name=f"act_{self.k}", **extra)(x)


def _build(name: str, arm: str, num_classes: int, dropout: float, weight_decay: float, seed: int, init: str,
           model_name: str, seeding: str = "offset", **kwargs) -> keras.Model:
    b = _Builder(arm, weight_decay, seed, init, seeding)
    x = inputs = keras.Input((32, 32, 3))
    for spec in A.layers(name, num_classes=num_classes, **kwargs):
        kind = spec[0]
        if kind == "conv":
            x = b.conv(x, spec[1], spec[2])
        elif kind == "maxpool":
            x = keras.layers.MaxPooling2D(spec[1], strides=spec[2], padding=spec[3])(x)
        elif kind == "avgpool":
            x = keras.layers.AveragePooling2D(spec[1], strides=spec[2], padding=spec[3])(x)
        elif kind == "dropout":
            x = keras.layers.Dropout(dropout, seed=b.seed_for(_DROPOUT, spec[1]))(x)
        elif kind == "gap":
            x = keras.layers.GlobalAveragePooling2D()(x)
        elif kind == "dense":
            x = keras.layers.Dense(spec[1], name="logits",
                                   kernel_initializer=keras.initializers.GlorotUniform(
                                       seed=b.seed_for(_DENSE, 0)))(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"{model_name}_{arm_slug(arm)}")


def network_in_network(arm: str, num_classes: int = 10, dropout: float = 0.5,
                       weight_decay: float = 1e-4, seed: int = 0, init: str = "he",
                       seeding: str = "offset") -> keras.Model:
    """Network in Network (Lin et al. 2014) as used by Xu et al. (2015).

    conv5x5-192, 1x1-160, 1x1-96, 3x3 max pool /2, dropout;
    conv5x5-192, 1x1-192, 1x1-192, 3x3 avg pool /2, dropout;
    conv3x3-192, 1x1-192, 1x1-10, global average pool, softmax.
    The activation follows every convolution, the last one included, as in
    the paper's description; weight decay is on kernels only.
    """
    return _build("nin", arm, num_classes, dropout, weight_decay, seed, init, "nin", seeding)


def small_cnn(arm: str, num_classes: int = 10, width: int = 32, dropout: float = 0.25,
              weight_decay: float = 5e-4, seed: int = 0, init: str = "he", seeding: str = "offset") -> keras.Model:
    """A fast CNN for the CPU profile, in the NIN spirit (no normalisation).

    conv3x3-w, conv3x3-w, max pool, dropout; conv3x3-2w, conv3x3-2w, max pool,
    dropout; conv3x3-4w, conv1x1-4w, global average pool, dense-10, softmax.
    """
    return _build("small_cnn", arm, num_classes, dropout, weight_decay, seed, init, "cnn", seeding, width=width)


MODELS = {"nin": network_in_network, "small_cnn": small_cnn}


def build_model(name: str, arm: str, **kwargs) -> keras.Model:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return MODELS[name](arm, **kwargs)


def forward_flops(model: keras.Model) -> float:
    """FLOPs of one forward pass per image: 2 x the multiply-adds of every
    Conv2D and Dense layer (activations, pooling and biases are ignored)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            h, w, cout = layer.output.shape[1:]
            kh, kw = layer.kernel_size
            total += 2 * h * w * cout * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return float(total)
