"""The test images' share of a difference's uncertainty (actbook.analysis.image_noise)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from actbook.analysis import image_noise


def test_seed_only_part_is_the_books_paired_standard_error():
    # The seed-only standard error must be exactly what the intervals use: the SD over seeds of the
    # per-seed mean differences, over sqrt(seeds).
    rng = np.random.default_rng(0)
    arm, ref = rng.random((6, 500)) < 0.4, rng.random((6, 500)) < 0.5
    out = image_noise.decompose(arm, ref)
    per_seed = arm.mean(1) - ref.mean(1)
    assert out["mean diff"] == pytest.approx(per_seed.mean())
    assert out["se seeds"] == pytest.approx(per_seed.std(ddof=1) / np.sqrt(6))
    assert out["half-width seeds"] == pytest.approx(st.t.ppf(0.975, 5) * out["se seeds"])


def test_identical_seeds_leave_only_the_images():
    # Every seed makes the same per-image differences: no seed spread, and the whole uncertainty is the
    # images' (their SD over sqrt(images)).
    rng = np.random.default_rng(1)
    row_a, row_b = rng.random(400) < 0.3, rng.random(400) < 0.6
    arm, ref = np.tile(row_a, (5, 1)), np.tile(row_b, (5, 1))
    out = image_noise.decompose(arm, ref)
    d = row_a.astype(float) - row_b
    assert out["se seeds"] == pytest.approx(0, abs=1e-15)
    assert out["se images"] == pytest.approx(d.std(ddof=1) / np.sqrt(400))
    assert out["widening"] == float("inf")


def test_recovers_known_variance_components():
    # Simulate d = mu + a_s + b_i + e_si (real-valued, through arm - 0): the estimate of the images'
    # share must match var(b)/N, which the seed-only error misses, within sampling noise; the large e term
    # makes an estimate that forgot to take MS_left off miss by half again.
    rng = np.random.default_rng(2)
    seeds, images = 40, 4000
    a, b, e = rng.normal(0, 0.02, seeds), rng.normal(0, 0.3, images), rng.normal(0, 2.0, (seeds, images))
    arm = 0.1 + a[:, None] + b[None, :] + e
    out = image_noise.decompose(arm, np.zeros_like(arm))
    assert out["se images"] == pytest.approx(0.3 / np.sqrt(images), rel=0.1)
    expected_both = np.sqrt(0.02 ** 2 / seeds + 0.3 ** 2 / images + 2.0 ** 2 / (seeds * images))
    assert out["se both"] == pytest.approx(expected_both, rel=0.15)
    assert out["widening"] > 1.2


def test_no_image_effect_adds_almost_nothing():
    rng = np.random.default_rng(3)
    arm, ref = rng.random((10, 5000)) < 0.45, rng.random((10, 5000)) < 0.45
    out = image_noise.decompose(arm, ref)
    assert 1 <= out["widening"] < 1.15


def test_against_pairs_by_seed_and_drops_unshared_seeds():
    rng = np.random.default_rng(4)
    errors = {(arm, s): rng.random(300) < 0.5 for arm in ("relu", "elu") for s in range(4)}
    del errors[("elu", 2)]   # a diverged cell writes no predictions
    out = image_noise.against(errors, "elu", "relu")
    assert out["seed list"] == [0, 1, 3]
    by_hand = image_noise.decompose(np.stack([errors[("elu", s)] for s in (0, 1, 3)]),
                                    np.stack([errors[("relu", s)] for s in (0, 1, 3)]))
    assert out["se both"] == by_hand["se both"]


@pytest.mark.parametrize("arm, ref, message", [
    (np.zeros((3, 10)), np.zeros((3, 9)), "one shape"),
    (np.zeros(10), np.zeros(10), "one shape"),
    (np.zeros((1, 10)), np.zeros((1, 10)), "at least 2 seeds"),
])
def test_refuses_what_it_cannot_split(arm, ref, message):
    with pytest.raises(ValueError, match=message):
        image_noise.decompose(arm, ref)


def test_refuses_a_pair_with_one_shared_seed():
    errors = {("relu", 0): np.zeros(5), ("relu", 1): np.zeros(5), ("elu", 1): np.ones(5)}
    with pytest.raises(ValueError, match="share 1 seed"):
        image_noise.against(errors, "elu", "relu")


def _family(errors, pairs, metric="test error"):
    """A family table as claims.family_table gives it, built from per-image errors (seed-only paired t)."""
    from actbook.analysis import claims
    rows = []
    for arm, ref in pairs:
        seeds = sorted(s for (a, s) in errors if a == arm)
        rows += [{"activation": a, "seed": s, "test error": errors[(a, s)].mean(), "loss gap": 0.1 * s}
                 for a in (arm, ref) for s in seeds]
    frame = pd.DataFrame(rows).drop_duplicates(["activation", "seed"])
    return claims.family_table(frame, [("1", arm, ref, metric) for arm, ref in pairs])


def test_family_with_images_redoes_each_test_error_row_and_holm():
    # Seeds that agree closely and images that disagree: the seed-only test resolves the difference, the
    # images' share makes its p larger; a loss-gap row keeps its p; Holm is redone over the family.
    rng = np.random.default_rng(5)
    images, seeds = 300, 6
    hard = rng.random(images) < 0.5                      # the images where the arm is worse: shared by every seed
    ref_row = rng.random(images) < 0.3
    errors = {}
    for s in range(seeds):
        flip = rng.random(images) < 0.02
        errors[("arm", s)] = (hard ^ flip).astype(float)
        errors[("relu", s)] = ref_row.astype(float)
    table = _family(errors, [("arm", "relu")])
    out = image_noise.family_with_images(table, errors)
    split = image_noise.against(errors, "arm", "relu")
    expected = 2 * st.t.sf(abs(split["mean diff"]) / split["se both"], seeds - 1)
    assert out["p (paired t, images)"].iloc[0] == pytest.approx(expected)
    assert out["p (paired t, images)"].iloc[0] > table["p (paired t)"].iloc[0]
    both = pd.concat([table, table.assign(metric="loss gap", **{"p (paired t)": 0.01})], ignore_index=True)
    out2 = image_noise.family_with_images(both, errors)
    assert out2["p (paired t, images)"].iloc[1] == 0.01
    assert out2["p (Holm, images)"].tolist() == pytest.approx(
        list(np.minimum(1, np.maximum.accumulate(np.sort(out2["p (paired t, images)"]) * [2, 1]))[
            np.argsort(np.argsort(out2["p (paired t, images)"]))]))


def test_family_with_images_refuses_errors_from_other_cells():
    errors = {(a, s): (np.arange(50) % (2 + s) == 0).astype(float) for a in ("arm", "relu") for s in range(3)}
    table = _family(errors, [("arm", "relu")]).assign(**{"mean diff": 0.2})
    with pytest.raises(ValueError, match="not the same cells"):
        image_noise.family_with_images(table, errors)
