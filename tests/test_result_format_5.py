"""The runner of the third comparison (result format 5): independent seeds, a
training subset per seed, per-image predictions, the loss without its penalty
and after calibration, and an RReLU restart that repeats the uninterrupted run."""

import json
from pathlib import Path

import numpy as np
import pytest

from actbook.analysis import results as R
from actbook.runner import data as D
from actbook.runner import experiment as E
from actbook.runner import profiles as P
from actbook.runner.calibration import cross_entropy, fit_temperature
from synthetic import TINY, interrupt_after_first_checkpoint, strip_timing, synthetic_cifar, write_profiles

#: TINY with the new settings, and a validation hold-out (for the calibration).
FIT = {**TINY, "seeding": "independent", "subset_per_seed": True, "train_size": 100, "validation_size": 50,
       "arms": ["relu", "rrelu"], "seeds": [0, 1]}


@pytest.fixture
def fit(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "profiles.json", tiny=TINY, fit=FIT))
    return synthetic_cifar()


# --------------------------------------------------------------------------
# Independent seeds
# --------------------------------------------------------------------------

def _kernels(seed: int, seeding: str) -> list[np.ndarray]:
    from actbook.runner.models import build_model
    model = build_model("small_cnn", "relu", seed=seed, seeding=seeding, width=8)
    return [np.asarray(w).ravel() for w in model.get_weights() if np.asarray(w).ndim > 1]


def _largest_correlation(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """The largest |correlation| between the first values of any kernel of ``a`` and any of ``b``."""
    out = 0.0
    for x in a:
        for y in b:
            n = min(len(x), len(y))
            out = max(out, abs(float(np.corrcoef(x[:n], y[:n])[0, 1])))
    return out


def test_two_seeds_share_no_initial_numbers_with_independent_seeding():
    """Under the earlier rule, seed 1's first kernel is a multiple of the first values
    of seed 0's second (correlation 1); with independent seeds no kernel of one seed
    follows any kernel of another."""
    assert _largest_correlation(_kernels(0, "offset"), _kernels(1, "offset")) > 0.999
    seeds = {s: _kernels(s, "independent") for s in (0, 1, 2)}
    for s, t in [(0, 1), (1, 2), (0, 2)]:
        assert _largest_correlation(seeds[s], seeds[t]) < 0.5, (s, t)


def test_layer_seeds_are_distinct_across_seeds_kinds_and_layers():
    from actbook.runner.models import layer_seed
    seeds = {layer_seed(s, kind, k) for s in range(20) for kind in (1, 2, 3, 4) for k in range(12)}
    assert len(seeds) == 20 * 4 * 12 and all(0 <= v < 2 ** 31 for v in seeds)


def test_the_earlier_rule_is_unchanged():
    """The offset rule still gives layer k the seed seed + k (the committed cells were made with it)."""
    import keras

    from actbook.layers import kernel_initializer
    from actbook.runner.models import build_model
    model = build_model("small_cnn", "relu", seed=3, seeding="offset", width=8)
    kernel = model.get_layer("conv_2").kernel
    expected = kernel_initializer("relu", "he", 3 + 2)(kernel.shape)
    np.testing.assert_array_equal(np.asarray(kernel), keras.ops.convert_to_numpy(expected))


# --------------------------------------------------------------------------
# A training subset per seed
# --------------------------------------------------------------------------

def test_each_seed_draws_its_own_balanced_subset_apart_from_validation_and_test():
    data = synthetic_cifar(n_train=400)
    config = {**FIT, "train_size": 100, "validation_size": 50}
    a, b = D.prepare(config, data, seed=0), D.prepare(config, data, seed=1)
    assert a.train_subset["indices_sha256"] != b.train_subset["indices_sha256"]
    assert not np.array_equal(a.y_train, b.y_train) or not np.array_equal(a.x_train, b.x_train)
    for p in (a, b):
        assert np.bincount(p.y_train).tolist() == [10] * 10
        assert p.train_subset["images"] == 100
    # Validation and test images stay the same for every seed (as raw pixels: each
    # subset normalises with its own statistics).
    _, _, xv0, yv0 = D.hold_out(data.x_train, data.y_train, 50, seed=0)
    assert np.array_equal(a.y_val, yv0) and np.array_equal(b.y_val, yv0) and np.array_equal(a.y_test, b.y_test)
    # Disjoint from the validation images: no training image is a validation image.
    val = {x.tobytes() for x in xv0}
    for seed in (0, 1):
        pool_x, pool_y, _, _ = D.hold_out(data.x_train, data.y_train, 50, seed=0)
        idx = D.subset_indices(pool_y, 100, seed=D.subset_key(config, seed))
        assert not any(x.tobytes() in val for x in pool_x[idx])
    with pytest.raises(ValueError, match="per seed"):
        D.prepare(config, data)


def test_a_fixed_subset_profile_draws_what_it_drew_before():
    data = synthetic_cifar(n_train=400)
    config = {**TINY, "train_size": 100}
    p = D.prepare(config, data, seed=7)
    x, y = D.subset(data.x_train, data.y_train, 100, seed=0)
    assert np.array_equal(p.y_train, y) and p.train_subset["key"] == [0]


def test_a_subset_per_seed_needs_a_train_size():
    with pytest.raises(P.UsageError, match="subset_per_seed"):
        P.validate("x", {**FIT, "train_size": None})


# --------------------------------------------------------------------------
# A run of the new format: predictions, losses, calibration
# --------------------------------------------------------------------------

@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_a_final_cell_keeps_per_image_predictions_and_both_losses(fit, tmp_path):
    paths = E.run("fit", tmp_path, data=fit, progress=False, arms=["relu"])
    cells = [json.loads(p.read_text()) for p in paths]
    for path, cell in zip(paths, cells):
        cell["file"] = str(path)
        assert cell["schema"] == 5 and R.result_problems(cell) == []
        last = cell["history"][-1]
        # The objective includes the L2 penalty; the cross-entropy alone is smaller.
        for split in ("test", "val", "train_eval"):
            assert 0 < last[f"{split}_xent"] < last[f"{split}_loss"]
        pred = R.load_predictions(cell)
        y = fit.y_test
        assert pred["predicted"].dtype == np.uint8 and pred["p_true"].dtype == np.float32
        assert len(pred["predicted"]) == len(y) == cell["predictions"]["images"]
        # The per-image file agrees with the error Keras measured.
        assert np.mean(pred["predicted"] != y) == pytest.approx(last["test_error"], abs=1e-6)
        assert np.all((pred["p_true"] >= 0) & (pred["p_true"] <= 1))
        cal = cell["calibration"]
        assert cal["val_xent_calibrated"] <= cal["val_xent"] + 1e-12 and cal["temperature"] > 0
        assert cell["provenance"]["train_subset"]["key"] == [0, D.SUBSET_STREAM, cell["seed"]]
    # Seeds 0 and 1 trained on different images.
    assert (cells[0]["provenance"]["train_subset"]["indices_sha256"]
            != cells[1]["provenance"]["train_subset"]["indices_sha256"])
    # Only the arm that was not run is missing: the predictions files check out.
    assert sorted(E.check("fit", tmp_path)) == ["missing: rrelu-seed0", "missing: rrelu-seed1"]


def test_check_names_a_missing_or_changed_predictions_file(fit, tmp_path):
    path = E.run("fit", tmp_path, data=fit, progress=False, arms=["relu"], seeds=[0])[0]
    pred = path.with_name("relu-seed0.predictions.npz")
    pred.write_bytes(pred.read_bytes() + b"x")
    assert any("predictions changed" in p for p in E.check("fit", tmp_path))
    pred.unlink()
    assert any("predictions missing" in p for p in E.check("fit", tmp_path))
    cell = json.loads(path.read_text())
    cell["file"] = str(path)
    with pytest.raises(R.ResultsError, match="predictions file"):
        R.load_predictions(cell)


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_a_finished_final_cell_of_format_5_without_predictions_is_malformed(fit, tmp_path):
    path = E.run("fit", tmp_path, data=fit, progress=False, arms=["relu"], seeds=[0])[0]
    cell = json.loads(path.read_text())
    cell["predictions"] = None
    assert R.result_problems(cell) == ["a finished final cell without predictions"]


def test_the_temperature_minimises_the_cross_entropy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    logits = rng.normal(size=(2000, 10))
    logits[np.arange(2000), y] += 2.0
    # With z ~ N(0, 1) plus 2 on the true class, the posterior is softmax(2 z):
    # logits 4 z are twice too confident, and the fitted temperature is about 2.
    overconfident = 4.0 * logits
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(2.0, rel=0.1)
    best = cross_entropy(overconfident / t, y)
    for other in (0.8 * t, 1.25 * t):
        assert best < cross_entropy(overconfident / other, y)
    # Stable for large logits, equal to the direct formula where that one is safe.
    assert np.isfinite(cross_entropy(1e4 * logits, y))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert cross_entropy(logits, y) == pytest.approx(float(np.mean(-np.log(p[np.arange(2000), y]))), rel=1e-12)


# --------------------------------------------------------------------------
# The RReLU restart
# --------------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["tiny", "fit"])
@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_an_rrelu_cell_whose_checkpoint_is_discarded_repeats_the_uninterrupted_run(fit, tmp_path, monkeypatch,
                                                                                     capsys, profile):
    """A kill between writing the model and writing ``state.json``: the model is
    loaded, then found one epoch ahead of its state and discarded. The restart
    must draw the same RReLU noise as a run that was never stopped."""
    kw = dict(data=fit, progress=False, arms=["rrelu"], seeds=[0])
    interrupt_after_first_checkpoint(monkeypatch, lambda: E.run(profile, tmp_path / "a", **kw))
    state = tmp_path / "a" / profile / ".checkpoints" / "rrelu-seed0" / "state.json"
    saved = json.loads(state.read_text())
    saved["history"] = saved["history"][:-1]  # one row short of the model it sits beside
    state.write_text(json.dumps(saved))
    restarted = E.run(profile, tmp_path / "a", **kw)[0]
    assert "discarding checkpoint" in capsys.readouterr().err
    fresh = E.run(profile, tmp_path / "b", **kw)[0]
    a, b = (json.loads(p.read_text()) for p in (restarted, fresh))
    assert strip_timing(a["history"]) == strip_timing(b["history"])
    assert a["diagnostics"] == b["diagnostics"]


# --------------------------------------------------------------------------
# Rates from another profile's grid
# --------------------------------------------------------------------------

def test_a_profile_takes_its_rates_from_another_profiles_grid(tmp_path, monkeypatch):
    grid = {**TINY, "validation_size": 50, "arms": ["relu"], "seeds": [0],
            "grid": {"learning_rates": [0.01, 0.02, 0.04], "seeds": [100]}}
    rerun = {**FIT, "arms": ["relu"], "rates_from": "grid"}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "p.json", grid=grid, rerun=rerun))
    with pytest.raises(P.UsageError, match="run the grid of 'grid'"):
        P.cell_config(P.get_profile("rerun"), P.Cell("rerun", "relu", 0))
    with pytest.raises(P.UsageError, match="own chooses"):
        P.validate("x", {**grid, "rates_from": "other"})
    with pytest.raises(P.UsageError, match="edge rule adds only"):
        P.validate("x", {**grid, "grid": {**grid["grid"], "extended": {"relu": [0.03]}}})
    extended = {**grid, "grid": {**grid["grid"], "extended": {"relu": [0.005]}}}
    assert P.grid_rates(P.validate("x", extended), "relu") == [0.005, 0.01, 0.02, 0.04]
    # The extension's cells come after the grid's own, and a final cell may take the extension's rate.
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "q.json", grid=extended, rerun=rerun))
    assert [c.stem for c in P.plan("grid", stage="grid")] == [
        "relu-lr0.01-seed100", "relu-lr0.02-seed100", "relu-lr0.04-seed100", "relu-lr0.005-seed100"]
    chosen = {**rerun, "chosen_rates": {"relu": 0.005}}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "r.json", grid=extended, rerun=chosen))
    assert P.cell_config(P.get_profile("rerun"), P.Cell("rerun", "relu", 0))["optimizer"]["learning_rate"] == 0.005


def test_the_edge_rule_extends_once_per_side():
    import pandas as pd

    from actbook.analysis import selection as S
    rows = [("a", r, 0, "finished", s) for r, s in [(0.01, 0.30), (0.02, 0.40), (0.04, 0.50)]]
    rows += [("b", r, 0, "finished", s) for r, s in [(0.01, 0.50), (0.02, 0.40), (0.04, 0.45)]]
    frame = pd.DataFrame(rows, columns=["activation", "learning_rate", "seed", "outcome", "score"])
    first = S.choose_rates(frame, ["a", "b"], [0.01, 0.02, 0.04], [0])
    assert first.loc["a", "extend"] == 0.005 and np.isnan(first.loc["b", "extend"])
    # The extension scores best: chosen, at the extended grid's end, and final (once).
    more = pd.concat([frame, pd.DataFrame([("a", 0.005, 0, "finished", 0.2)], columns=frame.columns)])
    second = S.choose_rates(more, ["a", "b"], [0.01, 0.02, 0.04], [0], {"a": [0.005]})
    assert second.loc["a", "rate"] == 0.005 and second.loc["a", "at_edge"] and np.isnan(second.loc["a", "extend"])
    with pytest.raises(R.ResultsError, match="not complete"):
        S.choose_rates(frame, ["a", "b"], [0.01, 0.02, 0.04], [0], {"a": [0.005]})


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_a_folder_may_mix_formats_4_and_5(fit, tmp_path):
    """Format 5 repeats format 4's numbers and adds measurements: the earlier
    grid's format 4 cells and the edge rule's format 5 cells are one grid."""
    paths = E.run("tiny", tmp_path, data=fit, progress=False)
    cell = json.loads(paths[0].read_text())
    cell["schema"] = 4
    del cell["predictions"], cell["calibration"], cell["provenance"]["train_subset"]  # format 5's own fields
    paths[0].write_text(json.dumps(cell))
    assert E.check("tiny", tmp_path) == []
    cell["schema"] = 3
    paths[0].write_text(json.dumps(cell))
    assert any("older runner" in p for p in E.check("tiny", tmp_path))
