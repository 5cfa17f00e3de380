"""The precision and kernel policy: the same command gives the same numbers
across x86-64 CPUs.

oneDNN, which runs TensorFlow's convolutions and matrix products on x86
CPUs, picks its kernels by the best instruction set the CPU has. In bf16
mixed precision the kernels differ by instruction set, and so do the
numbers: AMX (recent Intel Xeons) against AVX-512 BF16 (AMD EPYC) ended a
3-epoch run more than a point apart (issue 11); AVX-512 without BF16
emulates bf16 and ends points away; AVX2 has no bf16 convolution at all.
In float32, a whole committed cell of each sweep (``cpu``, 3 epochs;
``overfit``, 50 epochs) gave bit-identical histories at every AVX-512
level; at AVX2 the 3-epoch cell ended 0.0033 away and the 50-epoch one
0.021 away, a different trajectory (the cross-ISA tables in the training
chapter, ``scripts/cross_isa.py``). The book keeps the AVX-512 kernels:
capping float32 at AVX2 would cost about 0.4 of the speed. On the 2-core
machine that measured it float32 was also faster than bf16 under the cap
for the book's small CNN (``benchmarks/bench_precision.py``,
``data/benchmarks/precision.json``). The policy:

- profiles train in **float32** (the portable precision);
- ``ONEDNN_MAX_CPU_ISA`` is capped at :data:`PINNED_ISA`
  (``AVX512_CORE_BF16``) before TensorFlow is imported: it changes nothing
  in float32 (measured), and keeps a bf16 run (``--set
  precision='"mixed_bfloat16"'``) on the same
  kernels on AMX and AVX-512 BF16 machines, where it reproduces bit for bit;
- ``TF_ENABLE_ONEDNN_OPTS=1`` (TensorFlow's default on Linux x86) is made
  explicit, so Eigen's kernels are never silently swapped in;
- both are defaults: a value already in the environment wins (that is how
  the cross-ISA measurement simulates other CPUs), and every result records
  what was in force (:func:`describe`), so a mix is caught when results load;
- bf16 is refused below ``AVX512_CORE_BF16`` (:func:`check_supported`)
  instead of giving other numbers or failing deep inside TensorFlow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["PINNED_ISA", "ISA_ORDER", "apply_kernel_policy", "cpu_flags", "cpu_isa", "effective_isa", "describe",
           "check_supported", "PrecisionUnsupported"]

PINNED_ISA = "AVX512_CORE_BF16"
#: oneDNN's ISA names, weakest first (the ones that matter on x86-64 here).
ISA_ORDER = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
             "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "ALL")
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")

_applied_before_tf: bool | None = None


def apply_kernel_policy() -> None:
    """Set the policy's environment defaults; call before TensorFlow is imported."""
    global _applied_before_tf
    if _applied_before_tf is None:
        _applied_before_tf = "tensorflow" not in sys.modules
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", PINNED_ISA)


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


def describe() -> dict:
    """What a result records about the kernels that made it."""
    flags = cpu_flags()
    threads = None
    if "tensorflow" in sys.modules:
        import tensorflow as tf
        threads = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                   "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    return {
        "isa_flags": {f: f in flags for f in RELEVANT_FLAGS},
        "cpu_isa": cpu_isa(flags),
        "effective_isa": effective_isa(flags=flags),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "policy_set_before_tensorflow_import": _applied_before_tf,
        "cpu_count": os.cpu_count(),
        "tf_threads": threads,  # 0 means TensorFlow's default: one per core
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
    isa = isa if isa is not None else effective_isa()
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") not in ("0", "false", "False")
    if (precision_name == "mixed_bfloat16" and onednn and isa in ISA_ORDER
            and ISA_ORDER.index(isa) < ISA_ORDER.index(PINNED_ISA)):
        raise PrecisionUnsupported(
            f"this profile trains in bf16, but oneDNN's kernels run at {isa} here, below the {PINNED_ISA} "
            f"the committed results were made with ({'no bf16 convolution at all' if ISA_ORDER.index(isa) < ISA_ORDER.index('AVX512_CORE') else 'bf16 is emulated and ends points away'}). "
            f"Run it in float32 with --set precision='\"float32\"' (its results go to their own folder "
            f"and differ from the committed bf16 ones), or on a CPU with AVX-512 BF16 or AMX")
