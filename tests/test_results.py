"""actbook.analysis.results: one rule for diverged cells, malformed files, folder names,
backends, and the earlier sweeps' chapter on partial results folders."""

import copy
import json
import re
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from actbook.analysis import reproduction, results as R
from actbook.runner.profiles import get_profile
from actbook import arms
from actbook.analysis.stats import comparison_list, comparison_sentence, paired_comparison, summary_table

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "data" / "earlier"  # the shared-rate sweeps of the earlier runner
NEW = ROOT / "data" / "results"  # the comparison's final cells
CONFIG = {"description": "a test profile", "model": "small_cnn", "model_kwargs": {"width": 8}, "epochs": 3,
          "batch_size": 8, "optimizer": {"name": "sgd", "learning_rate": 0.05}, "arms": ["relu", "elu"],
          "seeds": [0, 1]}


def _row(epoch, loss=1.0):
    return {"epoch": epoch, "train_loss": loss, "train_error": 0.5, "train_eval_loss": 1.0, "train_eval_error": 0.5,
            "test_loss": 1.0, "test_error": 0.5, "seconds": 1.0}


def _cell(activation="relu", seed=0, profile="p", schema=2, backend=None, epochs=3, **extra):
    prov = {"git": {"commit": "0123456789abcdef", "dirty": False}, "dataset": {"sha256": "a" * 64, "dataset": "test"},
            "hardware": {"kernels": {"effective_isa": "AVX512_CORE_BF16"}, "cpu": "test"},
            "started": "2026-01-01T00:00:00", "finished": "2026-01-01T00:01:00", "train_images_used": 100,
            "test_images_used": 100}
    cell = {"schema": schema, "profile": profile, "activation": activation, "seed": seed,
            "config": copy.deepcopy(CONFIG), "overrides": None, "provenance": prov,
            "history": [_row(e) for e in range(1, epochs + 1)]}
    if schema >= 3:
        cell.update(outcome="finished", diverged_epoch=None)
        prov["backend"] = {"name": backend or "tensorflow", "version": "2.21.0", "devices": ["CPU:0"],
                           "strategy": "default", "threads": 2, "affinity": [0, 1]}
    cell.update(extra)
    return cell


def _diverged(activation="elu", seed=0, at=2, **extra):
    """A schema-3 cell that stopped at epoch ``at``, its training loss null there."""
    cell = _cell(activation, seed, schema=3, epochs=at, **extra)
    cell["history"][-1]["train_loss"] = None
    cell.update(outcome="diverged", diverged_epoch=at)
    return cell


def _write(results, folder, cell, name=None):
    (results / folder).mkdir(parents=True, exist_ok=True)
    name = name or f"{cell['activation']}-seed{cell['seed']}.json"
    (results / folder / name).write_text(json.dumps(cell))


def _copy(tmp_path, drop=()):
    dest = tmp_path / "results"
    shutil.copytree(COMMITTED, dest)
    for rel in drop:
        (dest / rel).unlink()
    return dest


def _make_cpu_elu_diverge(results):
    """ELU seed 0 of the cpu sweep as if its loss had blown up after epoch 1 (as a schema-2 file records it)."""
    f = results / "cpu" / "elu-seed0.json"
    cell = json.loads(f.read_text())
    for row in cell["history"][1:]:
        row.update(train_loss=None, train_error=0.9, train_eval_error=0.9, test_error=0.9)
    f.write_text(json.dumps(cell))


# --- 1. one rule for diverged cells ------------------------------------------------

def test_a_diverged_cpu_cell_is_flagged_and_left_out(tmp_path):
    results = _copy(tmp_path)
    honest = R.load_sweep(results, "cpu")
    assert honest.diverged.empty and len(honest.final) == 21
    _make_cpu_elu_diverge(results)
    sweep = R.load_sweep(results, "cpu")
    assert list(zip(sweep.diverged.activation, sweep.diverged.seed, sweep.diverged.diverged_epoch)) == [("elu", 0, 2)]
    assert ("elu", 0) not in set(zip(sweep.final.activation, sweep.final.seed)) and len(sweep.final) == 20
    assert ("elu", 0) not in {(c["activation"], c["seed"]) for c in sweep.trained_cells}
    assert not (sweep.trained_history.activation.eq("elu") & sweep.trained_history.seed.eq(0)).any()
    # ELU minus ReLU over the two seeds that trained, not flipped by the diverged seed's chance-level error
    diff = paired_comparison(sweep.final, arms=["elu"]).loc["elu", "mean diff vs relu"]
    kept = honest.final[honest.final.seed != 0]
    assert diff == pytest.approx(paired_comparison(kept, arms=["elu"]).loc["elu", "mean diff vs relu"])
    assert diff < 0
    assert "ELU seed 0 (epoch 2)" in R.diverged_note(sweep, {"elu": "ELU"}.get)


def test_both_regimes_follow_the_same_rule():
    of = R.load_sweep(COMMITTED, "overfit")
    assert sorted(zip(of.diverged.activation, of.diverged.seed)) == [("prelu", 2), ("selu", 0), ("selu", 1), ("selu", 2)]
    assert of.final.train_loss.notna().all() and len(of.final) + len(of.diverged) == len(of.cells)
    # the frame path (final_rows + split_diverged) and the cell path agree
    kept, diverged = R.split_diverged(R.final_rows(R.history_frame(of.cells)))
    assert kept.equals(of.final) and list(diverged.seed) == list(of.diverged.seed)


def test_a_schema_3_diverged_cell_with_a_short_history_loads(tmp_path):
    _write(tmp_path, "p", _cell("relu", schema=3))
    _write(tmp_path, "p", _diverged("elu", at=2))
    sweep = R.load_sweep(tmp_path, "p")
    assert [R.outcome(c) for c in sweep.cells] == ["diverged", "finished"]
    assert list(sweep.final.activation) == ["relu"] and list(sweep.diverged.diverged_epoch) == [2]
    assert sweep.missing == [("elu", 1), ("relu", 1)] and sweep.planned == 4


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(outcome="finished", diverged_epoch=None), "2 epochs recorded, config says 3"),
    (lambda c: c.update(diverged_epoch=3), "diverged at epoch 3 but 2 epochs recorded"),
    (lambda c: c["history"][-1].update(train_loss=0.5), "training loss of epoch 2 is finite"),
    (lambda c: c.update(diverged_epoch=4), "diverged_epoch between 1 and 3"),
    (lambda c: c.update(outcome="stopped"), "outcome must be one of"),
])
def test_inconsistent_schema_3_cells_are_refused(tmp_path, change, message):
    cell = _diverged("relu")
    change(cell)
    _write(tmp_path, "p", cell)
    with pytest.raises(R.ResultsError, match=message):
        R.load_cells(tmp_path, "p")


def test_an_unfinished_schema_2_cell_is_still_refused(tmp_path):
    cell = _cell()
    cell["history"].pop()
    _write(tmp_path, "p", cell)
    with pytest.raises(R.ResultsError, match="2 epochs recorded, config says 3"):
        R.load_cells(tmp_path, "p")


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_the_runners_own_files_load_whether_they_finished_or_diverged(tmp_path, monkeypatch):
    """What ``actbook run --set ...`` writes is what load_sweep reads: a ``+tag`` folder
    of schema-3 files, a diverged cell stopped at its first non-finite loss."""
    from synthetic import TINY, synthetic_cifar, write_profiles
    from actbook.runner import experiment as E
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "profiles.json", tiny=TINY))
    data = synthetic_cifar()
    for over, outcome in (({"epochs": 2}, "finished"), ({"epochs": 2, "optimizer.learning_rate": 1e6}, "diverged")):
        path = E.run("tiny", tmp_path / "res", arms=["relu"], data=data, progress=False, overrides=over)[0]
        assert R.parse_folder(path.parent.name)[:2] == ("tiny", path.parent.name.split("+")[1])
        assert R.result_problems(json.loads(path.read_text())) == []
        sweep = R.load_sweep(tmp_path / "res", path.parent.name)
        assert [R.outcome(c) for c in sweep.cells] == [outcome]
        assert len(sweep.final) == (outcome == "finished") and len(sweep.diverged) == (outcome == "diverged")
    assert len(sweep.cells[0]["history"]) == sweep.diverged.diverged_epoch[0]  # it stopped there


# --- 2. malformed fields ---------------------------------------------------------

MALFORMED = {
    "activation null": lambda c: c.update(activation=None),
    "activation a list": lambda c: c.update(activation=["relu"]),
    "seed a string": lambda c: c.update(seed="0"),
    "seed a bool": lambda c: c.update(seed=True),
    "seed negative": lambda c: c.update(seed=-1),
    "profile a number": lambda c: c.update(profile=3),
    "provenance a list": lambda c: c.update(provenance=[]),
    "provenance.dataset a string": lambda c: c["provenance"].update(dataset="cifar"),
    "provenance.hardware null": lambda c: c["provenance"].update(hardware=None),
    "config a list": lambda c: c.update(config=[]),
    "config without epochs": lambda c: c["config"].pop("epochs"),
    "epochs a bool": lambda c: c["config"].update(epochs=True),
    "arms not a list": lambda c: c["config"].update(arms="relu"),
    "seeds of strings": lambda c: c["config"].update(seeds=["0"]),
    "extra_seeds a list": lambda c: c["config"].update(extra_seeds=[1]),
    "history a string": lambda c: c.update(history="abc"),
    "history rows not objects": lambda c: c.update(history=[1, 2, 3]),
    "history epochs out of order": lambda c: c["history"].reverse(),
    "train_loss a string": lambda c: c["history"][0].update(train_loss="1.0"),
    "row without train_loss": lambda c: c["history"][1].pop("train_loss"),
    "overrides a list": lambda c: c.update(overrides=[]),
    "diagnostics a list": lambda c: c.update(diagnostics=[]),
    "schema a string": lambda c: c.update(schema="2"),
    "no history": lambda c: c.pop("history"),
}


@pytest.mark.parametrize("what", MALFORMED)
def test_malformed_fields_give_results_error_not_a_traceback(tmp_path, what):
    cell = _cell()
    MALFORMED[what](cell)
    assert R.result_problems(cell), what
    _write(tmp_path, "p", _cell("elu"))
    _write(tmp_path, "p", cell, name="relu-seed0.json")
    with pytest.raises(R.ResultsError, match="relu-seed0.json: "):
        R.load_cells(tmp_path, "p")


@pytest.mark.parametrize("change", [
    lambda c: c.pop("outcome"),
    lambda c: c["provenance"].pop("backend"),
    lambda c: c["provenance"]["backend"].update(name="mxnet"),
    lambda c: c["provenance"]["backend"].update(version=2),
    lambda c: c["provenance"]["backend"].update(devices="CPU:0"),
    lambda c: c["provenance"]["backend"].update(threads="2"),
])
def test_schema_3_needs_an_outcome_and_a_backend(change):
    cell = _cell(schema=3)
    assert R.result_problems(cell) == []
    change(cell)
    assert R.result_problems(cell)


def test_every_committed_file_is_well_formed():
    files = sorted(COMMITTED.glob("*/*.json"))
    assert len(files) > 50
    for f in files:
        assert R.result_problems(json.loads(f.read_text())) == [], f
    assert R.result_problems([]) == ["not a result file (a JSON list, expected an object)"]


# --- 3. folder names -------------------------------------------------------------

@pytest.mark.parametrize("folder, parts", [
    ("tiny", ("tiny", None, None)),
    ("tiny+6215388c", ("tiny", "6215388c", None)),
    ("paper@jax", ("paper", None, "jax")),
    ("cpu+3f2a9c1d@tensorflow-2dev", ("cpu", "3f2a9c1d", "tensorflow-2dev")),
])
def test_folder_names_are_read_back(folder, parts):
    assert R.parse_folder(folder) == parts


def _made_for(folder_overrides, backend_name, devices):
    """A schema-3 cell of ``tiny`` with these recorded overrides, run on this backend and these devices."""
    cell = _cell(profile="tiny", schema=3, overrides=folder_overrides)
    cell["provenance"]["backend"].update(name=backend_name, devices=devices,
                                         platform="gpu" if "gpu" in devices[0].lower() else "cpu")
    return cell


@pytest.mark.parametrize("overrides, backend_name, devices, runtime", [
    (None, "tensorflow", ["/cpu:0"], ""),
    ({"epochs": 1}, "tensorflow", ["/cpu:0"], ""),
    (None, "jax", ["cpu:0"], "jax-cpu"),
    ({"epochs": 1}, "tensorflow", ["/cpu:0", "/cpu:1"], "tensorflow-cpu-2dev"),
])
def test_folders_with_tags_and_runtimes_load_the_cells_made_for_them(tmp_path, overrides, backend_name, devices,
                                                                     runtime):
    from actbook.runner import profiles as P
    folder = f"tiny+{P.overrides_tag(overrides)}" if overrides else "tiny"
    folder = f"{folder}@{runtime}" if runtime else folder
    _write(tmp_path, folder, _made_for(overrides, backend_name, devices))
    assert [c["profile"] for c in R.load_cells(tmp_path, folder)] == ["tiny"]


@pytest.mark.parametrize("folder, overrides, backend_name, made_for", [
    ("tiny@jax-cpu", None, "tensorflow", "tiny"),             # TensorFlow cells passed off as JAX's
    ("tiny", None, "jax", "tiny@jax-cpu"),                    # JAX cells under the default runtime's name
    ("tiny+63b46a19", None, "tensorflow", "tiny"),            # the profile's own cells under an override's tag
    ("tiny", {"epochs": 1}, "tensorflow", None),              # an override's cells under the profile's name
])
def test_a_cell_under_a_folder_not_made_for_it_is_refused(tmp_path, folder, overrides, backend_name, made_for):
    """Issue 40, probe 6: a folder's name is what a reader takes it for."""
    from actbook.runner import profiles as P
    made_for = made_for or f"tiny+{P.overrides_tag(overrides)}"
    _write(tmp_path, folder, _made_for(overrides, backend_name, ["cpu:0"]))
    with pytest.raises(R.ResultsError, match=f"made for the folder '{re.escape(made_for)}', not '{re.escape(folder)}'"):
        R.load_cells(tmp_path, folder)


@pytest.mark.parametrize("folder", ["tiny+xyz", "tiny+6215388c+1234abcd", "tiny@", "+6215388c", "a/b"])
def test_other_folder_names_are_refused(tmp_path, folder):
    with pytest.raises(R.ResultsError, match="not a results folder name"):
        R.load_cells(tmp_path, folder)


def test_a_cell_of_another_profile_is_refused_under_a_tagged_folder(tmp_path):
    _write(tmp_path, "tiny+6215388c", _cell(profile="smoke"))
    with pytest.raises(R.ResultsError, match="belongs to profile 'smoke', found under 'tiny'"):
        R.load_cells(tmp_path, "tiny+6215388c")


def test_the_description_is_not_part_of_the_experiment(tmp_path):
    other = _cell("elu")
    other["config"]["description"] = "reworded"
    _write(tmp_path, "p", _cell())
    _write(tmp_path, "p", other)
    assert len(R.load_cells(tmp_path, "p")) == 2
    other["config"]["batch_size"] = 16
    _write(tmp_path, "p", other)
    with pytest.raises(R.ResultsError, match="different configs"):
        R.load_cells(tmp_path, "p")


# --- 4. backends -----------------------------------------------------------------

def test_backends_never_mix_in_one_folder(tmp_path):
    assert R.backend(_cell("relu")) == "tensorflow"  # schema 2 names none: TensorFlow made them all
    _write(tmp_path, "p", _cell("relu", schema=3, backend="tensorflow"))
    _write(tmp_path, "p", _cell("elu", schema=3, backend="tensorflow"))
    assert {R.backend(c) for c in R.load_cells(tmp_path, "p")} == {"tensorflow"}
    _write(tmp_path, "p", _cell("elu", seed=1, schema=3, backend="jax"))
    with pytest.raises(R.ResultsError, match=r"elu-seed1.json: made for the folder 'p@jax-cpu', not 'p'"):
        R.load_cells(tmp_path, "p")


def test_result_formats_never_mix_in_one_folder_but_4_and_5(tmp_path):
    """Format 2 came from the earlier TensorFlow runner, 3 from the current one: like check, the loader refuses
    the mix (4 and 5 mix: tests/test_result_format_5.py)."""
    _write(tmp_path, "p", _cell("relu"))
    _write(tmp_path, "p", _cell("elu", schema=3))
    with pytest.raises(R.ResultsError, match=r"cells of 2 result formats.*format 3: elu-seed0.json; "
                                             r"format 2: relu-seed0.json"):
        R.load_cells(tmp_path, "p")


# --- 5. partial sweeps -------------------------------------------------------------

def test_a_partial_sweep_says_what_is_missing(tmp_path):
    results = _copy(tmp_path, drop=[f"overfit/relu-seed{k}.json" for k in range(3)])
    sweep = R.load_sweep(results, "overfit")
    assert sweep.missing == [("relu", 0), ("relu", 1), ("relu", 2)] and sweep.planned == 32
    note = R.incomplete_note(sweep, str.upper)
    assert "3 of its 32 planned cells are missing (RELU seeds 0, 1, 2)" in note
    assert R.incomplete_note(R.load_sweep(COMMITTED, "overfit")) == ""


def test_reruns_of_a_missing_committed_cell_are_not_compared(tmp_path):
    rerun = json.loads((ROOT / "data/reproducibility/cross_isa_overfit_float32.json").read_text())
    results = _copy(tmp_path, drop=["overfit/relu-seed0.json"])
    cells = R.load_sweep(results, "overfit").trained_cells
    assert reproduction.committed_cell(rerun, cells) is None
    assert "no finished cell to hold its" in reproduction.not_compared(rerun, "ReLU")
    assert reproduction.committed_cell(rerun, R.load_cells(COMMITTED, "overfit"))["seed"] == 0


def test_statistics_of_a_partial_sweep():
    final = pd.DataFrame({"activation": ["relu", "relu", "elu"], "seed": [0, 1, 2], "test_error": [0.3, 0.31, 0.28],
                          "train_eval_error": [0.0, 0.0, 0.0]})
    table = summary_table(final, ["relu", "lrelu_1/5.5", "elu"])       # no Leaky ReLU at all
    assert list(table.index) == ["relu", "elu"]
    assert list(summary_table(final, ["gelu"]).index) == []
    row = paired_comparison(final, arms=["elu"]).loc["elu"]            # no seed in common with ReLU
    assert row["seeds"] == 0 and "no seed in common with ReLU" in comparison_sentence(row, "ReLU", "ELU")


def test_origin_sentence_names_the_commits_and_says_the_runner_changed(tmp_path):
    cpu, of = R.load_cells(COMMITTED, "cpu"), R.load_cells(COMMITTED, "overfit")
    old = R.origin_sentence({"regime 1": cpu, "regime 2": of})
    for commit in {c["provenance"]["git"]["commit"][:10] for c in cpu + of}:
        assert commit in old
    assert "(regime 1)" in old and "the runner has since changed" in old.lower()
    assert "new data stream" in old and "does not reproduce these numbers" in old
    new = [_cell(schema=3, backend="jax")]
    assert "those of regime 1 with the earlier TensorFlow runner" in R.origin_sentence({"regime 1": cpu, "regime 2": new})
    assert R.origin_sentence({"regime 1": new}) == ("The committed results were made by the current runner, "
                                                      "with jax, at commit 0123456789.")


# --- 5 and 6. the earlier sweeps on partial results ---------------------------------------------

def _shard_2_of_4(results):
    """What a merged folder lacks when its shard 2/4 never arrived: every fourth cell from the second,
    in the runner's seed-major order (arms at the seeds, then the extra seeds)."""
    config = json.loads((results / "overfit" / "relu-seed0.json").read_text())["config"]
    order = [(a, s) for s in config["seeds"] for a in config["arms"]]
    extra = config["extra_seeds"]
    order += [(a, s) for s in sorted({s for v in extra.values() for s in v}) for a in config["arms"]
              if s in extra.get(a, [])]
    for a, s in order[1::4]:
        (results / "overfit" / f"{a.replace('/', '_')}-seed{s}.json").unlink()
    return [f"{a} seed {s}" for a, s in order[1::4]]


GAPS = {
    "one shard missing": (_shard_2_of_4, ["ReLU seeds 0, 1, 2"]),
    "only PReLU's diverged seed": (lambda r: [(r / f"overfit/prelu-seed{k}.json").unlink() for k in (0, 1)],
                                   ["PReLU seeds 0, 1", "PReLU seed 2 (epoch 3)"]),
    "no Leaky ReLU (slope 1/5.5)": (lambda r: [(r / f"overfit/lrelu_1_5.5-seed{k}.json").unlink() for k in range(5)],
                                ["Leaky ReLU (slope 1/5.5) seeds 0, 1, 2, 3, 4"]),
    "a diverged cpu cell": (_make_cpu_elu_diverge, ["Diverged cell** in the `cpu` sweep: ELU seed 0 (epoch 2)"]),
}


@pytest.mark.parametrize("gap", GAPS)
def test_a_damaged_earlier_folder_is_named_in_the_notes_and_its_comparisons_stay_finite(tmp_path, gap):
    """What the earlier sweeps' chapter prints of a partial folder: the notes name the missing and the
    diverged cells, and every comparison with ReLU over the seeds left is a finite sentence."""
    damage, expected = GAPS[gap]
    results = _copy(tmp_path)
    damage(results)
    text = ""
    for regime in ("cpu", "overfit"):
        sweep = R.load_sweep(results, regime)
        text += R.incomplete_note(sweep, arms.display) + R.diverged_note(sweep, arms.display)
        if "relu" in set(sweep.final.activation):
            text += comparison_list(paired_comparison(sweep.final, baseline="relu"), "ReLU", arms.display)
    for fragment in expected:
        assert fragment in text, (gap, fragment)
    assert ("is not complete" in text) == (gap != "a diverged cpu cell")
    assert "nan" not in text


def test_the_committed_cells_name_the_clean_commits_that_made_them():
    for profile in ("cpu", "overfit"):  # the committed cells agree with each other: one config, data set, backend
        cells = R.load_cells(COMMITTED, profile)
        assert R.code_commits(cells) and not any("unknown" in c or "dirty" in c for c in R.code_commits(cells))


def test_made_by_summarises_what_made_a_folder():
    cells = R.load_cells(COMMITTED, "overfit")
    row = R.made_by(cells)
    assert row["cells"] == len(cells) == 44
    assert row["code"] == ", ".join(R.code_commits(cells)) and "," in row["code"]  # two commits made this sweep
    assert row["data set"].startswith("CIFAR-10, JPEG q75 copy") and row["from (UTC)"] < row["to (UTC)"]
    one = [dict(cells[0], provenance={**cells[0]["provenance"], "hardware": {"cpu": "Other CPU"}})]
    assert R.made_by(cells[:1] + one)["CPU"] == ", ".join(sorted({cells[0]["provenance"]["hardware"]["cpu"],
                                                                  "Other CPU"}))


def test_the_facts_of_a_sweep_come_from_its_cells_provenance():
    sweep = R.load_sweep(COMMITTED, "overfit")
    facts = R.sweep_facts(sweep.cells, sweep.history)
    prov = [c["provenance"] for c in sweep.cells]
    assert facts["cells"] == len(sweep.cells) and facts["train_images"] == prov[0]["train_images_used"]
    assert facts["minutes"] == pytest.approx(sweep.history["seconds"].sum() / 60)
    assert prov[0]["dataset"]["sha256"][:12] in facts["dataset"]
    assert facts["span"].startswith(min(p["started"] for p in prov)[:16]) and facts["span"].endswith("UTC")


def test_a_folder_plans_its_grid_or_its_final_cells_and_earlier_sweeps_are_closed():
    from actbook.analysis import selection as S
    assert S.planned_label(R.load_cells(COMMITTED, "cpu")) == "closed (earlier run)"
    grid = _cell(schema=3, stage="grid")
    grid["config"]["grid"] = {"learning_rates": [0.01, 0.02, 0.04], "seeds": [100]}
    assert S.planned_label([grid]) == 2 * 3
    assert S.planned_label([_cell(schema=3, stage="final")]) == 2 * 2  # arms x seeds


def test_a_complete_regime_is_returned_and_an_incomplete_one_names_what_is_missing():
    empty = pd.DataFrame()
    cells = [{"profile": "overfit", "activation": "relu", "seed": 0, "config": {}}]
    done = R.Sweep(Path("x"), cells, empty, empty, empty, [], 1)
    assert done.complete and done.require_complete() is done
    partial = R.Sweep(Path("x"), cells, empty, empty, empty, [("relu", 1), ("elu", 0), ("elu", 2)], 4)
    assert not partial.complete
    with pytest.raises(R.RegimeIncomplete, match=r"the `overfit` regime is not complete: 3 of its 4 planned cells "
                                                 r"are missing \(RELU seed 1; ELU seeds 0, 2\)"):
        partial.require_complete(str.upper)
    assert issubclass(R.RegimeIncomplete, R.ResultsError)


def test_the_committed_regimes_load_complete():
    for regime in ("cpu", "overfit"):
        sweep = R.load_complete(NEW, regime)
        assert sweep.complete and len(sweep.cells) == sweep.planned


def test_a_regime_still_running_gets_one_sentence_and_a_finished_one_none():
    assert R.pending_sentence(12, 120, "the rerun") == (
        "Only 12 of the 120 final cells of the rerun are in, so it is not read yet: "
        "a regime is read once all its cells are in.")
    assert R.pending_sentence(1, 2, "fit1k").startswith("Only 1 of the 2 final cells of fit1k is in")
    assert R.pending_sentence(120, 120, "the rerun") == ""


# --- results that cannot be trusted are refused ---------------------------------------------

def _smoke_cell(activation="relu", seed=0, config=None, sha="a" * 64, isa="AVX512_CORE_BF16", **extra):
    config = config or get_profile("smoke")
    return {"schema": 2, "profile": "smoke", "activation": activation, "seed": seed, "config": config,
            "provenance": {"dataset": {"sha256": sha, "dataset": "test"},
                           "hardware": {"kernels": {"effective_isa": isa}, "cpu": "test"},
                           "started": "2026-01-01T00:00:00", "finished": "2026-01-01T00:01:00",
                           "train_images_used": 100, "test_images_used": 100},
            "history": [{"epoch": 1, "train_loss": 1.0, "train_error": 0.5, "train_eval_loss": 1.0,
                         "train_eval_error": 0.5, "test_loss": 1.0, "test_error": 0.5, "seconds": 1.0}], **extra}


@pytest.fixture
def smoke_folder(tmp_path):
    (tmp_path / "smoke").mkdir()
    return tmp_path


def _write_smoke(folder, name, obj):
    (folder / "smoke" / name).write_text(json.dumps(obj))


def test_missing_incomplete_and_unreadable(smoke_folder):
    with pytest.raises(R.ResultsError, match="no result files"):
        R.load_cells(smoke_folder, "other")
    _write_smoke(smoke_folder, "relu-seed0.json", _smoke_cell())
    cells = R.load_cells(smoke_folder, "smoke")
    with pytest.raises(R.ResultsError, match="cells missing"):
        R.check_complete(cells)
    assert len(R.history_frame(cells)) == 1
    (smoke_folder / "smoke" / "rrelu-seed0.json").write_text("{truncated")
    with pytest.raises(R.ResultsError, match="unreadable"):
        R.load_cells(smoke_folder, "smoke")


@pytest.mark.parametrize("content, message", [
    ("null", "a JSON NoneType"), ("3", "a JSON int"), ("[]", "a JSON list"),
])
def test_non_objects_are_refused(smoke_folder, content, message):
    (smoke_folder / "smoke" / "relu-seed0.json").write_text(content)
    with pytest.raises(R.ResultsError, match=message):
        R.load_cells(smoke_folder, "smoke")


def test_history_of_the_wrong_type_is_refused(smoke_folder):
    _write_smoke(smoke_folder, "relu-seed0.json", dict(_smoke_cell(), history="abc"))
    with pytest.raises(R.ResultsError, match="history must be a list of objects"):
        R.load_cells(smoke_folder, "smoke")


def test_two_files_for_one_cell_are_refused(smoke_folder):
    _write_smoke(smoke_folder, "relu-seed0.json", _smoke_cell())
    _write_smoke(smoke_folder, "relu-seed0 (copy).json", _smoke_cell())
    with pytest.raises(R.ResultsError, match="two files for relu seed 0"):
        R.load_cells(smoke_folder, "smoke")


def test_different_configs_and_data_sets_are_refused(smoke_folder):
    _write_smoke(smoke_folder, "relu-seed0.json", _smoke_cell())
    _write_smoke(smoke_folder, "rrelu-seed0.json", _smoke_cell("rrelu", sha="b" * 64))
    with pytest.raises(R.ResultsError, match="2 different data sets.*rrelu-seed0.json"):
        R.load_cells(smoke_folder, "smoke")
    other = dict(get_profile("smoke"), batch_size=7)
    _write_smoke(smoke_folder, "rrelu-seed0.json", _smoke_cell("rrelu", config=other))
    with pytest.raises(R.ResultsError, match="different configs"):
        R.load_cells(smoke_folder, "smoke")


def test_mixed_kernels_warn(smoke_folder):
    _write_smoke(smoke_folder, "relu-seed0.json", _smoke_cell())
    _write_smoke(smoke_folder, "rrelu-seed0.json", _smoke_cell("rrelu", isa="AVX512_CORE_AMX"))
    with pytest.warns(R.ResultsWarning, match="different kernels"):
        R.load_cells(smoke_folder, "smoke")
    _write_smoke(smoke_folder, "rrelu-seed0.json", _smoke_cell("rrelu"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(R.load_cells(smoke_folder, "smoke")) == 2


def test_unknown_schema_is_refused(smoke_folder):
    _write_smoke(smoke_folder, "relu-seed0.json", dict(_smoke_cell(), schema=99))
    with pytest.raises(R.ResultsError, match="result format 99"):
        R.load_cells(smoke_folder, "smoke")


def test_committed_results_load_complete_and_agree_with_each_other():
    """Checked against each other (one config, data set and backend per folder), not against the
    profile as defined now: the runner and its profiles have moved on since these cells were made."""
    for profile in ("cpu", "overfit"):
        cells = R.load_cells("data/earlier", profile)
        R.check_complete(cells)
        assert all("/" not in c["provenance"]["dataset"]["source"] for c in cells)
        assert {R.backend(c) for c in cells} == {"tensorflow"}


def test_split_diverged_separates_cells_whose_loss_ended_nan():
    final = pd.DataFrame({"activation": ["relu", "selu", "selu"], "seed": [0, 0, 1],
                          "train_loss": [0.4, float("nan"), 0.5], "test_error": [0.5, 0.9, 0.5]})
    kept, diverged = R.split_diverged(final)
    assert list(zip(kept.activation, kept.seed)) == [("relu", 0), ("selu", 1)]
    assert list(zip(diverged.activation, diverged.seed)) == [("selu", 0)]
    assert list(kept.index) == [0, 1] and list(diverged.index) == [0]


def test_the_loaders_and_check_judge_result_files_by_the_same_rules():
    """The rules live in the runner (``check`` uses them there); the analysis names are the same objects, so
    a ``ResultsError`` the runner raises is the one a chapter catches."""
    from actbook.runner import result_files
    assert R.ResultsError is result_files.ResultsError and issubclass(R.RegimeIncomplete, R.ResultsError)
    assert R.result_problems is result_files.any_format_problems
    assert R.later_format_problems is result_files.later_format_problems
    assert R.measured_metrics is result_files.any_format_measured_metrics
    assert R.load_predictions is result_files.load_predictions
    assert (R.outcome, R.diverged_epoch) == (result_files.outcome, result_files.diverged_epoch)
    assert (R.SCHEMAS, R.MAX_PREDICTIONS_UNPACKED) == (result_files.SCHEMAS, result_files.MAX_PREDICTIONS_UNPACKED)
    with pytest.raises(R.ResultsError, match="no per-image predictions"):
        result_files.load_predictions({"file": "x.json", "schema": 4})


def test_common_seeds_are_those_every_arm_has_ended_counting_a_diverged_cell():
    # relu has seeds 0-2, elu 0-1 trained and 2 diverged, prelu 0 and 2: every arm has ended seeds 0 and 2 only
    final = pd.DataFrame({"activation": ["relu"] * 3 + ["elu"] * 2 + ["prelu"] * 2, "seed": [0, 1, 2, 0, 1, 0, 2]})
    diverged = pd.DataFrame({"activation": ["elu"], "seed": [2]})
    sweep = R.Sweep(Path("x"), [{"config": {"arms": ["relu", "elu", "prelu"]}}], pd.DataFrame(), final, diverged, [], 9)
    assert R.common_seeds(sweep) == [0, 2]
