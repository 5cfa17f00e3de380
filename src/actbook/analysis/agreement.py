"""How far sweeps of the same comparison agree.

The earlier shared-rate sweep of the ``overfit`` regime ran twice, first in
bf16 mixed precision and then in float32, and the new comparison reran
both regimes with a rate chosen per activation. A reader who wants to
know whether the choice between them mattered compares each activation's
paired difference from the baseline, sweep by sweep: that is what
:func:`differences_side_by_side` tabulates.
"""
from __future__ import annotations

import pandas as pd

from actbook.analysis.claims import signed
from actbook.analysis.stats import paired_comparison


def differences_side_by_side(finals: dict[str, pd.DataFrame], baseline: str = "relu", arms=None,
                             display=str, metric: str = "test_error",
                             diverged: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per activation, one column per sweep: the mean paired
    difference from ``baseline`` in ``metric`` (arm minus baseline, over the
    seeds both have, in the metric's own units), and one column per sweep
    with the number of those seeds.

    ``finals`` maps a sweep's label to its final rows of the cells that
    trained (diverged cells already left out, as each sweep's own analysis
    did). An activation a sweep did not run is left empty there, not
    filled in. ``diverged`` maps a label to that sweep's diverged rows: each
    such sweep gets a column counting them, so that an activation whose
    every cell diverged keeps its row. ``arms`` orders the rows (default:
    first seen).
    """
    if not finals:
        raise ValueError("no sweeps to compare")
    columns = {}
    for label, final in finals.items():
        if baseline not in set(final.activation):
            raise ValueError(f"{label}: no cell of the baseline {baseline!r}")
        table = paired_comparison(final, baseline=baseline, metric=metric)
        columns[label] = table[f"mean diff vs {baseline}"]
        columns[f"{label}: seeds"] = table["seeds"].astype("Int64")  # a count, also where a sweep lacks the arm
        if diverged is not None and label in diverged:
            ran = set(final.activation) | set(diverged[label].activation)
            counts = diverged[label].groupby("activation").size()
            columns[f"{label}: diverged"] = pd.Series({a: int(counts.get(a, 0)) for a in ran if a != baseline},
                                                      dtype="Int64")
    frame = pd.DataFrame(columns)
    order = list(arms) if arms is not None else list(dict.fromkeys(
        a for final in finals.values() for a in final.activation if a != baseline))
    order += [a for a in frame.index if a not in order]
    frame = frame.reindex([a for a in order if a in frame.index])
    frame.index = [display(a) for a in frame.index]
    return frame


def as_text(table: pd.DataFrame, baseline: str = "ReLU") -> pd.DataFrame:
    """:func:`differences_side_by_side` for a page: one group of columns per
    sweep (the difference from ``baseline`` in signed percentage points with
    a true minus sign, the seeds paired, the cells diverged), and words
    where a number is missing: "none trained" where a sweep ran an
    activation and every cell of it diverged, "not run" where it never ran
    it."""
    labels = [c for c in table.columns if not c.endswith((": seeds", ": diverged"))]
    out = {}
    for label in labels:
        diverged = table.get(f"{label}: diverged", pd.Series(pd.NA, index=table.index))
        ran = [pd.notna(v) or (pd.notna(d) and d > 0) for v, d in zip(table[label], diverged)]
        out[(label, f"minus {baseline}")] = [
            f"{signed(v, 'test error')} pp" if pd.notna(v) else "none trained" if r else "not run"
            for v, r in zip(table[label], ran)]
        out[(label, "seeds")] = [f"{int(v)}" if pd.notna(v) else "0" if r else "not run"
                                 for v, r in zip(table[f"{label}: seeds"], ran)]
        if f"{label}: diverged" in table:
            out[(label, "diverged")] = [f"{int(d)}" if pd.notna(d) else "not run" for d in diverged]
    return pd.DataFrame(out, index=table.index)
