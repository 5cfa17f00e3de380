"""A final cell's per-image test predictions and its calibrated test loss.

Each test image's predicted class and the probability of its true class go
to ``<stem>.predictions.npz`` beside the result (its sha256 in the result,
and where a p_true is 0 the cross-entropy of those images, which the file
cannot give); one softmax temperature fitted on the validation images gives
the calibrated cross-entropy (:mod:`actbook.runner.calibration`).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from actbook.runner.backend import keras_module

keras = keras_module()
import numpy as np  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

from actbook.runner.calibration import cross_entropy, fit_temperature  # noqa: E402
from actbook.runner.data import Prepared  # noqa: E402
from actbook.runner.files import write_bytes_atomic  # noqa: E402

__all__ = ["predictions_path", "predictions_and_calibration"]


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
    buffer = io.BytesIO()
    np.savez_compressed(buffer, predicted=predicted, p_true=p_true)
    data = buffer.getvalue()
    write_bytes_atomic(path, lambda f: f.write(data))
    return hashlib.sha256(data).hexdigest()


def _where_p_true_is_0(logits: np.ndarray, y: np.ndarray, p_true: np.ndarray) -> dict:
    """For images whose p_true is 0 (a float32 probability rounded or flushed to zero), the sum of
    their -log softmax(logits)[true class] in float64: their share of the test cross-entropy, which
    the file cannot give (-log 0), so that the cell's ``test_xent`` can be checked both ways. Nothing
    where no p_true is 0 (the result is then what it was before this field existed)."""
    zero = p_true == 0
    if not zero.any():
        return {}
    z, labels = logits[zero], y[zero]
    terms = logsumexp(z, axis=1) - z[np.arange(len(labels)), labels]
    return {"images_with_p_true_0": int(zero.sum()), "xent_sum_where_p_true_is_0": float(terms.sum())}


def predictions_and_calibration(model, prepared: Prepared, batch_size: int, out: Path) -> tuple[dict, dict | None]:
    """Each test image's predicted class and the probability of its true class,
    written beside the result, and the test cross-entropy after one softmax
    temperature is fitted on the validation images (``None`` without them)."""
    logits, probabilities = _logits_and_probabilities(model, prepared.x_test, batch_size)
    y = np.asarray(prepared.y_test, np.int64)
    predicted = probabilities.argmax(axis=1).astype(np.uint8)
    p_true = probabilities[np.arange(len(y)), y]
    path = predictions_path(out)
    digest = _write_predictions(path, predicted, p_true)
    predictions = {"file": path.name, "sha256": digest, "images": int(len(y)),
                   "test_labels_sha256": hashlib.sha256(y.astype("<i8").tobytes()).hexdigest(),
                   "error": float(np.mean(predicted != y)),
                   **_where_p_true_is_0(logits, y, p_true)}
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
