"""Reruns of a committed cell under other instruction sets, held against the committed file.

``scripts/cross_isa.py`` reruns one cell under each oneDNN instruction-set
cap and writes what it measured; this module compares those reruns with the
result file committed under ``data/results/`` and says, in a sentence, whether
they reproduce it within :data:`TOLERANCE`. The training chapter and the
tests read them through here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

__all__ = ["TOLERANCE", "TIMING", "without_timing", "rerun_files", "host", "history_differences", "whole_rerun_sentence", "original", "repeated_pairs", "committed_cell", "against_committed", "not_compared", "misses", "exact", "summary", "tolerance_sentence"]

#: A rerun reproduces a committed cell when its final test error is this close.
TOLERANCE = 0.005


#: History columns that measure the machine's speed, not the computation: left out of a comparison.
TIMING = ("seconds", "train_images_per_second")


def without_timing(history: list) -> list:
    """A cell's history without its :data:`TIMING` columns: what a rerun must repeat exactly."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def history_differences(rerun: dict, committed: dict) -> list[str]:
    """Where a rerun's whole result file differs from the committed cell's,
    timing aside: the epochs and the committed columns of its history, and its
    diagnostics. An empty list means bit for bit the same numbers. A rerun by
    a newer runner may measure more (result format 5 adds the cross-entropy
    alone, ``*_xent``): only the columns the committed cell has are compared,
    and a column it has that the rerun lacks is a difference."""
    a, b = without_timing(rerun["history"]), without_timing(committed["history"])
    out = [] if len(a) == len(b) else [f"{len(a)} epochs against {len(b)}"]
    out += [f"epoch {y.get('epoch', i + 1)} {k}" for i, (x, y) in enumerate(zip(a, b))
            for k in sorted(y) if k not in x or x[k] != y[k]]
    if rerun.get("diagnostics") != committed.get("diagnostics"):
        out.append("diagnostics")
    return out


def whole_rerun_sentence(rerun: dict, committed: dict, arm_name: str) -> str:
    """One sentence on a whole rerun of a committed cell (a result file made by
    the one-cell rerun command it records): which cell, where and with which code it was
    rerun, and whether every number of it came out the same."""
    prov = rerun["provenance"]
    git = prov["git"][-1] if isinstance(prov["git"], list) else prov["git"]
    kind = {"final": " final", "grid": " grid"}.get(committed.get("stage"), "")
    made_on = ((committed.get("provenance") or {}).get("hardware") or {}).get("cpu")
    label = (f"The whole {committed['profile']}{kind} {arm_name} seed {committed['seed']} cell"
             + (f" (made on {made_on})" if made_on else "") + f", rerun on "
             f"{prov['hardware']['cpu']} with the one-cell command recorded in the rerun file (from a clean checkout "
             f"of {git['commit'][:7]}),")
    diffs = history_differences(rerun, committed)
    if not diffs:
        return (f"{label} repeats every number of its {len(committed['history'])}-epoch history and its "
                f"diagnostics bit for bit, timing aside.")
    places = f"{len(diffs)} place" + ("s" if len(diffs) != 1 else "")
    return f"{label} differs from the committed cell in {places}, first {', '.join(diffs[:3])}."


def original(rerun: dict, earlier: dict, results: Path) -> dict | None:
    """The committed cell that a whole rerun (a result file) repeats, or None.

    A cell of the new comparison records its stage: it is looked up under
    ``results/<profile>`` (``/grid`` for a grid cell, at the same learning
    rate). A cell of the earlier sweeps records none: it is looked up among
    ``earlier`` (profile -> its cells). Matching on the stage keeps a rerun of
    a new final cell from being held against an earlier cell of the same
    activation and seed.
    """
    stage = rerun.get("stage")
    if stage is None:
        pool = earlier.get(rerun["profile"], [])
    else:
        folder = Path(results) / rerun["profile"] / ("grid" if stage == "grid" else "")
        pool = [json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))]
    rate = rerun["config"]["optimizer"]["learning_rate"]
    return next((c for c in pool if c["activation"] == rerun["activation"] and c["seed"] == rerun["seed"]
                 and c.get("stage") == stage and c["config"]["optimizer"]["learning_rate"] == rate), None)


def repeated_pairs(records: list[Path], results: Path) -> list[tuple[dict, dict]]:
    """(rerun, committed cell) for each whole-rerun file of ``records``, each
    held to its committed cell of the comparison (:func:`original`). Raises
    ValueError naming the file when a cell is missing or a history differs:
    a sentence saying the reruns repeat their cells would then be wrong."""
    import json
    pairs = []
    for record in records:
        rerun = json.loads(Path(record).read_text())
        cell = original(rerun, {}, Path(results))
        if cell is None or history_differences(rerun, cell):
            raise ValueError(f"{Path(record).name} no longer repeats its committed cell")
        pairs.append((rerun, cell))
    return pairs


def rerun_files(folder: Path, profile: str) -> list[Path]:
    """Every committed rerun record of ``profile``'s float32 cell in ``folder``:
    ``cross_isa_<profile>_float32.json`` and one more per host it was rerun on
    (``cross_isa_<profile>_float32_<host>.json``)."""
    return sorted(Path(folder).glob(f"cross_isa_{profile}_float32*.json"))


def host(rerun: dict) -> str:
    """The CPU the reruns ran on, as their provenance names it."""
    return rerun["provenance"]["hardware"]["cpu"]


def committed_cell(rerun: dict, cells: list[dict]) -> dict | None:
    """The cell among ``cells`` that ``rerun`` (what ``cross_isa.py`` wrote) reran, or None when it is not there
    (a partial sweep, or a cell left out because it diverged)."""
    cell = rerun["cell"]
    return next((c for c in cells if c["profile"] == cell["profile"] and c["activation"] == cell["activation"]
                 and c["seed"] == cell["seed"]), None)


def against_committed(rerun: dict, cells: list[dict]) -> tuple[pd.DataFrame, dict]:
    """The reruns that finished, by instruction-set cap, with their distance from the committed cell.

    ``rerun`` is what ``cross_isa.py`` wrote, ``cells`` the committed result
    files of its profile. Returns the table and the committed cell.
    """
    cell = rerun["cell"]
    if cell.get("overrides"):
        raise ValueError(f"the reruns changed the profile ({cell['overrides']}): they are another experiment, "
                         f"not a rerun of a committed cell")
    committed = committed_cell(rerun, cells)
    if committed is None:
        raise ValueError(f"no committed {cell['profile']} cell {cell['activation']} seed {cell['seed']} to compare with")
    committed_error = committed["history"][-1]["test_error"]
    finished = [r for r in rerun["runs"] if r.get("final_test_error") is not None]
    if not finished:
        raise ValueError("no rerun finished")
    table = pd.DataFrame(finished).set_index("ONEDNN_MAX_CPU_ISA")
    table["minus committed"] = table["final_test_error"] - committed_error
    return table, committed


def not_compared(rerun: dict, arm_name: str) -> str:
    """The Markdown list item for reruns whose committed cell is not among the cells read
    (:func:`committed_cell` gave None), in :func:`summary`'s form."""
    cell = rerun["cell"]
    return (f"- **{cell['profile']} {arm_name} seed {cell['seed']}**: this results folder has no finished cell "
            f"to hold its {len(rerun['runs'])} reruns against (the cell is missing, or it diverged), so they are "
            f"not compared here.")


def misses(table: pd.DataFrame) -> list[str]:
    """The instruction-set caps whose rerun is further than :data:`TOLERANCE` from the committed cell."""
    return list(table.index[table["minus committed"].abs() > TOLERANCE])


def exact(table: pd.DataFrame) -> bool:
    """Every rerun in ``table`` is bit-identical to the runner's own run and
    gives the committed final test error exactly."""
    return bool(table["identical_to_policy_run"].all() and (table["minus committed"] == 0).all())


def summary(table: pd.DataFrame, committed: dict, seed_sd: float, arm_name: str, on: str | None = None) -> str:
    """One Markdown list item on the reruns of ``committed`` (made on the CPU
    ``on``, when given): how many are bit-identical to the runner's own run,
    and the :func:`tolerance_sentence`."""
    from actbook.runner.precision import PINNED_ISA
    label = f"{committed['profile']} {arm_name} seed {committed['seed']}" + (f", rerun on {on}" if on else "")
    others = table.drop(index=PINNED_ISA, errors="ignore")  # the run at the runner's cap is the reference itself
    same = int(others["identical_to_policy_run"].sum())
    if len(others) == 1:
        agree = (f"the other cap, {others.index[0]}, {'reproduces' if same else 'does not reproduce'} the run at the "
                 f"runner's cap ({PINNED_ISA}) bit for bit")
    else:
        agree = f"{same} of the {len(others)} other caps reproduce the run at the runner's cap ({PINNED_ISA}) bit for bit"
    return (f"- **{label}** ({committed['config']['epochs']} epochs, committed final test error "
            f"{committed['history'][-1]['test_error']:.4f}): {agree}. " + tolerance_sentence(table, committed, seed_sd, arm_name))


def tolerance_sentence(table: pd.DataFrame, committed: dict, seed_sd: float, arm_name: str) -> str:
    """One sentence: do the reruns in ``table`` reproduce the committed cell within :data:`TOLERANCE`?

    ``seed_sd`` is the arm's seed-to-seed standard deviation of the final
    test error in that regime, the yardstick for a miss.
    """
    epochs = committed["config"]["epochs"]
    distance = table["minus committed"].abs()
    off = table.loc[misses(table)]
    if off.empty and distance.max() == 0:
        return f"Every setting gives the committed final test error exactly after {epochs} epochs."
    if off.empty:
        return (f"Every setting reproduces the committed test error within {TOLERANCE} after {epochs} epochs "
                f"(largest distance {distance.max():.4f}).")
    worst = float(off["minus committed"].abs().max())
    return (f"{', '.join(off.index)} {'misses' if len(off) == 1 else 'miss'} the tolerance of {TOLERANCE}: over "
            f"{epochs} epochs the small differences of those kernels grow into a different trajectory, "
            f"{worst:.4f} away, about {worst / seed_sd:.1f} times the seed-to-seed standard deviation of "
            f"{arm_name} in this regime ({seed_sd:.4f}). A reader on such a CPU gets a difference comparable to a large "
            f"seed-to-seed one, not the committed numbers.")


