"""Same command, same numbers: a tiny cell in separate processes, under the
pinned kernels and under another instruction set (the precision policy)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actbook.runner import precision
from synthetic import TINY, write_profiles

HERE = Path(__file__).resolve().parent
TIMING = ("seconds", "train_images_per_second")


def _run(tmp_path, name, isa=None, precision_name=None):
    profile = dict(TINY, precision=precision_name or TINY["precision"])
    env = dict(os.environ, ACTBOOK_PROFILES=write_profiles(tmp_path / f"{name}.json", tiny=profile))
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    done = subprocess.run([sys.executable, str(HERE / "run_tiny_cell.py"), str(tmp_path / name), "rrelu"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _strip(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def _isa_at_least(name):
    best = precision.cpu_isa()
    return best in precision.ISA_ORDER and precision.ISA_ORDER.index(best) >= precision.ISA_ORDER.index(name)


@pytest.mark.slow
@pytest.mark.skipif(not _isa_at_least(precision.PINNED_ISA), reason="bf16 needs AVX-512 BF16 or AMX")
def test_two_processes_give_bit_identical_histories(tmp_path):
    a, b = _run(tmp_path, "a"), _run(tmp_path, "b")
    assert a["kernels"]["ONEDNN_MAX_CPU_ISA"] == precision.PINNED_ISA
    assert _strip(a["history"]) == _strip(b["history"])
    if _isa_at_least("AVX512_CORE_AMX"):
        # Without the pin AMX kernels run; measured: a few 1e-4 apart on the
        # loss of this tiny cell, which is why the policy pins them away.
        c = _run(tmp_path, "c", isa="AVX512_CORE_AMX")
        assert c["kernels"]["effective_isa"] == "AVX512_CORE_AMX"
        assert abs(a["history"][-1]["test_error"] - c["history"][-1]["test_error"]) <= 0.02  # 2 of 100 images
        assert c["history"][-1]["train_loss"] == pytest.approx(a["history"][-1]["train_loss"], rel=1e-2)


@pytest.mark.slow
@pytest.mark.skipif(not _isa_at_least("AVX512_CORE"), reason="needs an AVX-512 CPU to compare with AVX2")
def test_float32_agrees_between_avx512_and_avx2(tmp_path):
    """float32, the portable precision: AVX-512 and AVX2 kernels within the policy's tolerance."""
    a = _run(tmp_path, "a", precision_name="float32")
    c = _run(tmp_path, "c", isa="AVX2", precision_name="float32")
    assert c["kernels"]["effective_isa"] == "AVX2"
    assert abs(a["history"][-1]["test_error"] - c["history"][-1]["test_error"]) <= 0.02
    assert c["history"][-1]["train_loss"] == pytest.approx(a["history"][-1]["train_loss"], rel=1e-3)


def test_bf16_is_refused_up_front_where_onednn_has_no_bf16_convolution(monkeypatch):
    with pytest.raises(precision.PrecisionUnsupported, match="AVX2.*no bf16 convolution.*float32"):
        precision.check_supported("mixed_bfloat16", isa="AVX2")
    with pytest.raises(precision.PrecisionUnsupported, match="AVX512_CORE.*emulated"):
        precision.check_supported("mixed_bfloat16", isa="AVX512_CORE")
    precision.check_supported("float32", isa="AVX2")
    precision.check_supported("mixed_bfloat16", isa="AVX512_CORE_BF16")
    precision.check_supported("mixed_bfloat16", isa="AVX512_CORE_AMX")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # Eigen's kernels do bf16 anywhere
    precision.check_supported("mixed_bfloat16", isa="AVX2")


def test_effective_isa_is_the_cpu_capped_by_the_setting():
    amx = {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile"}
    assert precision.cpu_isa(amx) == "AVX512_CORE_AMX"
    assert precision.effective_isa("AVX512_CORE_BF16", amx) == "AVX512_CORE_BF16"
    assert precision.effective_isa("ALL", amx) == "AVX512_CORE_AMX"
    assert precision.effective_isa("AVX512_CORE_BF16", {"avx2"}) == "AVX2"


def _rerun(*errors, overrides=None):
    isas = ("AVX512_CORE_AMX", "AVX512_CORE_BF16", "AVX512_CORE", "AVX2")
    return {"cell": {"profile": "cpu", "activation": "relu", "seed": 0, "overrides": overrides or {}},
            "runs": [{"ONEDNN_MAX_CPU_ISA": isa, "final_test_error": e, "identical_to_policy_run": e == 0.40}
                     for isa, e in zip(isas, errors)]}


COMMITTED = [{"profile": "cpu", "activation": "relu", "seed": s, "config": {"epochs": 3},
              "history": [{"test_error": 0.5}, {"test_error": 0.40 + s / 100}]} for s in (0, 1)]


def test_reruns_within_the_tolerance_reproduce_the_committed_cell():
    from actbook.analysis import reproduction as R
    table, committed = R.against_committed(_rerun(0.40, 0.40, 0.4049, None), COMMITTED)
    assert committed["seed"] == 0 and list(table.index) == ["AVX512_CORE_AMX", "AVX512_CORE_BF16", "AVX512_CORE"]
    assert table["minus committed"].tolist() == pytest.approx([0, 0, 0.0049])
    assert R.tolerance_sentence(table, committed, 0.01, "ReLU").startswith("Every setting reproduces")
    assert R.misses(table) == [] and not R.exact(table) and R.exact(table.iloc[:2])
    assert R.summary(table, committed, 0.01, "ReLU").startswith(
        "- **cpu ReLU seed 0** (3 epochs, committed final test error 0.4000): 1 of the 2 other caps reproduce "
        "the run at the runner's cap (AVX512_CORE_BF16) bit for bit.")
    assert R.summary(table, committed, 0.01, "ReLU", on="AMD EPYC").startswith("- **cpu ReLU seed 0, rerun on AMD EPYC**")
    two, _ = R.against_committed(_rerun(0.40, 0.40), COMMITTED)  # the cap and one other, both exact
    assert R.summary(two, committed, 0.01, "ReLU") == (
        "- **cpu ReLU seed 0** (3 epochs, committed final test error 0.4000): the other cap, AVX512_CORE_AMX, "
        "reproduces the run at the runner's cap (AVX512_CORE_BF16) bit for bit. Every setting gives the committed "
        "final test error exactly after 3 epochs.")


def test_a_rerun_beyond_the_tolerance_is_named_against_the_seed_spread():
    from actbook.analysis import reproduction as R
    table, committed = R.against_committed(_rerun(0.40, 0.40, 0.40, 0.42), COMMITTED)
    sentence = R.tolerance_sentence(table, committed, 0.01, "ReLU")
    assert sentence.startswith("AVX2 misses the tolerance of 0.005") and "0.0200 away" in sentence
    assert "2.0 times" in sentence and "3 epochs" in sentence and R.misses(table) == ["AVX2"]


def test_overridden_or_uncommitted_reruns_are_refused():
    from actbook.analysis import reproduction as R
    with pytest.raises(ValueError, match="another experiment"):
        R.against_committed(_rerun(0.4, overrides={"epochs": 10}), COMMITTED)
    with pytest.raises(ValueError, match="no committed cpu cell relu seed 0"):
        R.against_committed(_rerun(0.4), COMMITTED[1:])


def test_every_host_s_rerun_record_of_a_profile_is_found(tmp_path):
    from actbook.analysis import reproduction as R
    for name in ("cross_isa_cpu_float32.json", "cross_isa_cpu_float32_amd.json", "cross_isa_overfit_float32.json",
                 "cross_isa.json"):
        (tmp_path / name).write_text("{}")
    assert [f.name for f in R.rerun_files(tmp_path, "cpu")] == ["cross_isa_cpu_float32.json",
                                                                "cross_isa_cpu_float32_amd.json"]
    assert R.host({"provenance": {"hardware": {"cpu": "AMD EPYC"}}}) == "AMD EPYC"


def test_a_whole_rerun_is_compared_with_the_committed_cell_timing_aside():
    from actbook.analysis import reproduction as R
    cell = {"history": [{"epoch": 1, "test_error": 0.5, "seconds": 3.0}, {"epoch": 2, "test_error": 0.4, "seconds": 3.1}],
            "diagnostics": {"dead": 0.1}}
    same = dict(cell, history=[dict(r, seconds=9.0) for r in cell["history"]])
    assert R.history_differences(same, cell) == []
    moved = dict(same, history=[same["history"][0], dict(same["history"][1], test_error=0.41)], diagnostics={})
    assert R.history_differences(moved, cell) == ["epoch 2 test_error", "diagnostics"]
    assert R.history_differences(dict(cell, history=cell["history"][:1]), cell)[0] == "1 epochs against 2"


def test_the_committed_whole_rerun_matches_its_committed_cell():
    import json
    from actbook.analysis import reproduction as R
    from actbook.analysis.results import load_cells
    from actbook.data_folder import committed
    for record in sorted(committed("reproducibility", "rerun").glob("*.json")):
        rerun = json.loads(record.read_text())
        earlier = {p: load_cells(committed("earlier"), p) for p in ("cpu", "overfit")}
        cell = R.original(rerun, earlier, committed("results"))
        assert cell is not None, f"{record.name}: its committed cell is not there"
        assert R.history_differences(rerun, cell) == [], record.name


@pytest.mark.parametrize("folder", ["rerun-fit1k", "rerun-fit8k"])
def test_the_committed_whole_reruns_of_the_later_regimes_match_bit_for_bit(folder):
    """A final cell of a regime with per-image predictions, rerun whole at a later commit: the same history,
    diagnostics and calibration, and a byte-identical predictions file."""
    import hashlib
    import json
    from actbook.analysis import reproduction as R
    from actbook.data_folder import committed
    records = sorted(committed("reproducibility", folder).glob("*.json"))
    assert records, f"no rerun record in {folder}"
    for record in records:
        rerun = json.loads(record.read_text())
        cell = R.original(rerun, {}, committed("results"))
        assert cell is not None, f"{record.name}: its committed cell is not there"
        assert R.history_differences(rerun, cell) == [], record.name
        assert rerun["calibration"] == cell["calibration"], record.name
        assert rerun["provenance"]["git"]["commit"] != cell["provenance"]["git"]["commit"], "not a later commit"
        mine = committed("reproducibility", folder, rerun["predictions"]["file"]).read_bytes()
        theirs = committed("results", cell["profile"], cell["predictions"]["file"]).read_bytes()
        assert hashlib.sha256(mine).hexdigest() == rerun["predictions"]["sha256"] == cell["predictions"]["sha256"]
        assert mine == theirs, record.name


def test_repeated_pairs_holds_each_rerun_to_its_cell_and_names_one_that_moved(tmp_path):
    import json
    from actbook.analysis import reproduction as R
    from actbook.data_folder import committed
    record = committed("reproducibility", "rerun-fit8k", "fit8k-final-relu-seed0-intel.json")
    [(rerun, cell)] = R.repeated_pairs([record], committed("results"))
    assert cell["seed"] == rerun["seed"] == 0 and cell["provenance"]["git"] != rerun["provenance"]["git"]
    moved = json.loads(record.read_text())
    moved["history"][-1]["test_error"] += 0.0001
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    with pytest.raises(ValueError, match="moved.json no longer repeats"):
        R.repeated_pairs([tmp_path / "moved.json"], committed("results"))


def test_a_rerun_is_held_against_the_cell_of_its_own_stage(tmp_path):
    import json
    from actbook.analysis import reproduction as R

    def cell(stage=None, rate=0.05, error=0.5):
        c = {"profile": "overfit", "activation": "relu", "seed": 0, "history": [{"epoch": 1, "test_error": error}],
             "config": {"optimizer": {"learning_rate": rate}}}
        return c if stage is None else dict(c, stage=stage)
    earlier = {"overfit": [cell(error=0.4)]}
    (tmp_path / "overfit" / "grid").mkdir(parents=True)
    (tmp_path / "overfit" / "relu-seed0.json").write_text(json.dumps(cell("final", 0.0125)))
    (tmp_path / "overfit" / "grid" / "relu-lr0.05-seed100.json").write_text(json.dumps(dict(cell("grid"), seed=100)))
    assert R.original(cell(), earlier, tmp_path)["history"][0]["test_error"] == 0.4  # an earlier cell
    assert R.original(cell("final", 0.0125), earlier, tmp_path)["stage"] == "final"
    assert R.original(cell("final", 0.025), earlier, tmp_path) is None  # another rate is another cell
    assert R.original(cell("grid"), earlier, tmp_path) is None  # the grid cell is seed 100, not 0
    assert R.original(dict(cell("grid"), seed=100), earlier, tmp_path)["stage"] == "grid"
    final = cell("final", 0.0125)
    rerun = dict(final, provenance={"git": {"commit": "abcdef1234", "dirty": False}, "hardware": {"cpu": "AMD EPYC"}})
    assert R.whole_rerun_sentence(rerun, final, "ReLU").startswith("The whole overfit final ReLU seed 0 cell, rerun")
    made = dict(final, provenance={"hardware": {"cpu": "Intel Xeon"}})
    assert R.whole_rerun_sentence(rerun, made, "ReLU").startswith(
        "The whole overfit final ReLU seed 0 cell (made on Intel Xeon), rerun on AMD EPYC")


def test_the_whole_rerun_sentence_says_where_and_whether_it_matched():
    from actbook.analysis import reproduction as R
    cell = {"profile": "overfit", "seed": 0, "history": [{"epoch": 1, "test_error": 0.5}], "diagnostics": {}}
    rerun = dict(cell, provenance={"git": {"commit": "c0b03d7f869d", "dirty": False}, "hardware": {"cpu": "AMD EPYC"}})
    assert R.whole_rerun_sentence(rerun, cell, "ReLU") == (
        "The whole overfit ReLU seed 0 cell, rerun on AMD EPYC with the one-cell command recorded in the rerun file "
        "(from a clean checkout of c0b03d7), repeats every number of its 1-epoch history and its diagnostics bit "
        "for bit, timing aside.")
    moved = dict(rerun, history=[{"epoch": 1, "test_error": 0.6}])
    assert R.whole_rerun_sentence(moved, cell, "ReLU").endswith("differs from the committed cell in 1 place, "
                                                                "first epoch 1 test_error.")
