"""A final cell's predictions compared with the test labels, where they are at hand.

A predictions file holds each test image's predicted class and the
probability of its true class, not the labels, so on its own it only bounds
the cell's error (:func:`actbook.runner.result_files.load_predictions`). With
the labels, read from ``ACTBOOK_CIFAR10`` and drawn as the cell's profile draws
its test images, the bound becomes the number: the error of ``predicted``
against the labels must be the cell's ``test_error`` and ``predictions.error``,
an image whose ``p_true`` is above one half must be predicted right, and one
predicted right must have a ``p_true`` of at least a tenth (the largest of ten
probabilities). Used by ``actbook check`` only: the book's loaders never load
CIFAR-10. Where ``ACTBOOK_CIFAR10`` is the data set the cell records
(``provenance.dataset.sha256``), its labels are the cell's, and a recorded
``predictions.test_labels_sha256`` that is not theirs is a problem; where it
is another data set, the comparison is skipped, and ``check`` says so.
"""

from __future__ import annotations

import functools
import hashlib
import os

import numpy as np

from actbook.runner.result_files import PREDICTION_ERROR_TOLERANCE

__all__ = ["load_test_source", "cell_test_labels", "label_problems", "ROUNDING_MARGIN"]

#: How far a float32 probability may stray over 0.5 or under 0.1 by rounding alone.
ROUNDING_MARGIN = 1e-4


@functools.lru_cache(maxsize=2)
def _load(source: str, size: int, mtime: int):
    from actbook.runner import data as D
    return D.load_cifar10(source)


def load_test_source():
    """``(CIFAR-10 as ACTBOOK_CIFAR10 names it, None)``, or ``(None, why not)``; loaded once per
    process and source (an archive changed since is loaded again)."""
    from actbook.runner import data as D
    source = os.environ.get(D.ENV_VAR)
    if not source:
        return None, f"{D.ENV_VAR} is not set"
    try:
        info = os.stat(source)
        return _load(source, info.st_size, info.st_mtime_ns), None
    except (OSError, D.DataError) as e:
        return None, f"{D.ENV_VAR} cannot be read ({e})"


def cell_test_labels(config: dict, cifar) -> np.ndarray:
    """The labels of the test images a cell of ``config`` was tested on, drawn as
    :func:`actbook.runner.data.prepare` draws them."""
    from actbook.runner import data as D
    from actbook.runner.profiles import with_defaults
    config = with_defaults(config)
    return np.asarray(D.subset(cifar.x_test, cifar.y_test, config["test_size"], seed=config["data_seed"])[1],
                      np.int64)


def label_problems(name: str, cell: dict, arrays: dict, cifar) -> tuple[list[str], bool]:
    """``(problems, compared)`` of one cell (its file ``name``) whose predictions
    ``arrays`` were read: ``compared`` is False where ``cifar`` is another data set
    than the cell's and its test labels are not the ones the cell records (nothing
    is compared then)."""
    labels = cell_test_labels(cell["config"], cifar)
    pred = cell["predictions"]
    digest = hashlib.sha256(labels.astype("<i8").tobytes()).hexdigest()
    if digest != pred.get("test_labels_sha256"):
        dataset = ((cell.get("provenance") or {}).get("dataset") or {}).get("sha256")
        if dataset != cifar.sha256:
            return [], False
        # The archive the cell records, drawn as its config draws: these labels are the cell's.
        return [f"predictions wrong: {name}: its predictions record test labels that are not this data set's "
                f"(predictions.test_labels_sha256 {str(pred.get('test_labels_sha256'))[:16]}..., but the test "
                f"images its config draws from the archive it records, sha256 {cifar.sha256[:16]}..., have "
                f"labels of sha256 {digest[:16]}...)"], True
    predicted, p_true = arrays["predicted"], arrays["p_true"].astype(np.float64)
    if len(labels) != len(predicted):
        return [f"predictions wrong: {name} holds {len(predicted)} images, the test set {len(labels)}"], True
    right = predicted.astype(np.int64) == labels
    error = float(np.mean(~right))
    problems = []
    test_error = (cell.get("history") or [{}])[-1].get("test_error")
    if test_error is None or abs(error - test_error) > PREDICTION_ERROR_TOLERANCE:
        problems.append(f"predictions wrong: {name}: its predicted classes make an error of {error!r} on the test "
                        f"labels, its last epoch's test_error is {test_error!r}")
    if pred.get("error") != error:
        problems.append(f"predictions wrong: {name}: its predicted classes make an error of {error!r} on the test "
                        f"labels, its predictions.error is {pred.get('error')!r}")
    sure = int(np.sum((p_true > 0.5 + ROUNDING_MARGIN) & ~right))
    if sure:
        problems.append(f"predictions wrong: {name}: {sure} image(s) give their true class more than one half "
                        f"(p_true) but are predicted wrong")
    unlikely = int(np.sum((p_true < 0.1 - ROUNDING_MARGIN) & right))
    if unlikely:
        problems.append(f"predictions wrong: {name}: {unlikely} image(s) are predicted right with p_true below 0.1, "
                        f"which a class of ten probabilities cannot be the largest with")
    return problems, True
