"""One cell of the CIFAR-10 comparison, read top to bottom: data, model,
optimiser, epochs, log row, result.

:func:`run_cell` trains one (profile, activation, seed) cell, resuming from
its checkpoint, and writes its result file; :mod:`actbook.runner.experiment` plans
the cells and holds the command line. Every source of randomness is seeded
from the cell's seed: the training stream is a function of (seed, epoch,
batch) (:mod:`actbook.runner.stream`) and the layers' generators are checkpointed,
so an interrupted cell ends bit-identical to an uninterrupted one. A
checkpoint names the cell, the data, the kernels and the backend it was made
with, and is used only when all of them match.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import time
from pathlib import Path

from actbook.runner import backend as B

keras = B.keras_module()
import numpy as np  # noqa: E402

from actbook.runner import data as D  # noqa: E402
from actbook.runner import provenance  # noqa: E402
from actbook.runner.files import write_bytes_atomic, write_json_atomic  # noqa: E402
from actbook.runner.models import build_model  # noqa: E402
from actbook.runner.profiles import Cell, result_path  # noqa: E402
from actbook.runner.stream import make_eval_stream, make_train_stream  # noqa: E402

from actbook.runner.result_format import SCHEMA_VERSION  # noqa: E402

__all__ = ["predictions_path", "run_cell", "learning_rate", "WarmupThen", "CheckpointMismatch", "cell_identity"]


class CheckpointMismatch(RuntimeError):
    """A checkpoint made for another cell, data set, kernels or backend, or whose model and
    state disagree; it is discarded and the cell redone."""


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
    # The loss Keras reports is the objective: cross-entropy plus each arm's L2
    # penalty, which differs between arms. "xent" is the cross-entropy alone,
    # the quantity two arms can be compared on. A metric reads the outputs and
    # never enters the gradient, so it leaves the training numbers unchanged.
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=opt["momentum"], nesterov=opt["nesterov"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(name="xent")])


# --------------------------------------------------------------------------
# Runtime: precision
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


# --------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------

def cell_identity(cell: Cell, config: dict, overrides: dict | None, dataset: dict, runtime: dict) -> dict:
    """What a checkpoint must match to be resumed: the cell, its config, the
    data set's checksum, the kernels and the backend with its devices and threads."""
    from actbook.runner import precision
    kernels = precision.describe(runtime["name"])
    return {"profile": cell.profile, "activation": cell.arm, "seed": cell.seed, "overrides": overrides or None,
            "config": config, "dataset_sha256": dataset.get("sha256"),
            "kernels": {k: kernels.get(k) for k in ("effective_isa", "TF_ENABLE_ONEDNN_OPTS", "onednn")},
            "backend": {k: runtime.get(k) for k in ("name", "devices", "strategy", "threads", "matmul_precision")}}


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k} ({va!r} in the checkpoint, {vb!r} now)")
    return out


def _seed_generators(model) -> dict:
    """The random-number generators of the model's layers (dropout, RReLU), by layer name.

    ``model.save`` does not store their states, so a checkpoint records them
    itself: without them a resumed cell would draw other dropout masks and slopes.
    """
    return {layer.name: layer.seed_generator for layer in model.layers
            if isinstance(getattr(layer, "seed_generator", None), keras.random.SeedGenerator)}


def _remove_partial(path: Path) -> None:
    """A half-written ``model.keras`` (and the empty ``assets`` folder Keras may leave)."""
    Path(path).unlink(missing_ok=True)
    for leftover in Path(path).parent.glob("assets"):
        shutil.rmtree(leftover, ignore_errors=True)


def checkpoint_dir(out: Path, stem: str) -> Path:
    """``<folder of out>/.checkpoints/<stem>``, refused where either is a
    symbolic link or not a folder: the runner writes there and deletes the
    cell's folder when the cell is done, so a link would let it write and
    delete outside the results folder."""
    from actbook.runner.errors import UsageError
    base = Path(out).parent / ".checkpoints"
    for path in (base, base / stem):
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise UsageError(f"{path} is {'a symbolic link' if path.is_symlink() else 'not a folder'}; the runner "
                             f"keeps checkpoints only in a real folder inside the results folder: move it away")
    return base / stem


def save_checkpoint(ckpt_dir: Path, model, state: dict) -> None:
    """Model, then state. The state records the optimizer's step count, so a
    kill between the two writes is detected on resume (:func:`load_checkpoint`)."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / f"model.{time.monotonic_ns()}.tmp.keras"
    try:
        model.save(tmp)
        data = tmp.read_bytes()
    finally:
        _remove_partial(tmp)
    write_bytes_atomic(ckpt_dir / "model.keras", lambda f: f.write(data))
    rng = {name: keras.ops.convert_to_numpy(g.state).tolist() for name, g in _seed_generators(model).items()}
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    write_json_atomic(ckpt_dir / "state.json", {**state, "optimizer_steps": steps, "seed_generators": rng})


def load_checkpoint(ckpt_dir: Path, identity: dict, steps_per_epoch: int):
    """``(model, state)`` from a checkpoint made for this very cell (``identity``,
    see :func:`cell_identity`) whose model has exactly the recorded number of
    optimizer steps; else ``None``, with the reason on stderr."""
    state_file, model_file = ckpt_dir / "state.json", ckpt_dir / "model.keras"
    if not (state_file.exists() and model_file.exists()):
        return None
    try:
        state = json.loads(state_file.read_text())
        if not isinstance(state, dict) or not isinstance(state.get("identity"), dict):
            raise CheckpointMismatch("it names no cell (made by an older runner)")
        differences = _differences(state["identity"], identity)
        if differences:
            raise CheckpointMismatch("made for another cell or setting: " + "; ".join(differences[:4]))
        model = keras.models.load_model(model_file)
        steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
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
# Per-image predictions and the calibrated loss
# --------------------------------------------------------------------------

def predictions_path(result: Path) -> Path:
    """The per-image predictions beside a final cell's result: ``<stem>.predictions.npz``."""
    return Path(result).with_name(Path(result).stem + ".predictions.npz")


def _logits_and_probabilities(model, x, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The inputs of the model's softmax (float64) and its outputs (float32), in inference mode."""
    head = model.get_layer("probabilities")
    both = keras.Model(model.inputs, [head.input, model.outputs[0]])
    logits, probabilities = both.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(logits, np.float64), np.asarray(probabilities, np.float32)


def _write_predictions(path: Path, predicted: np.ndarray, p_true: np.ndarray) -> str:
    """Write the predictions file atomically; its sha256."""
    import hashlib
    import io
    buffer = io.BytesIO()
    np.savez_compressed(buffer, predicted=predicted, p_true=p_true)
    data = buffer.getvalue()
    write_bytes_atomic(path, lambda f: f.write(data))
    return hashlib.sha256(data).hexdigest()


def _predictions_and_calibration(model, prepared: D.Prepared, batch_size: int, out: Path) -> tuple[dict, dict | None]:
    """Each test image's predicted class and the probability of its true class,
    written beside the result, and the test cross-entropy after one softmax
    temperature is fitted on the validation images (``None`` without them)."""
    import hashlib

    from actbook.runner.calibration import cross_entropy, fit_temperature
    logits, probabilities = _logits_and_probabilities(model, prepared.x_test, batch_size)
    y = np.asarray(prepared.y_test, np.int64)
    predicted = probabilities.argmax(axis=1).astype(np.uint8)
    p_true = probabilities[np.arange(len(y)), y]
    path = predictions_path(out)
    digest = _write_predictions(path, predicted, p_true)
    predictions = {"file": path.name, "sha256": digest, "images": int(len(y)),
                   "test_labels_sha256": hashlib.sha256(y.astype("<i8").tobytes()).hexdigest(),
                   "error": float(np.mean(predicted != y))}
    if prepared.y_val is None:
        return predictions, None
    val_logits, _ = _logits_and_probabilities(model, prepared.x_val, batch_size)
    y_val = np.asarray(prepared.y_val, np.int64)
    t = fit_temperature(val_logits, y_val)
    calibration = {"temperature": t,
                   "val_xent": cross_entropy(val_logits, y_val), "val_xent_calibrated": cross_entropy(val_logits / t, y_val),
                   "test_xent": cross_entropy(logits, y), "test_xent_calibrated": cross_entropy(logits / t, y),
                   "how": "one softmax temperature T minimising the validation cross-entropy of logits / T; "
                          "cross-entropies in float64 from the logits"}
    return predictions, calibration


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
            bar.set_postfix(loss=f"{float(logs.get('loss', float('nan'))):.3f}",
                            err=f"{1 - float(logs.get('accuracy', float('nan'))):.3f}", img_s=f"{rate:.0f}",
                            refresh=False)
            bar.update(1)

    return Progress()


def _layer_diagnostics(model, x_test) -> dict:
    """Never-active units per activation layer on the test set (reduced batch
    by batch: one boolean per unit is kept, never the outputs), and PReLU's slopes."""
    from actbook.dead_units import never_active_fractions
    from actbook.layers import ChannelPReLU
    diag = {"never_active_fraction": never_active_fractions(model, x_test)}
    alphas = {l.name: [float(a) for a in keras.ops.convert_to_numpy(l.alpha).ravel()]
              for l in model.layers if isinstance(l, ChannelPReLU)}
    if alphas:
        diag["prelu_alpha"] = alphas
    return diag


def _evaluate(model, batches) -> tuple[float, float, float]:
    """(objective, error, cross-entropy) on fixed batches, in inference mode."""
    m = model.evaluate(batches, verbose=0, return_dict=True)
    return float(m["loss"]), float(1 - m["accuracy"]), float(m["xent"])


def _command_line() -> str | None:
    """The command that made the result, with paths outside the repository reduced to their names."""
    if not sys.argv or not sys.argv[0]:
        return None

    def clean(arg: str) -> str:
        if "/" not in arg:
            return arg
        key, eq, value = arg.rpartition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
        path = Path(value)
        try:
            shown = path.resolve().relative_to(provenance.REPO).as_posix()
        except (ValueError, OSError):
            shown = path.name if path.is_absolute() or value.startswith("..") else value
        return f"{key}{eq}{shown}"

    args = [clean(a) for a in sys.argv[1:]]
    if Path(sys.argv[0]).name == "__main__.py":
        return " ".join(["python -m actbook", *args])
    return " ".join([Path(sys.argv[0]).name, *args])


def _segment() -> dict:
    """The code a stretch of training ran: read when it starts, not when the cell ends."""
    state = provenance.git_state()
    return {"started": provenance.now(), **state}


def _code(segments: list[dict]) -> dict:
    """The code that made the cell: its first segment's, flagged when later segments ran other code."""
    first = {k: v for k, v in segments[0].items() if k != "started"}
    mixed = any({k: v for k, v in s.items() if k != "started"} != first for s in segments[1:])
    return {"git": {**first, "mixed_segments": mixed}}


def run_cell(cell: Cell, results: Path, config: dict, prepared: D.Prepared, overrides: dict | None = None,
             progress: bool = True, devices: list[str] | None = None, runtime_tag: str = "") -> Path:
    """Train one cell to completion (resuming from its checkpoint) and write its result."""
    from tqdm.std import tqdm  # a text bar everywhere, notebooks included

    devices = devices or B.device_names()
    out = result_path(results, cell, overrides, runtime_tag)
    ckpt_dir = checkpoint_dir(out, cell.stem)
    bs, epochs, eval_every = config["batch_size"], config["epochs"], config.get("eval_every", 1)
    steps = math.ceil(len(prepared.y_train) / bs)
    runtime = B.describe(devices, config["threads"])
    identity = cell_identity(cell, config, overrides, prepared.dataset, runtime)

    with precision_policy(config["precision"]):
        B.seed_everything(cell.seed)
        # Data: the (seed, epoch) training stream; fixed arrays for evaluation.
        stream = make_train_stream(prepared.x_train, prepared.y_train, bs, seed=cell.seed, augment=config["augment"])
        # The inference-mode training error is measured on a fixed subset when
        # the profile says so: on all 50,000 images it is a fifth of an epoch.
        x_measured, y_measured = D.subset(prepared.x_train, prepared.y_train, config.get("train_eval_size"),
                                          seed=config["data_seed"])
        train_batches = B.feed(stream)
        train_eval = B.feed(make_eval_stream(x_measured, y_measured, bs * 4))
        # The grid's cells never see the test set: they are scored on the validation images.
        scores_test = config.get("evaluate_test", True)
        test = B.feed(make_eval_stream(prepared.x_test, prepared.y_test, bs * 4)) if scores_test else None
        val = None if prepared.y_val is None else B.feed(make_eval_stream(prepared.x_val, prepared.y_val, bs * 4))

        # Model and optimiser: fresh, or the checkpoint (both inside the devices' scope).
        with B.distribution_scope(devices):
            resumed = load_checkpoint(ckpt_dir, identity, steps)
            if resumed is None:
                # Seeded again: loading a checkpoint that was then discarded
                # draws from the global generators, and an RReLU layer without
                # a seed of its own takes its generator's seed from them.
                B.seed_everything(cell.seed)
                model = build_model(config["model"], cell.arm, seed=cell.seed, init=config.get("init", "he"),
                                    seeding=config.get("seeding", "offset"), **config["model_kwargs"])
                compile_model(model, config, steps)
                history, started, segments = [], provenance.now(), []
            else:
                model, state = resumed
                history, started, segments = state["history"], state["started"], state.get("segments", [])
            segments.append(_segment())

            bar = tqdm(total=steps * epochs, initial=steps * len(history), desc=f"{cell.profile} {cell.stem}",
                       unit="batch", disable=not progress, leave=True, mininterval=1.0)
            callback = _progress_callback(bar, bs)
            diverged_epoch = None
            for epoch in range(len(history), epochs):
                t0 = time.perf_counter()
                stream.epoch = epoch
                fit = model.fit(train_batches, epochs=epoch + 1, initial_epoch=epoch, verbose=0, callbacks=[callback],
                                shuffle=False)  # the stream orders the batches itself
                train_seconds = time.perf_counter() - t0
                train_loss = float(fit.history["loss"][-1])
                finite = math.isfinite(train_loss)
                measure = finite and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs)
                none = (None, None, None)
                test_loss, test_error, test_xent = _evaluate(model, test) if measure and test else none
                val_loss, val_error, val_xent = _evaluate(model, val) if measure and val else none
                # Training error in inference mode: no dropout, augmentation or RReLU noise.
                train_eval_loss, train_eval_error, train_eval_xent = _evaluate(model, train_eval) if measure else none
                # *_loss: the objective (penalty included); *_xent: cross-entropy alone.
                row = {"epoch": epoch + 1,
                       "train_loss": train_loss,
                       "train_error": float(1 - fit.history["accuracy"][-1]),
                       "train_xent": float(fit.history["xent"][-1]),
                       "train_eval_loss": train_eval_loss, "train_eval_error": train_eval_error,
                       "train_eval_xent": train_eval_xent,
                       "test_loss": test_loss, "test_error": test_error, "test_xent": test_xent,
                       "val_loss": val_loss, "val_error": val_error, "val_xent": val_xent,
                       "seconds": time.perf_counter() - t0,
                       "train_images_per_second": len(prepared.y_train) / train_seconds}
                history.append(row)
                fmt = lambda v: "     -" if v is None else f"{v:.4f}"  # noqa: E731
                bar.write(f"{cell.profile:>8} {cell.stem:>22}  epoch {row['epoch']:>3}  train loss {row['train_loss']:.4f}"
                          f"  train err {row['train_error']:.4f}  clean train err {fmt(train_eval_error)}"
                          f"  val err {fmt(val_error)}  test err {fmt(test_error)}  {row['seconds']:6.1f} s  {row['train_images_per_second']:6.0f} img/s")
                if not finite:
                    # A diverged cell is an outcome, not an error: stop and record where.
                    diverged_epoch = epoch + 1
                    bar.write(f"[{cell.stem}] training loss is not finite in epoch {diverged_epoch}: the cell "
                              f"diverged; it stops here and is recorded as diverged")
                    break
                # Every epoch is checkpointed, the last one too: the diagnostics
                # below can then fail without costing an epoch.
                save_checkpoint(ckpt_dir, model, {"identity": identity, "history": history, "started": started,
                                                  "segments": segments})
            bar.close()
            # Never-active units on the test images, or on the validation images for a grid cell.
            probe = prepared.x_test if scores_test else (prepared.x_val if prepared.y_val is not None
                                                         else prepared.x_train)
            diagnostics = None if diverged_epoch else _layer_diagnostics(model, probe)
            predictions, calibration = None, None
            if scores_test and not diverged_epoch:
                predictions, calibration = _predictions_and_calibration(model, prepared, bs * 4, out)

    result = {
        "schema": SCHEMA_VERSION,
        "predictions": predictions, "calibration": calibration,
        "profile": cell.profile, "activation": cell.arm, "seed": cell.seed, "stage": cell.stage,
        "config": config, "overrides": overrides or None,
        "outcome": "diverged" if diverged_epoch else "finished", "diverged_epoch": diverged_epoch,
        "history": history,
        "diagnostics": diagnostics,
        "provenance": {**provenance.collect(), **_code(segments), "backend": runtime, "dataset": prepared.dataset,
                       "segments": segments, "started": started, "finished": provenance.now(),
                       "train_images_used": int(len(prepared.y_train)),
                       "test_images_used": int(len(prepared.y_test)) if scores_test else 0,
                       "validation_images_used": 0 if prepared.y_val is None else int(len(prepared.y_val)),
                       "train_eval_images_used": int(len(y_measured)),
                       "train_subset": prepared.train_subset,
                       "command": _command_line()},
    }
    write_json_atomic(out, result)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return out
