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

from actbook import arms
from actbook.prose import join_and

__all__ = ["resolution_clause", "sign_flip_p", "sign_agreement", "min_detectable_difference",
           "paired_comparison", "contrast_family", "against_two", "holm", "pp", "resolved", "summary_table",
           "comparison_sentence", "comparison_list", "did_not_train", "paired_sd", "seeds_needed", "single_run_sd", "SHOWN_SEEDS", "ALPHA", "later_arms_table", "later_arms_sentence"]

#: A difference is "shown" only with at least this many paired seeds and a
#: Holm-adjusted p-value below ALPHA; with fewer seeds it is "suggestive".
SHOWN_SEEDS = 5
ALPHA = 0.05


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


def _rounded_mean(x, axis=-1):
    return np.round(np.mean(x, axis=axis), 12)


def sign_flip_p(differences) -> float:
    """Exact two-sided permutation p-value of paired differences: the share of
    all 2^n sign assignments whose mean is at least as far from 0 as the
    observed one (the identity included, so never 0). Under the null
    hypothesis the sign of each seed's difference is a fair coin; no normality
    is assumed. With n seeds the smallest possible value is 2 / 2^n (1/16 for 5
    seeds: a family correction can then never reach 0.05).

    ``scipy.stats.permutation_test`` with one sample flips signs; with
    ``n_resamples=inf`` it enumerates every assignment, so ``n`` is capped at 20.
    The mean is rounded to 12 decimals: assignments whose means are equal in
    exact arithmetic but differ in the last bits of floating point then tie,
    which scipy's tolerance (relative to the observed mean) misses when that
    mean is small or 0."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n == 0 or n > 20:
        raise ValueError(f"sign_flip_p enumerates 2^n sign flips; n = {n} is outside 1..20")
    if n == 1:  # both signs are as far from 0 as the one observed (scipy asks for two observations)
        return 1.0
    test = _st.permutation_test((d,), _rounded_mean, permutation_type="samples", n_resamples=np.inf,
                                alternative="two-sided", vectorized=True)
    return float(test.pvalue)


def sign_agreement(differences) -> str:
    """How many seeds agree with the sign of the mean difference: ``"9/10"``."""
    d = np.asarray(differences, dtype=float)
    if not len(d):
        return "0/0"
    sign = np.sign(d.mean())
    return f"{int(np.sum(np.sign(d) == sign)) if sign else 0}/{len(d)}"


def min_detectable_difference(sd: float, n: int, alpha: float = ALPHA, power: float = 0.8) -> float:
    """The smallest true mean difference a two-sided paired t-test at level
    ``alpha`` detects with probability ``power``, for ``n`` pairs whose
    differences have standard deviation ``sd`` (exact, from the noncentral t
    distribution). Pass the family's adjusted level (e.g. ``alpha / m`` for
    the first step of Holm's procedure over ``m`` comparisons)."""
    from scipy.optimize import brentq
    if n < 2 or not np.isfinite(sd) or sd <= 0:
        return float("nan")
    df = n - 1
    crit = _st.t.ppf(1 - alpha / 2, df)

    def shortfall(delta):
        nc = delta * np.sqrt(n) / sd
        wrong_side = _st.nct.cdf(-crit, df, nc)  # below 1e-9 here; scipy returns NaN once it underflows
        return _st.nct.sf(crit, df, nc) + (wrong_side if np.isfinite(wrong_side) else 0.0) - power

    # At noncentrality crit + 6 the power is 1 to many digits for a few degrees
    # of freedom or more; with one or two, the t's heavy tails need more, so the
    # bracket widens until the power is reached (never: the design cannot detect
    # any difference at this level, and the answer is infinite).
    nc_high = crit + 6
    while shortfall(nc_high * sd / np.sqrt(n)) < 0:
        if nc_high > 1e6:
            return float("inf")
        nc_high *= 2
    return float(brentq(shortfall, 1e-9 * sd, nc_high * sd / np.sqrt(n)))


def paired_comparison(final: pd.DataFrame, baseline: str = "relu", metric: str = "test_error",
                      confidence: float = 0.95, arms=None) -> pd.DataFrame:
    """Per activation: mean of (arm - baseline) over the seeds both have, the
    paired t-test's ``confidence`` interval and two-sided p-value
    (``scipy.stats.ttest_rel``), the seeds that agree with the mean's sign and
    the exact sign-flip p (:func:`sign_flip_p`), and the t-test's p-value
    Holm-adjusted over the rows."""
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
               "ci low": np.nan, "ci high": np.nan, "p (paired t)": np.nan,
               "sign agreement": sign_agreement(d), "p (sign-flip)": sign_flip_p(d) if len(d) else np.nan}
        if len(d) > 1 and np.ptp(d) > 0:
            test = _st.ttest_rel(pair[arm], pair[baseline])
            ci = test.confidence_interval(confidence)
            row.update({"ci low": float(ci.low), "ci high": float(ci.high), "p (paired t)": float(test.pvalue)})
        rows.append(row)
    out = pd.DataFrame(rows).set_index("activation")
    out["p (Holm)"] = holm(out["p (paired t)"])
    return out


def contrast_family(final: pd.DataFrame, baseline: str, arms, contrasts: dict,
                    confidence: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Comparisons of ``arms`` with ``baseline`` plus named pairwise contrasts,
    Holm-adjusted as one family.

    ``contrasts`` maps ``(arm, reference): label``; a contrast whose arms are
    not both in ``final`` is left out. Returns ``(against_baseline, contrasts)``,
    both in :func:`paired_comparison`'s columns (the contrasts' difference
    column is ``"mean diff"``), with ``"p (Holm)"`` over all rows of both
    and the paired t intervals at ``confidence``.
    """
    present = set(final.activation)
    against = paired_comparison(final, baseline=baseline, arms=list(arms), confidence=confidence)
    rows = []
    for (a, b), label in contrasts.items():
        if {a, b} <= present:
            row = paired_comparison(final[final.activation.isin([a, b])], baseline=b, arms=[a],
                                    confidence=confidence).iloc[0]
            rows.append(row.rename(label).rename({f"mean diff vs {b}": "mean diff"}))
    pairs = pd.DataFrame(rows, columns=["seeds", "mean diff", "sd of diff", "ci low", "ci high",
                                        "p (paired t)", "sign agreement", "p (sign-flip)", "p (Holm)"])
    adjusted = holm(np.concatenate([against["p (paired t)"].to_numpy(), pairs["p (paired t)"].to_numpy()]))
    against["p (Holm)"] = adjusted[:len(against)]
    pairs["p (Holm)"] = adjusted[len(against):]
    return against, pairs


def against_two(final: pd.DataFrame, arms, baseline: str, reference: str,
                confidence: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each of ``arms`` paired against ``baseline`` and against ``reference``,
    Holm-adjusted as one family; both frames are indexed by arm (the second's
    difference column is ``"mean diff"``), the intervals at ``confidence``."""
    return contrast_family(final, baseline, arms, {(a, reference): a for a in arms}, confidence)


def comparison_list(table: pd.DataFrame, baseline: str, display=str) -> str:
    """A Markdown list with one :func:`comparison_sentence` per row of ``table``
    (indexed by arm), ``display`` turning an arm into the name to print."""
    return "\n".join(f"- {comparison_sentence(table.loc[a], baseline, display(a))}" for a in table.index)


def _mean_diff_label(labels) -> str:
    """The difference column of a comparison table ("mean diff vs relu" or "mean diff")."""
    return next(k for k in labels if str(k).startswith("mean diff"))


def resolved(table: pd.DataFrame, direction: str, display=str, shown_seeds: int = SHOWN_SEEDS,
             alpha: float = ALPHA) -> str:
    """The arms of a comparison table whose difference is resolved (Holm-adjusted
    p below ``alpha``) in ``direction`` ("lower" or "higher"), as a list for a
    sentence; an arm with fewer than ``shown_seeds`` pairs is marked
    suggestive, as in :func:`comparison_sentence`. "none" when there is none."""
    if direction not in ("lower", "higher"):
        raise ValueError(f"direction must be 'lower' or 'higher', not {direction!r}")
    diff = table[_mean_diff_label(table.columns)]
    picked = table[(table["p (Holm)"] < alpha) & ((diff < 0) if direction == "lower" else (diff > 0))]
    return ", ".join(display(a) + ("" if n >= shown_seeds else f" (suggestive only, {int(n)} seeds)")
                     for a, n in picked["seeds"].items()) or "none"


def pp(fraction: float) -> str:
    """A difference of error fractions in percentage points ("+1.23 pp")."""
    return f"{100 * fraction:+.2f} pp"


def summary_table(final: pd.DataFrame, arms, display=None, columns=None) -> pd.DataFrame:
    """Mean ± sd over seeds of each error column, as percentages, one row per arm (in order);
    an arm with no row in ``final`` (a partial sweep) has no row in the table."""
    display = display or (lambda a: a)
    columns = columns or {"train_eval_error": "train error (inference mode)", "test_error": "test error"}
    g = final.groupby("activation")
    rows = []
    for arm in (a for a in arms if a in g.groups):
        part = g.get_group(arm)
        row = {"activation": display(arm), "seeds": len(part)}
        for col, label in columns.items():
            v = part[col].astype(float)
            row[label] = f"{v.mean():.2%} ± {v.std(ddof=1):.2%}" if len(v) > 1 else f"{v.mean():.2%}"
        rows.append(row)
    return pd.DataFrame(rows, columns=["activation", "seeds", *columns.values()]).set_index("activation")


def comparison_sentence(row: pd.Series, baseline: str, against: str, shown_seeds: int = SHOWN_SEEDS,
                        alpha: float = ALPHA) -> str:
    """One sentence on a paired comparison row of :func:`paired_comparison`
    (``baseline`` and ``against`` are the names to print).

    "shown" needs a Holm-adjusted p below ``alpha`` and at least ``shown_seeds``
    pairs; with fewer pairs a significant difference is only "suggestive"."""
    diff = row[_mean_diff_label(row.index)]
    if not row["seeds"]:  # a partial sweep: the two arms share no seed
        return f"{against}: no seed in common with {baseline} in these results, so no comparison."
    if not np.isfinite(row["ci low"]):
        return f"{against}: {pp(diff)} against {baseline}; too few paired seeds for an interval."
    direction = "lower" if diff < 0 else "higher"
    significant = row["p (Holm)"] < alpha
    if significant and row["seeds"] >= shown_seeds:
        word = f"{direction} test error, shown"
    elif significant:
        word = f"{direction} test error, suggestive only ({int(row['seeds'])} seeds)"
    else:
        word = "no difference resolved"
    # The interval is the plain paired t interval; only the p-value is corrected for the family.
    return (f"{against}: {pp(diff)} against {baseline} (unadjusted 95 % CI {pp(row['ci low'])} to {pp(row['ci high'])}, "
            f"Holm-adjusted p = {row['p (Holm)']:.2g}, {int(row['seeds'])} seeds): {word}.")




def paired_sd(frame: pd.DataFrame, arm: str, reference: str, metric: str = "test error") -> float:
    """The SD over seeds of ``arm``'s paired differences from ``reference`` in
    ``metric`` (a column of ``frame``, one row per activation and seed)."""
    wide = frame.pivot(index="seed", columns="activation", values=metric)[[arm, reference]].dropna()
    return float(np.std(wide[arm] - wide[reference], ddof=1))


def seeds_needed(sd: float, margin: float, alpha: float, power: float = 0.8, cap: int = 10 ** 6) -> int:
    """The fewest seeds with which a two-sided paired t-test at ``alpha`` detects a
    true difference of ``margin`` with probability ``power``, at SD of paired
    differences ``sd`` (:func:`min_detectable_difference` falls as seeds are added;
    found by doubling, then bisection). ``cap`` when even that many do not suffice."""
    lo, hi = 2, 4
    while min_detectable_difference(sd, hi, alpha=alpha, power=power) > abs(margin):
        lo, hi = hi, hi * 2
        if hi > cap:
            return cap
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if min_detectable_difference(sd, mid, alpha=alpha, power=power) <= abs(margin):
            hi = mid
        else:
            lo = mid
    return hi


def single_run_sd(grid: pd.DataFrame, metric: str = "val_error") -> float:
    """The SD of one run's ``metric``, from a learning-rate grid run with two
    seeds (one row per cell: ``activation``, ``learning_rate``, ``outcome``):
    over every activation and rate where both seeds trained, the root mean
    square of their difference over sqrt 2 (a difference of two runs has twice
    one run's variance)."""
    trained = grid[grid.outcome != "diverged"]
    pairs = trained.groupby(["activation", "learning_rate"])[metric].agg(list)
    d = np.array([v[0] - v[1] for v in pairs if len(v) == 2])
    return float(np.sqrt(np.mean(d ** 2) / 2))


#: How close to chance (or above it) an arm's mean final error is when it "did not train".
DID_NOT_TRAIN_MARGIN = 0.02
#: The most inference-mode training error with which an arm still "fits" its training images
#: (the training chapter's and the Leaky ReLU page's bound; Start here's ``FIT_MAX`` is looser).
FIT_BOUND = 0.02


def did_not_train(final: pd.DataFrame, chance: float, margin: float = DID_NOT_TRAIN_MARGIN,
                  metric: str = "test_error") -> list[str]:
    """Arms whose mean final error is within ``margin`` of chance level."""
    means = final.groupby("activation")[metric].mean()
    return [a for a, m in means.items() if m >= chance - margin]


def resolution_clause(row: pd.Series, alpha: float = ALPHA) -> str:
    """How a paired comparison row (of :func:`paired_comparison` or
    :func:`contrast_family`) came out, as a clause to end a sentence with:
    "which the Holm-adjusted paired t-test resolves (adjusted p = 0.003)"."""
    p = row.get("p (Holm)", np.nan)
    if not row.get("seeds", 0) or not np.isfinite(p):
        return "with too few paired seeds for a test"
    verb = "resolves" if p < alpha else "does not resolve"
    return f"which the Holm-adjusted paired t-test {verb} (adjusted p = {p:.2g}, {int(row['seeds'])} seeds)"


def later_arms_table(final: pd.DataFrame, later, baseline: str = "relu", reference: str = "lrelu_1/5.5",
                     display=arms.display, alpha: float = 0.05) -> pd.DataFrame:
    """Each of ``later`` paired by seed against ``baseline`` and ``reference`` on the
    test error, all ``2 * len(later)`` comparisons one family (Holm-adjusted p-values).

    One row per arm that has cells in ``final``; the columns are ``("", "seeds")``,
    ``("", "test error")`` (mean ± sd over seeds) and, under ``"against <name>"``
    for each of the two references, ``"difference (pp)"`` (arm minus reference,
    percentage points), ``"interval (pp)"`` and ``"Holm p"``. The intervals are
    simultaneous Bonferroni intervals at ``1 - alpha`` for the whole family (each
    at ``1 - alpha / m``), so an interval that excludes 0 goes with a resolved
    difference."""
    later = [a for a in later if a in set(final.activation)]
    if not later:
        return pd.DataFrame()
    vs_base, vs_ref = against_two(final, later, baseline=baseline, reference=reference,
                                  confidence=1 - alpha / (2 * len(later)))
    errors = final.groupby("activation")["test_error"]
    means, sds = errors.mean(), errors.std(ddof=1)
    rows = []
    for arm in later:
        row = {("", "seeds"): int(vs_base.loc[arm, "seeds"]),
               ("", "test error"): f"{means[arm]:.2%} ± {sds[arm]:.2%}"}
        for name, table in ((baseline, vs_base), (reference, vs_ref)):
            r, top = table.loc[arm], f"against {display(name)}"
            diff = float(r[[k for k in r.index if str(k).startswith("mean diff")][0]])
            lo, hi = float(r["ci low"]), float(r["ci high"])
            row[(top, "difference (pp)")] = f"{100 * diff:+.2f}"
            row[(top, "interval (pp)")] = (f"{100 * lo:+.2f} to {100 * hi:+.2f}" if np.isfinite(lo) else
                                          "too few seeds" if r["seeds"] < 2 else "none (no spread)")
            row[(top, "Holm p")] = float(r["p (Holm)"])
        rows.append(row)
    out = pd.DataFrame(rows, index=pd.Index([display(a) for a in later], name="activation"))
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def later_arms_sentence(table: pd.DataFrame, alpha: float = 0.05, shown_seeds: int = 5) -> str:
    """The conclusion of :func:`later_arms_table` in one sentence (two when a
    resolved difference rests on fewer than ``shown_seeds`` seeds)."""
    if table.empty:
        return "None of the later activations has a cell that trained in these results."
    seeds = table[("", "seeds")]
    n = int(seeds.min())
    clauses, any_found = [], False
    for top in [c for c in table.columns.get_level_values(0).unique() if c]:
        p = table[(top, "Holm p")]
        diff = table[(top, "difference (pp)")].astype(float)
        found = [f"{arm}'s test error is {'lower' if diff[arm] < 0 else 'higher'}" for arm in table.index[p < alpha]]
        label = top.removeprefix("against ")
        clauses.append(f"{top}, {join_and(found)}" if found else f"no difference from {label} is resolved")
        any_found = any_found or bool(found)
    opening = f"With {n} seeds per arm" if int(seeds.max()) == n else f"With {n} or more seeds per arm"
    sentence = f"{opening}, {'; '.join(clauses)} (Holm-adjusted p below {alpha:g})."
    if any_found and n < shown_seeds:
        sentence += f" With fewer than {shown_seeds} seeds a resolved difference is suggestive only."
    return sentence
