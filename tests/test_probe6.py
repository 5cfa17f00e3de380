"""Issue 40, sixth probe: what was left silently wrong after the fifth.

A grid cell moved away so that an edited chosen rate could no longer be
checked, a folder whose name says another runtime or other overrides than
its cells were made with, two ``--set`` keys of which one lies inside the
other, and command-line lists with a repeat or other scripts' digits: each
ends in a refusal, never in a cell trained or read at a number nobody chose.
"""

import json
import re
import shutil

import pytest

from actbook.analysis import results as R
from actbook.runner import experiment as E
from actbook.runner import profiles as P
from test_nothing_silently_wrong import folder, template  # noqa: F401  (the module's fixtures)
from test_probe4 import _edit_record, _train_at, chosen  # noqa: F401  (a grid, its choice and the final cells)

# --------------------------------------------------------------------------
# A recorded rate its grid can no longer vouch for
# --------------------------------------------------------------------------


def _hide_a_grid_cell(results):
    (results / "g3" / "grid" / "relu-lr0.05-seed100.json").unlink()


def test_an_edited_rate_is_not_trained_on_after_a_grid_cell_is_moved_away(chosen, capsys):  # noqa: F811
    _edit_record(chosen, relu=0.01)
    _hide_a_grid_cell(chosen)
    (chosen / "f" / "relu-seed0.json").unlink()  # so that run has the relu cell to do
    assert E.main(["run", "--profile", "f", "--results", str(chosen)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: recorded rate 0.01 for relu cannot be checked against the grid's choice: the grid "
                          "of 'g3' is not complete and consistent (1 problem(s), e.g. missing: relu-lr0.05-seed100)")
    assert err.count("\n") == 1 and not (chosen / "f" / "relu-seed0.json").exists()


def test_check_and_the_loader_refuse_cells_whose_grid_lost_a_cell(chosen):  # noqa: F811
    _edit_record(chosen, relu=0.01)
    _train_at(chosen, "relu", 0.01)
    _train_at(chosen, "rrelu", 0.02)
    _hide_a_grid_cell(chosen)
    assert any(p.startswith("recorded rate 0.01 for relu cannot be checked") for p in E.check("f", chosen))
    with pytest.raises(R.ResultsError, match="recorded rate 0.01 for relu cannot be checked against the grid's "
                                             "choice"):
        R.load_sweep(chosen, "f")


# --------------------------------------------------------------------------
# A folder's name against the cells in it
# --------------------------------------------------------------------------

def test_check_refuses_tensorflow_cells_in_a_jax_folder(folder):  # noqa: F811
    (folder / "tiny").rename(folder / "tiny@jax-cpu")
    problems = E.check("tiny", folder, runtime="jax-cpu")
    made_for = [p for p in problems if p.startswith("made for another folder")]
    assert made_for and all("belongs in 'tiny', not 'tiny@jax-cpu'" in p for p in made_for)
    with pytest.raises(R.ResultsError, match="made for the folder 'tiny', not 'tiny@jax-cpu'"):
        R.load_sweep(folder, "tiny@jax-cpu")


def test_the_loader_refuses_the_profiles_own_cells_under_an_overrides_tag(folder):  # noqa: F811
    tagged = P.profile_folder("tiny", {"epochs": 2})
    shutil.copytree(folder / "tiny", folder / tagged)
    with pytest.raises(R.ResultsError, match=re.escape(f"made for the folder 'tiny', not '{tagged}'")):
        R.load_sweep(folder, tagged)


def test_the_committed_folders_hold_the_cells_made_for_them():
    from conftest import ROOT
    for root, name in [("results", "cpu"), ("results", "overfit"), ("earlier", "cpu"), ("earlier", "overfit")]:
        R.check_made_for(R.load_cells(ROOT / "data" / root, name), name)


# --------------------------------------------------------------------------
# --set keys that overlap, and repeats inside a value
# --------------------------------------------------------------------------

OPTIMIZER = json.dumps(dict(P.get_profile("smoke")["optimizer"], learning_rate=0.3))


@pytest.mark.parametrize("sets", [
    ["optimizer.learning_rate=0.1", f"optimizer={OPTIMIZER}"],
    [f"optimizer={OPTIMIZER}", "optimizer.learning_rate=0.1"],
])
@pytest.mark.parametrize("command", ["plan", "run"])
def test_overlapping_set_keys_are_one_error_line(command, sets, tmp_path, capsys):
    args = [a for s in sets for a in ("--set", s)]
    assert E.main([command, "--profile", "smoke", "--results", str(tmp_path), *args]) == 2
    out = capsys.readouterr()
    assert out.err == ("error: --set optimizer and --set optimizer.learning_rate overlap (optimizer.learning_rate "
                       "lies inside optimizer); give each setting once\n")
    assert not list(tmp_path.iterdir())


def test_a_key_repeated_inside_a_set_value_is_refused(capsys):
    assert E.main(["plan", "--profile", "smoke", "--set", 'model_kwargs={"width": 4, "width": 5}']) == 2
    assert capsys.readouterr().err == ("error: --set model_kwargs: the value gives 'width' twice; give each "
                                       "setting once\n")


def test_applying_overrides_leaves_the_callers_values_as_they_were():
    whole = dict(P.get_profile("smoke")["optimizer"], learning_rate=0.3)
    overrides = {"optimizer": whole}
    config = P.apply_overrides(P.get_profile("smoke"), overrides)
    config["optimizer"]["learning_rate"] = 0.7
    assert overrides["optimizer"]["learning_rate"] == 0.3


# --------------------------------------------------------------------------
# Command-line lists: repeats and other scripts' digits
# --------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--seeds", "0,0"], "--seeds names '0' twice; give each once"),
    (["--seeds", "0,00"], "--seeds names seed 0 twice; give each once"),
    (["--activations", "relu,relu"], "--activations names 'relu' twice; give each once"),
    (["--shard", "\u0661/\u0662"], "--shard must look like K/N (e.g. 2/4), got '\u0661/\u0662'"),
])
def test_a_list_with_a_repeat_or_other_digits_is_one_error_line(args, message, capsys):
    assert E.main(["plan", "--profile", "smoke", *args]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
