"""Text helpers for the softmax chapter's tables.

A softmax over many classes often has long runs of equal values (the
explainer's third example has nine equal logits); a table cell reads better
as "0.130, 0.097 × 9" than as ten numbers.
"""

from __future__ import annotations

from itertools import groupby

__all__ = ["run_length"]


def run_length(values, fmt: str = "{:.3f}") -> str:
    """``values`` formatted with ``fmt`` and joined by commas, each run of equal
    formatted values written once with its length: ``[1.5, 1.2, 1.2]`` with
    ``"{:g}"`` gives ``"1.5, 1.2 × 2"``.

    Runs are found after formatting, so values that differ only beyond the
    shown digits count as equal, as a reader of the cell would see them.
    """
    parts = []
    for text, run in groupby(fmt.format(float(v)) for v in values):
        n = sum(1 for _ in run)
        parts.append(text if n == 1 else f"{text} × {n}")
    return ", ".join(parts)
