"""actbook.plotting: the book's look, and its figures of activations."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

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
