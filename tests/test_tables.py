"""Frames as pipe tables for the PDF (actbook.tables)."""

import pandas as pd

from actbook.tables import markdown_table


def test_a_frame_becomes_a_pipe_table_with_its_index_and_escaped_cells():
    df = pd.DataFrame({"test error": [0.5, 0.25], "note": ["a|b", "costs $5 *now*"]},
                      index=pd.Index(["relu", "lrelu_1/5.5"], name="activation"))
    lines = markdown_table(df).splitlines()
    assert lines[0] == "| activation | test error | note |" and lines[1] == "|---|---|---|"
    assert lines[2].startswith("| relu | 0.5") and r"a\|b" in lines[2]
    assert r"costs \$5 \*now\*" in lines[3] and "lrelu_1/5.5" in lines[3]


def test_a_styler_keeps_its_formatting_and_a_multiindex_becomes_columns():
    df = pd.DataFrame({"error": [0.1234]}, index=pd.MultiIndex.from_tuples([("cpu", "relu")], names=["regime", None]))
    lines = markdown_table(df.style.format("{:.1%}")).splitlines()
    assert lines[0] == "| regime |  | error |" and lines[2] == "| cpu | relu | 12.3% |"


def test_settings_side_by_side_are_flat_complete_and_never_nan():
    from actbook import plotting
    a = {"description": "x", "epochs": 3, "optimizer": {"learning_rate": 0.05}, "arms": ["relu", "elu"]}
    b = {"epochs": 50, "optimizer": {"learning_rate": 0.1}, "extra_seeds": {"relu": [3, 4]}, "init": "he"}
    table = plotting.settings_table({"a": a, "b": b})
    assert table.loc["optimizer.learning_rate"].tolist() == ["0.05", "0.1"]
    assert table.loc["arms", "a"] == "relu, elu" and table.loc["arms", "b"] == "not used"
    assert table.loc["extra_seeds.relu", "b"] == "3, 4" and table.loc["init", "a"] == "he (default)"
    assert "description" not in table.index and not table.isna().any().any()
