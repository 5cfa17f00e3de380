"""Figures shared by the chapters.

Every plot returns its ``Figure`` so a chapter can caption it with MyST-NB
(``mystnb: figure: {caption, name}``) and nothing is drawn twice.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["function_and_derivative", "style"]


def style():
    """One look for every figure in the book."""
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
        "font.size": 10,
    })


def function_and_derivative(curves: Sequence[tuple[str, Callable, Callable]],
                            x: np.ndarray | None = None, title: str | None = None,
                            mark_zero: bool = True):
    """Two panels, f on the left and f' on the right, one line per curve.

    ``curves`` holds ``(label, f, df)``. The derivative is drawn with the
    book's convention at a kink: the value at exactly 0 is the one the
    derivative function returns there, marked with a dot when ``mark_zero``.
    """
    style()
    x = np.linspace(-5, 5, 1001) if x is None else np.asarray(x)
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(9, 3.4))
    for label, f, df in curves:
        line, = ax_f.plot(x, f(x), label=label)
        d = df(x)
        # Break the derivative line at jumps so a kink is not drawn as a slope.
        jumps = np.flatnonzero(np.abs(np.diff(d)) > 0.05)
        d_plot = d.astype(float).copy()
        d_plot[jumps] = np.nan
        ax_d.plot(x, d_plot, color=line.get_color(), label=label)
        if mark_zero:
            ax_d.plot([0.0], df(np.array([0.0])), "o", color=line.get_color(), ms=4)
    ax_f.set(xlabel="$x$", ylabel="$f(x)$", title="function")
    ax_d.set(xlabel="$x$", ylabel="$f'(x)$", title="derivative (dot: value at $x = 0$)" if mark_zero else "derivative")
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
    if len(curves) > 1:
        ax_f.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
