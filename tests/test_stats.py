import numpy as np
import pandas as pd
import pytest
from scipy import stats

from actbook.stats import mean_std, paired_comparison


def _final():
    rows = []
    for seed, (r, e, s) in enumerate([(0.30, 0.28, 0.90), (0.32, 0.29, 0.91), (0.31, 0.27, 0.90)]):
        rows += [{"activation": "relu", "seed": seed, "test_error": r, "train_error": r - 0.05},
                 {"activation": "elu", "seed": seed, "test_error": e, "train_error": e - 0.05},
                 {"activation": "sigmoid", "seed": seed, "test_error": s, "train_error": s}]
    return pd.DataFrame(rows)


def test_mean_std():
    t = mean_std(_final())
    assert t.loc["relu", "test_error mean"] == pytest.approx(0.31)
    assert t.loc["relu", "test_error std"] == pytest.approx(0.01)
    assert t.loc["elu", "seeds"] == 3


def test_paired_comparison_matches_scipy():
    t = paired_comparison(_final())
    d = np.array([0.28 - 0.30, 0.29 - 0.32, 0.27 - 0.31])
    assert t.loc["elu", "mean diff vs relu"] == pytest.approx(d.mean())
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert t.loc["elu", "ci low"] == pytest.approx(d.mean() - half)
    assert t.loc["elu", "p (paired t)"] == pytest.approx(stats.ttest_rel([0.28, 0.29, 0.27], [0.30, 0.32, 0.31]).pvalue)
    assert "relu" not in t.index
    with pytest.raises(ValueError, match="baseline"):
        paired_comparison(_final(), baseline="gelu")
