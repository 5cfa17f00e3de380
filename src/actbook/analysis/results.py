"""Read a results directory written by the ``actbook`` command (:mod:`actbook.runner.experiment`) into pandas.

The book builds every table and figure of the training chapter from these
frames, so this module also refuses results it cannot trust: a missing,
unreadable, malformed or unfinished cell, or one whose config, data set or
backend differs from its siblings', is an error, never a silently shorter
table. A cell that *diverged* (its training loss stopped being finite) is
not an error: :func:`load_sweep` reports it and keeps it out of the
statistics, by one rule (:func:`outcome`) for every regime.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from actbook.prose import join_and

from actbook.runner.backend import BACKENDS
from actbook.runner.files import Malformed, Unreadable
# What makes a result file (of any format) and its predictions well-formed is the runner's to say, as its
# ``check`` says it too; the names stay importable from here, where the chapters and tests read them.
from actbook.runner.result_files import MAX_PREDICTIONS_UNPACKED, OLDER_FORMATS, SCHEMAS, ResultsError
from actbook.runner.result_files import any_format_measured_metrics as measured_metrics
from actbook.runner.result_files import any_format_problems as result_problems
from actbook.runner.result_files import diverged_epoch, folder_made_for, later_format_problems, load_predictions, outcome
from actbook.runner.result_files import mixed_format_problem
from actbook.runner.result_files import read_result
from actbook.runner.result_format import CURRENT_SCHEMAS
from actbook.runner.profiles import Cell, UsageError, experiment_identity, split_folder

__all__ = ["load_predictions", "ResultsError", "RegimeIncomplete", "common_seeds", "load_complete", "pending_sentence", "ResultsWarning", "SCHEMAS", "BACKENDS", "result_problems", "parse_folder", "load_cells",
           "load_sweep", "Sweep", "outcome", "diverged_epoch", "backend", "final_rows",
           "final_and_diverged", "split_diverged", "expected_cells", "missing_cells",
           "check_complete", "history_frame", "code_commits", "origin_sentence", "incomplete_note",
           "diverged_list", "diverged_note", "experiment_identity", "made_by", "one_maker", "cpu_label", "read_cell",
           "sweep_facts", "check_consistent", "measured_metrics", "later_format_problems", "check_named", "check_one_value",
           "check_growing", "check_one_rate_per_arm", "check_rates_are_the_grids_choice", "MAX_PREDICTIONS_UNPACKED"]


class RegimeIncomplete(ResultsError):
    """A regime's final cells are not all in; the message names what is missing, for a reader."""


class ResultsWarning(UserWarning):
    """Results that load but were made on different kernels."""


# --------------------------------------------------------------------------
# One result file
# --------------------------------------------------------------------------

def backend(cell: dict) -> str:
    """The backend that trained the cell; files before schema 3 were all made with TensorFlow."""
    return (cell["provenance"].get("backend") or {}).get("name") or "tensorflow"


def _kernels(cell: dict) -> str:
    """The kernel class a cell ran on: the oneDNN ISA in force ("unrecorded" for schema-1 files)."""
    k = cell["provenance"].get("hardware", {}).get("kernels")
    return (k if isinstance(k, dict) else {}).get("effective_isa") or "unrecorded"


def read_cell(f: Path, profile: str) -> dict:
    """One result file, refused unless it is readable, well-formed and of ``profile``."""
    try:
        cell = read_result(f, also_formats=OLDER_FORMATS)
    except OSError as e:
        raise ResultsError(f"{f}: unreadable result file ({e.strerror or e})") from None
    except Malformed as e:
        raise ResultsError(f"{f}: {e}") from None
    except Unreadable as e:
        raise ResultsError(f"{f}: unreadable result file ({e})") from None
    problems = result_problems(cell) or later_format_problems(cell)
    if problems:
        raise ResultsError(f"{f}: " + "; ".join(problems))
    if cell["profile"] != profile:
        raise ResultsError(f"{f}: belongs to profile {cell['profile']!r}, found under {profile!r}")
    cell["file"] = str(f)
    return cell


# --------------------------------------------------------------------------
# One folder
# --------------------------------------------------------------------------

def parse_folder(name: str) -> tuple[str, str | None, str | None]:
    """``"cpu+3f2a9c1d@tensorflow-2dev"`` -> ``("cpu", "3f2a9c1d", "tensorflow-2dev")``:
    the profile, the tag of a run with ``--set`` overrides and the runtime, as
    the runner names its folders (``<profile>[+<tag>][@<runtime>]``), read back by
    the runner's own :func:`actbook.runner.profiles.split_folder`."""
    try:
        return split_folder(name)
    except UsageError as e:
        raise ResultsError(str(e)) from None


def load_cells(results: str | Path, folder: str) -> list[dict]:
    """Every cell under ``results/folder``, sorted by arm and seed.

    ``folder`` is a profile's name, as the runner names its folders
    (``paper``, ``paper+3f2a9c1d``, ``paper@jax``; see :func:`parse_folder`);
    every cell must belong to that profile. Refused: unreadable, malformed
    (:func:`result_problems`) or unfinished files, a planned cell whose
    predictions file is missing or not its own (:func:`load_predictions`), two files for one
    (activation, seed), and cells made with different configs (their
    ``description`` aside), from different data sets or with different
    backends. Diverged cells load (see :func:`outcome`). Warned about: cells
    whose kernels differ (the precision policy's
    :func:`actbook.runner.precision.effective_isa`), which may differ in the last digits.
    """
    profile = parse_folder(folder)[0]
    where = Path(results) / folder
    files = sorted(where.glob("*.json"))
    if not files:
        raise ResultsError(f"no result files in {where}: run "
                           f"`actbook run --profile {profile} --results {results}`")
    cells = [read_cell(f, profile) for f in files]
    check_made_for(cells, folder)
    # One plan, so that a cell whose own config widens it is not read as planned.
    check_one_value(cells, where, FIXED_PLAN)
    check_growing(cells, where, GROWING_PLAN)
    check_one_rate_per_arm(cells, where)
    cells = _planned_only(cells, where, lambda c: (c["activation"], c["seed"]), expected_cells)
    for c in cells:  # a finished final cell of format 5 without its own predictions file, refused as `check` does
        if isinstance(c.get("predictions"), dict):
            load_predictions(c)
    seen = {}
    for c in cells:
        key = (c["activation"], c["seed"])
        if key in seen:
            raise ResultsError(f"{where}: two files for {c['activation']} seed {c['seed']}: "
                               f"{Path(seen[key]).name} and {Path(c['file']).name}")
        seen[key] = c["file"]
    grid_cells = [Path(c["file"]).name for c in cells if c.get("stage") == "grid"]
    if grid_cells:
        raise ResultsError(f"{where}: grid cells ({_names(grid_cells)}) belong in the grid/ subfolder; read them "
                           f"with actbook.analysis.selection.load_grid")
    check_named(cells, where)
    mixed = mixed_format_problem([(Path(c["file"]).name, c) for c in cells])
    if mixed:  # as `check` reports it
        raise ResultsError(f"{where}: {mixed}")
    for c in cells:  # a final cell of a grid profile trains at its arm's chosen rate
        chosen = c["config"].get("chosen_rates")
        if chosen is not None and chosen.get(c["activation"]) != c["config"]["optimizer"]["learning_rate"]:
            raise ResultsError(f"{c['file']}: trained at learning rate {c['config']['optimizer']['learning_rate']}, "
                               f"not its arm's chosen rate {chosen.get(c['activation'])}")
    check_rates_are_the_grids_choice(cells, results, profile, where)
    check_consistent(cells, where, _shared_identity)
    return sorted(cells, key=lambda c: (c["activation"], c["seed"]))


def check_made_for(cells: list[dict], folder: str) -> None:
    """Every cell made for ``folder``: its recorded ``--set`` overrides and the
    backend and devices it ran on name this folder
    (:func:`actbook.runner.result_files.folder_made_for`), else :class:`ResultsError`.
    A folder's name is what a reader takes it for (``cpu@jax-cpu``: JAX on a CPU)."""
    for c in cells:
        try:
            made_for = folder_made_for(c)
        except UsageError as e:  # overrides no hash can take
            raise ResultsError(f"{c['file']}: its recorded overrides are unusable ({e})") from None
        if made_for != folder:
            raise ResultsError(f"{c['file']}: made for the folder {made_for!r}, not {folder!r} (its --set overrides "
                               f"or the backend and devices it ran on differ from what the folder's name says)")


def check_named(cells: list[dict], where: Path) -> None:
    """Every file named for the cell it holds (``relu-seed0.json``, a grid
    cell's ``relu-lr0.05-seed100.json``), else :class:`ResultsError`, as ``check``
    reports it: the chapters count a regime's cells by their file names
    (:func:`actbook.analysis.selection.final_progress`)."""
    for c in cells:
        rate = c["config"]["optimizer"]["learning_rate"] if c.get("stage") == "grid" else None
        stem = Cell(c["profile"], c["activation"], c["seed"], rate).stem
        if Path(c["file"]).name != f"{stem}.json":
            raise ResultsError(f"{where}: {Path(c['file']).name} holds the cell {stem}, misnamed")


def check_consistent(cells: list[dict], where: Path, identity) -> None:
    """One config (``identity`` of each cell's, which leaves out what may differ
    between cells), one data set and one backend across ``cells``, else
    :class:`ResultsError`; kernels that differ are warned about. Result formats
    may not mix either, but for 4 and 5 (:data:`CURRENT_SCHEMAS`: 5 only adds measurements)."""
    by_format = _group(cells, lambda c: "4 or 5" if c.get("schema", 1) in CURRENT_SCHEMAS else c.get("schema", 1))
    if len(by_format) > 1:
        raise ResultsError(f"{where}: cells of {len(by_format)} result formats, which never share a table: "
                           + "; ".join(f"format {k}: {_names(v)}" for k, v in by_format.items()))
    configs = {json.dumps(identity(c["config"]), sort_keys=True) for c in cells}
    if len(configs) > 1:
        raise ResultsError(f"{where}: cells were run with {len(configs)} different configs; "
                           f"keep one profile version per folder")
    by_data = _group(cells, lambda c: (c["provenance"].get("dataset") or {}).get("sha256"))
    if len(by_data) > 1:
        raise ResultsError(f"{where}: cells come from {len(by_data)} different data sets: " + "; ".join(
            f"sha256 {str(k)[:12]}...: {_names(v)}" for k, v in by_data.items()))
    by_backend = _group(cells, backend)
    if len(by_backend) > 1:
        raise ResultsError(f"{where}: cells were trained with {len(by_backend)} different backends, which never "
                           f"share a table: " + "; ".join(f"{k}: {_names(v)}" for k, v in by_backend.items()))
    by_kernels = _group(cells, _kernels)
    if len(by_kernels) > 1:
        warnings.warn(f"{where}: cells ran on different kernels, which the precision policy does not "
                      f"promise to agree bit for bit: " + "; ".join(f"{k}: {len(v)} files ({v[0]}, ...)"
                                                                     for k, v in by_kernels.items()),
                      ResultsWarning, stacklevel=3)


#: The settings of a final cell's config that say which cells its folder holds (besides
#: ``chosen_rates``, :func:`check_one_rate_per_arm`): one value across the folder ...
FIXED_PLAN = ("arms", "seeds", "rates_from")
#: ... but for those a profile may gain after its main sweep ran, which may only grow.
GROWING_PLAN = ("extra_seeds", "later_arms")


def _shown(value) -> str:
    return "none" if value is None else json.dumps(value)


def _setting(cell: dict, path: str):
    """``"grid.seeds"`` of a cell's config (None where it has none)."""
    value = cell["config"]
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def check_one_value(cells: list[dict], where: Path, settings) -> None:
    """One value of each config setting in ``settings`` (``"seeds"``,
    ``"grid.seeds"``) across ``cells``, else :class:`ResultsError` naming the
    files that record each value, the fewer first."""
    for setting in settings:
        groups = _group(cells, lambda c: json.dumps(_setting(c, setting), sort_keys=True))
        if len(groups) > 1:
            odd = sorted(groups.items(), key=lambda kv: (len(kv[1]), kv[0]))
            raise ResultsError(f"{where}: the cells record {len(groups)} different config.{setting} (one plan per "
                               f"folder): " + "; ".join(f"{_shown(json.loads(k))} in {_names(v)}" for k, v in odd))


def _pairs(value) -> frozenset:
    """``{"relu": [3, 4]}`` -> ``{("relu", 3), ("relu", 4)}``."""
    return frozenset((a, s) for a, ss in value.items() for s in ss) if isinstance(value, dict) else frozenset()


def check_growing(cells: list[dict], where: Path, settings, warn: bool = True) -> None:
    """Each config setting in ``settings`` (a map of names to lists:
    ``"extra_seeds"``, ``"grid.extended"``) only grows across ``cells``: their
    values nest, else :class:`ResultsError`. Where they differ (a profile gained
    extra seeds, later arms or an edge-rule extension after its first cells
    ran, or a cell's config was edited) the widest plans the folder; with
    ``warn``, a warning names the files of each value."""
    for setting in settings:
        groups = {}
        for c in cells:
            groups.setdefault(_pairs(_setting(c, setting)), []).append(c)
        if len(groups) < 2:
            continue
        ordered = sorted(groups.items(), key=lambda kv: len(kv[0]))
        listing = "; ".join(f"{_shown(_setting(v[0], setting))} in {_names([Path(c['file']).name for c in v])}"
                            for _, v in ordered)
        if not all(a <= b for (a, _), (b, _) in zip(ordered, ordered[1:])):
            raise ResultsError(f"{where}: the cells record values of config.{setting} that do not nest (one plan "
                               f"per folder): {listing}")
        if warn:
            warnings.warn(f"{where}: the cells record {len(groups)} values of config.{setting} (the profile grew "
                          f"after its first cells ran, or a cell's config was edited); the widest is read: "
                          f"{listing}", ResultsWarning, stacklevel=3)


def check_one_rate_per_arm(cells: list[dict], where: Path) -> None:
    """One chosen rate per arm across the cells' ``chosen_rates``, else
    :class:`ResultsError`: a cell that records another would train its arm at another rate."""
    rates = {}
    for c in cells:
        for arm, rate in (c["config"].get("chosen_rates") or {}).items():
            rates.setdefault(arm, {}).setdefault(rate, []).append(Path(c["file"]).name)
    for arm, by_rate in rates.items():
        if len(by_rate) > 1:
            odd = sorted(by_rate.items(), key=lambda kv: (len(kv[1]), kv[0]))
            raise ResultsError(f"{where}: the cells record {len(by_rate)} different chosen rates for {arm}: "
                               + "; ".join(f"{r:g} in {_names(v)}" for r, v in odd))


def _planned_only(cells: list[dict], where: Path, key, planned) -> list[dict]:
    """``cells`` less those their own profile does not plan (a ``run --seeds 7``
    or ``--activations`` beyond it, into a sweep's folder), with a warning
    naming them: a chapter's numbers come from the design's cells only, as
    ``check`` (which reports them "outside the plan") demands."""
    plan = planned(cells)
    # The earlier sweeps (no stage, before format 4) were closed as they stand, with
    # arms run beyond the plan their configs record; the plan binds from format 4 on,
    # the cell's own (the runner writes none outside it) as well as the folder's.
    outside = [c for c in cells if "stage" in c and not (key(c) in plan and key(c) in planned([c]))]
    if outside:
        warnings.warn(f"{where}: left out {len(outside)} cell(s) outside the plan of the profile they name: "
                      f"{_names([Path(c['file']).name for c in outside])}", ResultsWarning, stacklevel=3)
    left_out = {id(c) for c in outside}
    kept = [c for c in cells if id(c) not in left_out]
    if not kept:
        raise ResultsError(f"{where}: no cell of the plan, only cells outside it")
    return kept


def _shared_identity(config: dict) -> dict:
    """What every cell of a folder shares: the identity, less the learning
    rate where each arm has its own (``chosen_rates``)."""
    identity = experiment_identity(config)
    if config.get("chosen_rates") is not None:
        identity = {**identity, "optimizer": {k: v for k, v in identity["optimizer"].items() if k != "learning_rate"}}
    return identity


def _group(cells, key) -> dict:
    groups = {}
    for c in cells:
        groups.setdefault(key(c), []).append(Path(c["file"]).name)
    return groups


def _names(files: list[str]) -> str:
    return ", ".join(files[:4]) + (" ..." if len(files) > 4 else "")


def expected_cells(cells: list[dict]) -> set[tuple[str, int]]:
    """Every (arm, seed) the cells' profile plans: its arms at its seeds, the
    extra seeds of the arms that have them, and its later arms at theirs."""
    planned = set()
    for config in {json.dumps(c["config"], sort_keys=True): c["config"] for c in cells}.values():
        extra = config.get("extra_seeds") or {}
        planned |= {(a, s) for a in config["arms"] for s in [*config["seeds"], *extra.get(a, [])]}
        planned |= {(a, s) for a, seeds in (config.get("later_arms") or {}).items() for s in seeds}
    return planned


def missing_cells(cells: list[dict]) -> list[tuple[str, int]]:
    """The planned (arm, seed) cells that are not among ``cells``, sorted."""
    return sorted(expected_cells(cells) - {(c["activation"], c["seed"]) for c in cells})


def check_complete(cells: list[dict]) -> None:
    """Every (arm, seed) the profile names is present."""
    missing = missing_cells(cells)
    if missing:
        raise ResultsError(f"{len(missing)} cells missing: {missing}")


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------

def history_frame(cells: list[dict]) -> pd.DataFrame:
    """One row per cell and epoch: activation, seed, epoch, losses, errors,
    timing, and the cell's :func:`outcome`."""
    # The cell's own names last: a row never relabels its cell (the reader refuses rows that try).
    rows = [{**h, "activation": c["activation"], "seed": c["seed"], "outcome": outcome(c)}
            for c in cells for h in c["history"]]
    return pd.DataFrame(rows)


def final_rows(history: pd.DataFrame) -> pd.DataFrame:
    """The last epoch of every cell."""
    last = history.groupby(["activation", "seed"])["epoch"].transform("max")
    return history[history["epoch"] == last].reset_index(drop=True)


def split_diverged(final: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``final`` rows (see :func:`final_rows`) split into cells that trained and
    cells that diverged, by :func:`outcome`'s rule (a training loss that ended
    NaN, or a cell that says it diverged): ``(kept, diverged)``, each with a fresh index."""
    bad = final["train_loss"].isna()
    if "outcome" in final:
        bad |= final["outcome"].eq("diverged")
    return final[~bad].reset_index(drop=True), final[bad].reset_index(drop=True)


def final_and_diverged(cells: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last row of every cell, split by :func:`outcome`: ``(final, diverged)``.

    ``final`` holds the cells that trained, one row each; ``diverged`` the
    others, with the epoch their training loss stopped being finite
    (``diverged_epoch``). Both chapters read every regime through here, so a
    diverged cell never enters a mean unnoticed.
    """
    final, diverged = split_diverged(final_rows(history_frame(cells)))
    at = {(c["activation"], c["seed"]): diverged_epoch(c) for c in cells}
    diverged["diverged_epoch"] = pd.Series([at[k] for k in zip(diverged.activation, diverged.seed)],
                                           index=diverged.index, dtype="Int64")
    return final, diverged


def check_rates_are_the_grids_choice(cells: list[dict], results: str | Path, profile: str, where: Path) -> None:
    """Refuse cells trained at a chosen rate (``chosen_rates``) that is not the
    rule's choice from the complete grid in ``results`` it was chosen from
    (:func:`actbook.runner.experiment.recorded_rate_problems`): a chosen-rates
    file edited before the run gives cells that agree with each other and with
    it, so only the grid tells. A grid that is not complete and consistent cannot
    tell, and the cells are refused (rates are recorded only from a complete grid)."""
    trained_at = {c["activation"]: c["config"]["optimizer"]["learning_rate"] for c in cells
                  if c["config"].get("chosen_rates") is not None}
    if not trained_at:
        return
    from actbook.runner.experiment import recorded_rate_problems
    try:
        problems = recorded_rate_problems(profile, results, trained_at)
    except UsageError as e:
        raise ResultsError(f"{where}: its chosen rates cannot be checked against their grid ({e})") from None
    if problems:
        raise ResultsError(f"{where}: the cells trained at rates their grid did not choose: "
                           + "; ".join(problems.values()))


@dataclass(frozen=True)
class Sweep:
    """One results folder, read for the book (see :func:`load_sweep`)."""

    folder: Path
    cells: list          #: every cell in the folder, diverged ones included
    history: pd.DataFrame  #: every epoch of every cell
    final: pd.DataFrame    #: the last row of every cell that trained
    diverged: pd.DataFrame  #: the last row of every cell that diverged, with ``diverged_epoch``
    missing: list        #: planned (arm, seed) cells not in the folder
    planned: int         #: how many cells the profile plans

    @property
    def config(self) -> dict:
        return self.cells[0]["config"]

    @property
    def profile(self) -> str:
        return self.cells[0]["profile"]

    @property
    def trained_cells(self) -> list:
        """The cells that did not diverge."""
        return [c for c in self.cells if outcome(c) == "finished"]

    @property
    def trained_history(self) -> pd.DataFrame:
        """:attr:`history` of the cells that did not diverge."""
        return self.history[self.history["outcome"] == "finished"].reset_index(drop=True)

    @property
    def complete(self) -> bool:
        """Every planned cell is in."""
        return not self.missing

    def require_complete(self, display=str) -> "Sweep":
        """This sweep, when every planned cell is in; otherwise :class:`RegimeIncomplete`,
        naming the missing cells (``display`` turns an arm into the name to print)."""
        if self.missing:
            n = len(self.missing)
            raise RegimeIncomplete(f"the `{self.profile}` regime is not complete: {n} of its {self.planned} planned "
                                   f"cells {'is' if n == 1 else 'are'} missing ({_listing(self.missing, display)}); "
                                   f"it is read once all its cells are in")
        return self


def load_sweep(results: str | Path, folder: str) -> Sweep:
    """Every cell under ``results/folder`` (:func:`load_cells`), its history,
    its final rows split into trained and diverged cells
    (:func:`final_and_diverged`), and the planned cells that are missing.

    A partial sweep loads: the chapters say what is missing
    (:func:`incomplete_note`) and compute from what is there.
    """
    cells = load_cells(results, folder)
    final, diverged = final_and_diverged(cells)
    return Sweep(Path(results) / folder, cells, history_frame(cells), final, diverged, missing_cells(cells),
                 len(expected_cells(cells)))


def common_seeds(sweep: Sweep) -> list[int]:
    """The seeds at which every arm of ``sweep``'s profile has a final cell,
    trained or diverged: what an interim reading of a sweep still running
    reads, so that every arm is compared over the same seeds."""
    ended = pd.concat([sweep.final, sweep.diverged])
    return sorted(set.intersection(*(set(ended.seed[ended.activation == a]) for a in sweep.config["arms"])))


def load_complete(results: str | Path, folder: str, display=str) -> Sweep:
    """:func:`load_sweep`, for a chapter that reads complete regimes only: a
    regime with a planned cell missing raises :class:`RegimeIncomplete`."""
    return load_sweep(results, folder).require_complete(display)


def pending_sentence(done: int, planned: int, what: str) -> str:
    """What a reader is told of a regime still running: "" once all ``planned``
    cells are in, otherwise "Only 12 of the 120 final cells of <what> are in,
    so it is not read yet: a regime is read once all its cells are in." """
    if done >= planned:
        return ""
    return (f"Only {done} of the {planned} final cells of {what} {'is' if done == 1 else 'are'} in, so it is not "
            f"read yet: a regime is read once all its cells are in.")


# --------------------------------------------------------------------------
# Sentences for the chapters
# --------------------------------------------------------------------------

def _listing(pairs, display) -> str:
    """``[("relu", 0), ("relu", 1), ("elu", 2)]`` -> ``"ReLU seeds 0, 1; ELU seed 2"``."""
    by_arm = {}
    for a, k in pairs:
        by_arm.setdefault(a, []).append(str(k))
    return "; ".join(f"{display(a)} seed{'s' if len(ks) > 1 else ''} {', '.join(ks)}" for a, ks in by_arm.items())


def incomplete_note(sweep: Sweep, display=str) -> str:
    """A warning naming the planned cells missing from ``sweep`` ("" when none is)."""
    if not sweep.missing:
        return ""
    n = len(sweep.missing)
    return (f"**Warning: the `{sweep.profile}` sweep is not complete.** {n} of its {sweep.planned} planned cells "
            f"{'is' if n == 1 else 'are'} missing ({_listing(sweep.missing, display)}). Everything below uses the "
            f"finished cells only: some comparisons have fewer paired seeds than the profile plans, and a "
            f"comparison that needs an activation with no cell left is not made. Rerun the sweep command to "
            f"finish it.")


def diverged_list(diverged: pd.DataFrame, display=str) -> str:
    """``"PReLU seed 2 (epoch 27); SELU seeds 0, 1 (epochs 3, 4)"`` for the
    diverged rows of :func:`final_and_diverged` ("" when there are none)."""
    parts = []
    for a, g in diverged.groupby("activation", sort=False):
        seeds, at = [str(int(k)) for k in g.seed], [str(int(e)) for e in g.diverged_epoch]
        parts.append(f"{display(a)} seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)} "
                     f"(epoch{'s' if len(at) > 1 else ''} {', '.join(at)})")
    return "; ".join(parts)


def diverged_note(sweep: Sweep, display=str) -> str:
    """A paragraph naming the cells of ``sweep`` that diverged and saying what
    is done with them ("" when none did)."""
    if sweep.diverged.empty:
        return ""
    n = len(sweep.diverged)
    return (f"**Diverged {'cell' if n == 1 else 'cells'}** in the `{sweep.profile}` sweep: "
            f"{diverged_list(sweep.diverged, display)}, the epoch in which the training loss stopped being finite. "
            f"{'Such a cell' if n == 1 else 'These cells'} learn nothing from then on; "
            f"{'it is' if n == 1 else 'they are'} left out of every mean, table and paired comparison below "
            f"(the pairs with {'it' if n == 1 else 'them'} are dropped) and counted here instead.")


def code_commits(cells: list[dict]) -> list[str]:
    """The code commits (10 hex digits, "(dirty)" for uncommitted changes) that made ``cells``, sorted."""
    out = set()
    for c in cells:
        git = c["provenance"].get("git") or {}
        out.add((git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else ""))
    return sorted(out)


def origin_sentence(sweeps: dict[str, list[dict]]) -> str:
    """One sentence saying which code commits made the results of each regime
    (``{"regime 1": cells, ...}``) and whether that is today's runner.

    Files before schema 3 come from the TensorFlow runner that read its data
    through ``tf.data``; the runner has since changed (schema 3, a new data
    stream), so those files do not reproduce with the current code.
    """
    commits = {label: code_commits(cells) for label, cells in sweeps.items()}
    if len({tuple(cs) for cs in commits.values()}) == 1:
        cs = next(iter(commits.values()))
        made = f"at commit{'s' if len(cs) > 1 else ''} {', '.join(cs)}"
    else:
        made = join_and([f"at commit{'s' if len(cs) > 1 else ''} {', '.join(cs)} ({label})"
                     for label, cs in commits.items()])
    old = [label for label, cells in sweeps.items() if any(c.get("schema", 1) < 3 for c in cells)]
    if not old:
        backends = sorted({backend(c) for cells in sweeps.values() for c in cells})
        return f"The committed results were made by the current runner, with {join_and(backends)}, {made}."
    which = ("with the earlier TensorFlow runner" if len(old) == len(sweeps) else
             f"those of {join_and(old)} with the earlier TensorFlow runner")
    return (f"The committed results were made by the code {made}, {which}. The runner has since changed (it is "
            f"backend-portable and feeds the data through a new data stream), so rerunning a sweep with the current "
            f"code does not reproduce these numbers.")


def made_by(cells: list[dict]) -> dict:
    """What made a set of cells, from their provenance, as one row for a table:
    how many cells, the code commits, CPUs, kernels, backends, threads, data
    sets and the time span. Several values in a column are listed, sorted."""
    def values(get) -> str:
        found = sorted({str(v) for v in map(get, cells) if v not in (None, "")})
        return ", ".join(found) or "unrecorded"

    prov = [c["provenance"] for c in cells]
    return {
        "cells": len(cells),
        "code": ", ".join(code_commits(cells)),
        "CPU": values(lambda c: (c["provenance"].get("hardware") or {}).get("cpu")),
        "kernels": values(_kernels),
        "backend": values(lambda c: f"{backend(c)} {(c['provenance'].get('backend') or {}).get('version', '')}".strip()),
        "threads": values(lambda c: (c["provenance"].get("backend") or {}).get("threads")),
        "data set": values(lambda c: (c["provenance"].get("dataset") or {}).get("dataset")),
        # The runner stamps every time in UTC (provenance.now()).
        "from (UTC)": min((p.get("started") or "") for p in prov)[:16].replace("T", " "),
        "to (UTC)": max((p.get("finished") or "") for p in prov)[:16].replace("T", " "),
    }


def cpu_label(cell: dict) -> str:
    """The CPU's name as a sentence gives it: "Intel(R) Xeon(R) Processor" reads "Intel Xeon"."""
    cpu = cell["provenance"]["hardware"]["cpu"]
    return cpu.replace("(R)", "").replace("(TM)", "").removesuffix(" Processor").strip()


def one_maker(cells: list[dict], what: str) -> tuple[str, str, str]:
    """The one (CPU, full commit, oneDNN ISA) that made ``cells``, for a sentence that names it.

    Refused (ResultsError naming ``what``) where the cells record more than one
    of them, where a cell was made by uncommitted or mixed code (no one commit
    made it), or where there are no cells: a sentence naming one machine and
    one code version would then be wrong."""
    def maker(c: dict):
        git = c["provenance"].get("git") or {}
        clean = git.get("commit") and not (git.get("dirty") or git.get("mixed_segments"))
        return cpu_label(c), git["commit"] if clean else None, _kernels(c)

    made = {maker(c) for c in cells}
    if len(made) != 1 or None in next(iter(made)):
        raise ResultsError(f"{what} record {'no cell' if not made else 'more than one machine or code version'}"
                           f" ({sorted(made, key=str)}): rewrite the sentences on them")
    return made.pop()


def sweep_facts(cells: list[dict], history: pd.DataFrame) -> dict:
    """What a chapter says of a sweep, from its cells' provenance: how many
    cells, the minutes of training in all, the training and test images used,
    the data sets (with the start of their checksums), the CPUs, the kernels
    and the span of time it ran."""
    prov = [c["provenance"] for c in cells]
    datasets = {p["dataset"]["sha256"]: p["dataset"]["dataset"] for p in prov}
    kernels = sorted({(p["hardware"].get("kernels") or {}).get("effective_isa") or "not recorded" for p in prov})
    return {
        "cells": len(cells),
        "minutes": float(history["seconds"].sum()) / 60,
        "train_images": prov[0]["train_images_used"],
        "test_images": prov[0]["test_images_used"],
        "dataset": "; ".join(f"{d} (sha256 {s[:12]}...)" for s, d in datasets.items()),
        "hardware": ", ".join(sorted({p["hardware"]["cpu"] for p in prov})),
        "kernels": ", ".join(kernels),
        "span": f"{min(p['started'] for p in prov)[:16]} to {max(p['finished'] for p in prov)[:16]} UTC",
    }

