"""Each activation's learning rate, chosen from its grid on validation images, as the book reads it.

The rule (the mean validation error over the grid's seeds, a diverged cell at
chance, ties to the smaller rate, the edge rule) lives in
:mod:`actbook.runner.rate_rule`, which ``actbook select`` applies; this module
loads a regime's committed grid as the book's loaders load results (refusing
what ``check`` refuses), applies the same rule to it, and writes what a
chapter says of it. The test set plays no part: the grid's cells never evaluate it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from actbook import arms as arm_table
from actbook.runner import rate_rule
from actbook.runner.rate_rule import CHANCE_ERROR, TIE_DECIMALS, arm_rates, grid_scores
from actbook.analysis.results import (ResultsError, _planned_only, check_consistent, check_growing, check_made_for,
                                     check_named, check_one_value, expected_cells, parse_folder, read_cell)
from actbook.prose import join_and
from actbook.runner.profiles import experiment_identity

__all__ = ["arm_rates", "CHANCE_ERROR", "TIE_DECIMALS", "load_grid", "grid_frame", "grid_scores", "planned_cells", "grid_plan", "choose_rates", "edge_sentence", "progress_clause",
           "Grid", "grid_report", "chosen_table", "final_progress", "planned_label", "halfway_note",
           "shared_rate_table", "largest_move", "RANK_DECIMALS", "seed_spread", "diverged_at_others"]

#: Decimals that hold a grid score exactly (a mean of errors on 1,000 or 5,000 images): for ranks.
RANK_DECIMALS = 4


def load_grid(results: str | Path, folder: str) -> list[dict]:
    """Every grid cell under ``results/folder/grid``, checked like any result file."""
    where = Path(results) / folder / "grid"
    files = sorted(where.glob("*.json"))
    if not files:
        raise ResultsError(f"no grid cells in {where}")
    cells = []
    for f in files:
        cell = read_cell(f, parse_folder(folder)[0])
        if cell.get("stage") != "grid":
            raise ResultsError(f"{f}: not a grid cell (stage {cell.get('stage')!r})")
        cells.append(cell)
    check_made_for(cells, folder)
    # What check refuses, the choice of rates must not use: cells of another grid
    # (the edge rule's extension may only grow), cells off the grid (left out,
    # with a warning), two files for one cell, and cells of another config, data
    # set or backend.
    check_one_value(cells, where, ("arms", "grid.learning_rates", "grid.seeds"))
    # An extension grows the grid by design: Grid reads the one its caller names.
    check_growing(cells, where, ("grid.extended",), warn=False)
    cells = _planned_only(cells, where, _grid_key, grid_plan)
    seen = {}
    for c in cells:
        if _grid_key(c) in seen:
            a, r, s = _grid_key(c)
            raise ResultsError(f"{where}: two files for {a} at {r:g} seed {s}: {Path(seen[_grid_key(c)]).name} "
                               f"and {Path(c['file']).name}")
        seen[_grid_key(c)] = c["file"]
    check_named(cells, where)
    check_consistent(cells, where, _grid_identity)
    return cells


def _grid_key(cell: dict) -> tuple[str, float, int]:
    return cell["activation"], float(cell["config"]["optimizer"]["learning_rate"]), cell["seed"]


def grid_plan(cells: list[dict]) -> set[tuple[str, float, int]]:
    """Every (arm, rate, seed) the grids of the cells' configs plan: each arm at
    the grid's rates and its edge-rule extension (``grid.extended``), at the grid's seeds."""
    planned = set()
    for config in {json.dumps(c["config"], sort_keys=True): c["config"] for c in cells}.values():
        grid = config["grid"]
        planned |= {(a, r, s) for a in config["arms"] for r in arm_rates(a, grid["learning_rates"], grid.get("extended"))
                    for s in grid["seeds"]}
    return planned


def _grid_identity(config: dict) -> dict:
    """What every cell of a grid shares: the identity less the learning rate, which is the cell's own."""
    identity = experiment_identity(config)
    return {**identity, "optimizer": {k: v for k, v in identity["optimizer"].items() if k != "learning_rate"}}


def grid_frame(cells: list[dict]) -> pd.DataFrame:
    """:func:`actbook.runner.rate_rule.grid_frame` (one row per grid cell, with its
    ``score``), refusing as the book's loaders refuse (:class:`ResultsError`)."""
    try:
        return rate_rule.grid_frame(cells)
    except rate_rule.GridError as e:
        raise ResultsError(str(e)) from None


def planned_cells(config: dict) -> int:
    """How many cells a profile's grid plans: its arms x rates x grid seeds."""
    grid = config["grid"]
    return len(config["arms"]) * len(grid["learning_rates"]) * len(grid["seeds"])


def choose_rates(frame: pd.DataFrame, arms, rates, seeds, extended: dict | None = None) -> pd.DataFrame:
    """The chosen rate of every arm in ``arms``: :func:`actbook.runner.rate_rule.choose_rates`,
    the rule ``select`` applies, refusing as the book's loaders refuse
    (:class:`ResultsError`, unless every cell of each arm's grid is in ``frame``)."""
    try:
        return rate_rule.choose_rates(frame, arms, rates, seeds, extended)
    except rate_rule.GridError as e:
        raise ResultsError(str(e)) from None


def edge_sentence(chosen: pd.DataFrame, rates, display=str, scores: pd.DataFrame | None = None,
                  margin: float = 0.02) -> str:
    """What the chosen rates at an end of the grid mean, in one or two
    sentences: for which activations the best rate found is the grid's
    smallest or largest, so a better one may lie beyond it. With ``scores``
    (:func:`grid_scores`), an activation within ``margin`` of chance at every
    rate is named apart: it trained at none, and its chosen rate says nothing."""
    rates = sorted(float(r) for r in rates)
    stuck = set()
    if scores is not None:
        worst = scores.groupby("activation")["score"].min()
        stuck = {a for a in chosen.index if a in worst and worst[a] >= CHANCE_ERROR - margin}
    low = [display(a) for a, r in chosen["rate"].items() if r == rates[0] and a not in stuck]
    high = [display(a) for a, r in chosen["rate"].items() if r == rates[-1] and a not in stuck]
    parts = []
    for arms_, end, beyond in ((low, "smallest", "below"), (high, "largest", "above")):
        if arms_:
            verb = "is" if len(arms_) == 1 else "are"
            parts.append(f"{join_and(arms_)} {verb} best at the grid's {end} rate, {rates[0 if end == 'smallest' else -1]:g}, "
                         f"so a better rate may lie {beyond} it")
    text = ("; ".join(parts) + ". The final cells use these rates." if parts else
            "Every chosen rate lies inside the grid, with no better rate on either side.")
    if stuck:
        names = [display(a) for a in chosen.index if a in stuck]
        verb = "stays" if len(names) == 1 else "stay"
        text += (f" {join_and(names)} {verb} within {100 * margin:.0f} pp of chance at every rate of the grid: "
                 f"{'it trains' if len(names) == 1 else 'they train'} at none of them, so "
                 f"{'its chosen rate says' if len(names) == 1 else 'their chosen rates say'} nothing about the rate "
                 f"{'it' if len(names) == 1 else 'they'} would need.")
    return text


def progress_clause(frame: pd.DataFrame, arms, rates, seeds) -> str:
    """How far a grid is, seed by seed, as a clause: "every cell of both grid
    seeds", "all 48 cells of grid seed 100 and 19 of the 48 of seed 101", or,
    for a part of a one-seed grid, "all at its one grid seed, 100"."""
    per_seed = len(arms) * len(rates)
    done = {s: int(((frame.seed == s) & frame.activation.isin(arms) & frame.learning_rate.isin(
        [float(r) for r in rates])).sum()) for s in seeds}
    if all(n == per_seed for n in done.values()):
        return "every cell of " + ("the one grid seed" if len(seeds) == 1 else
                                   "both grid seeds" if len(seeds) == 2 else f"all {len(seeds)} grid seeds")
    if len(seeds) == 1:  # the count is in the sentence already; say only which seed
        return f"all at its one grid seed, {seeds[0]}"
    parts = [f"all {per_seed} cells of grid seed {s}" if n == per_seed else f"{n} of the {per_seed} of seed {s}"
             for s, n in done.items()]
    return join_and(parts)


@dataclass
class Grid:
    """One regime's committed grid, as a chapter shows it: its cells, the
    profile they ran under (each cell's config holds the whole profile), the
    frame of :func:`grid_frame`, the scores of :func:`grid_scores`, how many
    cells the grid plans, and the chosen rates (:func:`choose_rates`; None
    until the grid is complete: a choice from part of a grid is not the
    design's choice)."""

    cells: list
    config: dict
    frame: pd.DataFrame
    scores: pd.DataFrame
    planned: int
    chosen: pd.DataFrame | None

    @property
    def rates(self) -> list[float]:
        return [float(r) for r in self.config["grid"]["learning_rates"]]

    @property
    def seeds(self) -> list[int]:
        return list(self.config["grid"]["seeds"])

    @property
    def complete(self) -> bool:
        return self.chosen is not None

    def progress(self) -> str:
        """:func:`progress_clause` of this grid."""
        return progress_clause(self.frame, self.config["arms"], self.rates, self.seeds)

    def at_chosen(self) -> list:
        """The grid's cells at each arm's chosen rate (none before the choice)."""
        if self.chosen is None:
            return []
        return [c for c in self.cells
                if float(c["config"]["optimizer"]["learning_rate"]) == self.chosen.loc[c["activation"], "rate"]]


def grid_report(results: str | Path, folder: str, extended: dict | None = None) -> Grid:
    """The committed grid of ``results/folder/grid`` (:func:`load_grid`),
    scored, with the rates chosen once every planned cell is there.

    ``extended`` (a profile's ``grid.extended``): the edge rule's extensions
    to choose over; without it, the choice over the grid's own rates (as the
    sweeps made before the rule chose). Cells at other rates (an extension
    not asked for) are left out of the report, so it shows one design."""
    cells = load_grid(results, folder)
    config = cells[0]["config"]
    arms, rates, seeds = config["arms"], config["grid"]["learning_rates"], config["grid"]["seeds"]
    cells = [c for c in cells
             if float(c["config"]["optimizer"]["learning_rate"]) in arm_rates(c["activation"], rates, extended)]
    frame = grid_frame(cells)
    _check_extension(frame, config, extended, f"{Path(results) / folder / 'grid'}")
    planned = planned_cells(config) + len(seeds) * sum(len(v) for a, v in (extended or {}).items() if a in arms)
    have = set(zip(frame.activation, frame.learning_rate, frame.seed))
    complete = all((a, float(r), s) in have for a in arms for r in arm_rates(a, rates, extended) for s in seeds)
    chosen = choose_rates(frame, arms, rates, seeds, extended) if complete else None
    return Grid(cells, config, frame, grid_scores(frame), planned, chosen)


def _check_extension(frame: pd.DataFrame, config: dict, extended: dict | None, where: str) -> None:
    """Refuse an ``extended`` that the edge rule, replayed on the grid's own cells, does not
    ask for (``check`` flags it too): its rates would be scored and could be chosen as
    though the rule had asked for them."""
    rates, seeds = config["grid"]["learning_rates"], config["grid"]["seeds"]
    for arm, recorded in (extended or {}).items():
        if arm not in config["arms"]:
            continue
        recorded = sorted(float(r) for r in recorded)
        try:
            asked = rate_rule.replay_extension(frame, arm, rates, seeds, len(recorded))
        except rate_rule.GridError as e:
            raise ResultsError(f"{where}: the extension {arm} {recorded} cannot have been made by the edge rule: "
                             f"{e}") from None
        if asked != recorded:
            raise ResultsError(f"{where}: the extension {arm} {recorded} is not what the edge rule asks for on "
                             f"the grid's cells ({asked or 'none'}); `actbook check` flags it")


def chosen_table(chosen: pd.DataFrame, display=str) -> pd.DataFrame:
    """:func:`choose_rates`'s choice as a reader's table, one row per activation."""
    table = pd.DataFrame({
        "chosen rate": chosen["rate"],
        "validation error": chosen["score"],
        "runner-up rate": chosen["runner_up_rate"],
        "its validation error": chosen["runner_up_score"],
        "a tie (equal at 3 decimals)": chosen["tie"].map({True: "yes", False: "no"}),
        "grid cells diverged": chosen["diverged_in_grid"],
    }).rename(index=display)
    table.index.name = "activation"
    return table


def final_progress(results: str | Path, folder: str, config: dict) -> tuple[int, int]:
    """How many of a regime's planned final cells (every arm x every seed of
    ``config``) are committed under ``results/folder``, and how many it plans."""
    where = Path(results) / folder
    planned = [(a, k) for a in config["arms"] for k in config["seeds"]]
    return sum(_holds_cell(where / f"{arm_table.slug(a)}-seed{k}.json", a, k) for a, k in planned), len(planned)


def _holds_cell(path: Path, arm: str, seed: int) -> bool:
    """Whether ``path`` is a result the reader accepts, of the cell it is named after (an
    empty file, ``{}`` or a half-written one is no finished cell)."""
    from actbook.runner.result_files import OLDER_FORMATS, any_format_problems, read_result
    try:
        data = read_result(path, also_formats=OLDER_FORMATS)
    except (OSError, ValueError):  # missing, unreadable or malformed
        return False
    return not any_format_problems(data) and data["activation"] == arm and data["seed"] == seed


def planned_label(cells: list[dict]):
    """How many cells a results folder's design plans: its grid's, or its
    profile's final cells. The earlier sweeps (cells without a stage) were
    closed as they stand: their cells span several versions of their profile."""
    if "stage" not in cells[0]:
        return "closed (earlier run)"
    if cells[0]["stage"] == "grid":
        return len(grid_plan(cells))  # the edge rule's extension included
    return len(expected_cells(cells))


def halfway_note(chosen: pd.DataFrame, display=str, decimals: int = TIE_DECIMALS, eps: float = 1e-6) -> str:
    """A sentence on every tie that rests on a half-way value: a mean score
    within ``eps`` of a rounding boundary at ``decimals`` (such as 0.4995,
    which the cells' float32 errors make 0.49949999...), so that rounding the
    exact decimal instead would have ended the tie. The rule as coded
    decided and its choice stands; the reader is told how close it was.
    "" when there is none."""
    notes = []
    for arm, row in chosen[chosen["tie"]].iterrows():
        for mine, score, other, other_rate in ((True, row["score"], row["runner_up_score"], row["runner_up_rate"]),
                                               (False, row["runner_up_score"], row["score"], row["rate"])):
            scaled = score * 10 ** decimals
            boundary = (int(scaled) + 0.5) / 10 ** decimals
            if abs(score - boundary) < eps:
                whose = f"its mean score at the chosen rate {row['rate']:g}" if mine else \
                    f"the runner-up's mean score at {row['runner_up_rate']:g}"
                notes.append(
                    f"{display(arm)}'s tie is a close one: {whose} is {boundary:.{decimals + 1}f} in decimals, "
                    f"half-way between {int(scaled) / 10 ** decimals:.{decimals}f} and "
                    f"{(int(scaled) + 1) / 10 ** decimals:.{decimals}f}; from the float32 errors the cells store it is "
                    f"{score:.{decimals + 5}f}, which rounds to {round(score, decimals):.{decimals}f}, level with "
                    f"the {round(other, decimals):.{decimals}f} at {other_rate:g}. Rounded half up as an exact decimal "
                    f"it would not tie, and the rule would have chosen {other_rate if mine else row['rate']:g}. The "
                    f"rule as coded decided, and its choice stands.")
                break
    return " ".join(notes)


def ordinal(n: int) -> str:
    """1 -> "1st", 12 -> "12th", 22 -> "22nd"."""
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def shared_rate_table(grid: "Grid", rate: float, display=str) -> pd.DataFrame:
    """The secondary, shared-rate reading of a complete grid (the paper's
    practice: one rate for every activation) beside the design's: per
    activation, its validation score and rank at the shared ``rate`` (with
    how many grid seeds diverged there) and at its own chosen rate. Ranks
    compare the scores exactly, equal scores sharing the better rank: a
    score is a mean of errors on 1,000 or 5,000 images over a few seeds, a
    multiple of 0.0001 at most, so :data:`RANK_DECIMALS` hold it exactly and
    drop only the float32 noise (the 3-decimal rounding of the tie rule would
    move half-way scores such as 0.5005 either way)."""
    if grid.chosen is None:
        raise ResultsError("the grid is not complete: no chosen rates to compare the shared rate with")
    if float(rate) not in grid.rates:
        raise ResultsError(f"{rate:g} is not a rate of this grid ({', '.join(f'{r:g}' for r in grid.rates)})")
    arms = grid.config["arms"]
    shared = grid.scores[grid.scores.learning_rate == float(rate)].set_index("activation").loc[arms]
    table = pd.DataFrame({
        f"validation error at {rate:g}": shared["score"],
        "grid seeds diverged there": [f"{d} of {n}" for d, n in zip(shared["diverged"], shared["seeds"])],
        f"rank at {rate:g}": shared["score"].round(RANK_DECIMALS).rank(method="min").astype(int),
        "chosen rate": grid.chosen.loc[arms, "rate"],
        "validation error at it": grid.chosen.loc[arms, "score"],
        "rank at the chosen rates": grid.chosen.loc[arms, "score"].round(RANK_DECIMALS).rank(method="min").astype(int),
    }, index=arms)
    table.attrs["rate"] = float(rate)
    table.attrs["at the shared rate"] = int((grid.chosen.loc[arms, "rate"] == float(rate)).sum())
    table.attrs["diverged"] = shared["diverged"].to_dict()
    return table.rename(index=display).rename_axis("activation")


def largest_move(table: pd.DataFrame, where: str) -> str:
    """One sentence on :func:`shared_rate_table` of the grid ``where`` names
    ("the `overfit` grid"): the activation whose rank moves most between the
    shared rate and its own (several if they tie), and whether its grid
    cells diverged at the shared rate."""
    rate = table.attrs["rate"]
    shared, own = table[f"rank at {rate:g}"], table["rank at the chosen rates"]
    move = (shared - own).abs()
    if move.max() == 0:
        same = table.attrs.get("at the shared rate")
        why = (f" ({same} of its {len(table)} chosen rates {'is' if same == 1 else 'are'} {rate:g} itself)"
               if same is not None else "")
        return f"In {where}, every activation ranks the same at the shared rate {rate:g} as at its own{why}."
    parts = []
    for arm in move[move == move.max()].index:
        d, n = (int(v) for v in table.loc[arm, "grid seeds diverged there"].split(" of "))
        why = ("" if d == 0 else ", where its grid seed diverged" if d == n == 1 else
               ", where both its grid seeds diverged" if d == n == 2 else f", where {d} of its {n} grid seeds diverged")
        parts.append(f"{arm}'s, {ordinal(int(own[arm]))} at its own rate and {ordinal(int(shared[arm]))} at "
                     f"{rate:g}{why}")
    return f"In {where}, the largest move is {join_and(parts)}."


def seed_spread(frame: pd.DataFrame) -> float:
    """The largest gap between two grid seeds' validation errors at one
    activation and rate, over the cells that trained: how far apart two runs
    of the same setting land, the noise a rank has to clear."""
    trained = frame[frame.outcome != "diverged"]
    gaps = trained.groupby(["activation", "learning_rate"])["val_error"].agg(lambda v: v.max() - v.min())
    return float(gaps.max()) if len(gaps) else float("nan")


def diverged_at_others(grid: "Grid", stuck=()) -> dict[float, tuple[list[str], list[str]]]:
    """Per rate chosen for some activation: the other activations whose every grid
    seed diverged at that rate, as ``{rate: (diverged arms, the arms it was chosen for)}``,
    rates ascending; a rate at which nothing else diverged is left out.

    Arms in ``stuck`` (those that trained at no rate) are left out on both sides:
    their chosen rate, and their divergence, say nothing about a shared rate."""
    if grid.chosen is None:
        raise ResultsError(f"the grid is not complete ({grid.progress()}): no rate is chosen yet")
    chosen = {a: float(r) for a, r in grid.chosen["rate"].items() if a not in stuck}
    scores = grid.scores[~grid.scores.activation.isin(list(stuck))]
    out = {}
    for rate in sorted(set(chosen.values())):
        at = scores[scores.learning_rate.astype(float) == rate]
        gone = [a for a in at[at.diverged == at.seeds].activation if chosen[a] != rate]
        if gone:
            out[rate] = (gone, [a for a, r in chosen.items() if r == rate])
    return out
