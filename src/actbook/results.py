"""Read a results directory written by ``actbook.experiment`` into pandas.

The book builds every table and figure of the training chapter from these
frames, so this module also refuses results it cannot trust: a missing,
unreadable or incomplete cell, or one whose config differs from its
siblings', is an error, never a silently shorter table.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

__all__ = ["ResultsError", "load_cells", "load_history", "final_rows", "split_diverged", "expected_cells",
           "check_profile", "check_complete", "history_frame"]


class ResultsError(RuntimeError):
    """The results on disk are missing or inconsistent; the message says which."""


class ResultsWarning(UserWarning):
    """Results that load but were made on different kernels."""


SCHEMAS = (1, 2)  # 1: the first cpu sweep (no inference-mode training error); 2: current


def _kernels(cell: dict) -> str:
    """The kernel class a cell ran on: the oneDNN ISA in force ("unrecorded" for schema-1 files)."""
    k = cell["provenance"].get("hardware", {}).get("kernels") if isinstance(cell["provenance"], dict) else None
    return (k or {}).get("effective_isa") or "unrecorded"


def _read_cell(f: Path, profile: str) -> dict:
    try:
        cell = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise ResultsError(f"{f}: unreadable result file ({e})") from None
    if not isinstance(cell, dict):
        raise ResultsError(f"{f}: not a result file (a JSON {type(cell).__name__}, expected an object)")
    missing = {"profile", "activation", "seed", "config", "history", "provenance"} - set(cell)
    if missing:
        raise ResultsError(f"{f}: missing keys {sorted(missing)}")
    if cell.get("schema", 1) not in SCHEMAS:
        raise ResultsError(f"{f}: result format {cell.get('schema')!r} is not one this code reads ({SCHEMAS})")
    if cell["profile"] != profile:
        raise ResultsError(f"{f}: belongs to profile {cell['profile']!r}, found under {profile!r}")
    if not (isinstance(cell["config"], dict) and isinstance(cell["history"], list)
            and all(isinstance(r, dict) for r in cell["history"])):
        raise ResultsError(f"{f}: config must be an object and history a list of objects")
    if len(cell["history"]) != cell["config"].get("epochs"):
        raise ResultsError(f"{f}: {len(cell['history'])} epochs recorded, config says {cell['config'].get('epochs')}")
    cell["file"] = str(f)
    return cell


def load_cells(results: str | Path, profile: str) -> list[dict]:
    """Every complete cell of ``profile`` under ``results``, sorted by arm and seed.

    Refused: unreadable or incomplete files, two files for one (activation,
    seed), cells made with different configs or from different data sets.
    Warned about: cells whose kernels differ (the precision policy's
    :func:`actbook.precision.effective_isa`), which may differ in the last digits.
    """
    folder = Path(results) / profile
    files = sorted(folder.glob("*.json"))
    if not files:
        raise ResultsError(f"no result files in {folder}: run "
                           f"`python -m actbook.experiment run --profile {profile} --results {results}`")
    cells = [_read_cell(f, profile) for f in files]
    seen = {}
    for c in cells:
        key = (c["activation"], c["seed"])
        if key in seen:
            raise ResultsError(f"{folder}: two files for {c['activation']} seed {c['seed']}: "
                               f"{Path(seen[key]).name} and {Path(c['file']).name}")
        seen[key] = c["file"]
    configs = {json.dumps(c["config"], sort_keys=True) for c in cells}
    if len(configs) > 1:
        raise ResultsError(f"{folder}: cells were run with {len(configs)} different configs; "
                           f"keep one profile version per folder")
    by_data = _group(cells, lambda c: (c["provenance"].get("dataset") or {}).get("sha256"))
    if len(by_data) > 1:
        raise ResultsError(f"{folder}: cells come from {len(by_data)} different data sets: " + "; ".join(
            f"sha256 {str(k)[:12]}...: {', '.join(v[:4])}{' ...' if len(v) > 4 else ''}" for k, v in by_data.items()))
    by_kernels = _group(cells, _kernels)
    if len(by_kernels) > 1:
        warnings.warn(f"{folder}: cells ran on different kernels, which the precision policy does not "
                      f"promise to agree bit for bit: " + "; ".join(f"{k}: {len(v)} files ({v[0]}, ...)"
                                                                     for k, v in by_kernels.items()),
                      ResultsWarning, stacklevel=2)
    return sorted(cells, key=lambda c: (c["activation"], c["seed"]))


def _group(cells, key) -> dict:
    groups = {}
    for c in cells:
        groups.setdefault(key(c), []).append(Path(c["file"]).name)
    return groups


def check_profile(cells: list[dict], config: dict) -> None:
    """The cells were made with ``config`` (the profile as defined now)."""
    if cells[0]["config"] != config:
        changed = sorted(k for k in set(config) | set(cells[0]["config"])
                         if config.get(k) != cells[0]["config"].get(k))
        raise ResultsError(f"results in {Path(cells[0]['file']).parent} were made with a different "
                           f"version of profile {cells[0]['profile']!r} (differs in: {', '.join(changed)})")


def expected_cells(cells: list[dict]) -> set[tuple[str, int]]:
    config = cells[0]["config"]
    extra = config.get("extra_seeds", {})
    return {(a, s) for a in config["arms"] for s in [*config["seeds"], *extra.get(a, [])]}


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


def split_diverged(final: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``final`` rows (see :func:`final_rows`) split into cells that trained
    and cells that diverged (training loss NaN at the end, which a diverged
    cell never leaves): ``(kept, diverged)``, each with a fresh index."""
    nan = final["train_loss"].isna()
    return final[~nan].reset_index(drop=True), final[nan].reset_index(drop=True)
