"""Measured properties and the dead-unit helpers."""

import math

import numpy as np
import pytest

from actbook.dead_units import dead_fraction, dying_relu_experiment
from actbook.properties import measure, properties_table


def test_relu_properties_match_theory():
    p = measure("relu", n=400_000)
    assert p["sparsity"] == pytest.approx(0.5, abs=0.005)
    assert p["mean f(x)"] == pytest.approx(1 / math.sqrt(2 * math.pi), abs=0.005)
    assert p["min f on [-1e3, 1e3]"] == 0 and p["max f on [-1e3, 1e3]"] == 1e3


def test_sigmoid_and_elu_properties():
    t = properties_table(["sigmoid", ("elu", {"alpha": 1.0}), ("leaky_relu", {"alpha": 0.2})], n=200_000)
    assert t.loc["sigmoid", "mean f(x)"] == pytest.approx(0.5, abs=0.005)
    assert t.loc["sigmoid", "sparsity"] == 0
    assert t.loc["elu", "min f on [-1e3, 1e3]"] == -1
    assert t.loc["elu", "mean f(x)"] < measure("relu", n=200_000)["mean f(x)"]
    assert t.loc["leaky_relu", "params"] == "alpha=0.2"
    with pytest.raises(ValueError, match="softmax"):
        measure("softmax")


def test_dead_fraction():
    out = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert dead_fraction(out) == pytest.approx(1 / 3)
    conv = np.zeros((2, 4, 4, 5))
    conv[1, 3, 3, :2] = 1.0  # active at a single position counts as alive
    assert dead_fraction(conv) == pytest.approx(3 / 5)


def test_dying_relu_experiment_marks_divergence():
    df = dying_relu_experiment(learning_rates=(1e-3, 10.0), n=256, width=16, epochs=1)
    small, huge = df[df["learning rate"] == 1e-3], df[df["learning rate"] == 10.0]
    assert not small["diverged"].any() and small["dead after training"].notna().all()
    assert huge["diverged"].all() and huge["dead after training"].isna().all()
