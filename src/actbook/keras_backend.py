"""Which Keras backend this process uses, and Keras imported quietly on it.

Keras chooses its backend once, from ``KERAS_BACKEND`` (or ``keras.json``;
TensorFlow when neither says), when it is first imported. A module of the
book that needs Keras on whichever backend is in force imports it through
:func:`keras_module`: on TensorFlow that goes through :mod:`actbook.tf_runtime`,
so TensorFlow's start-up messages stay off the pages; on JAX no TensorFlow is
imported at all.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["backend_name", "keras_module"]


def backend_name() -> str:
    """The Keras backend, read as Keras reads it, without importing Keras."""
    if "keras" in sys.modules:
        import keras
        return keras.config.backend()
    env = os.environ.get("KERAS_BACKEND")
    if env:
        return env
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        return json.loads(config.read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def keras_module():
    """``keras``, imported through :mod:`actbook.tf_runtime` (silently) when the backend is TensorFlow."""
    if backend_name() == "tensorflow":
        from actbook import tf_runtime  # noqa: F401
    import keras
    return keras
