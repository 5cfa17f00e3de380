"""The 8,000-image setting (profile ``fit8k``, PROTOCOL.md "The new rung"),
read the same way by every chapter that quotes it.

Regime 2's families are applied to the arms the setting ran
(:func:`actbook.analysis.claims.overfit_report` with ``arms``), claim 2's
loss gap in cross-entropy alone. While the sweep is still running, a draft
page may read the seeds every arm has ended (an interim reading, which a
page must say it is); a page that reads complete settings only passes
``complete=True`` and gets :class:`~actbook.analysis.results.RegimeIncomplete`
until every planned cell is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pandas as pd

from actbook.analysis import claims, results

__all__ = ["PROFILE", "Rung", "read", "against_relu_sentence", "gained", "gain_changes", "change_sentence",
           "step_clause", "best_sentence"]

#: The profile of the 8,000-image setting.
PROFILE = "fit8k"


@dataclass
class Rung:
    """The setting as a chapter reads it: the sweep, the seeds read, the report over them."""

    sweep: results.Sweep
    seeds: list
    report: claims.Report

    @property
    def planned(self) -> int:
        """How many seeds the protocol fixes."""
        return len(self.sweep.config["seeds"])

    @property
    def interim(self) -> bool:
        """Fewer seeds read than planned."""
        return len(self.seeds) < self.planned

    @property
    def seeds_text(self) -> str:
        """ "10 seeds", or "7 of the 10 planned seeds, an interim reading"."""
        return (f"{len(self.seeds)} of the {self.planned} planned seeds, an interim reading" if self.interim
                else f"{len(self.seeds)} seeds")

    @property
    def vs_relu(self) -> pd.DataFrame:
        """Each arm against ReLU, in its own family (:func:`claims.against_relu`)."""
        return claims.against_relu(self.report)

    @property
    def images(self) -> int:
        return int(self.sweep.config["train_size"])

    @property
    def relu_error(self) -> float:
        """ReLU's mean test error over the seeds read: the error level a verdict here holds at."""
        return float(self.report.frame.loc[self.report.frame.activation == "relu", "test error"].mean())


def read(results_dir: str | Path, complete: bool, display=str) -> Rung:
    """The setting's committed cells: all of them when ``complete`` (refused
    until every planned cell is in), otherwise the seeds every arm has
    ended (:func:`results.common_seeds`)."""
    sweep = (results.load_complete(results_dir, PROFILE, display) if complete
             else results.load_sweep(results_dir, PROFILE))
    seeds = results.common_seeds(sweep)
    if len(seeds) < 2:
        raise results.RegimeIncomplete(f"the `{PROFILE}` setting has {len(seeds)} seed(s) that every arm has ended; "
                                       f"a paired comparison needs at least 2")
    final, diverged = (t[t.seed.isin(seeds)] for t in (sweep.final, sweep.diverged))
    report = claims.overfit_report(final, diverged, loss="xent", arms=sweep.config["arms"])
    return Rung(sweep, seeds, report)


def against_relu_sentence(rung: Rung, arm: str, display=str, scoped: bool = True) -> str:
    """One arm against ReLU in words, with where it holds: "with 8,000 images, trained to fit (10 seeds; ReLU's
    test error 30.4 %),
    ELU − ReLU was −0.23 pp (95 % interval −0.71 to +0.25), not resolved" (``display`` names the arm;
    ``scoped=False`` leaves out the "with 8,000 images …" that a sentence already said)."""
    row = rung.vs_relu.loc[arm]
    verdict = ("not resolved" if not row["resolved"] else
               f"resolved {'below' if row['mean diff'] < 0 else 'above'} ReLU")
    scope = (f"with {rung.images:,} images, trained to fit ({rung.seeds_text}; ReLU's test error "
             f"{rung.relu_error:.1%}), " if scoped else "")
    # An unresolved difference is read by its interval; one whose unadjusted interval excludes zero says so.
    reading = "" if row["resolved"] else (
        f" (its interval {claims.interval_reading(row)}"
        + ("; it excludes zero, but Holm's correction over its family leaves the difference unresolved"
           if row["ci low"] > 0 or row["ci high"] < 0 else "") + ")")
    return f"{scope}{display(arm)} − ReLU was {claims.interval_text(row)}, {verdict}{reading}"


def gained(rung: Rung, rerun: claims.Report) -> list[str]:
    """The activations whose test error was resolved below ReLU's in the 1,000-image rerun (``rerun``, its
    report), among those this setting ran, in this setting's order: the gains that the training chapter follows
    to 8,000 images."""
    before = claims.against_relu(rerun)
    return [a for a in rung.sweep.config["arms"] if a in rung.vs_relu.index and a in before.index
            and before.loc[a, "resolved"] and before.loc[a, "mean diff"] < 0]


def gain_changes(rung: Rung, rerun: claims.Report) -> pd.DataFrame:
    """How each :func:`gained` activation's test-error difference from ReLU changed from the rerun to this
    setting (:func:`claims.change_between`: Welch intervals, Holm over those activations, a post hoc family)."""
    return claims.change_between(rerun.frame, rung.report.frame, gained(rung, rerun))


def change_sentence(changes: pd.DataFrame, arm: str, before: str = "the 1,000-image rerun", step: str = "") -> str:
    """One row of :func:`gain_changes` in words: "its difference from ReLU went from −2.43 pp in the
    1,000-image rerun to +0.10 pp, a change of +2.52 pp (95 % interval +1.81 to +3.23), resolved in a post hoc
    test (Holm over the 6 activations that had gained in the 1,000-image rerun)", followed by ``step``
    (:func:`step_clause`: what else changed between the settings) when given."""
    row = changes.loc[arm]
    pp = lambda v: f"{100 * v:+.2f}".replace("-", "\u2212")
    verdict = "resolved" if row["resolved"] else "not resolved"
    return (f"its difference from ReLU went from {pp(row['before'])} pp in {before} to {pp(row['after'])} pp, a "
            f"change of {pp(row['change'])} pp (95 % interval {pp(row['ci low'])} to {pp(row['ci high'])}), "
            f"{verdict} in a post hoc test (Holm over the {len(changes)} activations that had gained in {before})"
            + (f"; {step}" if step else ""))


def step_clause(rung: Rung, rerun: results.Sweep) -> str:
    """What else changed from the 1,000-image rerun (``rerun``, its sweep) to this setting, besides the number of
    images, for a sentence that compares the two: "the step also changed the epochs (50 to 40), ReLU's learning
    rate (0.0125 to 0.025) and how well ReLU, the baseline, fit (a mean training error of 1.9 % with 1,000
    images, so part of the gains there may be the baseline's, and 0 here)"."""
    before, after = rerun.config, rung.sweep.config
    relu_fit = lambda final: float(final[final.activation == "relu"]["train_eval_error"].mean())
    fit_before = relu_fit(rerun.final)
    fit_after = relu_fit(rung.sweep.final[rung.sweep.final.seed.isin(rung.seeds)])
    parts = []
    if before["epochs"] != after["epochs"]:
        parts.append(f"the epochs ({before['epochs']} to {after['epochs']})")
    rate_before, rate_after = before["chosen_rates"]["relu"], after["chosen_rates"]["relu"]
    if rate_before != rate_after:
        parts.append(f"ReLU's learning rate ({rate_before:g} to {rate_after:g})")
    shown = lambda v: "0" if v == 0 else f"{v:.1%}"
    parts.append(f"how well ReLU, the baseline, fit (a mean training error of {shown(fit_before)} with "
                 f"{int(before['train_size']):,} images"
                 + (", so part of the gains there may be the baseline's" if fit_before > fit_after else "")
                 + f", and {shown(fit_after)} with {rung.images:,})")
    return "the step also changed " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


def best_sentence(rung: Rung, arm: str, display=str) -> str:
    """Where ``arm`` stood against the activation with this setting's lowest mean test error, in the post hoc
    family of that activation against each other one (:func:`claims.best_against_others`, Holm over it):
    "SiLU's mean test error was the lowest of the 9, and SiLU − ELU was −0.74 pp (95 % interval −1.17 to
    −0.32), resolved (Holm over SiLU against the 8 others, a post hoc family)"."""
    arms = rung.sweep.config["arms"]
    family, best = claims.best_against_others(rung.report.frame, arms)
    if arm == best:
        return f"{display(arm)}'s mean test error was the lowest of the {len(arms)}"
    row = claims.family_table(rung.report.frame, family).set_index("reference").loc[arm]
    # The family above favours a leader picked from the same cells; Holm over every pair allows for the pick.
    ran = [a for a in arms if a in set(rung.report.frame.activation)]
    pairs = claims.family_table(rung.report.frame, [("all", a, b, "test error") for a, b in combinations(ran, 2)])
    pair = pairs[((pairs.arm == best) & (pairs.reference == arm)) | ((pairs.arm == arm) & (pairs.reference == best))]
    p_pairs = float(pair["p (Holm)"].iloc[0])
    p_text = f"{p_pairs:.4f}" if round(p_pairs, 3) == claims.ALPHA else f"{p_pairs:.3f}"   # 0.0500 is not 0.049
    rates = rung.sweep.config["chosen_rates"]
    grid_seeds = len(rung.sweep.config.get("grid", {}).get("seeds", []))
    alone = sum(r == rates[best] for a, r in rates.items() if a in ran) == 1
    return (f"{display(best)}'s mean test error was the lowest of the {len(arms)}, and {display(best)} − "
            f"{display(arm)} was {claims.interval_text(row)}, {'resolved' if row['resolved'] else 'not resolved'} "
            f"(Holm over {display(best)} against the {len(family)} others, a post hoc family, which favours a leader "
            f"picked from the same cells; over all {len(pairs)} pairs of the {len(ran)}, which allows for the pick, "
            f"Holm-adjusted p {p_text}, {'resolved' if p_pairs < claims.ALPHA else 'not resolved'})"
            + (f"; {display(best)} was the only activation there at its learning rate, {rates[best]:g}, picked by a "
               f"grid of {grid_seeds} seed{'s' if grid_seeds != 1 else ''}" if alone and grid_seeds else ""))
