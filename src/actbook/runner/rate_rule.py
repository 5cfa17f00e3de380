"""The rule that chooses each activation's learning rate from its grid, on validation images.

Fixed before any grid cell ran (and the same in every regime):

* a grid cell's score is its validation error at the last epoch; a cell that
  diverged scores the chance level, :data:`CHANCE_ERROR` (it is an outcome,
  not a missing value: dropping it would flatter the rate that killed it);
* an activation's score at a rate is the mean over the grid's seeds;
* its chosen rate is the one with the lowest score; rates whose scores tie
  (equal to a tenth of a percentage point, the resolution of 1,000 images)
  go to the smaller rate, the more stable choice;
* the edge rule (fixed on 2026-12-06, before any grid cell that it adds
  ran; the sweeps before it reported a rate at an end of the grid and left
  it there): a rate chosen at either end of the grid extends that arm's grid
  by one rate a factor of 2 beyond that end, once (``grid.extended``), and
  the choice is made again over the extended grid; a rate chosen at the
  extension's end is final.

The test set plays no part: the grid's cells never evaluate it. The rule
lives in the runner, whose ``select`` applies it; the book's reading of the
grids (:mod:`actbook.analysis.selection`) applies the same one.
"""

from __future__ import annotations

import pandas as pd

from actbook.runner.data import CLASSES
from actbook.runner.profiles import is_finite_number

__all__ = ["CHANCE_ERROR", "TIE_DECIMALS", "CHOSEN_BEFORE_THE_EDGE_RULE", "GridError", "diverged", "grid_frame", "grid_scores", "arm_rates",
           "choose_rates"]

#: The error of a guess among CIFAR-10's ten classes (0.9): what a diverged cell scores.
CHANCE_ERROR = 1 - 1 / len(CLASSES)
#: Scores are compared rounded to this many decimals (0.1 pp) before the tie rule applies.
TIE_DECIMALS = 3
#: The profiles whose recorded rates were chosen before the edge rule existed
#: (data/results/PROTOCOL.md: "the final cells of overfit and cpu were chosen
#: this way"): over their grids' own rates, an edge choice left where it was.
#: Their records are checked against that choice; every other against the rule
#: with the edge rule. (Their grids were extended later, for the profiles that
#: take their rates from them.)
CHOSEN_BEFORE_THE_EDGE_RULE = frozenset({"overfit", "cpu"})


class GridError(ValueError):
    """The grid cannot give a choice: part of it is missing, or a cell has no score."""


def diverged(cell: dict) -> bool:
    """The cell says it diverged, or its last recorded training loss is null or not finite."""
    last = cell["history"][-1]["train_loss"] if cell["history"] else None
    finite = isinstance(last, (int, float)) and not isinstance(last, bool) and is_finite_number(last)
    return cell.get("outcome") == "diverged" or not finite


def grid_frame(cells: list[dict]) -> pd.DataFrame:
    """One row per grid cell: activation, learning rate, seed, outcome, the
    epoch it diverged (if it did), and its validation error and loss at the
    last epoch, with ``score`` the error counted at chance for a diverged cell."""
    rows = []
    for c in cells:
        last = c["history"][-1]
        gone = diverged(c)
        if not gone and last.get("val_error") is None:
            raise GridError(f"{c.get('file', c['activation'])}: a finished grid cell with no validation error "
                            f"at its last epoch")
        rows.append({"activation": c["activation"], "learning_rate": float(c["config"]["optimizer"]["learning_rate"]),
                     "seed": c["seed"], "outcome": "diverged" if gone else "finished",
                     "diverged_epoch": c.get("diverged_epoch") if gone else None,
                     "val_error": None if gone else last["val_error"],
                     "val_loss": None if gone else last["val_loss"],
                     "score": CHANCE_ERROR if gone else last["val_error"]})
    columns = ["activation", "learning_rate", "seed", "outcome", "diverged_epoch", "val_error", "val_loss", "score"]
    return pd.DataFrame(rows, columns=columns).sort_values(["activation", "learning_rate", "seed"]).reset_index(drop=True)


def grid_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Per activation and rate: the mean score over seeds, the seeds, and how many diverged."""
    g = frame.groupby(["activation", "learning_rate"])
    return pd.DataFrame({"score": g["score"].mean(), "seeds": g.size(),
                         "diverged": g["outcome"].apply(lambda o: int((o == "diverged").sum()))}).reset_index()


def arm_rates(arm: str, rates, extended: dict | None = None) -> list[float]:
    """An arm's grid: the grid's rates and the arm's edge-rule extension, ascending."""
    return sorted({*(float(r) for r in rates), *(float(r) for r in (extended or {}).get(arm, []))})


def choose_rates(frame: pd.DataFrame, arms, rates, seeds, extended: dict | None = None) -> pd.DataFrame:
    """The chosen rate of every arm in ``arms``, by the rule in this module's
    docstring: one row per arm with ``rate``, its ``score``, the runner-up's,
    ``at_edge`` (at an end of the arm's grid, extension included), ``tie`` (the
    runner-up's score was equal at 0.1 pp, and the smaller rate won), the
    diverged grid cells, and ``extend``: the rate the edge rule adds to the
    arm's grid before its choice is final (NaN when none). ``extended``
    (``grid.extended``) holds the extensions already made. :class:`GridError`
    unless every (arm, rate, seed) of each arm's grid is in ``frame``: a choice
    from part of a grid is not the design's choice."""
    base = sorted(float(r) for r in rates)
    have = set(zip(frame.activation, frame.learning_rate, frame.seed))
    missing = [(a, r, s) for a in arms for r in arm_rates(a, base, extended) for s in seeds if (a, r, s) not in have]
    if missing:
        raise GridError(f"the grid is not complete: {len(missing)} cell(s) missing, e.g. "
                        + ", ".join(f"{a} at {r:g} seed {s}" for a, r, s in missing[:4]))
    out = []
    for arm in arms:
        mine_rates = arm_rates(arm, base, extended)
        scores = grid_scores(frame[(frame.activation == arm) & frame.learning_rate.isin(mine_rates)
                                   & frame.seed.isin(seeds)])
        mine = scores.assign(rounded=lambda d: d.score.round(TIE_DECIMALS))
        mine = mine.sort_values(["rounded", "learning_rate"])  # ties: the smaller rate
        best, runner_up = mine.iloc[0], mine.iloc[1]
        rate = float(best.learning_rate)
        # The edge rule: once per side, and only from an end of the grid itself.
        extend = float("nan")
        if rate == base[0] and rate == mine_rates[0]:
            extend = rate / 2
        elif rate == base[-1] and rate == mine_rates[-1]:
            extend = rate * 2
        out.append({"activation": arm, "rate": rate, "score": float(best.score),
                    "runner_up_rate": float(runner_up.learning_rate), "runner_up_score": float(runner_up.score),
                    "at_edge": rate in (mine_rates[0], mine_rates[-1]),
                    "tie": bool(best.rounded == runner_up.rounded),  # the smaller rate won a tie
                    "diverged_in_grid": int(mine.diverged.sum()), "extend": extend})
    return pd.DataFrame(out).set_index("activation")


def replay_extension(frame: pd.DataFrame, arm: str, rates, seeds, steps: int) -> list[float]:
    """The extensions the edge rule asks for on ``arm``'s grid, ascending, replayed on
    ``frame`` as ``select --write`` makes them: step by step (at most ``steps``), each
    choice over the grid and the extensions made so far. :class:`GridError` when a
    cell a step needs is not in ``frame``: an extension recorded without it cannot
    have been made by the rule."""
    asked: list[float] = []
    for _ in range(steps):
        extend = float(choose_rates(frame, [arm], rates, seeds, {arm: asked}).loc[arm, "extend"])
        if extend != extend:  # NaN: the choice is final
            break
        asked.append(extend)
    return sorted(asked)
