"""A tiny synthetic CIFAR-10 stand-in, so training tests run everywhere."""

import json

import numpy as np

from actbook.runner import data as D

TINY = {"description": "tests", "model": "small_cnn",
        "model_kwargs": {"width": 4, "dropout": 0.25, "weight_decay": 0.0005},
        "train_size": None, "test_size": None, "data_seed": 0, "epochs": 3, "eval_every": 2, "batch_size": 32,
        "augment": True, "precision": "float32", "threads": 2, "init": "per_activation",
        "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True,
                      "warmup_epochs": 0.5, "schedule": "cosine"},
        "arms": ["relu", "rrelu"], "seeds": [0]}


def synthetic_cifar(n_train: int = 200, n_test: int = 100, seed: int = 0) -> D.Cifar:
    """Random images whose mean brightness depends on the label, so a model can learn something."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.repeat(np.arange(10), n // 10)
        x = rng.integers(0, 128, (n, 32, 32, 3)) + (y * 12)[:, None, None, None]
        return x.astype(np.uint8), y

    (xtr, ytr), (xte, yte) = split(n_train), split(n_test)
    return D.Cifar(xtr, ytr, xte, yte, D.CLASSES, "synthetic", "5" * 64, "synthetic test data")


def write_profiles(path, **profiles) -> str:
    path.write_text(json.dumps(profiles))
    return str(path)


#: History columns that measure the machine, not the model: left out when histories are compared.
TIMING = ("seconds", "train_images_per_second")


def strip_timing(history: list) -> list:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def interrupt_after_first_checkpoint(monkeypatch, run):
    """Call ``run()`` with the runner dying (KeyboardInterrupt) right after its
    first checkpoint, as a killed job would; the runner is restored afterwards."""
    import pytest

    from actbook.runner import train as T
    real = T.save_checkpoint

    def save_then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(T, "save_checkpoint", real)
