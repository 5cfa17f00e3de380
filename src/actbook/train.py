"""One cell of the CIFAR-10 comparison, read top to bottom: data, model,
optimiser, epochs, log row, result.

:func:`run_cell` trains one (profile, activation, seed) cell, resuming from
its checkpoint, and writes its result file; :mod:`actbook.experiment` plans
the cells and holds the command line. Every source of randomness is seeded
from the cell's seed, and a resumed cell replays the data pipeline's random
streams up to where it stopped, so an interrupted cell ends bit-identical to
an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import time
from pathlib import Path

from actbook.tf_runtime import tf
import keras
import numpy as np

from actbook import data as D
from actbook import provenance
from actbook.files import write_bytes_atomic, write_json_atomic
from actbook.models import build_model
from actbook.profiles import Cell, result_path

__all__ = ["run_cell", "learning_rate", "WarmupThen", "SCHEMA_VERSION", "CheckpointMismatch"]

#: Version of the result file format; :mod:`actbook.results` refuses others.
SCHEMA_VERSION = 2  # 2: train_eval_* columns, evaluation every eval_every epochs, kernels in provenance


#: Iterators Keras's ``fit`` creates per call on a ``tf.data`` dataset with the
#: default strategy (measured; one more under MirroredStrategy).
ITERATORS_PER_FIT = 2


class CheckpointMismatch(RuntimeError):
    """A checkpoint whose model and state disagree; it is discarded and the cell redone."""


# --------------------------------------------------------------------------
# Optimiser
# --------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="actbook")
class WarmupThen(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then ``after``
    (a schedule counted from the start of training, as the paper's step decay is)."""

    def __init__(self, after, warmup_steps: int, peak: float):
        self.after, self.warmup_steps, self.peak = after, int(warmup_steps), float(peak)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * step / max(self.warmup_steps, 1)
        return keras.ops.where(step < self.warmup_steps, warm, self.after(step))

    def get_config(self):
        return {"after": keras.saving.serialize_keras_object(self.after), "warmup_steps": self.warmup_steps,
                "peak": self.peak}

    @classmethod
    def from_config(cls, config):
        config = dict(config, after=keras.saving.deserialize_keras_object(config["after"]))
        return cls(**config)


def learning_rate(opt: dict, steps_per_epoch: int, epochs: int):
    """The learning rate or schedule an optimizer config asks for.

    ``cosine``: linear warm-up over ``warmup_epochs``, then cosine decay to 0.
    ``step``: the same warm-up, then ``learning_rate * step_factor**k`` after
    the k-th of ``step_epochs``. ``constant``: no schedule, no warm-up.
    """
    total = steps_per_epoch * epochs
    warmup = int(round(opt.get("warmup_epochs", 0) * steps_per_epoch))
    peak = opt["learning_rate"]
    schedule = opt.get("schedule", "constant")
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else peak, decay_steps=max(total - warmup, 1),
            warmup_target=peak if warmup else None, warmup_steps=warmup, alpha=0.0)
    if schedule == "step":
        bounds = [int(e * steps_per_epoch) for e in opt["step_epochs"]]
        values = [peak * opt["step_factor"] ** i for i in range(len(bounds) + 1)]
        steps = keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
        return WarmupThen(steps, warmup, peak) if warmup else steps
    if schedule == "constant":
        return peak
    raise ValueError(f"unknown schedule {schedule!r}; valid: constant, cosine, step")


def compile_model(model, config: dict, steps_per_epoch: int) -> None:
    opt = config["optimizer"]
    if opt["name"] != "sgd":
        raise ValueError(f"unknown optimizer {opt['name']!r}; valid: sgd")
    lr = learning_rate(opt, steps_per_epoch, config["epochs"])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=opt["momentum"], nesterov=opt["nesterov"]),
        loss="sparse_categorical_crossentropy", metrics=["accuracy"])


# --------------------------------------------------------------------------
# Runtime: seeds, precision, devices
# --------------------------------------------------------------------------

@contextlib.contextmanager
def precision_policy(name: str):
    """The cell's mixed-precision policy, restored afterwards (it is global in Keras)."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def strategy():
    """The distribution strategy a cell trains under.

    ``ACTBOOK_DEVICES`` (comma-separated device names, e.g. ``/gpu:0,/gpu:1``
    or, in the tests, ``/cpu:0,/cpu:1`` after splitting the CPU into two
    logical devices) gives a MirroredStrategy over exactly those devices; a
    name that is not a logical device of this process is an error. Without
    it: MirroredStrategy over all GPUs when there are several, else the
    default strategy. Mirrored training splits each batch between the
    replicas and sums their gradients: one step matches a one-device step up
    to floating-point summation order, not bit for bit. Under any
    non-default strategy Keras's ``fit`` also opens one more iterator of the
    training set per call (3, not :data:`ITERATORS_PER_FIT`), so a mirrored
    cell sees other shuffles and crops than a one-device cell of the same seed.
    """
    import os

    names = [n.strip() for n in os.environ.get("ACTBOOK_DEVICES", "").split(",") if n.strip()]
    if names:
        def key(name):
            spec = tf.DeviceSpec.from_string(name)
            return (spec.device_type or "").upper(), spec.device_index

        have = tf.config.list_logical_devices()
        missing = [n for n in names if key(n) not in {key(d.name) for d in have}]
        if missing:
            raise ValueError(f"ACTBOOK_DEVICES names device(s) this process does not have: {', '.join(missing)}; "
                             f"logical devices: {', '.join(d.name for d in have)}")
        return tf.distribute.MirroredStrategy(names)
    devices = tf.config.list_logical_devices("GPU") or []
    return tf.distribute.MirroredStrategy() if len(devices) > 1 else tf.distribute.get_strategy()


# --------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------

def _seed_generators(model) -> dict:
    """The random-number generators of the model's layers (dropout, RReLU), by layer name.

    ``model.save`` does not store their states, so a checkpoint records them
    itself: without them a resumed cell would draw other dropout masks and slopes.
    """
    return {layer.name: layer.seed_generator for layer in model.layers
            if isinstance(getattr(layer, "seed_generator", None), keras.random.SeedGenerator)}


def save_checkpoint(ckpt_dir: Path, model, state: dict) -> None:
    """Model, then state. The state records the optimizer's step count, so a
    kill between the two writes is detected on resume (:func:`load_checkpoint`)."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / f"model.{time.monotonic_ns()}.tmp.keras"
    model.save(tmp)
    data = tmp.read_bytes()
    tmp.unlink()
    write_bytes_atomic(ckpt_dir / "model.keras", lambda f: f.write(data))
    rng = {name: g.state.numpy().tolist() for name, g in _seed_generators(model).items()}
    write_json_atomic(ckpt_dir / "state.json", {**state, "optimizer_steps": int(model.optimizer.iterations.numpy()),
                                                "seed_generators": rng})


def load_checkpoint(ckpt_dir: Path, config: dict, steps_per_epoch: int):
    """``(model, state)`` from a checkpoint that matches ``config`` and whose
    model has exactly the recorded number of optimizer steps; else ``None``."""
    state_file, model_file = ckpt_dir / "state.json", ckpt_dir / "model.keras"
    if not (state_file.exists() and model_file.exists()):
        return None
    try:
        state = json.loads(state_file.read_text())
        if state["config"] != config:
            raise CheckpointMismatch("made with another config")
        model = keras.models.load_model(model_file)
        steps = int(model.optimizer.iterations.numpy())
        expected = len(state["history"]) * steps_per_epoch
        if steps != expected or state.get("optimizer_steps") != steps:
            raise CheckpointMismatch(f"model has {steps} optimizer steps, its state records "
                                     f"{len(state['history'])} epochs ({expected} steps)")
        generators = _seed_generators(model)
        if set(generators) != set(state["seed_generators"]):
            raise CheckpointMismatch("random-number generator states do not match the model's layers")
        for name, g in generators.items():
            g.state.assign(np.asarray(state["seed_generators"][name], dtype=g.state.dtype))
        return model, state
    except Exception as e:  # a checkpoint we cannot trust is redone, never used
        print(f"[{ckpt_dir.name}] discarding checkpoint ({type(e).__name__}: {e}); the cell restarts",
              file=sys.stderr)
        return None


# --------------------------------------------------------------------------
# One cell
# --------------------------------------------------------------------------

def _progress_callback(bar, batch_size: int):
    """One tqdm bar for the whole cell across per-epoch ``fit`` calls, with
    loss, running error and images/s (tqdm's own Keras callback opens a bar
    per ``fit`` call and knows no images/s)."""

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.seen = time.perf_counter(), 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += batch_size
            logs = logs or {}
            rate = self.seen / max(time.perf_counter() - self.t0, 1e-9)
            bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.3f}",
                            err=f"{1 - logs.get('accuracy', float('nan')):.3f}", img_s=f"{rate:.0f}",
                            refresh=False)
            bar.update(1)

    return Progress()


def _layer_diagnostics(model, x_test) -> dict:
    """Never-active units per activation layer on the test set, and PReLU's slopes."""
    from actbook.dead_units import activation_outputs, dead_fraction
    from actbook.layers import ChannelPReLU
    outs = activation_outputs(model, x_test)
    diag = {"never_active_fraction": {name: dead_fraction(o) for name, o in outs.items()}}
    alphas = {l.name: [float(a) for a in l.alpha.numpy().ravel()]
              for l in model.layers if isinstance(l, ChannelPReLU)}
    if alphas:
        diag["prelu_alpha"] = alphas
    return diag


def _evaluate(model, dataset) -> tuple[float, float]:
    loss, accuracy = model.evaluate(dataset, verbose=0)
    return float(loss), float(1 - accuracy)


def _command_line() -> str | None:
    """The command that made the result, with the repository's own path left out."""
    if not sys.argv or not sys.argv[0]:
        return None
    args = [a.replace(f"{provenance.REPO}/", "") for a in sys.argv[1:]]
    if Path(sys.argv[0]).name in ("experiment.py", "__main__.py"):
        return " ".join(["python -m actbook.experiment", *args])
    return " ".join([Path(sys.argv[0]).name, *args])


def run_cell(cell: Cell, results: Path, config: dict, prepared: D.Prepared, overrides: dict | None = None,
             progress: bool = True) -> Path:
    """Train one cell to completion (resuming from its checkpoint) and write its result."""
    from tqdm.std import tqdm  # a text bar everywhere, notebooks included

    out = result_path(results, cell, overrides)
    ckpt_dir = out.parent / ".checkpoints" / cell.stem
    bs, epochs, eval_every = config["batch_size"], config["epochs"], config.get("eval_every", 1)
    steps = math.ceil(len(prepared.y_train) / bs)

    with precision_policy(config["precision"]):
        seed_everything(cell.seed)
        # Data: a seeded, reshuffled, augmented training stream; clean copies for evaluation.
        train_ds = D.make_dataset(prepared.x_train, prepared.y_train, bs, training=True, seed=cell.seed,
                                  augment=config["augment"])
        # The inference-mode training error is measured on a fixed subset when
        # the profile says so: on all 50,000 images it is a fifth of an epoch.
        x_measured, y_measured = D.subset(prepared.x_train, prepared.y_train, config.get("train_eval_size"),
                                          seed=config["data_seed"])
        train_eval_ds = D.make_dataset(x_measured, y_measured, bs * 4, training=False)
        test_ds = D.make_dataset(prepared.x_test, prepared.y_test, bs * 4, training=False)

        # Model and optimiser: fresh, or the checkpoint (both inside the strategy's scope).
        dist = strategy()
        with dist.scope():
            resumed = load_checkpoint(ckpt_dir, config, steps)
            if resumed is None:
                model = build_model(config["model"], cell.arm, seed=cell.seed, init=config.get("init", "he"),
                                    **config["model_kwargs"])
                compile_model(model, config, steps)
                history, started = [], provenance.now()
            else:
                model, state = resumed
                history, started = state["history"], state["started"]
        # Replay the pipeline's per-epoch random streams (shuffle order, crops,
        # flips) for the epochs already done, so a resumed cell sees exactly the
        # data an uninterrupted one would: every new iterator of the dataset
        # advances its seeds, and each `fit` call below creates
        # ITERATORS_PER_FIT of them (Keras 3.15; the resume test pins it).
        # Under a distribution strategy Keras builds the model symbolically
        # first, which opens one more iterator per call.
        per_fit = ITERATORS_PER_FIT + (dist is not tf.distribute.get_strategy())
        for _ in range(len(history) * per_fit):
            iter(train_ds)

        bar = tqdm(total=steps * epochs, initial=steps * len(history), desc=f"{cell.profile} {cell.stem}",
                   unit="batch", disable=not progress, leave=True, mininterval=1.0)
        callback = _progress_callback(bar, bs)
        for epoch in range(len(history), epochs):
            t0 = time.perf_counter()
            fit = model.fit(train_ds, epochs=epoch + 1, initial_epoch=epoch, verbose=0, callbacks=[callback],
                            shuffle=False)  # the pipeline shuffles, seeded
            train_seconds = time.perf_counter() - t0
            measure = (epoch + 1) % eval_every == 0 or epoch + 1 == epochs
            test_loss, test_error = _evaluate(model, test_ds) if measure else (None, None)
            # Training error in inference mode: no dropout, augmentation or RReLU noise.
            train_eval_loss, train_eval_error = _evaluate(model, train_eval_ds) if measure else (None, None)
            row = {"epoch": epoch + 1,
                   "train_loss": float(fit.history["loss"][-1]),
                   "train_error": float(1 - fit.history["accuracy"][-1]),
                   "train_eval_loss": train_eval_loss, "train_eval_error": train_eval_error,
                   "test_loss": test_loss, "test_error": test_error,
                   "seconds": time.perf_counter() - t0,
                   "train_images_per_second": len(prepared.y_train) / train_seconds}
            history.append(row)
            fmt = lambda v: "     -" if v is None else f"{v:.4f}"  # noqa: E731
            bar.write(f"{cell.profile:>8} {cell.stem:>22}  epoch {row['epoch']:>3}  train loss {row['train_loss']:.4f}"
                      f"  train err {row['train_error']:.4f}  clean train err {fmt(train_eval_error)}"
                      f"  test err {fmt(test_error)}  {row['seconds']:6.1f} s  {row['train_images_per_second']:6.0f} img/s")
            if not math.isfinite(row["train_loss"]):
                bar.write(f"[{cell.stem}] loss is not finite at epoch {epoch + 1}; recorded as null")
            if epoch + 1 < epochs:
                save_checkpoint(ckpt_dir, model, {"config": config, "history": history, "started": started})
        bar.close()
        diagnostics = _layer_diagnostics(model, prepared.x_test)

    result = {
        "schema": SCHEMA_VERSION,
        "profile": cell.profile, "activation": cell.arm, "seed": cell.seed,
        "config": config, "overrides": overrides or None,
        "history": history,
        "diagnostics": diagnostics,
        "provenance": {**provenance.collect(), "dataset": prepared.dataset,
                       "started": started, "finished": provenance.now(),
                       "train_images_used": int(len(prepared.y_train)), "test_images_used": int(len(prepared.y_test)),
                       "train_eval_images_used": int(len(y_measured)),
                       "command": _command_line()},
    }
    write_json_atomic(out, result)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return out
