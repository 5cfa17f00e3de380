"""What a chapter names about the runs it reads: the one machine and code
version that made a group of cells (results.one_maker), and which activations
diverge at a rate chosen for another (selection.diverged_at_others)."""

import copy
import json

import pandas as pd
import pytest

from actbook.analysis import results, selection
from actbook.analysis.results import ResultsError
from actbook.data_folder import committed


def _cell(cpu="Intel(R) Xeon(R) Processor", commit="a" * 40, dirty=False, isa="AVX512_CORE_BF16", **git):
    return {"provenance": {"hardware": {"cpu": cpu, "kernels": {"effective_isa": isa}},
                           "git": {"commit": commit, "dirty": dirty, **git}}}


def test_cpu_label_reads_as_a_sentence_gives_it():
    assert results.cpu_label(_cell()) == "Intel Xeon"
    assert results.cpu_label(_cell(cpu="AMD EPYC(TM) 9R14 Processor")) == "AMD EPYC 9R14"


def test_one_maker_names_the_one_machine_commit_and_kernels():
    assert results.one_maker([_cell(), _cell()], "these cells") == ("Intel Xeon", "a" * 40, "AVX512_CORE_BF16")


@pytest.mark.parametrize("other", [
    _cell(cpu="AMD EPYC 9R14 Processor"), _cell(commit="b" * 40), _cell(isa="AVX2")])
def test_one_maker_refuses_cells_made_by_two(other):
    with pytest.raises(ResultsError, match="the rerun's cells record more than one"):
        results.one_maker([_cell(), other], "the rerun's cells")


@pytest.mark.parametrize("cell", [_cell(dirty=True), _cell(mixed_segments=True), _cell(commit=None)])
def test_one_maker_refuses_cells_no_one_commit_made(cell):
    with pytest.raises(ResultsError, match="rewrite the sentences"):
        results.one_maker([cell, copy.deepcopy(cell)], "these cells")


def test_one_maker_refuses_no_cells():
    with pytest.raises(ResultsError, match="no cell"):
        results.one_maker([], "these cells")


def test_one_maker_on_a_committed_regime():
    cells = [json.loads(committed("results", "fit1k", f"{a}-seed0.json").read_text()) for a in ("relu", "elu")]
    cpu, commit, isa = results.one_maker(cells, "fit1k's cells")
    assert commit == cells[0]["provenance"]["git"]["commit"] and len(commit) == 40
    assert "(R)" not in cpu and isa == cells[1]["provenance"]["hardware"]["kernels"]["effective_isa"]


def _grid(chosen: dict, diverged: dict, seeds=2):
    """A complete grid: ``chosen`` {arm: rate}; ``diverged`` {(arm, rate): seeds diverged} (0 elsewhere)."""
    rates = sorted({0.025, 0.05, 0.1} | set(chosen.values()))
    scores = pd.DataFrame([{"activation": a, "learning_rate": r, "seeds": seeds, "diverged": diverged.get((a, r), 0)}
                           for a in chosen for r in rates])
    return selection.Grid(cells=[], config={"grid": {"learning_rates": rates, "seeds": list(range(seeds))},
                                            "arms": list(chosen)},
                          frame=pd.DataFrame(), scores=scores, planned=len(scores) * seeds,
                          chosen=pd.DataFrame({"rate": chosen}))


def test_diverged_at_others_lists_arms_that_diverge_in_every_seed_at_anothers_rate():
    grid = _grid({"relu": 0.1, "elu": 0.025, "prelu": 0.025},
                 {("elu", 0.1): 2, ("prelu", 0.1): 1, ("relu", 0.025): 2})
    # prelu diverged in one seed of two at 0.1: not counted; relu at 0.025 is counted against elu and prelu's rate
    assert selection.diverged_at_others(grid) == {0.025: (["relu"], ["elu", "prelu"]), 0.1: (["elu"], ["relu"])}


def test_diverged_at_others_leaves_out_the_arms_that_never_trained():
    grid = _grid({"relu": 0.1, "sigmoid": 0.025}, {("sigmoid", 0.1): 2, ("relu", 0.025): 2})
    assert selection.diverged_at_others(grid, stuck=["sigmoid"]) == {}
    assert selection.diverged_at_others(grid) == {0.025: (["relu"], ["sigmoid"]), 0.1: (["sigmoid"], ["relu"])}


def test_diverged_at_others_refuses_an_incomplete_grid():
    grid = _grid({"relu": 0.1}, {})
    grid.chosen = None
    grid.frame = pd.DataFrame({"activation": [], "learning_rate": [], "seed": []})
    with pytest.raises(ResultsError, match="not complete"):
        selection.diverged_at_others(grid)
