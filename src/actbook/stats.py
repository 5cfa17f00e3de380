"""Statistics over seeds for the training comparison.

With a handful of seeds per arm, the honest summary is a mean, a spread, and
a paired comparison against a baseline: the seeds are paired (seed k of every
arm sees the same data order, augmentation and initial weights up to the
activation layers), so differences are taken seed by seed. p-values of a
family of comparisons are Holm-adjusted (Holm 1979), which controls the
family-wise error rate without assuming independence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = ["mean_std", "paired_comparison", "holm"]


def mean_std(final: pd.DataFrame, columns=("train_error", "test_error")) -> pd.DataFrame:
    """Mean and sample standard deviation over seeds, per activation."""
    g = final.groupby("activation")[list(columns)]
    return g.mean().add_suffix(" mean").join(g.std(ddof=1).add_suffix(" std")).join(g.size().rename("seeds"))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and do not count)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def paired_comparison(final: pd.DataFrame, baseline: str = "relu", metric: str = "test_error",
                      confidence: float = 0.95, arms=None) -> pd.DataFrame:
    """Per activation: mean of (arm - baseline) over the seeds both have, the
    paired t-test's ``confidence`` interval and two-sided p-value
    (``scipy.stats.ttest_rel``), and the p-value Holm-adjusted over the rows."""
    wide = final.pivot(index="seed", columns="activation", values=metric)
    if baseline not in wide:
        raise ValueError(f"baseline {baseline!r} not among {list(wide.columns)}")
    rows = []
    for arm in (arms or wide.columns):
        if arm == baseline:
            continue
        pair = wide[[arm, baseline]].dropna()
        d = (pair[arm] - pair[baseline]).to_numpy()
        row = {"activation": arm, "seeds": len(d), f"mean diff vs {baseline}": float(d.mean()) if len(d) else np.nan,
               "sd of diff": float(d.std(ddof=1)) if len(d) > 1 else np.nan,
               "ci low": np.nan, "ci high": np.nan, "p (paired t)": np.nan}
        if len(d) > 1 and np.ptp(d) > 0:
            test = _st.ttest_rel(pair[arm], pair[baseline])
            ci = test.confidence_interval(confidence)
            row.update({"ci low": float(ci.low), "ci high": float(ci.high), "p (paired t)": float(test.pvalue)})
        rows.append(row)
    out = pd.DataFrame(rows).set_index("activation")
    out["p (Holm)"] = holm(out["p (paired t)"])
    return out
