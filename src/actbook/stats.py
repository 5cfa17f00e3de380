"""Statistics over seeds for the training comparison.

With a handful of seeds per arm, the honest summary is a mean, a spread, and
a paired comparison against a baseline: the seeds are paired (seed k of every
arm sees the same data order, augmentation and initial weights up to the
activation layers), so differences are taken seed by seed before averaging.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = ["mean_std", "paired_comparison"]


def mean_std(final: pd.DataFrame, columns=("train_error", "test_error")) -> pd.DataFrame:
    """Mean and sample standard deviation over seeds, per activation."""
    g = final.groupby("activation")[list(columns)]
    out = g.mean().add_suffix(" mean").join(g.std(ddof=1).add_suffix(" std")).join(g.size().rename("seeds"))
    return out


def paired_comparison(final: pd.DataFrame, baseline: str = "relu", metric: str = "test_error",
                      confidence: float = 0.95) -> pd.DataFrame:
    """Per activation: mean of (arm - baseline) over paired seeds, its
    ``confidence`` t-interval and the two-sided paired t-test p-value."""
    wide = final.pivot(index="seed", columns="activation", values=metric)
    if baseline not in wide:
        raise ValueError(f"baseline {baseline!r} not among {list(wide.columns)}")
    rows = []
    for arm in wide.columns:
        if arm == baseline:
            continue
        d = (wide[arm] - wide[baseline]).dropna().to_numpy()
        n = len(d)
        mean = float(d.mean()) if n else np.nan
        sd = float(d.std(ddof=1)) if n > 1 else np.nan
        if n > 1 and sd > 0:
            half = _st.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)
            p = float(_st.ttest_rel(wide[arm].loc[~np.isnan(wide[arm] - wide[baseline])],
                                    wide[baseline].loc[~np.isnan(wide[arm] - wide[baseline])]).pvalue)
        else:
            half, p = np.nan, np.nan
        rows.append({"activation": arm, "seeds": n, f"mean diff vs {baseline}": mean, "sd of diff": sd,
                     "ci low": mean - half, "ci high": mean + half, "p (paired t)": p})
    return pd.DataFrame(rows).set_index("activation")
