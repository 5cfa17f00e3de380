"""What a result cell recorded about its network: the learned PReLU slopes
and the units that were never active, one row per layer, read from each
cell's ``diagnostics``."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["learned_slopes", "never_active_frame"]


def learned_slopes(cells) -> pd.DataFrame:
    """PReLU's learned slopes from experiment result cells (the runner's):
    one row per (arm, seed, layer) with the layer's number (1 = input side),
    the mean, smallest and largest slope and the number of slopes (channels)."""
    rows = []
    for cell in cells:
        for k, (layer, alphas) in enumerate(cell.get("diagnostics", {}).get("prelu_alpha", {}).items()):
            alphas = np.asarray(alphas, dtype=float)
            number = int(layer.rsplit("_", 1)[1]) if layer.rsplit("_", 1)[-1].isdigit() else k + 1
            rows.append({"activation": cell["activation"], "seed": cell["seed"], "layer": number,
                         "layer name": layer, "mean alpha": float(alphas.mean()),
                         "min": float(alphas.min()), "max": float(alphas.max()), "channels": int(alphas.size)})
    columns = ["activation", "seed", "layer", "layer name", "mean alpha", "min", "max", "channels"]
    return pd.DataFrame(rows, columns=columns)


def never_active_frame(cells) -> pd.DataFrame:
    """Per (activation, seed, layer) of experiment result cells: the fraction of
    units never positive on the test images (``diagnostics.never_active_fraction``)."""
    rows = [{"activation": c["activation"], "seed": c["seed"], "layer": layer, "never active": frac}
            for c in cells for layer, frac in c.get("diagnostics", {}).get("never_active_fraction", {}).items()]
    return pd.DataFrame(rows, columns=["activation", "seed", "layer", "never active"])
