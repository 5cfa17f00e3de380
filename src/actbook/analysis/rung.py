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
from pathlib import Path

import pandas as pd

from actbook.analysis import claims, results

__all__ = ["PROFILE", "Rung", "read", "against_relu_sentence"]

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
    """One arm against ReLU in words, with where it holds: "with 8,000 images, trained to fit (10 seeds),
    ELU − ReLU was −0.23 pp (95 % interval −0.71 to +0.25), not resolved" (``display`` names the arm;
    ``scoped=False`` leaves out the "with 8,000 images …" that a sentence already said)."""
    row = rung.vs_relu.loc[arm]
    verdict = ("not resolved" if not row["resolved"] else
               f"resolved {'below' if row['mean diff'] < 0 else 'above'} ReLU")
    scope = f"with {rung.images:,} images, trained to fit ({rung.seeds_text}), " if scoped else ""
    return f"{scope}{display(arm)} − ReLU was {claims.interval_text(row)}, {verdict}"
