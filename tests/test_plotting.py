"""actbook.plotting: the book's look, and its figures of activations."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from actbook import plotting  # noqa: E402
from actbook.properties import curve  # noqa: E402


def test_setup_gives_every_page_one_look_and_curves_differ_in_colour_dash_and_marker():
    plotting.setup()
    assert plt.rcParams["axes.grid"] and pd.get_option("display.precision") == plotting.TABLE_PRECISION
    a, b = plotting.curve_style(0, markevery=10), plotting.curve_style(1, markevery=10)
    assert a["color"] != b["color"] and a["ls"] != b["ls"] and a["marker"] != b["marker"]


def test_shapes_figure_marks_zero_with_stars():
    fig = plotting.shapes_figure([curve("relu"), curve("elu")])
    stars = [l for l in fig.axes[1].lines if l.get_marker() == "*"]
    assert len(stars) == 2 and [float(l.get_ydata()[0]) for l in stars] == [0.0, 1.0]


def test_forest_plot_draws_each_setting_where_it_has_the_arm_and_marks_once_labelled():
    a = pd.DataFrame({"mean diff": [-0.01, -0.02], "ci low": [-0.02, -0.03], "ci high": [0.0, -0.01]},
                     index=["x", "y"])
    b = a.loc[["y"]] * 2
    fig = plotting.forest_plot([(a, "full data"), (b, "1,000 images")], ["x", "y", "z"], display=str.upper,
                               marks={"y": -0.015}, marks_label="paper")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["X", "Y", "Z"]
    assert len(ax.containers) == 3                                     # two points for a, one for b
    points = sorted((round(float(c.lines[0].get_xdata()[0]), 6), round(float(c.lines[0].get_ydata()[0]), 2))
                    for c in ax.containers)
    assert points == [(-4.0, 1.17), (-2.0, 0.83), (-1.0, -0.17)]       # in pp; a's row offset up, b's down
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["1,000 images", "full data", "paper"]
    plt.close(fig)
    wider = plotting.forest_plot([(a, "full data"), (b, "1,000 images")], ["x", "y", "z"], spread=0.25)
    assert sorted(round(float(c.lines[0].get_ydata()[0]), 2) for c in wider.axes[0].containers) == [-0.25, 0.75, 1.25]
    plt.close(wider)


def test_forest_plot_draws_the_emphasised_setting_bolder():
    a = pd.DataFrame({"mean diff": [-0.01], "ci low": [-0.02], "ci high": [0.0]}, index=["x"])
    fig = plotting.forest_plot([(a, "rerun"), (a, "first")], ["x"], emphasis="rerun")
    widths = [c.lines[2][0].get_linewidth() for c in fig.axes[0].containers]
    assert widths[0] > widths[1]
    plt.close(fig)


def test_forest_plot_draws_a_flagged_point_hollow_and_moves_the_marks_off_the_intervals():
    a = pd.DataFrame({"mean diff": [-0.01, 0.01], "ci low": [-0.02, 0.0], "ci high": [0.0, 0.02]}, index=["x", "y"])
    fig = plotting.forest_plot([(a, "rerun"), (a, "first")], ["x", "y"], emphasis="rerun",
                               hollow={"rerun": ["y"]}, marks={"x": -0.01}, marks_label="paper", marks_offset=0.35)
    ax = fig.axes[0]
    faces = [c.lines[0].get_markerfacecolor() for c in ax.containers]
    assert faces[1] == "white" and faces[0] != "white" and "white" not in faces[2:]   # only the rerun's y
    cross = next(l for l in ax.lines if l.get_marker() == "x")
    assert float(cross.get_ydata()[0]) == 0.35
    plt.close(fig)


def test_forest_plot_names_a_setting_in_the_legend_by_a_filled_point():
    """A setting whose first row is drawn hollow is named by its first filled point, not the hollow one."""
    a = pd.DataFrame({"mean diff": [-0.01, 0.01], "ci low": [-0.02, 0.0], "ci high": [0.0, 0.02]}, index=["x", "y"])
    fig = plotting.forest_plot([(a, "rerun"), (a, "first")], ["x", "y"], hollow={"rerun": ["x"]})
    handles, labels = fig.axes[0].get_legend_handles_labels()
    assert labels == ["rerun", "first"]
    assert handles[0].lines[0].get_markerfacecolor() != "white"
    plt.close(fig)


def test_forest_plot_explains_a_hollow_point_in_the_legend_only_when_one_is_drawn():
    a = pd.DataFrame({"mean diff": [-0.01, 0.01], "ci low": [-0.02, 0.0], "ci high": [0.0, 0.02]}, index=["x", "y"])
    fig = plotting.forest_plot([(a, "rerun"), (a, "first")], ["x", "y"], hollow={"rerun": ["y"]},
                               hollow_label="hollow: another rate", marks={"x": -0.01}, marks_label="paper")
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["rerun", "first", "paper", "hollow: another rate"]
    entry = legend.legend_handles[-1]
    assert entry.get_markerfacecolor() == "white" and entry.get_marker() == "o"      # the hollow point as drawn
    plt.close(fig)
    fig = plotting.forest_plot([(a, "rerun"), (a, "first")], ["x", "y"], hollow={"rerun": ["z"]},
                               hollow_label="hollow: another rate")                  # no point is hollow
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["rerun", "first"]
    plt.close(fig)


def test_forest_plot_writes_each_rows_verdict_right_of_the_plot_under_a_heading():
    a = pd.DataFrame({"mean diff": [-0.01, 0.01], "ci low": [-0.02, 0.0], "ci high": [0.0, 0.02]}, index=["x", "y"])
    fig = plotting.forest_plot([(a, "rerun")], ["x", "y"], verdicts={"x": "lower", "y": "not resolved"},
                               verdicts_title="verdict", height=4.0)
    ax = fig.axes[0]
    texts = {t.get_text(): t for t in ax.texts}
    assert set(texts) == {"lower", "not resolved", "verdict"}
    assert [texts["lower"].get_position()[1], texts["not resolved"].get_position()[1]] == [0, 1]   # on their rows
    assert all(t.get_position()[0] > 1 for t in ax.texts)                            # right of the axes
    assert fig.get_size_inches()[1] == 4.0
    plt.close(fig)


def test_forest_plot_labels_the_highlighted_rows_in_bold_and_refuses_an_arm_without_a_row():
    a = pd.DataFrame({"mean diff": [-0.01, 0.01], "ci low": [-0.02, 0.0], "ci high": [0.0, 0.02]}, index=["x", "y"])
    fig = plotting.forest_plot([(a, "rerun")], ["x", "y"], display=str.upper, highlight=["y"])
    weights = {t.get_text(): t.get_fontweight() for t in fig.axes[0].get_yticklabels()}
    assert weights["Y"] == "bold" and weights["X"] != "bold"
    plt.close(fig)
    try:
        plotting.forest_plot([(a, "rerun")], ["x", "y"], highlight=["z"])
    except ValueError as e:
        assert "'z'" in str(e)
    else:
        raise AssertionError("an arm without a row was accepted")
    finally:
        plt.close("all")


def _scores():
    rows = [(a, r, e) for a, errs in {"relu": (0.60, 0.55, 0.50, 0.52), "elu": (0.58, 0.50, 0.49, 0.47)}.items()
            for r, e in zip((0.1, 0.05, 0.025, 0.0125), errs)]
    return pd.DataFrame([{"activation": a, "learning_rate": r, "score": e, "diverged": 0, "seeds": 2}
                         for a, r, e in rows])


def test_learning_rate_grid_crosses_each_point_at_an_added_rate_in_its_own_panel():
    fig = plotting.learning_rate_grid(_scores(), added_rates=[0.0125], edge_line=True)
    for ax, arm_error in zip(fig.axes, (0.52, 0.47)):
        crosses = [l for l in ax.lines if l.get_marker() == "x"]
        assert len(crosses) == 1 and list(crosses[0].get_ydata()) == [arm_error]
        assert "added rate (one step past the edge)" in [t.get_text() for t in ax.get_legend().get_texts()]
        edges = [l for l in ax.lines if l.get_linestyle() == "--" and l.get_color() == "grey"]
        assert len(edges) == 1 and abs(edges[0].get_xdata()[0] - (0.0125 * 0.025) ** 0.5) < 1e-12
    plt.close(fig)
    plain = plotting.learning_rate_grid(_scores())
    assert not [l for ax in plain.axes for l in ax.lines if l.get_marker() == "x"]
    plt.close(plain)


def test_learning_rate_grid_refuses_an_added_rate_it_does_not_hold():
    for bad in ([0.2], [0.1, 0.05, 0.025, 0.0125]):
        try:
            plotting.learning_rate_grid(_scores(), added_rates=bad)
        except ValueError as e:
            assert "added_rates" in str(e)
        else:
            raise AssertionError(f"added_rates={bad} was accepted")
    plt.close("all")


def test_per_seed_scatter_draws_one_point_per_seed_per_panel_and_one_legend():
    frame = pd.DataFrame({"activation": ["relu", "relu", "elu", "elu", "tanh"], "test error": [0.5, 0.52, 0.48, 0.47, 0.6],
                          "xent": [2.0, 2.1, 2.5, 2.6, 1.0], "cal": [1.4, 1.5, 1.3, 1.35, 1.1]})
    fig = plotting.per_seed_scatter(frame, ["relu", "elu"], [("xent", "x (nats)"), ("cal", "cal (nats)")],
                                    display=str.upper)
    assert len(fig.axes) == 2 and [ax.get_xlabel() for ax in fig.axes] == ["x (nats)", "cal (nats)"]
    for ax, col in zip(fig.axes, ("xent", "cal")):
        offsets = [c.get_offsets() for c in ax.collections]
        assert [len(o) for o in offsets] == [2, 2]                       # tanh is not drawn
        assert sorted(float(v) for o in offsets for v in o[:, 1]) == [47.0, 48.0, 50.0, 52.0]   # in %
        assert sorted(float(v) for o in offsets for v in o[:, 0]) == sorted(frame[col][:4])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["RELU", "ELU"]
    plt.close(fig)
    try:
        plotting.per_seed_scatter(frame, ["relu"], [("nope", "x")])
    except ValueError as e:
        assert "nope" in str(e)
    else:
        raise AssertionError("a missing column was accepted")


def test_percent_error_axes_formats_only_the_error_axes():
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([0, 1], [0.25, 0.5]); a.set_ylabel("validation error")
    b.plot([0, 1], [1.0, 2.0]); b.set_ylabel("loss")
    plotting.percent_error_axes(fig)
    assert a.yaxis.get_major_formatter()(0.25, 0) == "25%"
    assert b.yaxis.get_major_formatter()(0.25, 0) != "25%"
    plt.close(fig)


def test_difference_by_size_draws_a_panel_per_arm_each_setting_where_it_has_the_arm_and_the_marks():
    a = pd.DataFrame({"mean diff": [-0.01, 0.01], "ci low": [-0.02, 0.0], "ci high": [0.0, 0.02]}, index=["x", "y"])
    b = a.loc[["x"]] * 2                                               # a table without y: no point there
    settings = [(1000, a, "rerun", {"fmt": "o", "lw": 3, "shift": 1 / 1.2, "hollow": ["y"]}),
                (1000, a, "first", {"fmt": "^", "shift": 1.2}),
                (45000, b, "3 epochs", {"fmt": "s"})]
    fig = plotting.difference_by_size(settings, ["x", "y", "z"], display=str.upper, marks={"x": -0.005},
                                      marks_at=50_000, marks_label="paper", ncols=2)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["X", "Y", "Z"]
    assert [len(ax.containers) for ax in panels] == [3, 2, 0]          # points per panel
    x_of = lambda ax: sorted(round(float(c.lines[0].get_xdata()[0])) for c in ax.containers)
    assert x_of(panels[0]) == [833, 1200, 45000] and x_of(panels[1]) == [833, 1200]   # side by side at 1,000
    assert float(panels[0].containers[2].lines[0].get_ydata()[0]) == -2.0            # in pp
    crosses = [(float(l.get_xdata()[0]), float(l.get_ydata()[0])) for ax in panels for l in ax.lines
               if l.get_marker() == "x"]
    assert crosses == [(50_000, -0.5)]                                 # the mark, on x's panel only
    assert panels[1].containers[0].lines[0].get_markerfacecolor() == "white"          # the flagged point
    assert panels[0].get_xscale() == "log" and panels[0].get_shared_y_axes().joined(panels[0], panels[2])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["rerun", "first", "3 epochs", "paper"]
    plt.close(fig)


def test_difference_by_size_explains_a_hollow_point_in_the_legend_only_when_one_is_drawn():
    a = pd.DataFrame({"mean diff": [-0.01, 0.01], "ci low": [-0.02, 0.0], "ci high": [0.0, 0.02]}, index=["x", "y"])
    settings = [(1000, a, "rerun", {"fmt": "o", "hollow": ["y"]}), (45000, a, "3 epochs", {"fmt": "s"})]
    fig = plotting.difference_by_size(settings, ["x", "y"], marks={"x": -0.005}, marks_at=50_000,
                                      marks_label="paper", hollow_label="hollow: another rate")
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["rerun", "3 epochs", "paper", "hollow: another rate"]
    entry = legend.legend_handles[-1]
    assert entry.get_markerfacecolor() == "white" and entry.get_marker() == "o"      # the hollow point as drawn
    plt.close(fig)
    settings[0][3]["hollow"] = ["z"]                                                   # no point is hollow
    fig = plotting.difference_by_size(settings, ["x", "y"], hollow_label="hollow: another rate")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["rerun", "3 epochs"]
    plt.close(fig)


def test_the_legends_draw_each_setting_with_its_own_marker():
    """An errorbar's own legend entry crowds a bold point with its caps (a circle read as a
    hexagon): the entry is the point as drawn, marker, size and face."""
    a = pd.DataFrame({"mean diff": [-0.01], "ci low": [-0.02], "ci high": [0.0]}, index=["x"])
    fig = plotting.forest_plot([(a, "rerun"), (a, "first")], ["x"], emphasis="rerun")
    drawn = [c.lines[0] for c in fig.axes[0].containers]
    entries = fig.axes[0].get_legend().legend_handles
    assert [e.get_marker() for e in entries] == [d.get_marker() for d in drawn]
    assert [e.get_markersize() for e in entries] == [d.get_markersize() for d in drawn]
    plt.close(fig)
    settings = [(1000, a, "rerun", {"fmt": "o"}), (45000, a, "3 epochs", {"fmt": "s"})]
    fig = plotting.difference_by_size(settings, ["x"], marks={"x": -0.005}, marks_at=50_000, marks_label="paper",
                                      marks_shift=1.1, ncols=1)
    assert [h.get_marker() for h in fig.legends[0].legend_handles] == ["o", "s", "x"]
    cross = next(l for l in fig.axes[0].lines if l.get_marker() == "x")
    assert round(float(cross.get_xdata()[0])) == 55_000                      # set apart from 45,000
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1,000", "45,000", "\n50,000"]
    plt.close(fig)


def test_forest_plot_draws_a_setting_apart_in_its_own_panel_on_its_own_scale():
    near = pd.DataFrame({"mean diff": [-0.01, 0.005], "ci low": [-0.02, 0.0], "ci high": [0.0, 0.01]}, index=["x", "y"])
    far = near * 10                                                    # an effect ten times larger
    fig = plotting.forest_plot([(near, "fit"), (far, "3 epochs")], ["x", "y"], apart="3 epochs",
                               apart_title="3 epochs (pp)", verdicts={"x": "lower"}, marks={"x": -0.01},
                               marks_label="paper")
    main, side = fig.axes
    assert len(main.containers) == 2 and len(side.containers) == 2     # each setting in its own panel
    assert main.get_xlim()[0] > -5 and side.get_xlim()[0] < -15         # the far points set only their own scale
    assert side.get_xlabel() == "3 epochs (pp)"
    assert [t.get_text() for t in side.texts] == ["lower"] and not main.texts   # the verdicts right of the last panel
    assert [t.get_text() for t in main.get_legend().get_texts()] == ["fit", "3 epochs", "paper"]
    plt.close(fig)
    with pytest.raises(ValueError, match="apart names no setting"):
        plotting.forest_plot([(near, "fit")], ["x"], apart="3 epochs")


def test_forest_plot_spreads_only_the_settings_that_share_a_panel():
    a = pd.DataFrame({"mean diff": [-0.01], "ci low": [-0.02], "ci high": [0.0]}, index=["x"])
    fig = plotting.forest_plot([(a, "one"), (a, "apart"), (a, "two")], ["x"], apart="apart", spread=0.2)
    main, side = fig.axes
    assert sorted(round(float(c.lines[0].get_ydata()[0]), 2) for c in main.containers) == [-0.2, 0.2]
    assert [round(float(c.lines[0].get_ydata()[0]), 2) for c in side.containers] == [0.0]
    plt.close(fig)
