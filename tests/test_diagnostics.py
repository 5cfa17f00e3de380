"""actbook.analysis.diagnostics: what result cells recorded about their networks, as frames."""

import pytest

from actbook.analysis.diagnostics import learned_slopes, never_active_frame


def test_learned_slopes_one_row_per_layer_of_each_prelu_cell():
    cells = [{"activation": "prelu", "seed": 0,
              "diagnostics": {"prelu_alpha": {"act_1": [0.5, 0.3], "act_2": [0.1]},
                              "never_active_fraction": {"act_1": 0.0, "act_2": 0.25}}},
             {"activation": "relu", "seed": 1, "diagnostics": {"never_active_fraction": {"act_1": 0.5}}}]
    slopes = learned_slopes(cells)
    assert list(slopes.layer) == [1, 2] and list(slopes.channels) == [2, 1]
    assert slopes["mean alpha"].iloc[0] == pytest.approx(0.4) and slopes["max"].iloc[0] == 0.5
    assert learned_slopes([]).empty and "mean alpha" in learned_slopes([]).columns


def test_never_active_frame_one_row_per_layer_of_each_cell():
    cells = [{"activation": "prelu", "seed": 0,
              "diagnostics": {"prelu_alpha": {"act_1": [0.5, 0.3], "act_2": [0.1]},
                              "never_active_fraction": {"act_1": 0.0, "act_2": 0.25}}},
             {"activation": "relu", "seed": 1, "diagnostics": {"never_active_fraction": {"act_1": 0.5}}}]
    dead = never_active_frame(cells)
    assert len(dead) == 3 and dead["never active"].max() == 0.5
