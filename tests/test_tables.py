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
