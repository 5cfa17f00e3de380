"""actbook.runner.schedules: warm-up, then a step, cosine or constant learning rate."""

import numpy as np
import pytest

from actbook.runner.schedules import WarmupThen, learning_rate


def _rates(schedule, steps):
    return np.array([float(schedule(s)) if callable(schedule) else schedule for s in steps])


def test_step_schedule_warms_up_then_steps():
    opt = {"learning_rate": 0.1, "warmup_epochs": 1, "schedule": "step", "step_epochs": [2, 3], "step_factor": 0.1}
    lr = _rates(learning_rate(opt, steps_per_epoch=10, epochs=4), [0, 5, 10, 19, 21, 29, 31, 39])  # Keras: a boundary step keeps the earlier rate
    np.testing.assert_allclose(lr, [0.0, 0.05, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    opt = {"learning_rate": 0.05, "warmup_epochs": 0.5, "schedule": "cosine"}
    lr = _rates(learning_rate(opt, steps_per_epoch=10, epochs=3), [0, 5, 10, 17.5, 30])
    np.testing.assert_allclose(lr, [0.0, 0.05, 0.05 * (1 + np.cos(np.pi * 5 / 25)) / 2, 0.025, 0.0], atol=1e-7)


def test_constant_and_unknown_schedules():
    assert learning_rate({"learning_rate": 0.3, "schedule": "constant"}, 10, 2) == 0.3
    with pytest.raises(ValueError, match="valid: constant, cosine, step"):
        learning_rate({"learning_rate": 0.3, "schedule": "linear"}, 10, 2)


def test_warmup_schedule_survives_save_and_load(tmp_path):
    import keras
    sched = WarmupThen(keras.optimizers.schedules.PiecewiseConstantDecay([20], [0.1, 0.01]), 10, 0.1)
    clone = WarmupThen.from_config(sched.get_config())
    np.testing.assert_allclose(_rates(clone, [5, 15, 25]), _rates(sched, [5, 15, 25]))
