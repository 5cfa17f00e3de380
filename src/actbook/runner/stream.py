"""The training stream: every batch a pure function of (seed, epoch, batch).

The shuffle order of an epoch and each batch's crop offsets and flips come
from NumPy's counter-based Philox generator keyed on the cell's seed, the
epoch and the batch index, so any batch can be produced on its own, in any
order, on any backend. A resumed cell simply asks for the next epoch: there
is no iterator state to replay.

Augmentation is the Network-in-Network family's: zero-pad by ``pad`` pixels
(zero is the mean, on normalised images), crop back to the image size at a
random offset, flip left-right with probability 1/2.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["generator", "epoch_order", "augment_batch", "training_batch", "make_train_stream", "make_eval_stream"]

#: Separates the streams drawn from one key: the order of an epoch, and a batch's augmentation.
_ORDER, _AUGMENT = 0, 1


def generator(seed: int, epoch: int, purpose: int, batch: int = 0) -> np.random.Generator:
    """A Philox generator for one (seed, epoch, purpose, batch); the same key, the same numbers."""
    key = np.random.SeedSequence([int(seed), int(epoch), int(purpose), int(batch)]).generate_state(2, np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` (0-based) visits the ``n`` training images."""
    return generator(seed, epoch, _ORDER).permutation(n)


def augment_batch(images: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Random crop after zero padding, and a random horizontal flip, per image (NHWC)."""
    n, h, w, _ = images.shape
    offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
    flips = rng.random(n) < 0.5
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = offsets[:, :1, None] + np.arange(h)[None, :, None]          # (n, h, 1)
    cols = offsets[:, 1:, None] + np.arange(w)[None, None, :]          # (n, 1, w)
    cols = np.where(flips[:, None, None], cols[:, :, ::-1], cols)      # a flip reverses the columns read
    return padded[np.arange(n)[:, None, None], rows, cols]


def training_batch(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, epoch: int, batch: int,
                   augment: bool = True, order: np.ndarray | None = None):
    """Batch ``batch`` of epoch ``epoch``: ``(images, labels)``; ``order`` is :func:`epoch_order` if known."""
    order = epoch_order(len(y), seed, epoch) if order is None else order
    idx = order[batch * batch_size:(batch + 1) * batch_size]
    images = x[idx]
    if augment:
        images = augment_batch(images, generator(seed, epoch, _AUGMENT, batch))
    return np.ascontiguousarray(images), y[idx].astype(np.int32)


def make_train_stream(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool = True):
    """The training stream as a ``keras.utils.PyDataset`` (which ``fit`` accepts on every backend);
    set its ``epoch`` before each epoch's ``fit``."""
    import keras

    class _Stream(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.x, self.y, self.batch_size, self.seed, self.augment = x, y, batch_size, seed, augment
            self.epoch = 0
            self._order = (None, None)

        def __len__(self):
            return math.ceil(len(self.y) / self.batch_size)

        def __getitem__(self, batch):
            if self._order[0] != self.epoch:
                self._order = (self.epoch, epoch_order(len(self.y), self.seed, self.epoch))
            return training_batch(self.x, self.y, self.batch_size, self.seed, self.epoch, batch, self.augment,
                                  self._order[1])

    return _Stream()



def make_eval_stream(x: np.ndarray, y: np.ndarray, batch_size: int):
    """Fixed batches in order, untouched, for ``evaluate`` (the same path on every backend)."""
    import keras

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)

        def __len__(self):
            return math.ceil(len(y) / batch_size)

        def __getitem__(self, batch):
            part = slice(batch * batch_size, (batch + 1) * batch_size)
            return x[part], y[part].astype(np.int32)

    return _Batches()
