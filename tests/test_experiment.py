"""The sweep runner: profiles, plans, bad input, training on synthetic data
(resume, checkpoints, locks), and the real smoke profile."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from actbook.runner import experiment as E
from actbook.runner import precision
from actbook.runner import profiles as P
from actbook.analysis import results as R
from actbook.runner import train as T
from synthetic import TINY, interrupt_after_first_checkpoint, synthetic_cifar, write_profiles

needs_cifar = pytest.mark.skipif(not os.environ.get("ACTBOOK_CIFAR10"), reason="ACTBOOK_CIFAR10 not set")
TIMING = ("seconds", "train_images_per_second")


def _strip(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "profiles.json", tiny=TINY))
    return synthetic_cifar()


def test_shipped_profiles_are_valid_and_planned():
    profiles = P.load_profiles()
    assert {"smoke", "demo", "cpu", "overfit", "paper"} <= set(profiles)
    cells = E.plan("cpu")
    assert len(cells) == 35 and len(set(cells)) == 35
    shards = [E.plan("cpu", shard=f"{k}/4") for k in range(1, 5)]
    assert sorted(c for s in shards for c in s) == sorted(cells)
    assert E.result_path(Path("R"), E.Cell("cpu", "lrelu_1/5.5", 2)) == Path("R/cpu/lrelu_1_5.5-seed2.json")
    assert (E.result_path(Path("R"), E.Cell("cpu", "lrelu_1/5.5", 100, 0.05))
            == Path("R/cpu/grid/lrelu_1_5.5-lr0.05-seed100.json"))
    over = E.plan("overfit")
    per_arm = {a: sum(c.arm == a for c in over) for a in profiles["overfit"]["arms"]}
    assert set(per_arm.values()) == {10} and len(per_arm) == 12


@pytest.mark.parametrize("change, message", [
    ({"augment": "no"}, "augment: 'no' is not of type 'boolean'"),
    ({"epochs": 0}, "epochs: 0 is less than the minimum of 1"),
    ({"epochs": -1}, "epochs: -1 is less than the minimum of 1"),
    ({"batch_size": 0}, "batch_size: 0 is less than the minimum of 1"),
    ({"train_size": -5}, "train_size"),
    ({"train_size": 1005}, "train_size"),
    ({"train_eval_size": 15}, "train_eval_size"),
    ({"train_size": 100, "train_eval_size": 200}, "train_eval_size: 200 is more than the 100 training images"),
    ({"precision": "float8"}, "precision: 'float8' is not one of"),
    ({"model": "resnet"}, "model: 'resnet' is not one of"),
    ({"model_kwargs": {"widht": 8}}, "model_kwargs: Additional properties are not allowed ('widht'"),
    ({"optimizer": dict(TINY["optimizer"], name="adam")}, "optimizer.name: 'adam' is not one of"),
    ({"optimizer": dict(TINY["optimizer"], schedule="linear")}, "optimizer.schedule"),
    ({"arms": ["softmax"]}, "arms.0: 'softmax' is not one of"),
    ({"arms": ["relu", "relu"]}, "has non-unique elements"),
    ({"seeds": [4294967296]}, "seeds.0: 4294967296 is greater than the maximum"),
])
def test_profile_schema_rejects_bad_values(change, message):
    with pytest.raises(P.UsageError, match="invalid") as err:
        P.validate("tiny", {**TINY, **change})
    assert message in str(err.value)


def test_every_problem_is_listed_once():
    with pytest.raises(P.UsageError) as err:
        P.validate("tiny", {**TINY, "epochs": 0, "batch_size": 0})
    assert "epochs" in str(err.value) and "batch_size" in str(err.value)


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "a b", ""])
def test_profile_names_must_be_safe_file_names(name):
    with pytest.raises(P.UsageError, match="safe file name"):
        P.validate(name, TINY)


@pytest.mark.parametrize("args, message", [
    (["--profile", "huge"], "valid profiles: smoke, demo, cpu"),
    (["--profile", "smoke", "--activations", "relu,swishy"], "valid: sigmoid, relu"),
    (["--profile", "smoke", "--activations", "softmax"], "unknown activation(s) 'softmax'"),
    (["--profile", "smoke", "--shard", "5/4"], "1 <= K <= N"),
    (["--profile", "smoke", "--shard", "two"], "K/N"),
    (["--profile", "smoke", "--set", "optimizer.lr=1"], "valid keys in optimizer: learning_rate"),
    (["--profile", "smoke", "--set", "epochz=1"], "unknown setting"),
    (["--profile", "smoke", "--set", "epochs=-1"], "epochs: -1 is less than the minimum"),
    (["--profile", "smoke", "--set", "noequals"], "KEY=VALUE"),
])
def test_bad_input_is_one_error_line_and_status_2(args, message, tmp_path, capsys):
    assert E.main(["run", "--results", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


@pytest.mark.parametrize("args", [["--seeds", "4294967296"], ["--seeds", ""], ["--activations", ""],
                                  ["--seeds", "1,x"]])
def test_bad_lists_are_refused_before_anything_loads(args, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("actbook.runner.data.load_cifar10", lambda *a, **k: pytest.fail("data loaded"))
    assert E.main(["run", "--profile", "smoke", "--results", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_duplicated_arms_and_seeds_run_once():
    cells = E.plan("cpu", ["relu", "relu"], [0, 0, 1])
    assert [c.stem for c in cells] == ["relu-seed0", "relu-seed1"]


def test_profiles_file_that_is_a_list(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "p.json"
    bad.write_text("[1, 2]")
    monkeypatch.setenv("ACTBOOK_PROFILES", str(bad))
    assert E.main(["list"]) == 2
    assert "expected a JSON object" in capsys.readouterr().err


def test_unwritable_results_fail_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert E.main(["run", "--profile", "smoke", "--results", str(blocker / "results")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_result_path_that_is_a_directory_fails_before_training(tmp_path, capsys):
    (tmp_path / "smoke" / "relu-seed0.json").mkdir(parents=True)
    assert E.main(["run", "--profile", "smoke", "--results", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_plan_paper_shard_lists_cells_and_cost(capsys):
    assert E.main(["plan", "--profile", "paper", "--shard", "2/8"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["paper relu-seed0", "paper lrelu_0.01-seed1", "paper lrelu_1_5.5-seed2"]  # every 8th of 21, from the 2nd
    assert "445 MFLOP per image" in out[3] and "TFLOP/s" in out[4]


def test_the_cpu_step_costs_are_the_committed_benchmarks():
    """plan's per-activation CPU cost is the committed step-time benchmark, rounded: a new
    benchmark that moves an arm by more than the rounding fails here until the table follows."""
    bench = json.loads((Path(__file__).parents[1] / "data" / "benchmarks" / "step_time_fit8k_float32.json").read_text())
    measured = {a["activation"]: a["time vs ReLU"] for a in bench["arms"]}
    assert set(E.CPU_STEP_COST) == set(measured)
    for arm, ratio in measured.items():
        assert E.CPU_STEP_COST[arm] == pytest.approx(ratio, abs=0.005), arm


def test_plan_scales_each_cpu_cell_by_its_activations_step_cost(capsys):
    """FLOPs alone price GELU's cells as ReLU's; the CPU spends more on GELU's erf."""
    cells = E.plan("fit8k", ["relu", "gelu"], [100], stage="grid")
    est = E.cost("fit8k", cells)
    minutes = est["cpu_minutes_per_cell"]
    assert minutes["gelu"] / minutes["relu"] == pytest.approx(E.CPU_STEP_COST["gelu"])
    assert est["hours"]["cpu (2 cores)"] * 60 == pytest.approx(sum(minutes[c.arm] for c in cells))
    gpu = est["pflop_total"] * 1e15 / E.ASSUMED_RATE[("gpu", "float32")] / 3600
    assert est["hours"]["gpu"] == pytest.approx(gpu)  # a GPU's estimate stays FLOP-based
    assert E.main(["plan", "--profile", "fit8k", "--stage", "grid", "--activations", "relu,gelu"]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if "a cell on the cpu" in l]
    assert line and f"gelu {minutes['gelu']:.2g} min" in line[0], line


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_overrides_get_their_own_folder_and_are_recorded(tiny, tmp_path):
    over = {"epochs": 1, "arms": ["relu"]}
    paths = E.run("tiny", tmp_path, data=tiny, progress=False, overrides=over)
    assert paths[0].parent.name == P.profile_folder("tiny", over)
    cell = json.loads(paths[0].read_text())
    assert cell["overrides"] == over and cell["config"]["epochs"] == 1
    assert not (tmp_path / "tiny").exists()


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_training_error_measured_on_a_fixed_subset(tiny, tmp_path):
    """``train_eval_size`` measures the inference-mode training error on that
    many training images (a class-balanced subset), and the file says so."""
    over = {"epochs": 1, "arms": ["relu"], "train_eval_size": 30}
    cell = json.loads(E.run("tiny", tmp_path, data=tiny, progress=False, overrides=over)[0].read_text())
    assert cell["provenance"]["train_eval_images_used"] == 30
    assert cell["provenance"]["train_images_used"] == len(tiny.y_train)
    error = cell["history"][-1]["train_eval_error"]
    # A count out of 30 images; out of all 200 it would be one only for 11 of the 201 possible counts.
    assert abs(error * 30 - round(error * 30)) < 1e-4


def test_synthetic_cell_end_to_end(tiny, tmp_path):
    """The whole recipe on synthetic data: history columns, provenance, diagnostics."""
    paths = E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])
    cell = json.loads(paths[0].read_text())
    rows = cell["history"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[0]["test_error"] is None and rows[0]["train_eval_error"] is None  # eval_every = 2
    assert all(0 <= rows[i][k] <= 1 for i in (1, 2) for k in ("test_error", "train_eval_error"))
    prov = cell["provenance"]
    assert prov["train_eval_images_used"] == len(tiny.y_train)  # all of them by default
    assert prov["dataset"] == tiny.provenance() and "/" not in prov["dataset"]["source"]
    kernels = prov["hardware"]["kernels"]
    assert kernels["ONEDNN_MAX_CPU_ISA"] and kernels["onednn"] is True
    assert kernels["isa_flags"]["avx512_bf16"] == ("avx512_bf16" in precision.cpu_flags())
    assert cell["provenance"]["backend"]["name"] == "tensorflow" and cell["outcome"] == "finished"
    assert set(cell["diagnostics"]["never_active_fraction"]) == {f"act_{k}" for k in range(1, 7)}
    mtime = paths[0].stat().st_mtime_ns
    E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])  # finished cells are skipped
    assert paths[0].stat().st_mtime_ns == mtime


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_inference_mode_training_error_matches_model_evaluate(tiny, tmp_path, monkeypatch):
    """train_eval_error is the trained model, training=False, on the whole training subset."""
    captured = {}
    real = T._layer_diagnostics
    monkeypatch.setattr(T, "_layer_diagnostics", lambda model, x: captured.setdefault("model", model) and real(model, x))
    path = E.run("tiny", tmp_path, data=tiny, progress=False, arms=["rrelu"])[0]
    last = json.loads(path.read_text())["history"][-1]
    from actbook.runner import data as D
    prepared = D.prepare(P.get_profile("tiny"), tiny)
    model = captured["model"]
    probs = model.predict(prepared.x_train, verbose=0)  # predict runs with training=False
    assert last["train_eval_error"] == pytest.approx(float(np.mean(probs.argmax(1) != prepared.y_train)), abs=1e-6)
    m = model.evaluate(prepared.x_train, prepared.y_train, verbose=0, return_dict=True)
    assert last["train_eval_loss"] == pytest.approx(m["loss"], rel=1e-5)
    # The cross-entropy alone is the objective less the L2 penalty on the kernels.
    penalty = float(sum(np.asarray(v) for v in model.losses))
    assert last["train_eval_xent"] == pytest.approx(m["xent"], rel=1e-5)
    assert last["train_eval_xent"] == pytest.approx(m["loss"] - penalty, rel=1e-4)


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_interrupted_cell_resumes_bit_identically(tiny, tmp_path, monkeypatch):
    """Dropout and RReLU noise restored, shuffling and augmentation a function of the epoch: same history
    as an uninterrupted run."""
    whole = E.run("tiny", tmp_path / "a", data=tiny, progress=False, arms=["rrelu"])[0]
    interrupt_after_first_checkpoint(
        monkeypatch, lambda: E.run("tiny", tmp_path / "b", data=tiny, progress=False, arms=["rrelu"]))
    resumed = E.run("tiny", tmp_path / "b", data=tiny, progress=False, arms=["rrelu"])[0]
    assert _strip(json.loads(resumed.read_text())["history"]) == _strip(json.loads(whole.read_text())["history"])


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_checkpoint_whose_model_is_ahead_of_its_state_is_redone(tiny, tmp_path, monkeypatch, capsys):
    """A kill between writing model.keras and state.json: the model has one epoch more than the state."""
    whole = E.run("tiny", tmp_path / "a", data=tiny, progress=False, arms=["relu"])[0]
    real, calls = T.save_checkpoint, []

    def second_model_first_state(ckpt_dir, model, state):
        calls.append(1)
        if len(calls) == 1:
            return real(ckpt_dir, model, state)
        model.save(ckpt_dir / "model.keras")  # epoch-2 model, epoch-1 state: then the kill
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "save_checkpoint", second_model_first_state)
    tiny3 = {**TINY, "epochs": 4, "arms": ["relu"]}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "p4.json", tiny=tiny3))
    with pytest.raises(KeyboardInterrupt):
        E.run("tiny", tmp_path / "b", data=tiny, progress=False)
    monkeypatch.setattr(T, "save_checkpoint", real)
    resumed = E.run("tiny", tmp_path / "b", data=tiny, progress=False)[0]
    assert "discarding checkpoint" in capsys.readouterr().err
    fresh = E.run("tiny", tmp_path / "c", data=tiny, progress=False)[0]
    assert _strip(json.loads(resumed.read_text())["history"]) == _strip(json.loads(fresh.read_text())["history"])
    assert len(json.loads(whole.read_text())["history"]) == 3


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_stale_cells_are_refused_then_rerun_on_request(tiny, tmp_path, monkeypatch):
    E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])
    changed = {**TINY, "optimizer": dict(TINY["optimizer"], learning_rate=0.01)}
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(tmp_path / "p2.json", tiny=changed))
    with pytest.raises(P.UsageError, match="another version of profile 'tiny'"):
        E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])
    path = E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"], rerun_stale=True)[0]
    assert json.loads(path.read_text())["config"]["optimizer"]["learning_rate"] == 0.01


def test_a_locked_cell_is_skipped_with_a_message(tiny, tmp_path, capsys):
    from actbook.runner.files import cell_lock
    out = E.result_path(tmp_path, E.Cell("tiny", "relu", 0))
    out.parent.mkdir(parents=True)
    code = f"from filelock import FileLock; import time; l = FileLock({str(out) + '.lock'!r}); l.acquire(); print('locked', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])
        assert "another process is running this cell" in capsys.readouterr().err
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    with cell_lock(out):  # released when its holder died
        pass


def test_nan_losses_are_written_as_null(tmp_path):
    from actbook.runner.files import write_json_atomic
    write_json_atomic(tmp_path / "x.json", {"loss": float("nan"), "rows": [float("inf"), 1.0]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"loss": None, "rows": [None, 1.0]}


@pytest.mark.slow  # trains several cells end to end; CI runs it (--runslow)
def test_check_reports_an_incomplete_folder(tiny, tmp_path, capsys):
    E.run("tiny", tmp_path, data=tiny, progress=False, arms=["relu"])
    folder = tmp_path / "tiny"
    (folder / "relu-seed0 (copy).json").write_bytes((folder / "relu-seed0.json").read_bytes())
    assert E.main(["check", "--profile", "tiny", "--results", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "missing: rrelu-seed0" in out and "duplicate" in out and "misnamed" in out
    (folder / "relu-seed0 (copy).json").unlink()
    E.run("tiny", tmp_path, data=tiny, progress=False)
    assert E.main(["check", "--profile", "tiny", "--results", str(tmp_path)]) == 0


@pytest.mark.slow
@needs_cifar
def test_smoke_profile_on_real_cifar(tmp_path):
    paths = E.run("smoke", tmp_path, progress=False)
    assert [p.name for p in paths] == ["relu-seed0.json", "rrelu-seed0.json"]
    again = E.run("smoke", tmp_path / "again", arms=["relu"], progress=False)
    assert _strip(json.loads(again[0].read_text())["history"]) == _strip(json.loads(paths[0].read_text())["history"])
    assert len(R.history_frame(R.load_cells(tmp_path, "smoke"))) == 2


@pytest.mark.slow
@needs_cifar
def test_kill_9_then_resume_loses_nothing(tmp_path):
    """A cell killed with SIGKILL after its first checkpoint resumes from it; no partial file appears."""
    smoke = P.get_profile("smoke")
    two_epochs = dict(smoke, epochs=2, arms=["prelu"], train_size=1000)
    env = dict(os.environ, ACTBOOK_PROFILES=write_profiles(tmp_path / "profiles.json", smoke2=two_epochs))
    cmd = [sys.executable, "-m", "actbook", "run", "--profile", "smoke2",
           "--results", str(tmp_path / "res"), "--no-progress"]
    state = tmp_path / "res" / "smoke2" / ".checkpoints" / "prelu-seed0" / "state.json"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert state.exists(), "no checkpoint appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = tmp_path / "res" / "smoke2" / "prelu-seed0.json"
    assert not list(result.parent.glob("*.json"))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    cell = json.loads(result.read_text())
    assert len(cell["history"]) == 2 and len(cell["diagnostics"]["prelu_alpha"]) == 6
    assert not state.parent.exists()


def test_select_and_the_book_choose_the_same_rates_from_the_committed_grid():
    """``select`` reads the grid through the runner; the chapters through the analysis: the same frame and choice."""
    import pandas as pd

    from actbook.analysis import selection as S
    from actbook.runner import rate_rule
    results = Path(__file__).resolve().parent.parent / "data" / "results"
    grid = P.get_profile("overfit", results=results)["grid"]
    assert grid.get("extended")  # the committed extension, read from the results folder
    book = S.grid_frame(S.load_grid(results, "overfit"))
    runner = rate_rule.grid_frame(E._grid_cells("overfit", results))
    pd.testing.assert_frame_equal(runner, book)
    arms = P.get_profile("overfit")["arms"]
    for extended in (None, grid["extended"]):
        pd.testing.assert_frame_equal(
            rate_rule.choose_rates(runner, arms, grid["learning_rates"], grid["seeds"], extended),
            S.choose_rates(book, arms, grid["learning_rates"], grid["seeds"], extended))
