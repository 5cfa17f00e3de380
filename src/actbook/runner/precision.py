"""The precision and kernel policy: the same command gives the same numbers
across x86-64 CPUs, where TensorFlow's oneDNN kernels run.

oneDNN picks its kernels by the best instruction set of the CPU, and in
bf16 the kernels (and so the numbers) differ between instruction sets; in
float32 every AVX-512 level gives the same numbers. The measurements behind
this are in the book's appendix and ``data/reproducibility``. The policy,
applied only where oneDNN runs (the TensorFlow backend):

- profiles train in **float32** (the portable precision);
- ``ONEDNN_MAX_CPU_ISA`` defaults to ``AVX512_CORE_BF16`` (:data:`PINNED_ISA`),
  so AMX hosts run the same kernels as AVX-512 BF16 ones
  (:mod:`actbook.kernel_policy` sets it before TensorFlow loads);
- ``TF_ENABLE_ONEDNN_OPTS=1`` is made explicit, so Eigen's kernels are never
  silently swapped in;
- both are defaults: a value already in the environment wins, every result
  records what was in force (:func:`describe`), and a setting the policy
  does not know is refused (:func:`unknown_settings`);
- bf16 is refused below ``AVX512_CORE_BF16`` (:func:`check_supported`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from actbook import kernel_policy
from actbook.kernel_policy import PINNED_ISA

__all__ = ["PINNED_ISA", "ISA_ORDER", "cpu_flags", "cpu_isa", "effective_isa", "describe",
           "check_supported", "PrecisionUnsupported", "onednn_enabled", "unknown_settings"]

#: oneDNN's ISA names, weakest first (the ones that matter on x86-64 here).
ISA_ORDER = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
             "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "ALL")
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")

def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_isa(flags: set[str] | None = None) -> str | None:
    """The best oneDNN ISA this CPU supports (None where /proc/cpuinfo is not readable)."""
    f = cpu_flags() if flags is None else flags
    if not f:
        return None
    if "amx_bf16" in f and "amx_tile" in f:
        return "AVX512_CORE_AMX"
    if "avx512_bf16" in f:
        return "AVX512_CORE_BF16"
    if "avx512_vnni" in f:
        return "AVX512_CORE_VNNI"
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= f:
        return "AVX512_CORE"
    if "avx2" in f:
        return "AVX2"
    return "SSE41"


def effective_isa(cap: str | None = None, flags: set[str] | None = None) -> str | None:
    """The ISA oneDNN's kernels run at: the CPU's best, capped by ``ONEDNN_MAX_CPU_ISA``."""
    best = cpu_isa(flags)
    cap = (cap if cap is not None else os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL")).upper()
    if best is None or cap not in ISA_ORDER:
        return best
    return min(best, cap, key=ISA_ORDER.index)


def onednn_enabled() -> bool:
    """Whether TensorFlow runs oneDNN's kernels (``TF_ENABLE_ONEDNN_OPTS``; Eigen's otherwise)."""
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false")


def unknown_settings() -> list[str]:
    """Kernel settings the policy cannot vouch for: an ``ONEDNN_MAX_CPU_ISA``
    that is not one of :data:`ISA_ORDER` (oneDNN knows more names, e.g.
    ``AVX2_VNNI_2``, whose kernels this policy would misreport), and a
    ``TF_ENABLE_ONEDNN_OPTS`` that is neither on nor off."""
    problems = []
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    if cap is not None and cap.strip().upper() not in ISA_ORDER:
        problems.append(f"ONEDNN_MAX_CPU_ISA={cap!r} is not one of the ISA levels the precision policy knows "
                        f"({', '.join(ISA_ORDER)})")
    opts = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if opts is not None and opts.strip().lower() not in ("0", "1", "true", "false"):
        problems.append(f"TF_ENABLE_ONEDNN_OPTS={opts!r} is neither 0 nor 1")
    return problems


def describe(backend: str) -> dict:
    """What a result records about the kernels that made it, on the Keras ``backend``.

    ``effective_isa`` is the oneDNN level that ran, ``None`` where no oneDNN
    kernel ran (``TF_ENABLE_ONEDNN_OPTS=0``, or a backend other than TensorFlow).
    """
    flags = cpu_flags()
    threads = None
    if "tensorflow" in sys.modules:
        import tensorflow as tf
        threads = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                   "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    onednn = backend == "tensorflow" and onednn_enabled()
    return {
        "isa_flags": {f: f in flags for f in RELEVANT_FLAGS},
        "cpu_isa": cpu_isa(flags),
        "onednn": onednn,
        "effective_isa": effective_isa(flags=flags) if onednn else None,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "policy_set_before_tensorflow_import": kernel_policy.set_before_tensorflow_import(),
        "cpu_count": os.cpu_count(),
        "tf_threads": threads,
    }


class PrecisionUnsupported(RuntimeError):
    """The kernels in force cannot run the requested precision."""


def check_supported(precision_name: str, isa: str | None = None) -> None:
    """Refuse bf16 below the pinned kernels, before any work.

    Measured: with ``ONEDNN_MAX_CPU_ISA=AVX2`` a bf16 training step fails
    with "could not create a primitive descriptor for the convolution"; with
    ``AVX512_CORE`` bf16 is emulated and the numbers are far from the pinned
    kernels' (a silent wrong number, so refused too).
    """
    problems = unknown_settings()
    if problems:
        raise PrecisionUnsupported("; ".join(problems) + "; unset it or use one of the known values")
    isa = isa if isa is not None else effective_isa()
    onednn = onednn_enabled()
    if (precision_name == "mixed_bfloat16" and onednn and isa in ISA_ORDER
            and ISA_ORDER.index(isa) < ISA_ORDER.index(PINNED_ISA)):
        raise PrecisionUnsupported(
            f"this profile trains in bf16, but oneDNN's kernels run at {isa} here, below the {PINNED_ISA} "
            f"the committed results were made with ({'no bf16 convolution at all' if ISA_ORDER.index(isa) < ISA_ORDER.index('AVX512_CORE') else 'bf16 is only emulated, and its numbers are far from the pinned kernels'}). "
            f"Run it in float32 with --set precision='\"float32\"' (its results go to their own folder "
            f"and differ from the committed bf16 ones), or on a CPU with AVX-512 BF16 or AMX")
