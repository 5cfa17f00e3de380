"""The progress bar of a cell: one tqdm bar across its per-epoch ``fit`` calls."""

from __future__ import annotations

import time

from actbook.runner.backend import keras_module

keras = keras_module()

__all__ = ["progress_bar", "progress_callback"]


def progress_bar(description: str, total: int, initial: int, enabled: bool):
    """A text bar (also in notebooks) of ``total`` batches, ``initial`` of them done."""
    from tqdm.std import tqdm
    return tqdm(total=total, initial=initial, desc=description, unit="batch", disable=not enabled, leave=True,
                mininterval=1.0)


def progress_callback(bar, batch_size: int):
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
