"""Frames as pipe tables for the PDF (actbook.tables)."""

import pandas as pd

import numpy as np

from actbook import activations as A
from actbook.tables import config_table, markdown_table, run_length, setting_rows, settings_table


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
    a = {"description": "x", "epochs": 3, "optimizer": {"learning_rate": 0.05}, "arms": ["relu", "elu"]}
    b = {"epochs": 50, "optimizer": {"learning_rate": 0.1}, "extra_seeds": {"relu": [3, 4]}, "init": "he"}
    table = settings_table({"a": a, "b": b}, {"init": "he", "seeding": None})
    assert table.loc["optimizer.learning_rate"].tolist() == ["0.05", "0.1"]
    assert table.loc["arms", "a"] == "relu, elu" and table.loc["arms", "b"] == "not used"
    assert table.loc["extra_seeds.relu", "b"] == "3, 4" and table.loc["init", "a"] == "he (default)"
    assert table.loc["init", "b"] == "he" and table.loc["seeding", "b"] == "none (default)"
    assert "description" not in table.index and not table.isna().any().any()
    assert list(table.index[:3]) == ["epochs", "optimizer.learning_rate", "arms"]   # in the settings' order


def test_config_table_writes_nested_values_as_json():
    table = config_table({"epochs": 4, "model_kwargs": {"width": 16}, "other": 1}, ["epochs", "model_kwargs"])
    assert list(table.index) == ["epochs", "model_kwargs"] and table.loc["model_kwargs", "value"] == '{"width": 16}'


def test_setting_rows_one_row_per_leaf_in_order_with_lists_and_nothing_written_out():
    rows = setting_rows({"cpu": "EPYC", "kernels": {"isa": ["avx2", "avx512f"], "flags": None, "none": []},
                         "threads": 2})
    assert rows == [("cpu", "EPYC"), ("kernels: isa", "avx2, avx512f"), ("kernels: flags", "none"),
                    ("kernels: none", "none"), ("threads", "2")]
    assert setting_rows({}) == []


def test_run_length_groups_equal_runs():
    assert run_length([1.5] + [1.2] * 9, "{:g}") == "1.5, 1.2 × 9"
    assert run_length([3.0, 0.7, 0.5], "{:g}") == "3, 0.7, 0.5"
    assert run_length([1.0, 2.0, 1.0], "{:g}") == "1, 2, 1"      # only adjacent values form a run
    assert run_length([], "{:g}") == ""


def test_run_length_compares_the_shown_digits():
    # The explainer's third example: nine probabilities equal to every digit shown.
    p = A.softmax([1.5] + [1.2] * 9)
    assert run_length(p) == "0.130, 0.097 × 9"
    assert run_length([0.1234, 0.1231]) == "0.123 × 2"
    assert run_length(np.float32([0.5, 0.25])) == "0.500, 0.250"
