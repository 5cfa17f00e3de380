"""One cell of the CIFAR-10 comparison, read top to bottom: data, model,
optimiser, epochs, log row, result.

:func:`run_cell` trains one (profile, activation, seed) cell, resuming from
its checkpoint, and writes its result file; :mod:`actbook.runner.experiment`
plans the cells and holds the command line. Every source of randomness is
seeded from the cell's seed: the training stream is a function of (seed,
epoch, batch) (:mod:`actbook.runner.stream`) and the layers' generators are
checkpointed, so an interrupted cell ends bit-identical to an uninterrupted
one. The pieces around the recipe live in modules of their own: the network
(:mod:`~actbook.runner.architectures`, built by :mod:`~actbook.runner.models`),
the learning-rate schedules (:mod:`~actbook.runner.schedules`), checkpoints
and what they must match (:mod:`~actbook.runner.checkpoints`), the progress
bar (:mod:`~actbook.runner.progress`), the per-image predictions
(:mod:`~actbook.runner.predictions`) and provenance
(:mod:`~actbook.runner.provenance`).
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

from actbook.runner import backend as B

keras = B.keras_module()

from actbook.runner import data as D  # noqa: E402
from actbook.runner import provenance  # noqa: E402
from actbook.runner.checkpoints import (cell_identity, checkpoint_dir, load_checkpoint, refuse_links,  # noqa: E402
                                        remove_checkpoint, save_checkpoint)
from actbook.runner.files import write_json_atomic  # noqa: E402
from actbook.runner.models import build_model  # noqa: E402
from actbook.runner.predictions import predictions_and_calibration  # noqa: E402
from actbook.runner.profiles import Cell, result_path, with_defaults  # noqa: E402
from actbook.runner.progress import progress_bar, progress_callback  # noqa: E402
from actbook.runner.result_format import SCHEMA_VERSION  # noqa: E402
from actbook.runner.schedules import learning_rate  # noqa: E402
from actbook.runner.stream import make_eval_stream, make_train_stream  # noqa: E402

__all__ = ["run_cell", "compile_model", "precision_policy"]


def compile_model(model, config: dict, steps_per_epoch: int) -> None:
    """SGD at the config's learning rate or schedule, on the cross-entropy plus the L2 penalty."""
    config = with_defaults(config)
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


@contextlib.contextmanager
def precision_policy(name: str):
    """The cell's mixed-precision policy, restored afterwards (it is global in Keras)."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


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


def run_cell(cell: Cell, results: Path, config: dict, prepared: D.Prepared, overrides: dict | None = None,
             progress: bool = True, devices: list[str] | None = None, runtime_tag: str = "") -> Path:
    """Train one cell to completion (resuming from its checkpoint) and write its result."""
    devices = devices or B.device_names()
    out = result_path(results, cell, overrides, runtime_tag)
    ckpt_dir = checkpoint_dir(out, cell.stem)
    settings = with_defaults(config)  # what the cell reads; the result records the config as given
    bs, epochs, eval_every = settings["batch_size"], settings["epochs"], settings["eval_every"]
    steps = math.ceil(len(prepared.y_train) / bs)
    runtime = B.describe(devices, settings["threads"])
    identity = cell_identity(cell, config, overrides, prepared.dataset, runtime)

    with precision_policy(settings["precision"]):
        B.seed_everything(cell.seed)
        # Data: the (seed, epoch) training stream; fixed arrays for evaluation.
        stream = make_train_stream(prepared.x_train, prepared.y_train, bs, seed=cell.seed, augment=settings["augment"])
        # The inference-mode training error is measured on a fixed subset when
        # the profile says so: on all 50,000 images it is a fifth of an epoch.
        x_measured, y_measured = D.subset(prepared.x_train, prepared.y_train, settings["train_eval_size"],
                                          seed=settings["data_seed"])
        train_batches = B.feed(stream)
        train_eval = B.feed(make_eval_stream(x_measured, y_measured, bs * 4))
        # The grid's cells never see the test set: they are scored on the validation images.
        scores_test = settings["evaluate_test"]
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
                model = build_model(settings["model"], cell.arm, seed=cell.seed, init=settings["init"],
                                    seeding=settings["seeding"], **settings["model_kwargs"])
                compile_model(model, settings, steps)
                history, started, segments = [], provenance.now(), []
            else:
                model, state = resumed
                history, started, segments = state["history"], state["started"], state.get("segments", [])
            segments.append(provenance.segment())

            bar = progress_bar(f"{cell.profile} {cell.stem}", steps * epochs, steps * len(history), progress)
            callback = progress_callback(bar, bs)
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
                refuse_links(ckpt_dir)  # the predictions file goes beside the result: never through a link
                predictions, calibration = predictions_and_calibration(model, prepared, bs * 4, out)

    result = {
        "schema": SCHEMA_VERSION,
        "predictions": predictions, "calibration": calibration,
        "profile": cell.profile, "activation": cell.arm, "seed": cell.seed, "stage": cell.stage,
        "config": config, "overrides": overrides or None,
        "outcome": "diverged" if diverged_epoch else "finished", "diverged_epoch": diverged_epoch,
        "history": history,
        "diagnostics": diagnostics,
        "provenance": {**provenance.code(segments), "versions": provenance.package_versions(),
                       "hardware": provenance.hardware(), "backend": runtime, "dataset": prepared.dataset,
                       "segments": segments, "started": started, "finished": provenance.now(),
                       "train_images_used": int(len(prepared.y_train)),
                       "test_images_used": int(len(prepared.y_test)) if scores_test else 0,
                       "validation_images_used": 0 if prepared.y_val is None else int(len(prepared.y_val)),
                       "train_eval_images_used": int(len(y_measured)),
                       "train_subset": prepared.train_subset,
                       "command": provenance.command_line()},
    }
    refuse_links(ckpt_dir)  # the cell's folder may have been swapped for a link since the last checkpoint
    write_json_atomic(out, result)
    remove_checkpoint(ckpt_dir)  # never through a link swapped in during the run
    return out
