"""Import TensorFlow without its start-up chatter on the book's pages.

TensorFlow's C++ runtime writes start-up messages (oneDNN notices, "could
not find CUDA drivers", "failed call to cuInit" on machines without a GPU)
straight to file descriptor 2. Jupyter kernels capture that descriptor, so
the messages would land in the first output of a chapter. They are not
errors: TF falls back to the CPU. Importing TensorFlow and initialising its
devices with descriptor 2 pointed at /dev/null keeps the pages clean;
Python warnings and real errors raised later are untouched.

Importing this module first also sets the CPU kernel policy
(:mod:`actbook.kernel_policy`) before TensorFlow loads oneDNN, so every
chapter and cell runs the same kernels whichever actbook module it imports.
"""

from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from actbook import kernel_policy  # noqa: E402

kernel_policy.apply()  # before TensorFlow loads oneDNN: the same kernels on every CPU


def _fd2_to_devnull_if_closed() -> bool:
    """Point descriptor 2 at /dev/null where the process started with it closed (``2>&-``,
    when ``sys.stderr`` is None): there is nowhere to write warnings, and left closed, the
    next file opened (a result, a checkpoint) would take descriptor 2 and receive the C++
    runtime's messages. True where it was closed."""
    try:
        os.fstat(2)
        return False
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)  # the lowest free descriptor: 2, unless 0 or 1 are closed too
    if devnull != 2:
        os.dup2(devnull, 2)
        os.close(devnull)
    return True


@contextlib.contextmanager
def _fd2_silenced():
    if _fd2_to_devnull_if_closed():  # already silent
        yield
        return
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _fd2_silenced():
    import tensorflow as tf

    tf.config.list_physical_devices()  # platform initialisation happens here, silently
    import keras  # noqa: F401  (imported here so its own start-up is silent too)

__all__ = ["tf"]
