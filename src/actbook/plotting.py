"""Figures and display settings shared by the chapters.

Every chapter starts with one call, :func:`setup`, so every page has the same
look and the same table precision. Every plot returns its ``Figure`` so a
chapter can caption it with MyST-NB (``mystnb: figure: {caption, name}``)
and nothing is drawn twice. Curves of several activations get a colour, a
line style and a marker each (:func:`curve_style`), so curves that lie on top
of each other (ReLU and Leaky ReLU with a small slope, for instance) stay
distinguishable in print and for readers who do not tell colours apart.
"""

from __future__ import annotations

import textwrap
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator, PercentFormatter
from matplotlib.transforms import blended_transform_factory

from actbook.markdown_tables import register as register_markdown

__all__ = ["setup", "curve_style", "integer_ticks", "function_and_derivative", "shapes_figure", "forest_plot", "difference_by_size",
           "learning_rate_grid", "per_seed_scatter",
           "grid_figure", "learning_curves", "TABLE_PRECISION"]

#: Digits pandas shows after the decimal point in every table of the book.
TABLE_PRECISION = 4

_LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "d"]
#: Markers of the per-seed scatters: filled shapes that stay apart when points overlap.
_SCATTER_MARKERS = "osD^v"
#: Matplotlib's ten default colours and two more, so a figure of the study's 12 arms repeats none.
_COLORS = [f"C{i}" for i in range(10)] + ["black", "navy"]


def setup() -> None:
    """One look for every figure and table in the book: call once at the top of a chapter."""
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
        "font.size": 10,
    })
    pd.set_option("display.precision", TABLE_PRECISION)
    pd.set_option("display.max_colwidth", None)  # a table cell is shown whole, never cut to "..."
    register_markdown()  # real tables in the PDF too


def curve_style(k: int, markevery: int | None = None) -> dict:
    """Matplotlib keyword arguments for the ``k``-th curve of a figure: colour,
    line style and (when ``markevery`` is given, for dense curves) a marker.
    Colour, dash pattern and marker all change from one curve to the next."""
    kw = {"color": _COLORS[k % len(_COLORS)], "ls": _LINESTYLES[k % len(_LINESTYLES)]}
    if markevery is not None:
        kw.update(marker=_MARKERS[k % len(_MARKERS)], markevery=markevery, ms=4)
    return kw


def integer_ticks(*axes, axis: str = "x") -> None:
    """Whole-number ticks on axes that count layers or epochs."""
    for ax in axes:
        target = ax.xaxis if axis == "x" else ax.yaxis
        target.set_major_locator(MaxNLocator(integer=True))


def percent_error_axes(fig) -> None:
    """Every axis of ``fig`` whose label names an error shows it in %, as the book's
    text writes errors (the plotting routines take fractions)."""
    for ax in fig.axes:
        if "error" in ax.get_ylabel():
            ax.yaxis.set_major_formatter(PercentFormatter(1, decimals=0))


def function_and_derivative(curves: Sequence[tuple[str, Callable, Callable]],
                            x: np.ndarray | None = None, title: str | None = None,
                            mark_zero: bool = True):
    """Two panels, f on the left and f' on the right, one line per curve.

    ``curves`` holds ``(label, f, df)``. The derivative is drawn with the
    book's convention at a kink: the value at exactly 0 is the one the
    derivative function returns there, marked with a dot when ``mark_zero``.
    With several curves each gets its own colour, dash pattern and marker.
    """
    setup()
    x = np.linspace(-5, 5, 1001) if x is None else np.asarray(x)
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(9, 3.4))
    several = len(curves) > 1
    for k, (label, f, df) in enumerate(curves):
        kw = curve_style(k, markevery=(len(x) // 10 + 7 * k) if several else None)
        ax_f.plot(x, f(x), label=label, **kw)
        d = df(x)
        # Break the derivative line at jumps so a kink is not drawn as a slope.
        jumps = np.flatnonzero(np.abs(np.diff(d)) > 0.05)
        d_plot = d.astype(float).copy()
        d_plot[jumps] = np.nan
        ax_d.plot(x, d_plot, label=label, **kw)
        if mark_zero:
            ax_d.plot([0.0], df(np.array([0.0])), "o", color=kw["color"], ms=4)
    ax_f.set(xlabel="$x$", ylabel="$f(x)$", title="function")
    ax_d.set(xlabel="$x$", ylabel="$f'(x)$", title="derivative (dot: value at $x = 0$)" if mark_zero else "derivative")
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
    if several:
        ax_f.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def shapes_figure(curves):
    """:func:`function_and_derivative`, with the value of each
    derivative at exactly 0 marked by a black-edged star, a marker no curve uses."""
    fig = function_and_derivative(curves, mark_zero=False)
    ax_d = fig.axes[1]
    for k, (_, _, df) in enumerate(curves):
        colour = curve_style(k)["color"]
        ax_d.plot([0.0], np.asarray(df(np.array([0.0]))), marker="*", ms=11, color=colour, mec="k", mew=0.8,
                  ls="none", zorder=5)
    ax_d.set_title("derivative (star: value at $x = 0$)")
    return fig


def _point_handle(container, line: bool = True):
    """A legend entry for an ``errorbar`` point: its marker as drawn (shape, colour, size, face), on a line as
    thick as its interval when ``line``. Matplotlib's own errorbar entry crowds a bold point with its caps, which
    reads as another marker (a circle came out looking like a hexagon)."""
    from matplotlib.lines import Line2D
    point = container.lines[0]
    bars = container.lines[2]
    width = float(np.atleast_1d(bars[0].get_linewidth())[0]) if bars else point.get_linewidth()
    return Line2D([], [], marker=point.get_marker(), color=point.get_color(), ms=point.get_markersize(),
                  mew=point.get_markeredgewidth(), mfc=point.get_markerfacecolor(),
                  lw=width if line else 0, ls="-" if line else "none")


def _with_hollow_entry(handles: list, labels: list, hollow_drawn, hollow_label: str | None, line: bool = True):
    """The legend's entries with one more for a hollow point, copied from the first one drawn
    (none when nothing was drawn hollow or no label is given)."""
    if hollow_label and hollow_drawn is not None:
        return [*handles, _point_handle(hollow_drawn, line=line)], [*labels, hollow_label]
    return handles, labels


def forest_plot(settings: Sequence[tuple[pd.DataFrame, str]], rows: Sequence[str],
                display: Callable[[str], str] = str, marks: dict | None = None, marks_label: str | None = None,
                xlabel: str = "test error minus ReLU's (percentage points)", emphasis: str | None = None,
                hollow: dict | None = None, marks_offset: float = 0.0, hollow_label: str | None = None,
                verdicts: dict | None = None, verdicts_title: str | None = None, height: float = 6.2,
                highlight: Sequence[str] = (), spread: float = 0.17, apart: str | None = None,
                apart_title: str | None = None):
    """One row per arm of ``rows``: each setting's mean difference and 95 %
    interval, in percentage points, a vertical line at 0.

    ``settings`` holds ``(table, label)``, ``table`` indexed by arm with
    ``mean diff``, ``ci low`` and ``ci high`` (fractions, as
    :func:`actbook.analysis.claims.family_table` gives them); an arm a table
    lacks has no point there. ``marks`` (arm -> difference, a fraction) draws a
    cross on an arm's row, labelled ``marks_label``, e.g. a published value.
    ``emphasis`` (a setting's label) draws that setting bolder, the one to
    read first. ``hollow`` (a setting's label -> arms) draws those points
    hollow, to flag a point read apart from the rest, and ``hollow_label`` names
    that in the legend (an entry drawn only when some point is hollow).
    ``marks_offset`` moves the crosses that far down their row (in row heights),
    off the intervals. ``verdicts`` (arm -> a short text, e.g. "lower") is
    written in a column right of the plot, headed ``verdicts_title``: the
    intervals drawn are unadjusted, and a verdict under a correction for
    multiple comparisons cannot be read off them. ``height`` is the figure's
    height in inches. ``highlight`` (arms of ``rows``) labels those rows in
    bold, e.g. the ones a recommendation names. ``spread`` (in row heights)
    sets the settings' points apart on a row, from ``-spread`` to ``+spread``.
    ``apart`` (a setting's label) draws that setting in a panel of its own,
    right of the others, on its own horizontal scale, with ``apart_title`` as
    its axis label: a setting that answers another question (a short budget,
    say) then neither sets the others' scale nor sits among them; the
    verdicts column goes right of that panel. The legend sits above the plot,
    where a reader meets it first."""
    unknown = [a for a in highlight if a not in rows]
    if unknown:
        raise ValueError(f"highlight names arms that have no row: {unknown}")
    if apart is not None and apart not in [label for _, label in settings]:
        raise ValueError(f"apart names no setting: {apart!r}")
    if apart is None:
        fig, ax = plt.subplots(figsize=(9, height))
        side = None
    else:
        fig, (ax, side) = plt.subplots(1, 2, figsize=(11, height), sharey=True,
                                       gridspec_kw={"width_ratios": [3, 1]})
    hollow_drawn = None   # the first point drawn hollow: the legend's entry for "hollow" copies it
    # the settings sharing a panel are spread over the row; one drawn apart sits on the row's line
    shared = [label for _, label in settings if label != apart]
    offsets = dict(zip(shared, np.linspace(-spread, spread, len(shared)) if len(shared) > 1 else [0.0]))
    for k, (table, label) in enumerate(settings):
        offset = offsets.get(label, 0.0)
        colour, marker = curve_style(k)["color"], _MARKERS[k % len(_MARKERS)]
        bold = label == emphasis
        drawn = [(i, table.loc[arm]) for i, arm in enumerate(rows) if arm in table.index]
        flagged = set((hollow or {}).get(label, ()))
        # the legend names the setting once, at its first filled point (a hollow one would mislabel it)
        named = next((i for i, _ in drawn if rows[i] not in flagged), drawn[0][0] if drawn else None)
        for i, r in drawn:
            face = {"mfc": "white"} if rows[i] in flagged else {}
            xerr = [[100 * (r["mean diff"] - r["ci low"])], [100 * (r["ci high"] - r["mean diff"])]]
            drawn_point = (side if label == apart else ax).errorbar(
                                      100 * r["mean diff"], i + offset, xerr=xerr, fmt=marker, color=colour,
                                      ms=9 if bold else 6, capsize=4 if bold else 3, lw=3.2 if bold else 1.4,
                                      mew=2 if bold else 1, zorder=3 if bold else 2,
                                      label=label if i == named else None, **face)
            if face and hollow_drawn is None:
                hollow_drawn = drawn_point
    marked = [(i, arm) for i, arm in enumerate(rows) if marks and arm in marks]
    for n, (i, arm) in enumerate(marked):
        # under the setting markers (zorder 1), so a cross never hides a point of this book's
        ax.plot(100 * marks[arm], i + marks_offset, "x", color="black", ms=9, mew=1.5, zorder=1,
                label=marks_label if n == 0 else None)
    ax.axvline(0, color="grey", lw=1)
    if side is not None:
        side.axvline(0, color="grey", lw=1)
        side.tick_params(labelleft=False)
        # its heading under it, as the main panel's axis label is: above it is the legend's place
        side.set_xlabel(apart_title or "percentage points")
    ax.set_yticks(range(len(rows)), [display(a) for a in rows], fontsize=12)
    for tick, arm in zip(ax.get_yticklabels(), rows):
        if arm in highlight:
            tick.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    handles, labels = ax.get_legend_handles_labels()   # the settings in their order, the marks last
    if side is not None:
        more = side.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    place = {label: k for k, (_, label) in enumerate(settings)}
    order = sorted(range(len(labels)), key=lambda j: place.get(labels[j], len(settings)))
    shown = [_point_handle(handles[j]) if labels[j] != marks_label else handles[j] for j in order]
    shown, labels = _with_hollow_entry(shown, [labels[j] for j in order], hollow_drawn, hollow_label)
    # right-aligned above the plot, so a long legend extends over the row labels' margin, not off the figure
    ax.legend(shown, labels, loc="lower right", bbox_to_anchor=(1, 1.01),
              ncol=2 if max(map(len, labels)) <= 40 else 1, fontsize=10, frameon=False)   # long labels: one column
    if verdicts:
        # a column of text just right of the last panel, one entry on each row's line, its heading on top of it
        last = side if side is not None else ax
        at = blended_transform_factory(last.transAxes, last.transData)
        for i, arm in enumerate(rows):
            if arm in verdicts:
                last.text(1.04, i, verdicts[arm], transform=at, ha="left", va="center", fontsize=10, clip_on=False)
        if verdicts_title:
            last.text(1.04, 1.0, verdicts_title, transform=last.transAxes, ha="left", va="bottom", fontsize=10,
                      fontweight="bold", clip_on=False)
    fig.tight_layout()
    return fig


def difference_by_size(settings: Sequence[tuple[float, pd.DataFrame, str, dict]], rows: Sequence[str],
                       display: Callable[[str], str] = str, marks: dict | None = None, marks_at: float | None = None,
                       marks_label: str | None = None, ylabel: str = "test error minus ReLU's (pp)",
                       xlabel: str = "training images (log scale)", ncols: int = 5, marks_shift: float = 1.0,
                       hollow_label: str | None = None):
    """Small multiples, one panel per arm of ``rows`` on a shared y axis: each
    setting's mean difference and 95 % interval (in percentage points) at its
    number of training images, on a log x axis, with a dashed line at 0.

    ``settings`` holds ``(images, table, label, style)``: ``table`` indexed by
    arm with ``mean diff``, ``ci low`` and ``ci high`` (fractions, as
    :func:`actbook.analysis.claims.family_table` gives them; an arm a table
    lacks has no point there), ``style`` keyword arguments for
    ``Axes.errorbar`` (``fmt``, ``color``, ``ms``, ``lw``...) and two of its
    own: ``shift``, a factor on ``images`` that sets two settings of one size
    side by side, and ``hollow``, arms whose point is drawn hollow (read apart
    from the rest). A further setting is one more entry. ``marks`` (arm ->
    difference, a fraction) draws a black cross at ``marks_at`` images on that
    arm's panel, labelled ``marks_label``, e.g. a published value; ``marks_shift``
    (a factor on ``marks_at``, like a setting's ``shift``) sets the crosses apart
    from a setting at a nearby size. ``hollow_label`` names a hollow point in
    the legend, as :func:`forest_plot`'s does (an entry drawn only when some
    point is hollow). The figure
    shows where each difference was measured; the settings may differ in more
    than their size, which is for the caption to say."""
    setup()
    nrows = -(-len(rows) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.1 * ncols, 2.4 * nrows + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    flat = axes.ravel()
    sizes = sorted({float(n) for n, *_ in settings} | ({float(marks_at)} if marks and marks_at else set()))
    legend = {}
    hollow_drawn = None   # the first point drawn hollow: the legend's entry for "hollow" copies it
    for ax, arm in zip(flat, rows):
        for images, table, label, style in settings:
            if arm not in table.index:
                continue
            r = table.loc[arm]
            kw = {k: v for k, v in style.items() if k not in ("shift", "hollow")}
            kw.setdefault("fmt", "o")
            kw.setdefault("capsize", 3)
            if arm in set(style.get("hollow", ())):
                kw["mfc"] = "white"
            elif label not in legend:
                kw["label"] = label   # named once, by a filled point
            c = ax.errorbar(images * style.get("shift", 1.0), 100 * r["mean diff"],
                            yerr=[[100 * (r["mean diff"] - r["ci low"])], [100 * (r["ci high"] - r["mean diff"])]],
                            **kw)
            if "label" in kw:
                legend[label] = c
            elif kw.get("mfc") == "white" and hollow_drawn is None:
                hollow_drawn = c
        if marks and arm in marks:
            line, = ax.plot([marks_at * marks_shift], [100 * marks[arm]], "x", color="black", ms=9, mew=1.8, ls="none", zorder=4,
                            label=marks_label)
            legend.setdefault(marks_label, line)
        ax.axhline(0, color="grey", lw=1, ls="--", zorder=0)
        ax.set_title(textwrap.fill(display(arm), 22), fontsize=10)
    for ax in flat[len(rows):]:
        ax.set_visible(False)
    ax0 = flat[0]
    ax0.set_xscale("log")
    ax0.set_xlim(sizes[0] / 1.8, sizes[-1] * 1.8)
    # a tick at each size; a size too near the one before it (45,000 and 50,000) is labelled on a second line
    shown, last = [], None
    for n in sizes:
        shown.append(f"{n:,.0f}" if last is None or n / last >= 1.5 else f"\n{n:,.0f}")
        last = n
    ax0.set_xticks(sizes, shown)
    ax0.xaxis.set_minor_locator(plt.NullLocator())
    for ax in axes[-1]:
        ax.set_xlabel(xlabel, fontsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=9)
    order = [label for _, _, label, _ in settings if label in legend] + ([marks_label] if marks_label in legend else [])
    shown = [legend[k] if k == marks_label else _point_handle(legend[k], line=False) for k in order]
    shown, order = _with_hollow_entry(shown, order, hollow_drawn, hollow_label, line=False)
    fig.legend(shown, order, loc="upper center", ncol=2, fontsize=9, frameon=False)
    # room above the panels for the legend's rows (two entries a row)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.225 * -(-len(order) // 2) / fig.get_figheight()))
    return fig


def learning_rate_grid(scores: pd.DataFrame, display: Callable[[str], str] = str, chosen: dict | None = None,
                       chance: float | None = None, panels: int = 2, order: Sequence[str] | None = None,
                       palette: Sequence[str] | None = None, added_rates: Sequence[float] = (),
                       edge_line: bool = False):
    """Validation error against peak learning rate, one curve per activation.

    ``scores`` holds ``activation``, ``learning_rate``, ``score`` (the mean
    validation error over the grid's seeds, a diverged cell at chance) and
    ``diverged`` (how many of those seeds diverged), as
    :func:`actbook.analysis.selection.grid_scores` gives it. A rate where a
    seed diverged is drawn hollow; ``chosen`` (arm -> rate) rings each arm's
    chosen rate. The activations are split over ``panels`` side by side so
    the curves stay apart, in ``order`` (default: as they come). ``palette``
    (all the arms of the study) fixes each arm's colour, dash and marker by
    its place there, as :func:`learning_curves`' ``order`` does.
    ``added_rates`` (rates of ``scores`` that the edge rule added beyond the
    grid) puts a black cross on every point at one of them, labelled once per
    panel; ``edge_line`` also draws a dashed grey line between each added rate
    and the grid's nearest rate, where the grid ended.
    """
    added = sorted({float(r) for r in added_rates})
    rates = {float(r) for r in scores.learning_rate}
    if not set(added) <= rates or (added and not rates - set(added)):
        raise ValueError(f"added_rates {added} must be rates of the scores, beside at least one rate of the grid")
    setup()
    arms_ = [a for a in (order or dict.fromkeys(scores.activation)) if a in set(scores.activation)]
    per = -(-len(arms_) // panels)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.6), sharey=True, squeeze=False)
    for p, ax in enumerate(axes[0]):
        for k, arm in enumerate(arms_[p * per:(p + 1) * per]):
            part = scores[scores.activation == arm].sort_values("learning_rate")
            style = list(palette).index(arm) if palette is not None and arm in palette else k + p * per
            kw = curve_style(style)
            marker = _MARKERS[style % len(_MARKERS)]
            # Line and marker in one artist, so the legend shows both (a grid begun has single points).
            ax.plot(part.learning_rate, part.score, color=kw["color"], ls=kw["ls"], marker=marker, ms=5,
                    label=display(arm))
            bad = part[part.diverged > 0]
            ax.plot(bad.learning_rate, bad.score, marker, color=kw["color"], ms=7, ls="none", mfc="white")
            if chosen and arm in chosen:
                at = part[part.learning_rate == chosen[arm]]
                ax.plot(at.learning_rate, at.score, "o", ms=11, mfc="none", color=kw["color"])
        if chance is not None:
            ax.axhline(chance, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(scores.learning_rate.unique()))
        ax.get_xaxis().set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("peak learning rate")
        # after the ticks: plotting rescales the view to the panel's own rates (set_xticks had widened it to all)
        if added:
            mine = scores[scores.activation.isin(arms_[p * per:(p + 1) * per])
                          & scores.learning_rate.astype(float).isin(added)]
            ax.plot(mine.learning_rate, mine.score, "x", color="black", ms=9, mew=2, ls="none", zorder=5,
                    label="added rate (one step past the edge)")
        for r in added if edge_line else ():
            nearest = min(rates - set(added), key=lambda g: abs(np.log(g / r)))
            ax.axvline(np.sqrt(r * nearest), color="grey", lw=1, ls="--")
        ax.legend(fontsize=8)
    one_seed = "seeds" in scores and int(scores["seeds"].max()) == 1
    axes[0][0].set_ylabel("validation error (one seed)" if one_seed else "validation error (mean over seeds)")
    fig.tight_layout()
    return fig


def per_seed_scatter(frame: pd.DataFrame, arms: Sequence[str], panels: Sequence[tuple[str, str]],
                     y: str = "test error", ylabel: str = "test error (%)", display: Callable[[str], str] = str,
                     size: tuple[float, float] = (10, 5.4)):
    """One point per seed: ``y`` (a fraction, drawn in %) against a column of
    ``frame`` per panel, side by side on a shared y axis.

    ``frame`` holds one row per cell with ``activation``, ``y`` and each
    panel's column; ``panels`` holds ``(column, x label)``; ``arms`` sets
    which activations are drawn, each in its own colour and marker, and their
    order in the legend, which sits below the panels."""
    missing = [c for c in ["activation", y, *(c for c, _ in panels)] if c not in frame]
    if missing:
        raise ValueError(f"per_seed_scatter: the frame has no column {missing}")
    setup()
    fig, axes = plt.subplots(1, len(panels), figsize=size, sharey=True, squeeze=False)
    for ax, (column, label) in zip(axes[0], panels):
        for k, arm in enumerate(arms):
            pts = frame[frame.activation == arm]
            ax.scatter(pts[column], 100 * pts[y], s=45, label=display(arm), color=curve_style(k)["color"],
                       marker=_SCATTER_MARKERS[k % len(_SCATTER_MARKERS)])
        ax.set_xlabel(label)
    axes[0][0].set_ylabel(ylabel)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0.11, 1, 1))
    return fig


def grid_figure(grid, display: Callable[[str], str] = str, chance: float = 0.9, palette: Sequence[str] | None = None):
    """:func:`learning_rate_grid` of one regime's committed grid (an
    :class:`actbook.analysis.selection.Grid`), in its profile's arm order,
    the chosen rates ringed once the grid is complete; ``palette`` as there
    (default: the profile's arms)."""
    chosen = None if grid.chosen is None else grid.chosen["rate"].to_dict()
    return learning_rate_grid(grid.scores, display=display, chance=chance, order=grid.config["arms"], chosen=chosen,
                              palette=palette or grid.config["arms"])


def learning_curves(history: pd.DataFrame, metrics: Sequence[str], arms: Sequence[str],
                    display: Callable[[str], str] = str, labels: dict | None = None, chance: float | None = None,
                    axes=None, order: Sequence[str] | None = None):
    """One panel per metric of ``metrics`` (columns of ``history``, one row per
    cell and epoch): each arm's mean over seeds at every epoch where the metric
    was measured, with the range of the seeds as a band.

    Epochs where a metric was not measured (``NaN``, an ``eval_every`` of more
    than 1) are skipped, not drawn as gaps. A diverged cell's rows stop at the
    epoch it diverged, so the band after it is over the seeds that trained:
    the caption has to say how many diverged. ``labels`` renames the y axes;
    ``chance`` draws the chance level on the error panels. ``axes`` (one per
    metric) draws into a row of an existing figure, e.g. one row per group of arms.
    ``order`` (all the arms of the study) fixes each arm's colour, dash and
    marker by its place there, so an arm looks the same in every figure
    drawn with the same order.
    """
    setup()
    if axes is None:
        fig, grid = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.6), squeeze=False)
        axes = grid[0]
    fig = axes[0].figure
    for ax, metric in zip(axes, metrics):
        for k, arm in enumerate(arms):
            k = list(order).index(arm) if order is not None and arm in order else k
            g = history[history.activation == arm].dropna(subset=[metric]).groupby("epoch")[metric]
            if not len(g):
                continue
            mean = g.mean()
            kw = curve_style(k, markevery=max(1, len(mean) // 6))
            ax.plot(mean.index, mean, label=display(arm), **kw)
            ax.fill_between(mean.index, g.min(), g.max(), color=kw["color"], alpha=0.12, lw=0)
        if chance is not None and "error" in metric:
            ax.axhline(chance, color="0.5", lw=0.8, ls=":")
        integer_ticks(ax)
        ax.set(xlabel="epoch", ylabel=(labels or {}).get(metric, metric.replace("_", " ")))
    if axes[-1].get_legend_handles_labels()[0]:  # nothing to label while no cell is in
        axes[-1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
