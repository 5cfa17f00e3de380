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


def test_sigmoid_grad_inverse_is_closed_form_of_bisection_target():
    from actbook import activations as A
    from actbook.properties import sigmoid_grad_inverse
    for t in (0.25, 0.1, 1e-2, 1e-4, 1e-12):
        x = sigmoid_grad_inverse(t)
        assert A.sigmoid_grad(x) == pytest.approx(t, rel=1e-9)
        root = math.sqrt(1 - 4 * t)                          # s (1 - s) = t: s = (1 + root) / 2
        s, one_minus_s = (1 + root) / 2, 2 * t / (1 + root)  # 1 - s without cancellation
        assert x == pytest.approx(math.log(s / one_minus_s), rel=1e-9, abs=1e-12)
    assert sigmoid_grad_inverse(0.25) == 0.0
    np.testing.assert_allclose(sigmoid_grad_inverse(np.array([1e-2, 1e-4])),
                               [sigmoid_grad_inverse(1e-2), sigmoid_grad_inverse(1e-4)])
    for bad in (0.0, -1.0, 0.26):
        with pytest.raises(ValueError, match="1/4"):
            sigmoid_grad_inverse(bad)


def test_derivative_bound_counts_n_minus_one_factors():
    from actbook.properties import derivative_bound
    assert derivative_bound(1) == 1.0
    assert derivative_bound(15) == pytest.approx(0.25 ** 14)
    assert derivative_bound(3, bound=1.0) == 1.0
    with pytest.raises(ValueError):
        derivative_bound(0)


def test_learned_slopes_and_never_active_frames():
    from actbook.dead_units import never_active_frame
    from actbook.properties import learned_slopes
    cells = [{"activation": "prelu", "seed": 0,
              "diagnostics": {"prelu_alpha": {"act_1": [0.5, 0.3], "act_2": [0.1]},
                              "never_active_fraction": {"act_1": 0.0, "act_2": 0.25}}},
             {"activation": "relu", "seed": 1, "diagnostics": {"never_active_fraction": {"act_1": 0.5}}}]
    slopes = learned_slopes(cells)
    assert list(slopes.layer) == [1, 2] and list(slopes.channels) == [2, 1]
    assert slopes["mean alpha"].iloc[0] == pytest.approx(0.4) and slopes["max"].iloc[0] == 0.5
    assert learned_slopes([]).empty and "mean alpha" in learned_slopes([]).columns
    dead = never_active_frame(cells)
    assert len(dead) == 3 and dead["never active"].max() == 0.5


def test_dying_experiment_counts_revived_units_and_arms():
    from actbook.dead_units import dying_units_by_arm
    df = dying_units_by_arm(arms=("relu", "elu"), learning_rates=(1e-2,), n=256, width=16, epochs=2)
    assert set(df.arm) == {"relu", "elu"} and list(df.layer.unique()) == [1, 2, 3]
    assert ((df.revived >= 0) & (df.revived <= 1)).all()
    # the first hidden layer sees fixed inputs: a unit dead there can never come back
    assert (df[(df.arm == "relu") & (df.layer == 1)].revived == 0).all()


def test_plotting_setup_and_config_table():
    import matplotlib.pyplot as plt
    import pandas as pd
    from actbook import plotting
    plotting.setup()
    assert plt.rcParams["axes.grid"] and pd.get_option("display.precision") == plotting.TABLE_PRECISION
    assert plotting.style is plotting.setup
    table = plotting.config_table({"epochs": 4, "model_kwargs": {"width": 16}, "other": 1}, ["epochs", "model_kwargs"])
    assert list(table.index) == ["epochs", "model_kwargs"] and table.loc["model_kwargs", "value"] == '{"width": 16}'
    a, b = plotting.curve_style(0, markevery=10), plotting.curve_style(1, markevery=10)
    assert a["color"] != b["color"] and a["ls"] != b["ls"] and a["marker"] != b["marker"]
