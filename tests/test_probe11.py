"""Issue 40: what the tenth probe's report left open.

The book's reading of a grid (``selection.grid_report``) replays the edge rule on
the grid's own cells, as ``check`` does, before it scores an extension; a
``rates_from`` that names no grid is refused when the profiles are loaded, not
when a final cell first asks for its rate.

The cells are those of ``test_nothing_silently_wrong``'s template (trained once
per module), copied.
"""

import json

import pytest

from actbook.analysis import selection as S
from actbook.analysis.results import ResultsError
from actbook.runner import experiment as E
from actbook.runner import profiles as P
from actbook.runner.errors import UsageError
from test_nothing_silently_wrong import _extend, folder, template  # noqa: F401  (the module's fixtures)


def test_the_book_refuses_an_extension_the_edge_rule_never_asked_for(folder):  # noqa: F811
    """ReLU's grid chose 0.05, its upper end: the rule asks for 0.1. A cell at 0.005 with an
    extension recorded for it was scored and could be chosen as the grid's."""
    _extend(folder / "g" / "grid" / "relu-lr0.05-seed100.json", {"relu": [0.005]}, rate=0.005)
    with pytest.raises(ResultsError, match=r"the extension relu \[0\.005\] is not what the edge rule asks for "
                                           r"on the grid's cells \(\[0\.1\]\)"):
        S.grid_report(folder, "g", extended={"relu": [0.005]})


def test_the_book_refuses_an_extension_whose_deciding_cells_are_missing(folder):  # noqa: F811
    (folder / "g" / "grid" / "relu-lr0.01-seed100.json").unlink()
    with pytest.raises(ResultsError, match=r"cannot have been made by the edge rule: the grid is not complete"):
        S.grid_report(folder, "g", extended={"relu": [0.1]})


def test_the_book_reads_the_extension_the_edge_rule_asks_for(folder):  # noqa: F811
    _extend(folder / "g" / "grid" / "relu-lr0.05-seed100.json", {"relu": [0.1]}, rate=0.1)
    report = S.grid_report(folder, "g", extended={"relu": [0.1]})
    assert report.chosen.loc["relu", "rate"] == 0.1
    assert E.extension_problems("g", folder) == {}  # the runner's replay agrees (no file recorded)


def _profiles_with(tmp_path, monkeypatch, **rates_from):
    shipped = P.shipped_profiles()
    base = {k: v for k, v in shipped["smoke"].items() if k not in ("grid", "chosen_rates")}
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({name: {**base, "rates_from": source} for name, source in rates_from.items()}))
    monkeypatch.setenv("ACTBOOK_PROFILES", str(path))


@pytest.mark.parametrize("rates_from, why", [
    ({"x": "nope"}, "names no profile"),
    ({"x": "x"}, "names the profile itself"),
    ({"x": "y", "y": "x"}, "which has no learning-rate grid"),
    ({"x": "smoke"}, "which has no learning-rate grid"),
])
def test_a_rates_from_without_a_grid_behind_it_is_refused(tmp_path, monkeypatch, capsys, rates_from, why):
    _profiles_with(tmp_path, monkeypatch, **rates_from)
    with pytest.raises(UsageError, match=why):
        P.load_profiles()
    assert E.main(["plan", "--profile", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and why in err and len(err.strip().splitlines()) == 1, err


def test_a_rates_from_naming_a_grid_loads(tmp_path, monkeypatch):
    _profiles_with(tmp_path, monkeypatch, x="overfit")
    assert P.load_profiles()["x"]["rates_from"] == "overfit"
