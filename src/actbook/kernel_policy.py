"""The CPU kernel policy's environment defaults, set before TensorFlow loads oneDNN.

oneDNN chooses its kernels once, when TensorFlow is imported, from
``ONEDNN_MAX_CPU_ISA`` and ``TF_ENABLE_ONEDNN_OPTS``. :func:`apply` sets both
as defaults (a value already in the environment wins): the same kernels, and
so the same numbers, on every x86-64 CPU from AVX-512 BF16 up.
:mod:`actbook.tf_runtime` calls it before it imports TensorFlow;
:mod:`actbook.runner.precision` checks and records what was in force.
"""

from __future__ import annotations

import os
import sys

__all__ = ["PINNED_ISA", "apply", "set_before_tensorflow_import"]

#: The oneDNN instruction-set cap: AMX hosts run the same kernels as AVX-512 BF16 ones.
PINNED_ISA = "AVX512_CORE_BF16"

_before_tensorflow: bool | None = None


def apply() -> None:
    """Set the policy's environment defaults; call before TensorFlow is imported."""
    global _before_tensorflow
    if _before_tensorflow is None:
        _before_tensorflow = "tensorflow" not in sys.modules
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", PINNED_ISA)


def set_before_tensorflow_import() -> bool | None:
    """Whether the first :func:`apply` ran before TensorFlow was imported (None: it has not run)."""
    return _before_tensorflow
