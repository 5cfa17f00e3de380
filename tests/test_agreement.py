"""Sweeps of one comparison side by side (actbook.analysis.agreement)."""
import pandas as pd
import pytest

from actbook.analysis.agreement import differences_side_by_side


def _final(errors: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"activation": a, "seed": k, "test_error": e}
                         for a, es in errors.items() for k, e in enumerate(es)])


def test_each_sweep_gets_its_mean_paired_difference_and_its_seeds():
    first = _final({"relu": [0.5, 0.6, 0.7], "elu": [0.4, 0.5, 0.5]})
    second = _final({"relu": [0.5, 0.5], "elu": [0.45, 0.46], "gelu": [0.3, 0.4]})
    table = differences_side_by_side({"bf16": first, "float32": second}, display=str.upper)
    assert list(table.index) == ["ELU", "GELU"]
    assert table.loc["ELU", "bf16"] == pytest.approx((-0.1 - 0.1 - 0.2) / 3)
    assert table.loc["ELU", "float32"] == pytest.approx(-0.045)
    assert table.loc["ELU", "bf16: seeds"] == 3 and table.loc["ELU", "float32: seeds"] == 2
    assert pd.isna(table.loc["GELU", "bf16"]) and pd.isna(table.loc["GELU", "bf16: seeds"])  # not run, not invented
    assert str(table["bf16: seeds"].dtype) == "Int64"  # counts print as counts


def test_pairs_are_by_seed_so_a_missing_seed_drops_out():
    first = _final({"relu": [0.5, 0.6], "elu": [0.4]})  # ELU lacks seed 1
    table = differences_side_by_side({"a": first})
    assert table.loc["elu", "a"] == pytest.approx(-0.1) and table.loc["elu", "a: seeds"] == 1


def test_a_sweep_without_the_baseline_is_an_error():
    with pytest.raises(ValueError, match="baseline"):
        differences_side_by_side({"a": _final({"elu": [0.4]})})
    with pytest.raises(ValueError, match="no sweeps"):
        differences_side_by_side({})


def test_an_arm_whose_every_cell_diverged_keeps_its_row():
    final = _final({"relu": [0.5, 0.6], "elu": [0.4, 0.5]})
    diverged = pd.DataFrame([{"activation": "selu", "seed": 0}, {"activation": "selu", "seed": 1},
                             {"activation": "elu", "seed": 2}])
    table = differences_side_by_side({"a": final}, diverged={"a": diverged})
    assert list(table.index) == ["elu", "selu"]
    assert table.loc["selu", "a: diverged"] == 2 and pd.isna(table.loc["selu", "a"])
    assert table.loc["elu", "a: diverged"] == 1 and table.loc["elu", "a: seeds"] == 2


def test_the_page_shows_words_where_a_number_is_missing():
    from actbook.analysis.agreement import as_text
    final = _final({"relu": [0.5, 0.6], "elu": [0.4, 0.5]})
    diverged = pd.DataFrame([{"activation": "selu", "seed": 0}])
    table = as_text(differences_side_by_side({"a": final, "b": final}, diverged={"a": diverged}))
    assert table.loc["elu", ("a", "minus ReLU")] == "\u221210.0 pp" and table.loc["elu", ("a", "seeds")] == "2"
    assert table.loc["selu", ("a", "minus ReLU")] == "none trained" and table.loc["selu", ("a", "diverged")] == "1"
    assert table.loc["selu", ("a", "seeds")] == "0"  # it ran; no cell of it trained
    assert table.loc["selu", ("b", "minus ReLU")] == "not run" and table.loc["selu", ("b", "seeds")] == "not run"
    assert ("b", "diverged") not in table.columns
    assert not table.isin(["nan", "<NA>"]).any().any()
