"""Tables: what the book's tables are made of.

A settings table (:func:`config_table`, :func:`settings_table`,
:func:`setting_rows`) shows nested settings as one row per setting; a cell
with a run of equal numbers reads better as "0.097 × 9" (:func:`run_length`).
How a table prints (a Markdown pipe table for the PDF) is
:mod:`actbook.markdown_tables`'s; its two functions are importable from here too.
"""

from __future__ import annotations

import json
from itertools import groupby
from typing import Sequence

import pandas as pd

from actbook.markdown_tables import markdown_table, register

__all__ = ["markdown_table", "register", "config_table", "settings_table", "setting_rows", "run_length"]


def config_table(config: dict, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """An experiment's settings as a two-column table (nested values as JSON),
    the form every chapter shows a configuration in."""
    keys = list(config) if keys is None else list(keys)
    return pd.DataFrame([(k, json.dumps(config[k]) if isinstance(config[k], (dict, list)) else config[k])
                         for k in keys], columns=["setting", "value"]).set_index("setting")


def _text(value) -> str:
    """A setting as a table shows it: a list written out, no value as "none"."""
    if value is None or (isinstance(value, list) and not value):
        return "none"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _flat(settings: dict, sep: str) -> dict:
    """Nested settings as one key each, the levels joined by ``sep`` (``pandas.json_normalize``)."""
    if not settings:
        return {}
    flat = pd.json_normalize(settings, sep=sep).to_dict(orient="records")[0]
    # json_normalize lists the top level's plain values before its nested ones; a table keeps the settings' order.
    place = {key: i for i, key in enumerate(settings)}
    return dict(sorted(flat.items(), key=lambda item: place.get(item[0], place.get(item[0].split(sep, 1)[0]))))


def setting_rows(settings: dict) -> list[tuple[str, str]]:
    """Nested settings as one (item, value) row each ("kernels: isa_flags", "avx2, avx512f")."""
    return [(key, _text(value)) for key, value in _flat(settings, ": ").items()]


def settings_table(configs: dict, defaults: dict, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Several experiments' settings side by side, one row per setting: nested
    settings as dotted rows (``optimizer.learning_rate``), lists written out
    in full, a setting a profile leaves out shown with its value in
    ``defaults`` (the runner's :data:`actbook.runner.profiles.DEFAULTS`), and
    one it does not have at all as "not used"."""
    flat = {}
    for name, config in configs.items():
        row = {k: _text(v) for k, v in _flat({k: v for k, v in config.items() if k != "description"}, ".").items()}
        for key, default in defaults.items():
            row.setdefault(key, f"{'none' if default is None else default} (default)")
        flat[name] = row
    order = list(dict.fromkeys(k for row in flat.values() for k in row))
    if keys is not None:
        order = [k for k in order if k.split(".")[0] in keys]
    table = pd.DataFrame({name: [row.get(k, "not used") for k in order] for name, row in flat.items()}, index=order)
    table.index.name = "setting"
    return table


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
