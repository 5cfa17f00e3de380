"""The comparison's families of paired comparisons, as fixed in
``data/results/PROTOCOL.md``, and the table that answers each claim.

A family is a list of comparisons, each ``(claim, arm, reference, metric)``:
the arm's mean paired difference from the reference over seeds, on the
metric's values at the last epoch. :func:`family_table` computes every
comparison of a family, Holm-adjusts the paired t-tests' p-values over it and
prints beside them the family's minimum detectable difference (at the first
Holm step's level, 80 % power, the family's pooled SD of paired
differences). Error metrics are compared by intention to treat: a diverged
cell counts at chance (:func:`outcome_frame`); the loss gap, undefined for a
diverged cell, uses the pairs where both cells trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from actbook.analysis.stats import ALPHA, min_detectable_difference, paired_comparison
from actbook.analysis.selection import CHANCE_ERROR

__all__ = ["PAPER_ARMS", "CLAIMS", "claim_status", "claim_statuses", "claims_table", "arm_summary", "MARGINS", "margins", "paper_evidence", "OVERFIT_PRIMARY", "OVERFIT_LATER", "OVERFIT_RRELU_FORMS", "CPU_SECONDARY", "POWER", "METRICS",
           "outcome_frame", "family_table", "best_against_others", "pooled_sd", "without_diverged",
           "sensitivity_sentence", "Report", "among", "overfit_report", "against_relu", "cpu_report", "comparison_table", "family_sentence",
           "leaders", "REGIME1_QUESTION", "regime1_row", "pending_rows", "signed", "interval_text", "interval_reading",
           "interval_at_level",
           "XENT_METRICS", "cross_entropy_frame", "rerun_table", "change_between", "against_reference",
           "wrong_answer_cross_entropy"]

#: The power at which the minimum detectable difference is stated.
POWER = 0.8
#: The metrics a comparison can be made on, each a function of a cell's last row.
METRICS = {
    "test error": lambda f: f["test_error"],
    "loss gap": lambda f: f["test_loss"] - f["train_eval_loss"],  # the weight-decay term cancels
    "error gap": lambda f: f["test_error"] - f["train_eval_error"],
}

_RECTIFIERS_WITH_A_SLOPE = ("lrelu_0.01", "lrelu_1/5.5", "prelu", "rrelu", "rrelu_channel")
#: The rectifiers Xu et al. compare (RReLU in both of the book's forms).
PAPER_ARMS = ("relu", *_RECTIFIERS_WITH_A_SLOPE)

#: Regime 2's primary family: claims 1, 2 and 3 of Xu et al. (2015), one Holm correction.
OVERFIT_PRIMARY = (
    [("1", arm, "relu", "test error") for arm in _RECTIFIERS_WITH_A_SLOPE]
    + [("2", "rrelu", ref, "loss gap") for ref in ("lrelu_1/5.5", "prelu")]
    + [("3", "rrelu", ref, "test error") for ref in ("lrelu_0.01", "lrelu_1/5.5", "prelu")]
)
#: Secondary families, each corrected on its own.
OVERFIT_LATER = [("later", arm, "relu", "test error") for arm in ("sigmoid", "elu", "tanh", "selu", "gelu", "silu")]
OVERFIT_RRELU_FORMS = [("forms", "rrelu_channel", "rrelu", "test error")]
CPU_SECONDARY = [("vs ReLU", arm, "relu", "test error")
                 for arm in ("sigmoid", "lrelu_0.01", "lrelu_1/5.5", "prelu", "rrelu", "elu")]


#: The metrics of a cell that records its losses as cross-entropy alone (result format 5's ``*_xent``
#: fields, without the L2 penalty): the loss gap read in cross-entropy, and the two cross-entropies.
XENT_METRICS = {
    "test error": METRICS["test error"],
    "loss gap": lambda f: f["test_xent"] - f["train_eval_xent"],
    "error gap": METRICS["error gap"],
    "test cross-entropy": lambda f: f["test_xent"],
    "training cross-entropy": lambda f: f["train_eval_xent"],
}


def outcome_frame(final: pd.DataFrame, diverged: pd.DataFrame, chance: float = CHANCE_ERROR,
                  loss: str = "objective") -> pd.DataFrame:
    """One row per cell (activation, seed) with every metric of :data:`METRICS`:
    a trained cell's values at its last epoch; a diverged cell's error at
    chance (intention to treat) and its gaps missing (undefined).

    ``loss="xent"`` reads the losses as cross-entropy alone
    (:data:`XENT_METRICS`: the ``*_xent`` fields, which only result format 5
    records; a cell without them raises ``ValueError``) and adds the test and
    training cross-entropies as metrics of their own."""
    if loss not in ("objective", "xent"):
        raise ValueError(f"loss must be 'objective' or 'xent', not {loss!r}")
    metrics = METRICS if loss == "objective" else XENT_METRICS
    if loss == "xent":
        lacking = [c for c in ("test_xent", "train_eval_xent") if c not in final or final[c].isna().any()]
        if lacking:
            raise ValueError(f"loss='xent' needs every cell's {' and '.join(lacking)} at its last epoch "
                             f"(result format 5)")
    rows = final[["activation", "seed"]].copy()
    for name, metric in metrics.items():
        rows[name] = metric(final).astype(float).to_numpy()
    rows["diverged"] = False
    if len(diverged):
        back = diverged[["activation", "seed"]].copy()
        back["test error"] = chance
        for name in metrics:
            if name != "test error":
                back[name] = np.nan
        back["diverged"] = True
        rows = pd.concat([rows, back], ignore_index=True)
    return rows.sort_values(["activation", "seed"]).reset_index(drop=True)


def _pairs(frame: pd.DataFrame, arm: str, reference: str, metric: str) -> np.ndarray:
    wide = frame.pivot(index="seed", columns="activation", values=metric)
    if arm not in wide or reference not in wide:
        return np.array([])
    pair = wide[[arm, reference]].dropna()
    return (pair[arm] - pair[reference]).to_numpy()


def pooled_sd(frame: pd.DataFrame, family) -> float:
    """The root mean square of the family's SDs of paired differences (each over its own pairs)."""
    sds = [np.std(d, ddof=1) for _, a, r, m in family if len(d := _pairs(frame, a, r, m)) > 1]
    return float(np.sqrt(np.mean(np.square(sds)))) if sds else float("nan")


def family_table(frame: pd.DataFrame, family, alpha: float = ALPHA, power: float = POWER) -> pd.DataFrame:
    """Every comparison of ``family`` on ``frame`` (:func:`outcome_frame`), one row each.

    Columns: the claim, the metric, the seeds paired, the mean difference,
    the paired t interval, the seeds agreeing in sign, the exact sign-flip p,
    the paired t p, its Holm adjustment over the family, whether it is
    resolved (adjusted p below ``alpha``) and ``mdd``, the family's minimum
    detectable difference on that row's metric at the first Holm step
    (``alpha / len(family)``, the metric's pooled SD, its fewest seeds).
    ``attrs`` holds the test-error one (``"minimum detectable difference"``,
    with its ``"pooled sd"``) and every metric's (``"mdd by metric"``).
    """
    rows = []
    for claim, arm, reference, metric in family:
        sub = frame[frame.activation.isin([arm, reference])].rename(columns={metric: "_value"})
        if {arm, reference} <= set(sub.activation):
            row = paired_comparison(sub, baseline=reference, metric="_value", arms=[arm]).iloc[0]
        else:
            row = pd.Series({"seeds": 0})
        rows.append({"claim": claim, "arm": arm, "reference": reference, "metric": metric,
                     "seeds": int(row.get("seeds", 0)),
                     "mean diff": row.get(f"mean diff vs {reference}", np.nan),
                     "ci low": row.get("ci low", np.nan), "ci high": row.get("ci high", np.nan),
                     "sign agreement": row.get("sign agreement", "0/0"),
                     "p (sign-flip)": row.get("p (sign-flip)", np.nan),
                     "p (paired t)": row.get("p (paired t)", np.nan)})
    out = pd.DataFrame(rows)
    from actbook.analysis.stats import holm
    out["p (Holm)"] = holm(out["p (paired t)"])
    out["resolved"] = out["p (Holm)"] < alpha
    # The power is computed per metric: pooling the SD of an error difference
    # with that of a loss gap would mix units (a fraction and nats).
    level = alpha / max(len(family), 1)
    by_metric, sd_by_metric = {}, {}
    for metric in dict.fromkeys(out["metric"]):
        mine = [c for c in family if c[3] == metric]
        sd_by_metric[metric] = pooled_sd(frame, mine)
        seeds = int(out.loc[out["metric"] == metric, "seeds"].min())
        by_metric[metric] = min_detectable_difference(sd_by_metric[metric], seeds, alpha=level, power=power)
    out["mdd"] = out["metric"].map(by_metric)
    headline = "test error" if "test error" in by_metric else next(iter(by_metric), None)
    out.attrs["minimum detectable difference"] = by_metric.get(headline, float("nan"))
    out.attrs["pooled sd"] = sd_by_metric.get(headline, float("nan"))
    out.attrs["mdd by metric"] = by_metric
    return out


def best_against_others(frame: pd.DataFrame, arms, metric: str = "test error"):
    """Regime 1's primary family: the arm with the lowest mean ``metric``
    against each other arm, as a family for :func:`family_table`; and that arm."""
    means = frame[frame.activation.isin(arms)].groupby("activation")[metric].mean()
    best = str(means.idxmin())
    return [("fastest", best, other, metric) for other in arms if other != best], best


#: Xu et al.'s three claims on CIFAR-10, in the book's words, and the sign each comparison should have.
CLAIMS = {
    "1": "A non-zero negative slope improves on ReLU.",
    "2": "A fixed or a learned slope overfits more than RReLU's random one.",
    "3": "RReLU gives the lowest test error of the rectifiers.",
}


def _size(mdd: float, metric: str) -> str:
    """A detectable size in the metric's unit: pp for an error, nats for a loss."""
    return f"{100 * mdd:.1f} pp" if "error" in metric else f"{mdd:.2f} nats in the {metric}"


def claim_status(rows: pd.DataFrame, mdd: float | None = None) -> str:
    """Where one claim stands ("supported: ...", "not resolved: ..."), from its comparisons (rows of :func:`family_table`,
    each predicted to be negative): what was resolved, in which direction,
    and, when nothing was, the size the design could have detected (``mdd``,
    by default the rows' own ``mdd`` in their metric's unit)."""
    n = len(rows)
    if n == 0 or (rows["seeds"] == 0).all():
        return "not tested: its activations have no cells in these results"
    for_ = int((rows["resolved"] & (rows["mean diff"] < 0)).sum())
    against = int((rows["resolved"] & (rows["mean diff"] > 0)).sum())
    metric = str(rows["metric"].iloc[0]) if "metric" in rows else "test error"
    size = mdd if mdd is not None else float(rows["mdd"].iloc[0])
    detect = f"differences of {_size(size, metric)} or more would have been detected with 80 % power"
    if against:
        return (f"contradicted: {against} of the {n} comparisons resolved in the opposite direction"
                + (f", {for_} in the claimed one" if for_ else ""))
    if for_ == n:
        return f"supported: {'both' if n == 2 else f'all {n}'} comparisons resolved in the claimed direction"
    if for_:
        return f"partly supported: {for_} of the {n} comparisons resolved in the claimed direction, none against it"
    return f"not resolved: no comparison resolved either way, where {detect}"


def claim_statuses(table: pd.DataFrame) -> pd.DataFrame:
    """One row per claim of :data:`CLAIMS` found in ``table`` (a :func:`family_table`
    of :data:`OVERFIT_PRIMARY`): the claim, its comparisons, and the verdict."""
    rows = []
    for claim, text in CLAIMS.items():
        mine = table[table["claim"] == claim]
        if len(mine):
            rows.append({"claim": f"{claim}. {text}", "comparisons": len(mine), "verdict": claim_status(mine)})
    return pd.DataFrame(rows).set_index("claim")


def _difference(row, display) -> str:
    """One comparison as a reader wants it: "RReLU − ReLU −1.2 pp (−2.0 to −0.4)"."""
    if row["seeds"] == 0 or np.isnan(row["mean diff"]):
        return f"{display(row['arm'])} − {display(row['reference'])}: no pairs"
    scale, unit, digits = _scaled(row["metric"])
    value = lambda v: f"{scale * v:+.{digits}f}".replace("-", "−")
    return (f"{display(row['arm'])} − {display(row['reference'])} {value(row['mean diff'])} {unit} "
            f"({value(row['ci low'])} to {value(row['ci high'])})")


def claims_table(table: pd.DataFrame, evidence: dict, display=str) -> pd.DataFrame:
    """The table a reader of the claims wants, one row per claim of
    :data:`CLAIMS` in ``table`` (a :func:`family_table`): the claim, the
    paper's evidence (``evidence``: claim -> text, the chapter's words), this
    book's result (each comparison's mean paired difference and 95 % interval,
    in pp for an error and in nats for a loss gap) and the verdict."""
    rows = []
    for claim, text in CLAIMS.items():
        mine = table[table["claim"] == claim]
        if not len(mine):
            continue
        rows.append({"claim": f"{claim}. {text}", "the published evidence": evidence.get(claim, ""),
                     "this book's result": "; ".join(_difference(r, display) for _, r in mine.iterrows()),
                     "verdict": claim_status(mine)})
    return pd.DataFrame(rows).set_index("claim")


def arm_summary(frame: pd.DataFrame, arms, display=str) -> pd.DataFrame:
    """One row per arm of :func:`outcome_frame`'s cells, in ``arms``' order:
    the cells, how many diverged, the mean and SD over seeds of the test error
    counted by intention to treat (a diverged cell at chance), the mean test
    error of the cells that trained, and the mean loss and error gaps (over
    the cells that trained; a gap is undefined for a diverged cell)."""
    rows = []
    for arm in arms:
        mine = frame[frame.activation == arm]
        trained = mine[~mine["diverged"]]
        rows.append({"activation": display(arm), "cells": len(mine), "diverged": int(mine["diverged"].sum()),
                     "test error": mine["test error"].mean(), "SD": mine["test error"].std(ddof=1),
                     "test error, trained cells": trained["test error"].mean(),
                     "loss gap": trained["loss gap"].mean(), "error gap": trained["error gap"].mean()})
    return pd.DataFrame(rows).set_index("activation")


#: The paper's margins the design's power is held against: (arm, reference) in Xu et al.'s CIFAR-10 table.
MARGINS = (("rrelu", "lrelu_1/5.5"), ("rrelu", "prelu"), ("rrelu", "relu"))


def margins(paper: pd.Series, mdd: float, display=str) -> pd.DataFrame:
    """Xu et al.'s test-error margins (``paper``: activation -> test error) for
    :data:`MARGINS`, in pp, beside the design's minimum detectable difference
    ``mdd`` and whether a true difference of the paper's size would be
    detected with 80 % power."""
    rows = [{"comparison": f"{display(a)} − {display(r)}", "the paper's difference (pp)": 100 * (paper[a] - paper[r]),
             "detectable at this design's power (pp)": 100 * mdd,
             "detectable": "yes" if abs(paper[a] - paper[r]) >= mdd else "no"} for a, r in MARGINS]
    return pd.DataFrame(rows).set_index("comparison")


def paper_evidence(paper: pd.Series, display=str) -> dict:
    """What Xu et al.'s CIFAR-10 table (``paper``: activation -> test error,
    one number each, no spread reported) offers for claims 1 and 3, in words, from the transcribed
    test errors; claim 2 rests on their training errors, which are not
    transcribed here, so its entry says so."""
    def pp_(a, r):  # a true minus sign, in the number only
        return f"{100 * (paper[a] - paper[r]):+.2f} pp".replace("-", "−")

    def named(a):  # the paper's RReLU is its own; the book's two forms are named apart elsewhere
        return "RReLU" if a == "rrelu" else display(a)

    def diff(a, r):
        return f"{named(a)} {pp_(a, r)}"

    slopes = [a for a in _RECTIFIERS_WITH_A_SLOPE if a in paper.index]
    others = [a for a in ("lrelu_0.01", "lrelu_1/5.5", "prelu") if a in paper.index]
    return {
        "1": "test error minus ReLU's, one number each: " + ", ".join(diff(a, "relu") for a in slopes),
        "2": "their training and test errors (one number each); the training errors are not transcribed in this book",
        "3": "RReLU's test error minus the others', one number each: " + ", ".join(
            f"{named('rrelu')} − {display(r)} {pp_('rrelu', r)}" for r in others),
    }


def without_diverged(frame: pd.DataFrame) -> pd.DataFrame:
    """The sensitivity analysis's cells: :func:`outcome_frame` without its
    diverged cells, so every pair with one drops out of its comparison."""
    return frame[~frame["diverged"]].reset_index(drop=True)


def sensitivity_sentence(primary: pd.DataFrame, sensitivity: pd.DataFrame, display=str) -> str:
    """Whether dropping the diverged cells (``sensitivity``, a
    :func:`family_table` of the same family as ``primary``) changes any
    comparison's resolution, in one sentence."""
    key = ["claim", "arm", "reference", "metric"]
    both = primary[key + ["resolved", "seeds"]].merge(sensitivity[key + ["resolved", "seeds"]], on=key,
                                                      suffixes=("", " without")).set_index(key)
    changed = both[both["resolved"] != both["resolved without"]]
    dropped = int((both["seeds"] - both["seeds without"]).sum())
    if dropped == 0:
        return "No cell of these comparisons diverged, so the sensitivity analysis is identical to the primary one."
    if not len(changed):
        return (f"Dropping the diverged cells ({dropped} pair{'s' if dropped != 1 else ''} over the family) "
                f"changes no comparison's resolution.")
    items = [f"{display(a)} − {display(r)} ({m}) is {'resolved' if res else 'not resolved'} without them"
             for (_, a, r, m), res in changed["resolved without"].items()]
    return (f"Dropping the diverged cells ({dropped} pair{'s' if dropped != 1 else ''} over the family) changes "
            f"{len(changed)} resolution{'s' if len(changed) != 1 else ''}: " + "; ".join(items) + ".")


@dataclass
class Report:
    """One regime's pre-registered analysis (``data/results/PROTOCOL.md``):
    its cells as :func:`outcome_frame` counts them, the primary family's
    table (intention to treat), the same family without diverged cells (the
    sensitivity analysis), the secondary families by name, and regime 1's
    fastest arm (None in regime 2)."""

    frame: pd.DataFrame
    primary: pd.DataFrame
    sensitivity: pd.DataFrame
    secondary: dict = field(default_factory=dict)
    best: str | None = None


def among(family, arms) -> list:
    """The comparisons of ``family`` whose two arms are both in ``arms``: a
    profile that ran fewer arms (the rung, ``fit8k``) applies regime 2's
    families to the arms it ran, each corrected over what is left
    (``data/results/PROTOCOL.md``)."""
    return [c for c in family if c[1] in arms and c[2] in arms]


def overfit_report(final: pd.DataFrame, diverged: pd.DataFrame, loss: str = "objective",
                   arms=None) -> Report:
    """Regime 2: :data:`OVERFIT_PRIMARY`, then the later activations against
    ReLU and the two forms of RReLU, each family corrected on its own.
    ``loss="xent"`` reads claim 2's loss gap in cross-entropy alone (the
    third comparison's rule; :func:`outcome_frame`). ``arms`` (default:
    every arm of the families) keeps the comparisons among the arms a
    profile ran (:func:`among`); an arm named there with no cell is refused,
    as is a family left empty by it."""
    frame = outcome_frame(final, diverged, loss=loss)
    families = {"primary": OVERFIT_PRIMARY, "later": OVERFIT_LATER, "forms": OVERFIT_RRELU_FORMS}
    if arms is not None:
        absent = [a for a in arms if a not in set(frame.activation)]
        if absent:
            raise ValueError(f"overfit_report: no cell of {absent}, which arms names")
        families = {k: among(f, set(arms)) for k, f in families.items()}
        empty = [k for k, f in families.items() if not f]
        if empty:
            raise ValueError(f"overfit_report: the arms {list(arms)} leave the {' and '.join(empty)} family empty")
    return Report(frame, family_table(frame, families["primary"]),
                  family_table(without_diverged(frame), families["primary"]),
                  {"later": family_table(frame, families["later"]), "forms": family_table(frame, families["forms"])})


def against_relu(report: Report) -> pd.DataFrame:
    """Each arm against ReLU as regime 2's families test it, one row per arm:
    claim 1's rows of the primary family and the later activations' family,
    each corrected within its own family."""
    return pd.concat([report.primary[report.primary.claim == "1"], report.secondary["later"]]).set_index("arm")


def cpu_report(final: pd.DataFrame, diverged: pd.DataFrame, arms) -> Report:
    """Regime 1: the fastest arm (lowest mean test error, a diverged cell at
    chance) against each other arm, then every arm against ReLU."""
    frame = outcome_frame(final, diverged)
    family, best = best_against_others(frame, arms)
    return Report(frame, family_table(frame, family), family_table(without_diverged(frame), family),
                  {"vs ReLU": family_table(frame, CPU_SECONDARY)}, best)


def _scaled(metric: str):
    """How a metric's differences are printed: (scale, unit, digits); an error in pp, a loss in nats."""
    return (100, "pp", 1) if "error" in metric else (1, "nats", 3)


def signed(v: float, metric: str, digits: int | None = None) -> str:
    """A difference in the metric's unit (without it), signed, with a true minus sign: "−1.4"
    (``digits`` after the point: the metric's own by default)."""
    scale, _, own = _scaled(metric)
    return f"{scale * v:+.{own if digits is None else digits}f}".replace("-", "−")


def interval_text(row, digits: int = 2) -> str:
    """A comparison's mean difference and 95 % interval in pp, for a sentence:
    "−0.18 pp (95 % interval −0.38 to +0.01)" (``row``: a :func:`family_table` row
    on an error metric; ``digits`` after the decimal point)."""
    def value(v):   # a value that rounds to zero is "0.00", neither "+0.00" nor "−0.00"
        text = f"{100 * v:+.{digits}f}"
        return f"{0:.{digits}f}" if float(text) == 0 else text.replace("-", "\u2212")
    return f"{value(row['mean diff'])} pp (95 % interval {value(row['ci low'])} to {value(row['ci high'])})"


def interval_reading(row, paper: float | None = None) -> str:
    """What an unresolved difference's 95 % interval rules out, a negative
    difference being a benefit (a lower error): "rules out a benefit larger than
    0.38 pp and a harm larger than 0.01 pp"; with ``paper`` (a published
    difference, as a fraction), whether the interval includes it."""
    lo, hi = 100 * row["ci low"], 100 * row["ci high"]
    parts = [f"rules out a benefit larger than {abs(lo):.2f} pp" if lo < 0 else "rules out any benefit"]
    parts.append(f"and a harm larger than {hi:.2f} pp" if hi > 0 else "and any harm")
    text = " ".join(parts)
    if paper is not None:
        inside = row["ci low"] <= paper <= row["ci high"]
        published = f"{100 * paper:+.2f}".replace("-", "\u2212")
        text += f", and {'includes' if inside else 'excludes'} Xu et al.'s {published} pp"
    return text


def interval_at_level(row, level: float):
    """``row`` (a :func:`family_table` row) with its paired t interval at the
    two-sided ``level`` in place of the 95 % one: mean ± t(1 − level/2, n − 1)
    × SE, the SE of the paired differences recovered from the 95 % interval
    (half-width / t(0.975, n − 1)). With ``level`` = 0.05/m it is the interval
    at the first step of Holm's correction over a family of m, the widest the
    family's resolved differences must clear."""
    from scipy import stats as st
    if not row["ci low"] <= row["mean diff"] <= row["ci high"]:  # e.g. a row flipped in its interval only
        raise ValueError(f"interval_at_level: the mean difference {row['mean diff']:.4g} lies outside its own 95 % "
                         f"interval ({row['ci low']:.4g}, {row['ci high']:.4g}); flip the mean with the interval")
    df = int(row["seeds"]) - 1
    se = (row["ci high"] - row["ci low"]) / 2 / st.t.ppf(0.975, df)
    half = st.t.ppf(1 - level / 2, df) * se
    out = row.copy()
    out["ci low"], out["ci high"] = row["mean diff"] - half, row["mean diff"] + half
    return out


def comparison_table(table: pd.DataFrame, display=str) -> pd.DataFrame:
    """A :func:`family_table` as a reader wants it, one row per comparison:
    "A − B", the seeds paired, the mean difference and its 95 % interval in
    the metric's unit (pp for an error, nats for a loss), the seeds agreeing
    in sign, the three p-values and whether the difference is resolved. An
    error is printed to two decimals of a pp, as the chapters' sentences give
    it, so an interval's end near zero does not read "−0.0"."""
    rows = []
    for _, r in table.iterrows():
        unit = _scaled(r["metric"])[1]
        value = lambda v: signed(v, r["metric"], digits=2 if unit == "pp" else None)
        rows.append({"comparison": f"{display(r['arm'])} − {display(r['reference'])}", "metric": r["metric"],
                     "seeds": int(r["seeds"]), "difference": f"{value(r['mean diff'])} {unit}",
                     "95 % interval (unadjusted)": f"{value(r['ci low'])} to {value(r['ci high'])}",
                     "seeds agreeing": r["sign agreement"], "p (sign-flip)": f"{r['p (sign-flip)']:.4f}",
                     "p (paired t)": f"{r['p (paired t)']:.2g}", "p (Holm)": f"{r['p (Holm)']:.2g}",
                     "resolved": "yes" if r["resolved"] else "no"})
    return pd.DataFrame(rows).set_index("comparison")


def family_sentence(table: pd.DataFrame, display=str, family_size: int | None = None) -> str:
    """How many of a family's comparisons are resolved and in which direction,
    with the family's minimum detectable difference on its headline metric,
    and (as PROTOCOL.md asks) the unresolved ones smaller than it, named as
    not testable at this size rather than as "no effect". ``table`` may be a
    part of its family (one claim's rows): pass the whole family's size as
    ``family_size``, which sets the first Holm step's level."""
    n, resolved = len(table), table[table["resolved"]]
    m = family_size or n
    below, above = int((resolved["mean diff"] < 0).sum()), int((resolved["mean diff"] > 0).sum())
    metric = "test error" if "test error" in set(table["metric"]) else str(table["metric"].iloc[0])
    scale, unit, digits = _scaled(metric)
    mdd = table.attrs.get("mdd by metric", {}).get(metric, float(table["mdd"].iloc[0]))
    sd = table.attrs.get("pooled sd", float("nan")) if metric == "test error" else float("nan")
    seeds = int(table.loc[table["metric"] == metric, "seeds"].min())
    value = lambda v: signed(v, metric)
    every = "Both" if n == 2 else f"All {n}"
    if n == 1:
        done = ("The comparison is resolved, the first-named activation "
                f"{'lower' if below else 'higher'}." if len(resolved) else "The comparison is not resolved.")
    elif len(resolved) == n and (below == n or above == n):
        done = (f"{every} comparisons are resolved, the first-named activation "
                f"{'lower' if below else 'higher'} in each.")
    elif len(resolved):
        parts = [f"{below} with the first-named activation lower"] if below else []
        if above:
            parts.append(f"{above} with {'it' if below else 'the first-named activation'} higher")
        share = every if len(resolved) == n else f"{len(resolved)} of the {n}"
        done = f"{share} comparisons {'is' if len(resolved) == 1 else 'are'} resolved ({', '.join(parts)})."
    else:
        done = f"None of the {n} comparisons is resolved."
    spread = f" and a pooled SD of paired differences of {scale * sd:.{digits + 1}f} {unit}" if np.isfinite(sd) else ""
    power = (f"With {seeds} seeds{spread}, a single comparison at the first Holm step's level ({ALPHA:g}/{m}) "
             f"detects a true difference of {scale * mdd:.{digits}f} {unit} in the {metric} with 80 % power "
             f"(the SD is estimated from these same seeds)." if np.isfinite(mdd) else
             f"With {seeds} seeds, no difference is detectable at the first Holm step's level ({ALPHA:g}/{m}).")
    small = table[~table["resolved"] & (table["metric"] == metric) & (table["mean diff"].abs() < mdd)]
    untestable = ""
    if len(small):
        items = [f"{display(r['arm'])} − {display(r['reference'])} ({value(r['mean diff'])} {unit}, 95 % interval "
                 f"{value(r['ci low'])} to {value(r['ci high'])})" for _, r in small.iterrows()]
        untestable = (f" Unresolved and smaller than that, so not testable at this size (which is not evidence "
                      f"of no effect): {'; '.join(items)}.")
    return f"{done} {power}{untestable}"


def leaders(history: pd.DataFrame, arms, metric: str = "test_error") -> pd.Series:
    """The arm with the lowest mean ``metric`` over seeds at each epoch where it
    was measured (index: epoch), among ``arms``."""
    rows = history[history.activation.isin(arms)].dropna(subset=[metric])
    return rows.groupby(["epoch", "activation"])[metric].mean().unstack().idxmin(axis=1)


#: Regime 1's question, as the claims table names it.
REGIME1_QUESTION = "Regime 1. Which activation learns fastest?"


def regime1_row(report: Report, evidence: str, display=str, epochs: int | None = None) -> pd.DataFrame:
    """Regime 1's answer as one row of :func:`claims_table`'s columns: the
    fastest arm of ``report`` (:func:`cpu_report`), its paired differences
    from every other arm, and whether each is resolved. ``evidence`` is what
    the literature claims, in the chapter's words; ``epochs``, the regime's
    training budget, names when the test error was taken."""
    rows, best = report.primary, display(report.best)
    n, won = len(rows), int((rows["resolved"] & (rows["mean diff"] < 0)).sum())
    when = f"after {epochs} epochs" if epochs else "at the last epoch"
    if won == n:
        verdict = f"{best}: the lowest test error {when}, below every other activation's (all {n} comparisons resolved)"
    elif won:
        tied = ", ".join(display(r) for r in rows.loc[~rows["resolved"], "reference"])
        verdict = f"{best} leads, but only {won} of the {n} comparisons are resolved; not told apart from {tied}"
    else:
        verdict = f"not resolved: {best} has the lowest mean, but no comparison with it is resolved"
    result = (f"lowest mean test error: {best}; " + "; ".join(_difference(r, display) for _, r in rows.iterrows()))
    return pd.DataFrame([{"claim": REGIME1_QUESTION, "the published evidence": evidence,
                          "this book's result": result, "verdict": verdict}]).set_index("claim")


def pending_rows(evidence: dict, note: str) -> pd.DataFrame:
    """The rows of :func:`claims_table` for Xu et al.'s claims while their
    regime's final cells are not all in: the claim, the paper's evidence,
    ``note`` (how many cells are in) and no verdict."""
    return pd.DataFrame([{"claim": f"{claim}. {text}", "the published evidence": evidence.get(claim, ""),
                          "this book's result": note, "verdict": "not yet tested"}
                         for claim, text in CLAIMS.items()]).set_index("claim")


def cross_entropy_frame(report: Report, cells: list[dict]) -> pd.DataFrame:
    """``report.frame`` (an :func:`overfit_report` with ``loss="xent"``) with each
    cell's calibrated test cross-entropy beside it: ``"calibrated test
    cross-entropy"``, the test cross-entropy after the one softmax temperature
    fitted on the validation images (the cell's ``calibration`` block), and
    that ``"temperature"``. A cell of the frame without a calibration block,
    or a block without a cell, raises ``ValueError``; a diverged cell has none
    and gets NaN."""
    frame = report.frame.copy()
    if "test cross-entropy" not in frame:
        raise ValueError("cross_entropy_frame reads a report made with loss='xent'")
    blocks = {(c["activation"], int(c["seed"])): c.get("calibration") for c in cells}
    keys = list(zip(frame.activation, frame.seed.astype(int)))
    if set(blocks) != set(keys):
        raise ValueError("the cells and the report's frame are not the same cells")
    missing = [k for k, d in zip(keys, frame["diverged"]) if not d and not isinstance(blocks[k], dict)]
    if missing:
        raise ValueError(f"no calibration block in {len(missing)} trained cells, e.g. {missing[0]}")
    pick = lambda field: [float(blocks[k][field]) if isinstance(blocks[k], dict) and not d else np.nan
                          for k, d in zip(keys, frame["diverged"])]
    frame["calibrated test cross-entropy"] = pick("test_xent_calibrated")
    frame["temperature"] = pick("temperature")
    return frame


def wrong_answer_cross_entropy(predicted, p_true, labels, zero_terms: float = 0.0) -> float:
    """The mean cross-entropy over the images classified wrongly (``predicted != labels``):
    the mean of −ln p_true over them, where ``p_true`` is the probability each image's
    true class was given (a final cell's predictions file). An image whose float32
    ``p_true`` is 0 is wrong, and its term is not in the file: ``zero_terms`` is their sum
    (the cell's ``predictions.xent_sum_where_p_true_is_0``). Why: a test cross-entropy
    averages right and wrong answers, and only this part says how confident the mistakes
    are. No wrong image gives NaN."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    p_true = np.asarray(p_true, np.float64)
    if not predicted.shape == labels.shape == p_true.shape:
        raise ValueError("predicted, p_true and labels must be one value per image each")
    wrong = predicted != labels
    if (p_true[~wrong] == 0).any():
        raise ValueError("an image predicted right has p_true 0: these are not one cell's predictions")
    if not wrong.any():
        return float("nan")
    terms = p_true[wrong]
    return float((-np.log(terms[terms > 0]).sum() + zero_terms) / wrong.sum())


def against_reference(frame: pd.DataFrame, reference: str, arms, metrics) -> pd.DataFrame:
    """``reference`` − each of ``arms`` on each of ``metrics`` (columns of
    ``frame``), each comparison on its own (unadjusted: its "p (Holm)" is its
    own p), as :func:`family_table` rows indexed by (metric, arm)."""
    rows = [family_table(frame, [("against " + reference, reference, arm, metric)]).iloc[0]
            for metric in metrics for arm in arms if arm != reference]
    return pd.DataFrame(rows).set_index(["metric", "reference"])


def rerun_table(before: pd.DataFrame, after: pd.DataFrame, arms, labels=("before", "after"),
                display=str) -> pd.DataFrame:
    """One row per arm of ``arms``: its difference from the reference in two
    runs of the same design (``before``, ``after``: :func:`family_table` rows
    indexed by arm, on an error metric), each as its mean in pp, its 95 %
    interval and whether it is resolved, and how the verdict moved
    ("held", "moved"), where a verdict is the sign of a resolved difference
    or "not resolved". An arm missing from either table raises ``KeyError``."""
    def verdict(r):
        if not r["resolved"]:
            return "not resolved"
        return "lower" if r["mean diff"] < 0 else "higher"

    pp = lambda v: signed(v, "test error", digits=2)   # two decimals, as comparison_table: no "−0.0"
    rows = []
    for arm in arms:
        b, a = before.loc[arm], after.loc[arm]
        row = {"activation": display(arm)}
        for label, r in zip(labels, (b, a)):
            row[f"{label}: difference (pp)"] = pp(r["mean diff"])
            row[f"{label}: 95 % interval"] = f"{pp(r['ci low'])} to {pp(r['ci high'])}"
            row[f"{label}: verdict"] = verdict(r)
        row["verdict"] = "held" if verdict(b) == verdict(a) else "moved"
        row["change (pp)"] = pp(a["mean diff"] - b["mean diff"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("activation")


def change_between(before: pd.DataFrame, after: pd.DataFrame, arms, reference: str = "relu",
                   metric: str = "test error", alpha: float = ALPHA) -> pd.DataFrame:
    """How each arm's difference from ``reference`` changed between two
    settings with their own seeds (``before``, ``after``: :func:`outcome_frame`
    frames). One row per arm of ``arms``: its mean paired difference in each
    setting, the change (after minus before) with a Welch 95 % interval (the
    two settings' seeds are independent draws, so their per-seed differences
    are two unpaired samples), the Welch t-test's p, its Holm adjustment over
    ``arms`` and whether that is below ``alpha``. An arm with fewer than two
    paired seeds in either setting raises ``ValueError``."""
    from scipy import stats as st

    from actbook.analysis.stats import holm
    rows = []
    for arm in arms:
        b, a = _pairs(before, arm, reference, metric), _pairs(after, arm, reference, metric)
        if min(len(b), len(a)) < 2:
            raise ValueError(f"{arm} − {reference}: {len(b)} and {len(a)} paired seeds; a change needs at least 2 in each")
        var_b, var_a = b.var(ddof=1) / len(b), a.var(ddof=1) / len(a)
        se = float(np.sqrt(var_b + var_a))
        change = float(a.mean() - b.mean())
        # Welch-Satterthwaite degrees of freedom; with no spread in either sample the change is exact.
        df = (var_b + var_a) ** 2 / (var_b ** 2 / (len(b) - 1) + var_a ** 2 / (len(a) - 1)) if se > 0 else np.inf
        half = float(st.t.ppf(0.975, df) * se) if se > 0 else 0.0
        p = float(2 * st.t.sf(abs(change) / se, df)) if se > 0 else (1.0 if change == 0 else 0.0)
        rows.append({"arm": arm, "before": float(b.mean()), "after": float(a.mean()), "change": change,
                     "ci low": change - half, "ci high": change + half, "seeds before": len(b),
                     "seeds after": len(a), "p (Welch)": p})
    out = pd.DataFrame(rows).set_index("arm")
    out["p (Holm)"] = holm(out["p (Welch)"])
    out["resolved"] = out["p (Holm)"] < alpha
    return out
