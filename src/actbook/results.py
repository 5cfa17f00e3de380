"""Read a results directory written by ``actbook.experiment`` into pandas.

The book builds every table and figure of the training chapter from these
frames, so this module also refuses results it cannot trust: a missing,
unreadable or incomplete cell, or one whose config differs from its
siblings', is an error, never a silently shorter table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

__all__ = ["ResultsError", "load_cells", "load_history", "final_rows", "expected_cells", "check_profile",
           "check_complete", "history_frame"]


class ResultsError(RuntimeError):
    """The results on disk are missing or inconsistent; the message says which."""


def load_cells(results: str | Path, profile: str) -> list[dict]:
    """Every complete cell of ``profile`` under ``results``, sorted by arm and seed."""
    folder = Path(results) / profile
    files = sorted(folder.glob("*.json"))
    if not files:
        raise ResultsError(f"no result files in {folder}: run "
                           f"`python -m actbook.experiment run --profile {profile} --results {results}`")
    cells = []
    for f in files:
        try:
            cell = json.loads(f.read_text())
        except (OSError, ValueError) as e:
            raise ResultsError(f"{f}: unreadable result file ({e})") from None
        missing = {"profile", "activation", "seed", "config", "history", "provenance"} - set(cell)
        if missing:
            raise ResultsError(f"{f}: missing keys {sorted(missing)}")
        if cell["profile"] != profile:
            raise ResultsError(f"{f}: belongs to profile {cell['profile']!r}, found under {profile!r}")
        if len(cell["history"]) != cell["config"]["epochs"]:
            raise ResultsError(f"{f}: {len(cell['history'])} epochs recorded, config says {cell['config']['epochs']}")
        cell["file"] = str(f)
        cells.append(cell)
    configs = {json.dumps(c["config"], sort_keys=True) for c in cells}
    if len(configs) > 1:
        raise ResultsError(f"{folder}: cells were run with {len(configs)} different configs; "
                           f"keep one profile version per folder")
    return sorted(cells, key=lambda c: (c["activation"], c["seed"]))


def check_profile(cells: list[dict], config: dict) -> None:
    """The cells were made with ``config`` (the profile as defined now)."""
    if cells[0]["config"] != config:
        changed = sorted(k for k in set(config) | set(cells[0]["config"])
                         if config.get(k) != cells[0]["config"].get(k))
        raise ResultsError(f"results in {Path(cells[0]['file']).parent} were made with a different "
                           f"version of profile {cells[0]['profile']!r} (differs in: {', '.join(changed)})")


def expected_cells(cells: list[dict]) -> set[tuple[str, int]]:
    config = cells[0]["config"]
    return {(a, s) for a in config["arms"] for s in config["seeds"]}


def check_complete(cells: list[dict]) -> None:
    """Every (arm, seed) the profile names is present."""
    have = {(c["activation"], c["seed"]) for c in cells}
    missing = expected_cells(cells) - have
    if missing:
        raise ResultsError(f"{len(missing)} cells missing: {sorted(missing)}")


def history_frame(cells: list[dict]) -> pd.DataFrame:
    """One row per cell and epoch: activation, seed, epoch, losses, errors, timing."""
    rows = [{"activation": c["activation"], "seed": c["seed"], **h} for c in cells for h in c["history"]]
    return pd.DataFrame(rows)


def load_history(results: str | Path, profile: str, require_complete: bool = True) -> pd.DataFrame:
    """:func:`history_frame` of every cell of ``profile`` under ``results``."""
    cells = load_cells(results, profile)
    if require_complete:
        check_complete(cells)
    return history_frame(cells)


def final_rows(history: pd.DataFrame) -> pd.DataFrame:
    """The last epoch of every cell."""
    last = history.groupby(["activation", "seed"])["epoch"].transform("max")
    return history[history["epoch"] == last].reset_index(drop=True)
