"""Reruns of a committed cell under other instruction sets, held against the committed file.

``scripts/cross_isa.py`` reruns one cell under each oneDNN instruction-set
cap and writes what it measured; this module compares those reruns with the
result file committed under ``data/results/`` and says, in a sentence, whether
they reproduce it within :data:`TOLERANCE`. The training chapter and the
tests read them through here.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["TOLERANCE", "against_committed", "verdict"]

#: A rerun reproduces a committed cell when its final test error is this close (issue 11's acceptance).
TOLERANCE = 0.005


def against_committed(rerun: dict, cells: list[dict]) -> tuple[pd.DataFrame, dict]:
    """The reruns that finished, by instruction-set cap, with their distance from the committed cell.

    ``rerun`` is what ``cross_isa.py`` wrote, ``cells`` the committed result
    files of its profile. Returns the table and the committed cell.
    """
    cell = rerun["cell"]
    if cell.get("overrides"):
        raise ValueError(f"the reruns changed the profile ({cell['overrides']}): they are another experiment, "
                         f"not a rerun of a committed cell")
    committed = next((c for c in cells if c["profile"] == cell["profile"] and c["activation"] == cell["activation"]
                      and c["seed"] == cell["seed"]), None)
    if committed is None:
        raise ValueError(f"no committed {cell['profile']} cell {cell['activation']} seed {cell['seed']} to compare with")
    committed_error = committed["history"][-1]["test_error"]
    finished = [r for r in rerun["runs"] if r.get("final_test_error") is not None]
    if not finished:
        raise ValueError("no rerun finished")
    table = pd.DataFrame(finished).set_index("ONEDNN_MAX_CPU_ISA")
    table["minus committed"] = table["final_test_error"] - committed_error
    return table, committed


def verdict(table: pd.DataFrame, committed: dict, seed_sd: float, arm_name: str) -> str:
    """One sentence: do the reruns in ``table`` reproduce the committed cell within :data:`TOLERANCE`?

    ``seed_sd`` is the arm's seed-to-seed standard deviation of the final
    test error in that regime, the yardstick for a miss.
    """
    epochs = committed["config"]["epochs"]
    distance = table["minus committed"].abs()
    off = table[distance > TOLERANCE]
    if off.empty:
        return (f"Every setting reproduces the committed test error within {TOLERANCE} after {epochs} epochs "
                f"(largest distance {distance.max():.4f}).")
    worst = float(off["minus committed"].abs().max())
    return (f"{', '.join(off.index)} {'misses' if len(off) == 1 else 'miss'} the tolerance of {TOLERANCE}: over "
            f"{epochs} epochs the small differences of those kernels grow into a different trajectory, "
            f"{worst:.4f} away, about {worst / seed_sd:.1f} times the seed-to-seed standard deviation of "
            f"{arm_name} in this regime ({seed_sd:.4f}). A reader on such a CPU gets numbers like another seed's, "
            f"not the committed ones.")
