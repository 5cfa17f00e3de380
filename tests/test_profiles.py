"""Profiles as data: the schema and its rules, the plan, what makes two
experiments the same, and where their results go."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actbook import arms as A
from actbook.runner import experiment as E
from actbook.runner import profiles as P
from synthetic import TINY

TINY2 = {**copy.deepcopy(TINY), "threads": 2}  # the shared TINY may predate "threads"


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """``tiny`` and a step-schedule ``stepper`` as user profiles."""
    stepper = {**copy.deepcopy(TINY2), "epochs": 10,
               "optimizer": {**TINY2["optimizer"], "schedule": "step", "step_epochs": [5, 8], "step_factor": 0.1}}
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"tiny": TINY2, "stepper": stepper}))
    monkeypatch.setenv("ACTBOOK_PROFILES", str(path))
    return path


def with_(config: dict, **dotted) -> dict:
    """``config`` with dotted keys set (``optimizer__learning_rate`` for ``optimizer.learning_rate``)."""
    config = copy.deepcopy(config)
    for key, value in dotted.items():
        *group, leaf = key.split("__")
        node = config
        for part in group:
            node = node[part]
        node[leaf] = value
    return config


def refused(config: dict, message: str):
    with pytest.raises(P.UsageError, match="invalid") as err:
        P.validate("tiny", config)
    assert message in str(err.value), str(err.value)


# --------------------------------------------------------------------------
# 1. threads
# --------------------------------------------------------------------------

def test_every_shipped_profile_says_how_many_threads():
    assert {name: c["threads"] for name, c in P.load_profiles().items()} == dict.fromkeys(
        ["smoke", "demo", "cpu", "paper", "overfit", "fit1k", "fit8k"], 2)


@pytest.mark.parametrize("threads, message", [
    (None, "'threads' is a required property"),
    (0, "threads: 0 is less than the minimum of 1"),
    (257, "threads: 257 is greater than the maximum of 256"),
    (2.0, "threads: 2.0 is not of type 'integer'"),
    (True, "threads: True is not of type 'integer'"),
    ("2", "threads: '2' is not of type 'integer'"),
])
def test_threads_is_a_required_whole_number_from_1_to_256(threads, message):
    config = copy.deepcopy(TINY2)
    if threads is None:
        del config["threads"]
    else:
        config["threads"] = threads
    refused(config, message)
    assert P.validate("tiny", with_(TINY2, threads=256))["threads"] == 256


# --------------------------------------------------------------------------
# 2. later arms
# --------------------------------------------------------------------------



def test_the_comparison_profiles_give_every_arm_the_same_seeds_and_a_grid():
    """The comparison's design (PROTOCOL.md): equal seeds for every arm (10 overfit, 5 cpu), a
    grid of rates a factor of 2 apart at seeds kept apart from the final ones; the edge rule's extension
    is the one recorded beside the committed results."""
    results = Path(__file__).resolve().parent.parent / "data" / "results"
    for profile, n_arms, n_seeds, n_rates, n_grid_seeds in (("overfit", 12, 10, 4, 2), ("cpu", 7, 5, 3, 1)):
        config = P.get_profile(profile, results=results)
        final, grid = P.plan(profile, results=results), P.plan(profile, stage="grid", results=results)
        per_arm = {a: sorted(c.seed for c in final if c.arm == a) for a in config["arms"]}
        assert len(per_arm) == n_arms and all(s == list(range(n_seeds)) for s in per_arm.values())
        rates = sorted(config["grid"]["learning_rates"])
        assert len(rates) == n_rates and all(b == 2 * a for a, b in zip(rates, rates[1:]))
        # The edge rule's extension (grid.extended) adds its cells after the grid's own.
        extension = sum(len(r) for r in config["grid"].get("extended", {}).values()) * n_grid_seeds
        assert extension  # both regimes' grids were extended
        assert len(grid) == n_arms * n_rates * n_grid_seeds + extension and len(set(grid)) == len(grid)
        assert not {c.seed for c in grid} & {c.seed for c in final}
        assert config["validation_size"] and not config.get("extra_seeds") and not config.get("later_arms")
    assert P.get_profile("overfit")["eval_every"] == 5  # learning curves every 5 epochs
    assert sorted(c for k in (1, 2, 3) for c in P.plan("overfit", shard=f"{k}/3", stage="grid")) == sorted(
        P.plan("overfit", stage="grid"))


def test_later_arms_are_checked_like_extra_seeds(tiny):
    refused(with_(TINY2, later_arms={"swish": [0]}), "later_arms: 'swish' is not one of")
    refused(with_(TINY2, later_arms={"softmax": [0]}), "later_arms: 'softmax' is not one of")
    refused(with_(TINY2, later_arms={"tanh": [0.0]}), "later_arms.tanh.0: 0.0 is not of type 'integer'")
    refused(with_(TINY2, later_arms={"tanh": []}), "later_arms.tanh: [] should be non-empty")
    refused(with_(TINY2, later_arms={"tanh": [1, 1]}), "has non-unique elements")
    # settable from the command line, also on a profile that has none
    cells = P.plan("tiny", overrides={"later_arms.tanh": [0, 5]})
    assert [c.stem for c in cells] == ["relu-seed0", "rrelu-seed0", "tanh-seed0", "tanh-seed5"]
    # an arm both in arms and later_arms runs once
    assert len(P.plan("tiny", overrides={"later_arms.relu": [0]})) == 2


# --------------------------------------------------------------------------
# 3. validation without holes
# --------------------------------------------------------------------------

NON_FINITE = [float("nan"), float("inf"), float("-inf")]
NUMBER_FIELDS = ["optimizer__learning_rate", "optimizer__momentum", "model_kwargs__dropout",
                 "model_kwargs__weight_decay", "optimizer__warmup_epochs", "optimizer__step_factor"]


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_in_a_profile(field, value):
    with pytest.raises(P.UsageError) as err:
        P.validate("tiny", with_(TINY2, **{field: value}))
    text = str(err.value)
    assert f"{field.replace('__', '.')}: {json.dumps(value)} is not a finite number" in text
    assert text.count("\n") == 1  # one message for the one problem


def test_non_finite_numbers_are_refused_anywhere(tiny):
    stepper = P.get_profile("stepper")
    refused(with_(stepper, optimizer__step_epochs=[5, float("nan")]),
            "optimizer.step_epochs.1: NaN is not a finite number")
    refused(with_(TINY2, description=float("inf")), "description: Infinity is not a finite number")


def test_non_finite_numbers_are_refused_in_the_profiles_file(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    path.write_text('{"tiny": ' + json.dumps(TINY2).replace('"learning_rate": 0.05', '"learning_rate": NaN') + "}")
    monkeypatch.setenv("ACTBOOK_PROFILES", str(path))
    with pytest.raises(P.UsageError, match="optimizer.learning_rate: NaN is not a finite number"):
        P.load_profiles()


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "[1, NaN]", '{"dropout": NaN}'])
def test_set_refuses_non_finite_numbers(raw):
    with pytest.raises(P.UsageError, match="not a finite number"):
        P.parse_set([f"optimizer.learning_rate={raw}"])


def test_set_non_finite_is_one_error_line_and_status_2(capsys):
    assert E.main(["plan", "--profile", "smoke", "--set", "optimizer.learning_rate=NaN"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set optimizer.learning_rate=NaN: not a finite number") and err.count("\n") == 1


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 2.0, "epochs: 2.0"), ("batch_size", 50.0, "batch_size: 50.0"), ("train_size", 300.0, "train_size: 300.0"),
    ("test_size", 100.0, "test_size: 100.0"), ("data_seed", 0.0, "data_seed: 0.0"),
    ("model_kwargs__width", 8.0, "model_kwargs.width: 8.0"), ("threads", 2.0, "threads: 2.0"),
    ("eval_every", 1.0, "eval_every: 1.0"), ("train_eval_size", 100.0, "train_eval_size: 100.0"),
    ("seeds", [0.0], "seeds.0: 0.0"), ("extra_seeds", {"relu": [1.0]}, "extra_seeds.relu.0: 1.0"),
    ("epochs", True, "epochs: True"), ("model_kwargs__width", False, "model_kwargs.width: False"),
])
def test_floats_and_booleans_are_refused_in_integer_fields(field, value, message):
    refused(with_(TINY2, **{field: value}), f"{message} is not of type")


def test_a_float_from_set_is_refused_in_an_integer_field(capsys):
    assert E.main(["plan", "--profile", "smoke", "--set", "epochs=2.0"]) == 2
    assert "epochs: 2.0 is not of type 'integer'" in capsys.readouterr().err


def test_model_kwargs_are_those_the_model_takes(tiny):
    refused(with_(TINY2, model="nin"), "model_kwargs.width: model 'nin' does not take it (it takes dropout, weight_decay)")
    with pytest.raises(P.UsageError, match="model_kwargs.width: model 'nin' does not take it"):
        P.get_profile("demo", {"model": "nin"})
    nin = P.get_profile("demo", {"model": "nin", "model_kwargs": {"dropout": 0.5, "weight_decay": 0.0001}})
    assert nin["model"] == "nin"


def test_a_model_is_built_with_its_networks_default_settings_and_refuses_others():
    models = pytest.importorskip("actbook.runner.models")
    from actbook.runner.architectures import NETWORKS
    small = models.build_model("small_cnn", "relu")
    defaults = NETWORKS["small_cnn"].settings
    assert small.get_layer("conv_1").filters == defaults["width"]
    assert {l.rate for l in small.layers if l.__class__.__name__ == "Dropout"} == {defaults["dropout"]}
    assert small.get_layer("conv_1").kernel_regularizer.l2 == pytest.approx(defaults["weight_decay"])
    assert models.build_model("small_cnn", "relu", width=8).get_layer("conv_1").filters == 8
    with pytest.raises(ValueError, match="model 'nin' does not take width"):
        models.build_model("nin", "relu", width=8)


@pytest.mark.parametrize("optimizer, message", [
    ({"step_epochs": []}, "schedule 'step' needs step_epochs (non-empty) and step_factor"),
    ({"step_epochs": [8, 5]}, "optimizer.step_epochs: [8, 5] is not strictly increasing"),
    ({"step_epochs": [5, 5]}, "optimizer.step_epochs: [5, 5] is not strictly increasing"),
    ({"warmup_epochs": 10.5}, "optimizer.warmup_epochs: 10.5 is more than the 10 epochs"),
    ({"schedule": "constant", "warmup_epochs": 1}, "optimizer.warmup_epochs: 1 with schedule 'constant'"),
    ({"schedule": "cosine", "warmup_epochs": 11}, "optimizer.warmup_epochs: 11 is more than the 10 epochs"),
])
def test_schedule_settings_that_would_be_ignored_or_break_are_refused(tiny, optimizer, message):
    stepper = P.get_profile("stepper")
    refused({**stepper, "optimizer": {**stepper["optimizer"], **optimizer}}, message)


def test_schedules_that_make_sense_pass(tiny):
    stepper = P.get_profile("stepper")
    for optimizer in ({"step_epochs": [2.5, 9.5], "warmup_epochs": 2}, {"schedule": "constant", "warmup_epochs": 0},
                      {"schedule": "cosine", "warmup_epochs": 9.5}, {"step_epochs": [3]}):
        P.validate("stepper", {**stepper, "optimizer": {**stepper["optimizer"], **optimizer}})


@pytest.mark.parametrize("change, message", [
    ({"train_size": 60000}, "train_size: 60000 is greater than the maximum of 50000"),
    ({"test_size": 10010}, "test_size: 10010 is greater than the maximum of 10000"),
    ({"train_eval_size": 50010}, "train_eval_size: 50010 is greater than the maximum of 50000"),
    ({"train_size": 1000, "train_eval_size": 1010}, "train_eval_size: 1010 is more than the 1000 training images"),
])
def test_sizes_beyond_cifar10_are_refused(change, message):
    refused({**TINY2, **change}, message)
    P.validate("tiny", {**TINY2, "train_size": 50000, "test_size": 10000, "train_eval_size": 50000})


# --------------------------------------------------------------------------
# 4. the profiles file
# --------------------------------------------------------------------------

def _load_elsewhere(path: str) -> subprocess.CompletedProcess:
    """``load_profiles()`` with ``ACTBOOK_PROFILES=path`` in a process of its own, with a
    time and a memory limit, so that a regression is a failed test, not a stuck or
    swapping machine. Prints the UsageError and exits with 2, as the CLI does."""
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
            "from actbook.runner.profiles import UsageError, load_profiles\n"
            "try:\n    load_profiles()\nexcept UsageError as e:\n    print(f'error: {e}', file=sys.stderr); sys.exit(2)")
    env = dict(os.environ, ACTBOOK_PROFILES=path)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not Path("/dev/zero").exists() or sys.platform != "linux", reason="no /dev/zero")
def test_profiles_file_that_is_a_device_is_refused_unread():
    done = _load_elsewhere("/dev/zero")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr == "error: ACTBOOK_PROFILES=/dev/zero: not a regular file; name a JSON file of profiles\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo") or sys.platform != "linux", reason="no FIFOs here")
def test_profiles_file_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "profiles.fifo"
    os.mkfifo(fifo)
    done = _load_elsewhere(str(fifo))
    assert done.returncode == 2 and "not a regular file" in done.stderr, done.stderr[-2000:]


def test_profiles_file_that_is_a_folder_or_too_big_or_missing(tmp_path, monkeypatch):
    for path, message in [(tmp_path, "not a regular file"), (tmp_path / "none.json", "cannot open")]:
        monkeypatch.setenv("ACTBOOK_PROFILES", str(path))
        with pytest.raises(P.UsageError, match=message):
            P.load_profiles()
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"tiny": TINY2, "pad": "x" * P.MAX_PROFILES_BYTES}))
    monkeypatch.setenv("ACTBOOK_PROFILES", str(big))
    with pytest.raises(P.UsageError, match="more than the 1,000,000 bytes a profiles file may have"):
        P.load_profiles()
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"caf\xe9": 1}')
    monkeypatch.setenv("ACTBOOK_PROFILES", str(bad))
    with pytest.raises(P.UsageError, match="not UTF-8"):
        P.load_profiles()


# --------------------------------------------------------------------------
# 5. experiment identity
# --------------------------------------------------------------------------

def test_description_and_the_plan_are_not_part_of_the_experiment():
    paper = P.get_profile("paper")
    identity = P.experiment_identity(paper)
    assert not set(identity) & {"description", "arms", "seeds", "extra_seeds", "later_arms"}
    reworded = {**paper, "description": "another text", "arms": ["relu"], "seeds": [7]}
    assert P.experiment_identity(reworded) == identity
    assert P.effective_overrides("paper", {"description": "another text"}) == {}
    assert P.profile_folder("paper", {"description": "another text"}) == "paper"
    # another plan of the same experiment: its own folder, but no cell of it is stale against the profile
    assert P.effective_overrides("paper", {**reworded, "model": "nin"}) == {"arms": ["relu"], "seeds": [7]}


def test_identity_fills_defaults_and_is_canonical():
    config = copy.deepcopy(TINY2)
    for key in ("init", "eval_every"):
        config.pop(key)
    config["optimizer"] = {**config["optimizer"], "learning_rate": 1, "step_factor": 0.5}
    explicit = {**config, "init": "he", "eval_every": 1, "train_eval_size": None,
                "optimizer": {**config["optimizer"], "learning_rate": 1.0, "step_factor": 0.9}}
    identity = P.experiment_identity(config)
    assert identity == P.experiment_identity(explicit)
    assert json.dumps(identity, sort_keys=True) == json.dumps(P.experiment_identity(explicit), sort_keys=True)
    assert "step_factor" not in identity["optimizer"]  # a cosine schedule has no steps
    assert P.experiment_identity({**config, "threads": 1}) != identity
    assert P.experiment_identity({**config, "eval_every": 2}) != identity
    assert P.experiment_identity("garbage") == "garbage"  # stored configs of any shape


# --------------------------------------------------------------------------
# 6. the overrides tag
# --------------------------------------------------------------------------

def test_a_no_op_override_keeps_the_profile_folder():
    assert P.effective_overrides("overfit", {"epochs": 50}) == {}
    assert P.profile_folder("overfit", {"epochs": 50}) == "overfit"
    assert P.profile_folder("overfit", {"optimizer.learning_rate": 0.05, "init": "per_activation"}) == "overfit"
    assert P.profile_folder("smoke", {"eval_every": 1}) == "smoke"  # the default, written out
    assert P.result_path(Path("R"), P.Cell("overfit", "relu", 0), {"epochs": 50}) == Path("R/overfit/relu-seed0.json")


def test_equal_experiments_get_equal_tags_and_different_ones_different_tags():
    one = P.profile_folder("cpu", {"optimizer.learning_rate": 1})
    assert one == P.profile_folder("cpu", {"optimizer.learning_rate": 1.0})
    whole = dict(P.get_profile("cpu")["optimizer"], learning_rate=1)
    assert one == P.profile_folder("cpu", {"optimizer": whole})
    assert P.effective_overrides("cpu", {"optimizer": whole}) == {"optimizer.learning_rate": 1.0}
    assert one != P.profile_folder("cpu", {"optimizer.learning_rate": 0.5})
    # colliding keys: refused in either order (which was meant would depend on the order; issue 40, probe 6)
    for over in ({"optimizer.learning_rate": 1, "optimizer": dict(whole, learning_rate=0.5)},
                 {"optimizer": dict(whole, learning_rate=0.5), "optimizer.learning_rate": 1}):
        with pytest.raises(P.UsageError, match="--set optimizer and --set optimizer.learning_rate overlap"):
            P.profile_folder("cpu", over)
    assert P.profile_folder("cpu", {"epochs": 1}) != P.profile_folder("cpu", {"epochs": 2})


def test_overrides_tag_with_and_without_the_profile():
    over = {"epochs": 1, "arms": ["relu"], "optimizer.learning_rate": 1}
    tag = P.overrides_tag(over, "cpu")
    assert P.effective_overrides("cpu", over) == {"arms": ["relu"], "epochs": 1, "optimizer.learning_rate": 1.0}
    assert P.profile_folder("cpu", over) == f"cpu+{tag}"
    assert P.overrides_tag(over) == tag == P.overrides_tag({**over, "optimizer.learning_rate": 1.0})
    assert P.overrides_tag({"epochs": 3}, "cpu") == P.overrides_tag({})  # no change
    assert P.effective_overrides("cpu", None) == {} == P.effective_overrides("cpu", {"description": "x"})


@pytest.mark.parametrize("over", [
    {"epochs": 1, "optimizer": {"name": "sgd", "learning_rate": 1, "momentum": 0.5, "nesterov": False,
                                "schedule": "step", "step_epochs": [0.5], "step_factor": 0.5}},
    {"model_kwargs": {"width": 16}, "init": "he", "later_arms.tanh": [0, 3], "extra_seeds.relu": [9]},
    {"model": "nin", "model_kwargs": {"dropout": 0.5}, "seeds": [1, 0]},
])
def test_effective_overrides_apply_again_to_the_same_result(over):
    """The runner records and reuses the effective overrides: they must mean the same (on a profile without a grid)."""
    changed = P.effective_overrides("demo", over)
    assert P.effective_overrides("demo", changed) == changed
    assert P.profile_folder("demo", changed) == P.profile_folder("demo", over) != "demo"
    assert P.plan("demo", overrides=changed) == P.plan("demo", overrides=over)
    assert (P.experiment_identity(P.get_profile("demo", changed))
            == P.experiment_identity(P.get_profile("demo", over)))
    json.dumps(changed, allow_nan=False)  # plain JSON, as it is stored in every result


def test_a_removed_setting_is_part_of_the_tag():
    changed = P.effective_overrides("cpu", {"model_kwargs": {"width": 32, "dropout": 0.25}})
    assert changed == {"model_kwargs": {"width": 32, "dropout": 0.25}}  # the group, whole: it lost weight_decay
    assert P.profile_folder("cpu", {"model_kwargs": {"width": 32, "dropout": 0.25}}) != "cpu"
    to_cosine = P.effective_overrides("paper", {"optimizer.schedule": "cosine"})  # steps do nothing there
    assert to_cosine == {"optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": False,
                                       "warmup_epochs": 1.0, "schedule": "cosine"}}


# --------------------------------------------------------------------------
# 7. runtime in the folder name
# --------------------------------------------------------------------------

def test_runtime_goes_into_the_folder_name():
    tag = P.overrides_tag({"batch_size": 64}, "paper")
    assert P.profile_folder("paper", runtime="jax") == "paper@jax"
    assert P.profile_folder("paper", {"batch_size": 64}, "tensorflow-2dev") == f"paper+{tag}@tensorflow-2dev"
    assert P.profile_folder("paper", {"epochs": 120}, "jax") == "paper@jax"
    assert P.profile_folder("paper", None, "") == P.profile_folder("paper", runtime=None) == "paper"
    cell = P.Cell("paper", "lrelu_1/5.5", 2)
    assert P.result_path(Path("R"), cell, runtime="jax") == Path("R/paper@jax/lrelu_1_5.5-seed2.json")
    assert P.result_path(Path("R"), cell, {"batch_size": 64}, "jax").parent.name == f"paper+{tag}@jax"


@pytest.mark.parametrize("runtime", ["../x", "a/b", "jax@2", "a+b", " ", "x" * 65, 3])
def test_runtime_must_be_a_safe_name(runtime):
    with pytest.raises(P.UsageError, match="runtime .* is not a safe name"):
        P.profile_folder("paper", runtime=runtime)


@pytest.mark.parametrize("name, parts", [
    ("paper", ("paper", None, None)),
    ("paper+3f2a9c1d", ("paper", "3f2a9c1d", None)),
    ("paper@jax", ("paper", None, "jax")),
    ("paper+3f2a9c1d@tensorflow-2dev", ("paper", "3f2a9c1d", "tensorflow-2dev")),
    ("lrelu_1.5+00000000@x", ("lrelu_1.5", "00000000", "x")),
])
def test_split_folder_reads_a_folder_name_back(name, parts):
    assert P.split_folder(name) == parts


@pytest.mark.parametrize("name", ["", "+3f2a9c1d", "paper+", "paper+XYZ", "paper+3f2a9c1", "paper@", "paper@a@b",
                                  "paper+3f2a9c1d+3f2a9c1d", "../paper", "pa per", "paper\n", "paper@jax\n", "paper+3f2a9c1d\n"])
def test_split_folder_refuses_what_is_not_a_folder_name(name):
    with pytest.raises(P.UsageError, match="not a results folder name"):
        P.split_folder(name)


def test_split_folder_undoes_profile_folder():
    for over, runtime in [(None, ""), ({"epochs": 1}, ""), (None, "jax"), ({"batch_size": 64}, "tf-2dev")]:
        name = P.profile_folder("cpu", over, runtime)
        profile, tag, rt = P.split_folder(name)
        assert (profile, tag, rt or "") == ("cpu", P.overrides_tag(over, "cpu") if over else None, runtime)
