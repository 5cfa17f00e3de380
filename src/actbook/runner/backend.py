"""The Keras backend a cell trains on, set up the same way on every machine.

Keras chooses its backend once, from ``KERAS_BACKEND`` (TensorFlow when
unset), when it is first imported. This module is the runner's only door to
it: it imports TensorFlow only when TensorFlow is the backend (its
:func:`name` and :func:`keras_module` are :mod:`actbook.keras_backend`'s
``backend_name`` and ``keras_module``, the book's one reader of the
backend), fixes the
thread pools and the determinism settings before the first computation,
chooses the devices, and says what was in force for the result's provenance.

Determinism per backend:

- TensorFlow: ``tf.config.experimental.enable_op_determinism``;
- JAX: deterministic XLA ops on GPUs (``--xla_gpu_deterministic_ops``) and
  ``jax_default_matmul_precision="highest"`` (a GPU's "float32" matmul is
  TF32 otherwise).

These two are the backends the tests run (JAX in CI's second leg); Keras's
PyTorch backend is refused, untested.

Threads: a cell's ``threads`` setting is the size of the backend's compute
pool, because the way a kernel splits its work between threads changes the
order of its sums and so the last bits of its numbers. The same ``threads``
gives the same numbers on a 1-core laptop and a 64-core node; a bigger
machine runs several cells at once instead.
"""

from __future__ import annotations

import contextlib
import os
import sys

from actbook.keras_backend import backend_name as name
from actbook.keras_backend import keras_module

__all__ = ["BackendError", "name", "keras_module", "setup", "seed_everything", "requested_devices",
           "distribution_scope", "describe", "runtime_tag", "recorded_runtime_tag", "feed", "BACKENDS"]

BACKENDS = ("tensorflow", "jax")
DEVICES_VAR = "ACTBOOK_DEVICES"
#: The largest device index ``ACTBOOK_DEVICES`` may name.
MAX_DEVICE_INDEX = 255


class BackendError(RuntimeError):
    """The backend cannot be set up as the cell asks; the message says why."""


# --------------------------------------------------------------------------
# Threads and determinism
# --------------------------------------------------------------------------

def affinity() -> list[int]:
    """The CPUs this process may run on (``os.cpu_count()`` ignores ``taskset``)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def setup(threads: int) -> None:
    """Thread pools and determinism for a cell; call before its first computation.

    A process's pools can be sized once: asking for another size later is a
    :class:`BackendError` (run such cells in separate processes).
    """
    backend = name()
    if backend not in BACKENDS:
        raise BackendError(f"KERAS_BACKEND={backend!r} is not one the runner supports ({', '.join(BACKENDS)})")
    import importlib.util
    if "keras" not in sys.modules and importlib.util.find_spec(backend) is None:  # Keras would fail to import
        hint = " (pip install -r requirements-jax.txt)" if backend == "jax" else ""
        raise BackendError(f"KERAS_BACKEND={backend!r}, but {backend} is not installed{hint}")
    if backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if "--xla_gpu_deterministic_ops" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
        if threads == 1 and "--xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] += " --xla_cpu_multi_thread_eigen=false"
    keras_module()  # the backend imported (TensorFlow silently) before it is configured
    if backend == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            now = tf.config.threading.get_intra_op_parallelism_threads() or len(affinity())
            if now != threads:
                raise BackendError(f"this process already computes with {now} TensorFlow threads; a cell "
                                   f"with threads={threads} needs a fresh process") from None
    else:
        import jax
        jax.config.update("jax_default_matmul_precision", "highest")


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and the backend's global seeds (the layers own their generators)."""
    keras = keras_module()
    keras.utils.set_random_seed(seed)


def feed(batches):
    """What ``fit`` and ``evaluate`` are given for a ``keras.utils.PyDataset``.

    On TensorFlow it is wrapped in ``tf.data`` by hand, with tf.data's graph
    rewrites and autotuning off and a fixed two-batch prefetch: the graph
    rewrites Keras's own wrapper triggers log a C++ error from TensorFlow
    2.21's op registry ("NodeDef mentions attribute use_unbounded_threadpool")
    on large evaluation sets, which would land on the book's pages. The
    batches and their order are the same either way. Other backends take
    the PyDataset as it is.
    """
    if name() != "tensorflow":
        return batches
    import tensorflow as tf
    first_x, first_y = batches[0]
    signature = (tf.TensorSpec((None, *first_x.shape[1:]), tf.as_dtype(first_x.dtype)),
                 tf.TensorSpec((None,), tf.as_dtype(first_y.dtype)))

    def generate():
        for i in range(len(batches)):
            yield batches[i]

    ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(batches))).prefetch(2)
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    options.autotune.enabled = False
    return ds.with_options(options)


# --------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------

def _parse_device(text: str) -> tuple[str, int]:
    spec = text.strip().lstrip("/").lower()
    if spec.startswith("device:"):
        spec = spec[len("device:"):]
    kind, sep, index = spec.partition(":")
    if not sep or kind not in ("cpu", "gpu") or not index.isdigit():
        raise BackendError(f"{DEVICES_VAR}: {text!r} is not a device name like /cpu:0 or /gpu:1")
    if int(index) > MAX_DEVICE_INDEX:  # /cpu:K makes K + 1 logical CPUs: a huge K would never finish
        raise BackendError(f"{DEVICES_VAR}: {text!r}; device indices go up to {MAX_DEVICE_INDEX}")
    return kind, int(index)


def requested_devices() -> list[tuple[str, int]]:
    """``ACTBOOK_DEVICES`` as (kind, index) pairs; empty when unset (one device)."""
    raw = os.environ.get(DEVICES_VAR, "")
    if not raw.strip():
        return []
    names = [n for n in raw.split(",") if n.strip()]
    devices = [_parse_device(n) for n in names]
    if len(set(devices)) != len(devices):
        raise BackendError(f"{DEVICES_VAR}={raw!r} names a device twice")
    if len({k for k, _ in devices}) > 1:
        raise BackendError(f"{DEVICES_VAR}={raw!r} mixes CPUs and GPUs")
    return devices


def _tf_devices(wanted):
    import tensorflow as tf
    kind = wanted[0][0] if wanted else None
    if kind == "cpu" and max(i for _, i in wanted) > 0:
        cpu = tf.config.list_physical_devices("CPU")[0]
        n = max(i for _, i in wanted) + 1
        with contextlib.suppress(RuntimeError):  # fixed once the runtime has started
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    have = {(d.device_type.lower(), int(d.name.rsplit(":", 1)[1])): d.name for d in tf.config.list_logical_devices()}
    if not wanted:
        gpus = [n for (k, _), n in sorted(have.items()) if k == "gpu"]
        return gpus if len(gpus) > 1 else [gpus[0] if gpus else have[("cpu", 0)]]
    missing = [f"/{k}:{i}" for k, i in wanted if (k, i) not in have]
    if missing:
        raise BackendError(f"{DEVICES_VAR} names device(s) this process does not have: {', '.join(missing)}; "
                           f"devices here: {', '.join(sorted(have.values()))}")
    return [have[w] for w in wanted]


def _jax_devices(wanted):
    import jax
    if not wanted:
        devices = jax.devices()
        return devices if devices[0].platform == "gpu" and len(devices) > 1 else devices[:1]
    out = []
    for kind, i in wanted:
        try:
            pool = jax.devices(kind)
        except RuntimeError:
            pool = []
        if i >= len(pool):
            raise BackendError(f"{DEVICES_VAR} names /{kind}:{i}, which this process does not have "
                               f"(devices here: {', '.join(str(d) for d in jax.devices())})")
        out.append(pool[i])
    return out


def device_names() -> list[str]:
    """The devices a cell trains on, checked before any data is loaded."""
    wanted = requested_devices()
    backend = name()
    keras_module()
    if backend == "tensorflow":
        return _tf_devices(wanted)
    return [f"{d.platform}:{d.id}" for d in _jax_devices(wanted)]


@contextlib.contextmanager
def distribution_scope(devices: list[str]):
    """Build and train inside this: one device, or data parallel over several
    (TensorFlow's MirroredStrategy, Keras's ``DataParallel`` on JAX). Data
    parallel training splits each batch and sums the replicas' gradients: a
    step matches one device's up to the order of those sums."""
    backend = name()
    keras = keras_module()
    if len(devices) == 1:
        if backend == "tensorflow":
            import tensorflow as tf
            with tf.device(devices[0]):
                yield
        else:
            yield
        return
    if backend == "tensorflow":
        import tensorflow as tf
        with tf.distribute.MirroredStrategy(devices).scope():
            yield
        return
    import jax
    wanted = {f"{d.platform}:{d.id}": d for d in jax.devices() + (jax.devices("cpu") if jax.default_backend() != "cpu" else [])}
    parallel = keras.distribution.DataParallel(devices=[wanted[d] for d in devices])
    before = keras.distribution.distribution()
    keras.distribution.set_distribution(parallel)
    try:
        yield
    finally:
        keras.distribution.set_distribution(before)


def _platform(devices: list[str]) -> str:
    return "gpu" if "gpu" in devices[0].lower() else "cpu"


def runtime_tag(devices: list[str]) -> str:
    """The folder suffix that keeps other backends and device sets apart:
    ``""`` for TensorFlow on one CPU (the committed sweeps' runtime),
    ``"jax-cpu"``, ``"jax-gpu"``, ``"tensorflow-cpu-2dev"`` and so on."""
    return _tag(name(), _platform(devices), len(devices))


def recorded_runtime_tag(backend: dict | None) -> str:
    """The :func:`runtime_tag` of the run that a result's ``provenance.backend``
    (:func:`describe`) records; results of older formats record none, and ran
    TensorFlow on one CPU."""
    backend = backend if isinstance(backend, dict) else {}
    devices = backend.get("devices") if isinstance(backend.get("devices"), list) and backend["devices"] else ["cpu"]
    platform = backend.get("platform") or _platform([str(d) for d in devices])  # older records name no platform
    return _tag(str(backend.get("name", "tensorflow")), str(platform), len(devices))


def _tag(backend: str, platform: str, n_devices: int) -> str:
    if n_devices > 1:
        return f"{backend}-{platform}-{n_devices}dev"
    return "" if (backend, platform) == ("tensorflow", "cpu") else f"{backend}-{platform}"


def describe(devices: list[str], threads: int) -> dict:
    """What a result records about the backend that made it."""
    from importlib import metadata
    backend = name()
    try:
        version = metadata.version(backend)
    except metadata.PackageNotFoundError:
        version = None
    info = {"name": backend, "version": version, "devices": list(devices), "platform": _platform(devices),
            "strategy": "single" if len(devices) == 1 else {"tensorflow": "mirrored"}.get(backend, "data_parallel"),
            "threads": threads, "affinity": affinity()}
    if backend == "tensorflow":
        info["determinism"] = "tf.config.experimental.enable_op_determinism"
        info["matmul_precision"] = "float32 (TF32 off: TensorFlow's default on CPUs)"
    else:
        import jax
        info["determinism"] = os.environ.get("XLA_FLAGS", "")
        info["matmul_precision"] = str(jax.config.jax_default_matmul_precision)
    return info
