"""actbook.analysis.rung: the 8,000-image setting, read one way by every chapter that quotes it."""

import re
import shutil

import pytest

from actbook.analysis import results, rung
from actbook.data_folder import committed

COMMITTED = committed("results")


def _first_seeds(tmp_path, keep=3, drop=()):
    """The committed fit8k cells of seeds below ``keep``, with their prediction files, less the cell file stems
    in ``drop``."""
    dest = tmp_path / "results"
    (dest / rung.PROFILE).mkdir(parents=True)
    for f in (COMMITTED / rung.PROFILE).glob("*-seed*.json"):
        seed = int(re.search(r"-seed(\d+)\.json$", f.name).group(1))
        if seed < keep and f.stem not in drop:
            for part in (f, f.with_name(f.stem + ".predictions.npz")):   # a cell is read with its predictions
                shutil.copy(part, dest / rung.PROFILE / part.name)
    for f in COMMITTED.glob(f"{rung.PROFILE}.*.json"):
        shutil.copy(f, dest / f.name)
    if (COMMITTED / rung.PROFILE / "grid").is_dir():
        shutil.copytree(COMMITTED / rung.PROFILE / "grid", dest / rung.PROFILE / "grid")
    return dest


def test_an_interim_reading_reads_the_seeds_every_arm_has_and_says_so(tmp_path):
    where = _first_seeds(tmp_path, keep=3, drop=("silu-seed2",))
    r = rung.read(where, complete=False)
    assert r.seeds == [0, 1] and r.interim and r.planned == 10
    assert r.seeds_text == "2 of the 10 planned seeds, an interim reading"
    assert set(r.report.frame.seed) == {0, 1}                      # silu's missing seed 2 drops every arm's
    with pytest.raises(results.RegimeIncomplete):
        rung.read(where, complete=True)


def test_the_sentence_reads_the_arms_row_against_relu(tmp_path):
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    row = r.vs_relu.loc["elu"]
    said = rung.against_relu_sentence(r, "elu", display=str.upper)
    assert said.startswith(f"with {r.images:,} images, trained to fit (3 of the 10 planned seeds")
    assert "ELU − ReLU was" in said and f"{abs(100 * row['mean diff']):.2f} pp" in said
    assert said.endswith("ReLU") if row["resolved"] else "not resolved (its interval rules out" in said


def test_one_seed_is_refused(tmp_path):
    with pytest.raises(results.RegimeIncomplete, match="at least 2"):
        rung.read(_first_seeds(tmp_path, keep=1), complete=False)


def test_an_unscoped_sentence_leaves_out_the_setting(tmp_path):
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    assert rung.against_relu_sentence(r, "prelu", scoped=False).startswith("prelu − ReLU was ")


@pytest.fixture(scope="module")
def rerun():
    """The 1,000-image rerun's report, as the training chapter reads it."""
    from actbook.analysis import claims
    fit = results.load_complete(COMMITTED, "fit1k")
    return claims.overfit_report(fit.final, fit.diverged, loss="xent")


def _paired(frame, arm, reference="relu"):
    """Per-seed differences arm − reference, computed here from the frame's rows."""
    t = frame.pivot(index="seed", columns="activation", values="test error")
    return (t[arm] - t[reference]).dropna()


def test_the_scope_gives_relus_error_level(tmp_path):
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    relu = r.report.frame[r.report.frame.activation == "relu"]["test error"].mean()
    assert f"ReLU's test error {relu:.1%}" in rung.against_relu_sentence(r, "elu")


def test_the_gains_are_the_reruns_resolved_gains_that_ran_here(tmp_path, rerun):
    from actbook.analysis import claims
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    before = claims.against_relu(rerun)
    want = {a for a in before.index if before.loc[a, "resolved"] and before.loc[a, "mean diff"] < 0}
    got = rung.gained(r, rerun)
    assert got and set(got) == want & set(r.sweep.config["arms"])
    assert "relu" not in got and "lrelu_0.01" not in got      # the baseline, and a slope resolved above it


def test_a_gains_change_is_the_difference_of_the_two_settings_mean_differences(tmp_path, rerun):
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    changes = rung.gain_changes(r, rerun)
    assert list(changes.index) == rung.gained(r, rerun)
    arm = changes.index[0]
    before, after = _paired(rerun.frame, arm).mean(), _paired(r.report.frame, arm).mean()
    assert changes.loc[arm, "change"] == pytest.approx(after - before, abs=1e-12)
    said = rung.change_sentence(changes, arm)
    assert f"{abs(100 * before):.2f} pp in the 1,000-image rerun to" in said
    assert f"{abs(100 * after):.2f} pp" in said and f"Holm over the {len(changes)} activations" in said
    assert ("not resolved" in said) == (not changes.loc[arm, "resolved"])


def test_the_best_sentence_names_the_lowest_mean_and_reads_the_gap_to_it(tmp_path):
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    means = r.report.frame.groupby("activation")["test error"].mean()
    best, worst = means.idxmin(), means.idxmax()
    assert rung.best_sentence(r, best) == f"{best}'s mean test error was the lowest of the {len(means)}"
    said = rung.best_sentence(r, worst)
    gap = _paired(r.report.frame, best, reference=worst).mean()
    assert said.startswith(f"{best}'s mean test error was the lowest") and f"{best} − {worst} was −" in said
    assert f"{abs(100 * gap):.2f} pp" in said and f"against the {len(means) - 1} others" in said


def test_an_unresolved_difference_is_read_by_its_interval(tmp_path):
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    open_ = [a for a in r.vs_relu.index if not r.vs_relu.loc[a, "resolved"]]
    assert open_
    for arm in open_:
        row, said = r.vs_relu.loc[arm], rung.against_relu_sentence(r, arm)
        lo, hi = 100 * row["ci low"], 100 * row["ci high"]
        assert (f"a benefit larger than {abs(lo):.2f} pp" if lo < 0 else "any benefit") in said
        assert (f"a harm larger than {hi:.2f} pp" if hi > 0 else "any harm") in said
        assert ("excludes zero" in said) == (lo > 0 or hi < 0)


def test_the_step_clause_names_what_changed_besides_the_images(tmp_path):
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    fit = results.load_complete(COMMITTED, "fit1k")
    said = rung.step_clause(r, fit)
    before, after = fit.config, r.sweep.config
    assert f"the epochs ({before['epochs']} to {after['epochs']})" in said
    relu_before = fit.final[fit.final.activation == "relu"]["train_eval_error"].mean()
    assert f"a mean training error of {relu_before:.1%}" in said
    assert rung.change_sentence(rung.gain_changes(r, claims_report(fit)), rung.gained(r, claims_report(fit))[0],
                                step=said).endswith(said)


def claims_report(sweep):
    from actbook.analysis import claims
    return claims.overfit_report(sweep.final, sweep.diverged, loss="xent")


def test_the_best_sentence_also_reads_the_gap_over_every_pair(tmp_path):
    from itertools import combinations
    from actbook.analysis import stats
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    means = r.report.frame.groupby("activation")["test error"].mean()
    best, worst = means.idxmin(), means.idxmax()
    # Holm over every pair, computed here: the paired t-test's p of each pair, then Holm's step-down.
    pairs = list(combinations(sorted(means.index), 2))
    from scipy.stats import ttest_1samp
    raw = [ttest_1samp(_paired(r.report.frame, a, b).to_numpy(), 0.0).pvalue for a, b in pairs]
    adjusted = dict(zip(pairs, stats.holm(raw)))
    p = adjusted[tuple(sorted((best, worst)))]
    said = rung.best_sentence(r, worst)
    assert f"over all {len(pairs)} pairs of the {len(means)}" in said
    assert f"Holm-adjusted p {p:.3f}" in said or f"Holm-adjusted p {p:.4f}" in said
