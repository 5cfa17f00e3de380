"""How much the test images add to a difference's uncertainty.

The comparison's intervals come from the spread over seeds, with the same
test images for every seed: they say how the difference would vary if the
networks were trained again, and treat the test images as fixed. A reader
who asks how the activations compare on *new* images from the same
distribution also needs the images' share. The per-image predictions of a
final cell give it.

For two activations trained with the same seeds, write the difference of
their errors on seed *s* and test image *i* as ``d[s, i]`` (each error is 0
or 1, so ``d`` is -1, 0 or 1) and read it by the two-way random-effects
model ``d[s, i] = mu + a[s] + b[i] + e[s, i]``: a seed effect, an image
effect, and what is left. The variance of the mean difference over ``S``
seeds and ``N`` images is then

    var(a)/S + var(b)/N + var(e)/(S N),

and the usual mean squares give it without bias: (MS_seeds + MS_images -
MS_left) / (S N). The book's seed-only standard error, sd over seeds of the
per-seed means divided by sqrt(S), is MS_seeds / (S N): it already holds the
``e`` term, so the images add only ``var(b)/N``, estimated by (MS_images -
MS_left) / (S N), and taken as 0 where noise makes that negative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = ["decompose", "against", "family_with_images"]


def decompose(arm: np.ndarray, reference: np.ndarray, level: float = 0.95) -> dict:
    """The mean difference ``arm - reference`` and its standard errors.

    ``arm`` and ``reference`` are per-image errors (0 or 1, or booleans),
    shape (seeds, images), row *s* of both from the same seed. Returns the
    mean difference, the seed-only standard error (the book's intervals),
    the standard error the test images add, the two together, and each
    one's t half-width at ``level`` with the seeds' S - 1 degrees of freedom
    (the images' own degrees of freedom are thousands), as fractions."""
    a, b = np.asarray(arm, np.float64), np.asarray(reference, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two (seeds, images) arrays of one shape; got {a.shape} and {b.shape}")
    seeds, images = a.shape
    if seeds < 2 or images < 2:
        raise ValueError(f"need at least 2 seeds and 2 images to split the variance; got {seeds} and {images}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1; got {level}")
    d = a - b
    by_seed, by_image, mean = d.mean(axis=1), d.mean(axis=0), float(d.mean())
    ms_seeds = images * by_seed.var(ddof=1)
    ms_images = seeds * by_image.var(ddof=1)
    left = d - by_seed[:, None] - by_image[None, :] + mean
    ms_left = float((left ** 2).sum()) / ((seeds - 1) * (images - 1))
    cells = seeds * images
    se_seeds = float(np.sqrt(ms_seeds / cells))
    se_images = float(np.sqrt(max(ms_images - ms_left, 0.0) / cells))
    se_both = float(np.hypot(se_seeds, se_images))
    t = float(_st.t.ppf(0.5 + level / 2, seeds - 1))
    return {"mean diff": mean, "seeds": seeds, "images": images,
            "se seeds": se_seeds, "se images": se_images, "se both": se_both,
            "half-width seeds": t * se_seeds, "half-width both": t * se_both,
            "widening": se_both / se_seeds if se_seeds > 0 else float("inf")}


def against(errors: dict, arm: str, reference: str, level: float = 0.95) -> dict:
    """:func:`decompose` for two activations, from per-image errors keyed by
    ``(activation, seed)``, over the seeds both have (a diverged cell writes no
    predictions, so a seed where either diverged drops out)."""
    seeds = sorted({s for (a, s) in errors if a == arm} & {s for (a, s) in errors if a == reference})
    if len(seeds) < 2:
        raise ValueError(f"{arm} and {reference} share {len(seeds)} seed(s) with per-image errors; need at least 2")
    return {"seed list": seeds, **decompose(np.stack([errors[(arm, s)] for s in seeds]),
                                            np.stack([errors[(reference, s)] for s in seeds]), level)}


def family_with_images(table: pd.DataFrame, errors: dict, alpha: float = 0.05) -> pd.DataFrame:
    """A family of comparisons read again with the test images' share counted.

    ``table`` is a family as :func:`actbook.analysis.claims.family_table`
    gives it (columns ``arm``, ``reference``, ``metric``, ``mean diff``,
    ``p (paired t)``); ``errors`` holds per-image errors keyed by
    ``(activation, seed)``, as for :func:`against`. Each test-error row's
    paired t test is done again on the standard error that also counts the
    images (``se both``, the seeds' S - 1 degrees of freedom), the other rows
    keep their p, and Holm's correction is redone over the whole family.
    Returns a copy with ``p (paired t, images)``, ``p (Holm, images)`` and
    ``resolved (images)``: whether each verdict would hold on new test images.
    """
    from actbook.analysis.stats import holm   # the family's own correction

    out = table.copy()
    p_images = []
    for _, row in out.iterrows():
        if row["metric"] != "test error":
            p_images.append(float(row["p (paired t)"]))
            continue
        split = against(errors, row["arm"], row["reference"])
        # The recorded errors are float32; one image in 10,000 over 10 seeds moves the mean by 1e-5.
        if not np.isclose(split["mean diff"], row["mean diff"], rtol=0, atol=1e-6):
            raise ValueError(f"{row['arm']} − {row['reference']}: the per-image errors give a mean difference of "
                             f"{split['mean diff']:.6f}, the family {row['mean diff']:.6f}; they are not the same cells")
        t = abs(split["mean diff"]) / split["se both"] if split["se both"] > 0 else float("inf")
        p_images.append(float(2 * _st.t.sf(t, split["seeds"] - 1)))
    out["p (paired t, images)"] = p_images
    out["p (Holm, images)"] = holm(out["p (paired t, images)"])
    out["resolved (images)"] = out["p (Holm, images)"] < alpha
    return out
