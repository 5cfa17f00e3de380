"""The committed step-time benchmark: each activation's training step against ReLU's.

``benchmarks/bench_step.py`` times one training step of the ``cpu`` profile's
network per activation, in rounds, and writes ``data/benchmarks/step_time_<precision>.json``.
The chapters read those files through here, and judge a ratio by one rule
(the start page's rule 9): a ratio stands out only when it is further from 1
than its own spread between rounds and ReLU's together, each relative to its
median. Nearer than that, the run's own noise could make it.
"""

from __future__ import annotations

import json

from actbook.data_folder import committed

__all__ = ["PRECISIONS", "load", "ratios", "spreads", "stands_out"]

#: The precisions the benchmark was run in, one file each.
PRECISIONS = ("float32", "bf16")


def load(precision: str = "float32") -> dict:
    """The committed benchmark run in ``precision`` (one of :data:`PRECISIONS`), as its file holds it."""
    if precision not in PRECISIONS:
        raise ValueError(f"no step-time benchmark in {precision!r}; the committed ones are {', '.join(PRECISIONS)}")
    return json.loads(committed("benchmarks", f"step_time_{precision}.json").read_text())


def ratios(bench: dict) -> dict[str, float]:
    """Each activation's median step time over ReLU's (1 is ReLU's own)."""
    return {a["activation"]: float(a["time vs ReLU"]) for a in bench["arms"]}


def spreads(bench: dict) -> dict[str, float]:
    """Each activation's spread of step times between rounds, as a share of its median step time."""
    return {a["activation"]: a["spread over rounds (ms)"] / a["ms per step (median)"] for a in bench["arms"]}


def stands_out(bench: dict) -> list[str]:
    """The activations whose ratio is further from 1 than their spread and ReLU's together, in the file's order."""
    ratio, spread = ratios(bench), spreads(bench)
    if "relu" not in ratio:
        raise ValueError("the benchmark has no ReLU row: its ratios have no reference to be judged against")
    return [a for a in ratio if a != "relu" and abs(ratio[a] - 1) > spread[a] + spread["relu"]]
