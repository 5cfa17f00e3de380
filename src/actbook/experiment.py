"""The CIFAR-10 comparison runner: one cell per (profile, activation, seed).

    python -m actbook.experiment run --profile cpu --results data/results \\
        [--activations relu,elu] [--seeds 0,1,2] [--shard K/N]
    python -m actbook.experiment list

Each finished cell is one JSON file ``DIR/<profile>/<activation>-seed<k>.json``
(a ``/`` in an activation name becomes ``_``) holding the full config, the
per-epoch history and the provenance. Files are written atomically (temp
file + rename); a rerun skips finished cells; a cell in progress keeps a
checkpoint after every epoch under ``DIR/<profile>/.checkpoints/`` and
resumes from it, so even ``kill -9`` loses at most the epoch in progress.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["load_profiles", "Cell", "plan", "result_path", "run_cell", "run", "main"]

SCHEMA_VERSION = 1


class UsageError(ValueError):
    """Bad command-line input; the CLI prints it and exits with status 2."""


# --------------------------------------------------------------------------
# Profiles and cells
# --------------------------------------------------------------------------

def load_profiles() -> dict:
    """The profiles, as plain data, from ``actbook/profiles.json``.

    A JSON file named by ``ACTBOOK_PROFILES`` adds profiles of your own (or
    replaces shipped ones by name), in the same format.
    """
    profiles = json.loads(resources.files("actbook").joinpath("profiles.json").read_text())
    extra = os.environ.get("ACTBOOK_PROFILES")
    if extra:
        try:
            profiles.update(json.loads(Path(extra).read_text()))
        except (OSError, ValueError) as e:
            raise UsageError(f"ACTBOOK_PROFILES={extra}: cannot read profiles ({e})") from None
    return profiles


def get_profile(name: str) -> dict:
    profiles = load_profiles()
    if name not in profiles:
        raise UsageError(f"unknown profile {name!r}; valid profiles: {', '.join(profiles)}")
    return copy.deepcopy(profiles[name])


@dataclass(frozen=True, order=True)
class Cell:
    profile: str
    arm: str
    seed: int

    @property
    def stem(self) -> str:
        from actbook.layers import arm_slug
        return f"{arm_slug(self.arm)}-seed{self.seed}"


def result_path(results: Path, cell: Cell) -> Path:
    return Path(results) / cell.profile / f"{cell.stem}.json"


def _parse_shard(shard: str | None) -> tuple[int, int]:
    if shard is None:
        return 1, 1
    try:
        k, n = (int(v) for v in shard.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like K/N (e.g. 2/4), got {shard!r}") from None
    if not (n >= 1 and 1 <= k <= n):
        raise UsageError(f"--shard K/N needs 1 <= K <= N, got {shard!r}")
    return k, n


def plan(profile: str, arms=None, seeds=None, shard: str | None = None) -> list[Cell]:
    """The cells to run, in a fixed order; ``shard="K/N"`` keeps every N-th, from the K-th."""
    from actbook.layers import ARMS
    config = get_profile(profile)
    arms = list(config["arms"]) if arms is None else list(arms)
    unknown = [a for a in arms if a not in ARMS or a == "softmax"]
    if unknown:
        valid = [a for a in ARMS if a != "softmax"]
        raise UsageError(f"unknown activation(s) {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}")
    seeds = list(config["seeds"]) if seeds is None else list(seeds)
    if any((not isinstance(s, int)) or s < 0 for s in seeds):
        raise UsageError(f"seeds must be non-negative integers, got {seeds}")
    cells = [Cell(profile, a, s) for s in seeds for a in arms]
    k, n = _parse_shard(shard)
    return cells[k - 1::n]


# --------------------------------------------------------------------------
# Atomic files
# --------------------------------------------------------------------------

def write_json_atomic(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=False)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_complete(path: Path) -> bool:
    """A result file that parses and has every epoch of its own config."""
    try:
        data = json.loads(path.read_text())
        return len(data["history"]) == data["config"]["epochs"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def check_writable(results: Path, profile: str) -> Path:
    """Fail before any training if results cannot be written."""
    out = Path(results) / profile
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"results directory {out} is not writable: {e}") from None
    return out


# --------------------------------------------------------------------------
# Training one cell
# --------------------------------------------------------------------------

def _set_determinism(seed: int) -> None:
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _learning_rate(opt: dict, steps_per_epoch: int, epochs: int):
    import keras
    total = steps_per_epoch * epochs
    warmup = int(round(opt.get("warmup_epochs", 0) * steps_per_epoch))
    peak = opt["learning_rate"]
    if opt.get("schedule") == "step":
        bounds = [int(e * steps_per_epoch) for e in opt["step_epochs"]]
        values = [peak * opt["step_factor"] ** i for i in range(len(bounds) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    if opt.get("schedule") == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else peak, decay_steps=max(total - warmup, 1),
            warmup_target=peak if warmup else None, warmup_steps=warmup, alpha=0.0)
    if opt.get("schedule") in (None, "constant"):
        return peak
    raise ValueError(f"unknown schedule {opt.get('schedule')!r}")


def _compile(model, config: dict, steps_per_epoch: int) -> None:
    import keras
    opt = config["optimizer"]
    if opt["name"] != "sgd":
        raise ValueError(f"unknown optimizer {opt['name']!r}; valid: sgd")
    lr = _learning_rate(opt, steps_per_epoch, config["epochs"])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=opt["momentum"], nesterov=opt["nesterov"]),
        loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def _progress_callback(bar, batch_size: int):
    import keras

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.seen = 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += batch_size
            logs = logs or {}
            rate = self.seen / max(time.perf_counter() - self.t0, 1e-9)
            bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.3f}",
                            err=f"{1 - logs.get('accuracy', float('nan')):.3f}", img_s=f"{rate:.0f}",
                            refresh=False)
            bar.update(1)

    return Progress()


def prepare_data(config: dict, data=None):
    """Subset and normalise CIFAR-10 as the profile says."""
    from actbook import data as D
    data = data if data is not None else D.load_cifar10()
    x_train, y_train = D.subset(data.x_train, data.y_train, config["train_size"], seed=config["data_seed"])
    x_test, y_test = D.subset(data.x_test, data.y_test, config["test_size"], seed=config["data_seed"])
    mean, std = D.channel_stats(x_train)
    return (D.normalize(x_train, mean, std), y_train, D.normalize(x_test, mean, std), y_test, data)


def _layer_diagnostics(model, x_test) -> dict:
    """Dead units per activation layer on the test set, and PReLU's alphas."""
    from actbook.dead_units import activation_outputs, dead_fraction
    from actbook.layers import ChannelPReLU
    outs = activation_outputs(model, x_test)
    diag = {"never_active_fraction": {name: dead_fraction(o) for name, o in outs.items()}}
    alphas = {l.name: [float(a) for a in l.alpha.numpy().ravel()]
              for l in model.layers if isinstance(l, ChannelPReLU)}
    if alphas:
        diag["prelu_alpha"] = alphas
    return diag


def _strategy():
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def run_cell(cell: Cell, results: Path, prepared=None, progress: bool = True) -> Path:
    """Train one cell to completion (resuming from its checkpoint) and write its result."""
    from actbook.tf_runtime import tf  # noqa: F401
    import keras
    from tqdm.std import tqdm  # text bar everywhere, notebooks included (no widget dependency)

    from actbook import data as D
    from actbook import provenance
    from actbook.models import build_model

    config = get_profile(cell.profile)
    out = result_path(results, cell)
    if is_complete(out):
        return out
    ckpt_dir = Path(results) / cell.profile / ".checkpoints" / cell.stem
    started = provenance.now()

    keras.mixed_precision.set_global_policy(config["precision"])
    _set_determinism(cell.seed)
    x_train, y_train, x_test, y_test, data = prepared or prepare_data(config)
    bs = config["batch_size"]
    steps = math.ceil(len(y_train) / bs)
    train_ds = D.make_dataset(x_train, y_train, bs, training=True, seed=cell.seed, augment=config["augment"])
    test_ds = D.make_dataset(x_test, y_test, bs * 4, training=False)

    history, model = [], None
    state_file, model_file = ckpt_dir / "state.json", ckpt_dir / "model.keras"
    if state_file.exists() and model_file.exists():
        try:
            state = json.loads(state_file.read_text())
            if state["config"] == config:
                model = keras.models.load_model(model_file)
                history = state["history"]
                started = state["started"]
        except Exception as e:  # a checkpoint we cannot read is redone, not trusted
            print(f"[{cell.stem}] ignoring unreadable checkpoint ({type(e).__name__}: {e})", file=sys.stderr)
            model, history = None, []
    if model is None:
        with _strategy().scope():
            model = build_model(config["model"], cell.arm, seed=cell.seed, **config["model_kwargs"])
            _compile(model, config, steps)
    # A resumed cell continues from its last finished epoch with the same
    # seeds; its later epochs need not be bit-identical to an uninterrupted run
    # (tf.data's per-epoch reshuffle restarts with the new iterator).
    bar = tqdm(total=steps * config["epochs"], initial=steps * len(history), desc=f"{cell.profile} {cell.stem}",
               unit="batch", disable=not progress, leave=True, mininterval=1.0)
    callback = _progress_callback(bar, bs)
    for epoch in range(len(history), config["epochs"]):
        t0 = time.perf_counter()
        fit = model.fit(train_ds, epochs=epoch + 1, initial_epoch=epoch, verbose=0, callbacks=[callback],
                        shuffle=False)  # the pipeline shuffles, seeded
        train_seconds = time.perf_counter() - t0
        test_loss, test_acc = model.evaluate(test_ds, verbose=0)
        row = {"epoch": epoch + 1,
               "train_loss": float(fit.history["loss"][-1]),
               "train_error": float(1 - fit.history["accuracy"][-1]),
               "test_loss": float(test_loss), "test_error": float(1 - test_acc),
               "seconds": time.perf_counter() - t0,
               "train_images_per_second": len(y_train) / train_seconds}
        history.append(row)
        bar.write(f"{cell.profile:>6} {cell.stem:>20}  epoch {row['epoch']:>3}  train loss {row['train_loss']:.4f}"
                  f"  train err {row['train_error']:.4f}  test err {row['test_error']:.4f}"
                  f"  {row['seconds']:6.1f} s  {row['train_images_per_second']:6.0f} img/s")
        if not all(math.isfinite(row[k]) for k in ("train_loss", "test_loss")):
            bar.write(f"[{cell.stem}] loss is not finite at epoch {epoch + 1}; the cell continues and records it")
        if epoch + 1 < config["epochs"]:
            _save_checkpoint(ckpt_dir, model, {"config": config, "history": history, "started": started})
    bar.close()

    result = {
        "schema": SCHEMA_VERSION,
        "profile": cell.profile, "activation": cell.arm, "seed": cell.seed,
        "config": config,
        "history": history,
        "diagnostics": _layer_diagnostics(model, x_test),
        "provenance": {**provenance.collect(), "dataset": data.provenance(),
                       "started": started, "finished": provenance.now(),
                       "train_images_used": int(len(y_train)), "test_images_used": int(len(y_test)),
                       "command": _command_line()},
    }
    write_json_atomic(out, result)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return out


def _command_line() -> str | None:
    if not sys.argv or not sys.argv[0]:
        return None
    if Path(sys.argv[0]).name == "experiment.py":
        return " ".join(["python -m actbook.experiment", *sys.argv[1:]])
    return " ".join(sys.argv)


def _save_checkpoint(ckpt_dir: Path, model, state: dict) -> None:
    """Model first, then state: the state file only ever names a complete model."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / "model.keras.tmp.keras"
    model.save(tmp)
    os.replace(tmp, ckpt_dir / "model.keras")
    write_json_atomic(ckpt_dir / "state.json", state)


def run(profile: str, results: Path, arms=None, seeds=None, shard=None, progress=True, data=None) -> list[Path]:
    """Run every cell of the plan that has no complete result yet."""
    cells = plan(profile, arms, seeds, shard)
    check_writable(results, profile)
    todo = [c for c in cells if not is_complete(result_path(results, c))]
    print(f"{profile}: {len(cells)} cells in this shard, {len(cells) - len(todo)} already done, "
          f"{len(todo)} to run -> {Path(results) / profile}", flush=True)
    if not todo:
        return [result_path(results, c) for c in cells]
    config = get_profile(profile)
    prepared = prepare_data(config, data)
    for cell in todo:
        run_cell(cell, results, prepared=prepared, progress=progress)
    return [result_path(results, c) for c in cells]


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _seeds(value: str) -> list[int]:
    try:
        return [int(v) for v in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {value!r}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actbook.experiment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run (or resume) the cells of a profile")
    p_run.add_argument("--profile", required=True)
    p_run.add_argument("--results", required=True, type=Path)
    p_run.add_argument("--activations", type=_csv, default=None, help="comma-separated arms (default: the profile's)")
    p_run.add_argument("--seeds", type=_seeds, default=None, help="comma-separated seeds (default: the profile's)")
    p_run.add_argument("--shard", default=None, help="K/N: run every N-th cell starting at the K-th")
    p_run.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    sub.add_parser("list", help="print the profiles and their configs")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            print(json.dumps(load_profiles(), indent=1))
            return 0
        from actbook.data import DataError
        try:
            run(args.profile, args.results, args.activations, args.seeds, args.shard,
                progress=not args.no_progress)
        except DataError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
