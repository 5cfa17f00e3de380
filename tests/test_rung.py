"""actbook.analysis.rung: the 8,000-image setting, read one way by every chapter that quotes it."""

import re
import shutil

import pytest

from actbook.analysis import results, rung
from actbook.data_folder import committed

COMMITTED = committed("results")


def _first_seeds(tmp_path, keep=3, drop=()):
    """The committed fit8k cells of seeds below ``keep``, with their prediction files, less the cell file stems
    in ``drop``."""
    dest = tmp_path / "results"
    (dest / rung.PROFILE).mkdir(parents=True)
    for f in (COMMITTED / rung.PROFILE).glob("*-seed*.json"):
        seed = int(re.search(r"-seed(\d+)\.json$", f.name).group(1))
        if seed < keep and f.stem not in drop:
            for part in (f, f.with_name(f.stem + ".predictions.npz")):   # a cell is read with its predictions
                shutil.copy(part, dest / rung.PROFILE / part.name)
    for f in COMMITTED.glob(f"{rung.PROFILE}.*.json"):
        shutil.copy(f, dest / f.name)
    if (COMMITTED / rung.PROFILE / "grid").is_dir():
        shutil.copytree(COMMITTED / rung.PROFILE / "grid", dest / rung.PROFILE / "grid")
    return dest


def test_an_interim_reading_reads_the_seeds_every_arm_has_and_says_so(tmp_path):
    where = _first_seeds(tmp_path, keep=3, drop=("silu-seed2",))
    r = rung.read(where, complete=False)
    assert r.seeds == [0, 1] and r.interim and r.planned == 10
    assert r.seeds_text == "2 of the 10 planned seeds, an interim reading"
    assert set(r.report.frame.seed) == {0, 1}                      # silu's missing seed 2 drops every arm's
    with pytest.raises(results.RegimeIncomplete):
        rung.read(where, complete=True)


def test_the_sentence_reads_the_arms_row_against_relu(tmp_path):
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    row = r.vs_relu.loc["elu"]
    said = rung.against_relu_sentence(r, "elu", display=str.upper)
    assert said.startswith(f"with {r.images:,} images, trained to fit (3 of the 10 planned seeds")
    assert "ELU − ReLU was" in said and f"{abs(100 * row['mean diff']):.2f} pp" in said
    assert said.endswith("not resolved" if not row["resolved"] else "ReLU")


def test_one_seed_is_refused(tmp_path):
    with pytest.raises(results.RegimeIncomplete, match="at least 2"):
        rung.read(_first_seeds(tmp_path, keep=1), complete=False)


def test_an_unscoped_sentence_leaves_out_the_setting(tmp_path):
    r = rung.read(_first_seeds(tmp_path, keep=3), complete=False)
    assert rung.against_relu_sentence(r, "prelu", scoped=False).startswith("prelu − ReLU was ")
