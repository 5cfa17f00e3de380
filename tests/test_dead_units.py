"""actbook.dead_units: units that are never active, and the dying-ReLU experiment."""

import numpy as np
import pytest

from actbook.dead_units import dead_fraction, dying_relu_experiment, dying_units_by_arm


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


def test_dying_experiment_counts_revived_units_and_arms():
    df = dying_units_by_arm(arms=("relu", "elu"), learning_rates=(1e-2,), n=256, width=16, epochs=2)
    assert set(df.arm) == {"relu", "elu"} and list(df.layer.unique()) == [1, 2, 3]
    assert ((df.revived >= 0) & (df.revived <= 1)).all()
    # the first hidden layer sees fixed inputs: a unit dead there can never come back
    assert (df[(df.arm == "relu") & (df.layer == 1)].revived == 0).all()


def test_a_switched_off_relu_unit_stays_off_and_a_leaky_one_comes_back():
    from actbook.dead_units import switched_off_unit
    largest, active = switched_off_unit(0.0, steps=300)
    assert largest[0] < 0 and np.all(active == 0) and np.all(largest == largest[0])   # no gradient: nothing moves
    largest, active = switched_off_unit(1 / 5.5, steps=300)
    assert largest[0] < 0 < largest[-1] and active[0] == 0 < active[-1]
