"""Results that cannot be trusted are refused; learning-rate schedules; Ctrl-C."""

import json
import warnings

import numpy as np
import pytest

from actbook import activations as A
from actbook.runner import experiment as E
from actbook.analysis import results as R
from actbook.runner import train as T


def _cell(activation="relu", seed=0, config=None, sha="a" * 64, isa="AVX512_CORE_BF16", **extra):
    config = config or E.get_profile("smoke")
    return {"schema": 2, "profile": "smoke", "activation": activation, "seed": seed, "config": config,
            "provenance": {"dataset": {"sha256": sha, "dataset": "test"},
                           "hardware": {"kernels": {"effective_isa": isa}, "cpu": "test"},
                           "started": "2026-01-01T00:00:00", "finished": "2026-01-01T00:01:00",
                           "train_images_used": 100, "test_images_used": 100},
            "history": [{"epoch": 1, "train_loss": 1.0, "train_error": 0.5, "train_eval_loss": 1.0,
                         "train_eval_error": 0.5, "test_loss": 1.0, "test_error": 0.5, "seconds": 1.0}], **extra}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "smoke").mkdir()
    return tmp_path


def _write(folder, name, obj):
    (folder / "smoke" / name).write_text(json.dumps(obj))


def test_missing_incomplete_and_unreadable(folder):
    with pytest.raises(R.ResultsError, match="no result files"):
        R.load_history(folder, "other")
    _write(folder, "relu-seed0.json", _cell())
    with pytest.raises(R.ResultsError, match="cells missing"):
        R.load_history(folder, "smoke")
    assert len(R.load_history(folder, "smoke", require_complete=False)) == 1
    (folder / "smoke" / "rrelu-seed0.json").write_text("{truncated")
    with pytest.raises(R.ResultsError, match="unreadable"):
        R.load_history(folder, "smoke")


@pytest.mark.parametrize("content, message", [
    ("null", "a JSON NoneType"), ("3", "a JSON int"), ("[]", "a JSON list"),
])
def test_non_objects_are_refused(folder, content, message):
    (folder / "smoke" / "relu-seed0.json").write_text(content)
    with pytest.raises(R.ResultsError, match=message):
        R.load_cells(folder, "smoke")


def test_history_of_the_wrong_type_is_refused(folder):
    _write(folder, "relu-seed0.json", dict(_cell(), history="abc"))
    with pytest.raises(R.ResultsError, match="history must be a list of objects"):
        R.load_cells(folder, "smoke")


def test_two_files_for_one_cell_are_refused(folder):
    _write(folder, "relu-seed0.json", _cell())
    _write(folder, "relu-seed0 (copy).json", _cell())
    with pytest.raises(R.ResultsError, match="two files for relu seed 0"):
        R.load_cells(folder, "smoke")


def test_different_configs_and_data_sets_are_refused(folder):
    _write(folder, "relu-seed0.json", _cell())
    _write(folder, "rrelu-seed0.json", _cell("rrelu", sha="b" * 64))
    with pytest.raises(R.ResultsError, match="2 different data sets.*rrelu-seed0.json"):
        R.load_cells(folder, "smoke")
    other = dict(E.get_profile("smoke"), batch_size=7)
    _write(folder, "rrelu-seed0.json", _cell("rrelu", config=other))
    with pytest.raises(R.ResultsError, match="different configs"):
        R.load_cells(folder, "smoke")


def test_mixed_kernels_warn(folder):
    _write(folder, "relu-seed0.json", _cell())
    _write(folder, "rrelu-seed0.json", _cell("rrelu", isa="AVX512_CORE_AMX"))
    with pytest.warns(R.ResultsWarning, match="different kernels"):
        R.load_cells(folder, "smoke")
    _write(folder, "rrelu-seed0.json", _cell("rrelu"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(R.load_cells(folder, "smoke")) == 2


def test_unknown_schema_is_refused(folder):
    _write(folder, "relu-seed0.json", dict(_cell(), schema=99))
    with pytest.raises(R.ResultsError, match="result format 99"):
        R.load_cells(folder, "smoke")


def test_committed_results_load_complete_and_agree_with_each_other():
    """Checked against each other (one config, data set and backend per folder), not against the
    profile as defined now: the runner and its profiles have moved on since these cells were made."""
    for profile in ("cpu", "overfit"):
        cells = R.load_cells("data/earlier", profile)
        R.check_complete(cells)
        assert all("/" not in c["provenance"]["dataset"]["source"] for c in cells)
        assert {R.backend(c) for c in cells} == {"tensorflow"}


def _rates(schedule, steps):
    return np.array([float(schedule(s)) if callable(schedule) else schedule for s in steps])


def test_step_schedule_warms_up_then_steps():
    opt = {"learning_rate": 0.1, "warmup_epochs": 1, "schedule": "step", "step_epochs": [2, 3], "step_factor": 0.1}
    lr = _rates(T.learning_rate(opt, steps_per_epoch=10, epochs=4), [0, 5, 10, 19, 21, 29, 31, 39])  # Keras: a boundary step keeps the earlier rate
    np.testing.assert_allclose(lr, [0.0, 0.05, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    opt = {"learning_rate": 0.05, "warmup_epochs": 0.5, "schedule": "cosine"}
    lr = _rates(T.learning_rate(opt, steps_per_epoch=10, epochs=3), [0, 5, 10, 17.5, 30])
    np.testing.assert_allclose(lr, [0.0, 0.05, 0.05 * (1 + np.cos(np.pi * 5 / 25)) / 2, 0.025, 0.0], atol=1e-7)


def test_constant_and_unknown_schedules():
    assert T.learning_rate({"learning_rate": 0.3, "schedule": "constant"}, 10, 2) == 0.3
    with pytest.raises(ValueError, match="valid: constant, cosine, step"):
        T.learning_rate({"learning_rate": 0.3, "schedule": "linear"}, 10, 2)


def test_warmup_schedule_survives_save_and_load(tmp_path):
    import keras
    sched = T.WarmupThen(keras.optimizers.schedules.PiecewiseConstantDecay([20], [0.1, 0.01]), 10, 0.1)
    clone = T.WarmupThen.from_config(sched.get_config())
    np.testing.assert_allclose(_rates(clone, [5, 15, 25]), _rates(sched, [5, 15, 25]))


def test_ctrl_c_is_one_line_and_status_130(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(E, "run", interrupted)
    assert E.main(["run", "--profile", "smoke", "--results", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert "checkpoint" in err and "rerun the same command to resume" in err


@pytest.mark.parametrize("bad", ["no", 1, None])
def test_numpy_rrelu_training_flag_takes_booleans_only(bad):
    with pytest.raises(TypeError, match="training"):
        A.rrelu(np.ones(3), training=bad)


def test_precision_policy_does_not_leak_out_of_a_cell():
    import keras
    before = keras.mixed_precision.global_policy().name
    with T.precision_policy("mixed_bfloat16"):
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == before


def test_split_diverged_separates_cells_whose_loss_ended_nan():
    import pandas as pd
    from actbook.analysis.results import split_diverged
    final = pd.DataFrame({"activation": ["relu", "selu", "selu"], "seed": [0, 0, 1],
                          "train_loss": [0.4, float("nan"), 0.5], "test_error": [0.5, 0.9, 0.5]})
    kept, diverged = split_diverged(final)
    assert list(zip(kept.activation, kept.seed)) == [("relu", 0), ("selu", 1)]
    assert list(zip(diverged.activation, diverged.seed)) == [("selu", 0)]
    assert list(kept.index) == [0, 1] and list(diverged.index) == [0]
