"""actbook.vanishing: the vanishing-gradient experiment's settings and images."""

from types import SimpleNamespace

import numpy as np

from actbook.vanishing import VANISHING, probe_data


def test_vanishing_settings_are_plain_data():
    s = VANISHING
    assert s["depth"] == 15 and s["width"] == 256 and s["n_train"] % 10 == 0 and s["n_probe"] % 10 == 0
    assert all(isinstance(v, (int, float)) for v in s.values())


def test_probe_data_is_one_balanced_normalised_subset_split_into_training_and_probe():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 30)
    x = rng.integers(0, 256, size=(300, 4, 4, 3), dtype=np.uint8)
    cifar = SimpleNamespace(x_train=x, y_train=y, description="synthetic")
    data = probe_data(cifar, {"n_train": 100, "n_probe": 50})
    assert data.x_train.shape == (100, 48) and data.x_probe.shape == (50, 48) and data.inputs == 48
    assert data.description == "synthetic"
    both = np.concatenate([data.x_train, data.x_probe]).reshape(150, 4, 4, 3)
    np.testing.assert_allclose(both.mean(axis=(0, 1, 2)), 0, atol=1e-5)     # normalised over the whole subset
    np.testing.assert_allclose(both.std(axis=(0, 1, 2)), 1, rtol=1e-4)
    assert np.bincount(np.concatenate([data.y_train, data.y_probe]), minlength=10).tolist() == [15] * 10
