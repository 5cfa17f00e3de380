#!/usr/bin/env python3
"""The same training cell under each oneDNN instruction set and precision:
does it give the same numbers, and how fast is it?

    python scripts/cross_isa.py [--profile overfit --activation relu --seed 0] [--set epochs=10 ...]
                                [--isas AVX512_CORE_AMX,AVX512_CORE_BF16,AVX512_CORE,AVX2]
                                [--precisions float32,mixed_bfloat16]
                                [--out data/reproducibility/cross_isa.json]

Each run is a fresh process with ``ONEDNN_MAX_CPU_ISA`` set, which simulates
a CPU that has nothing beyond that instruction set (an ISA this CPU lacks is
reported as such). A precision other than the profile's is set with
``--set precision=...`` (so those runs are a different experiment, in their
own folder). Every run is held against the policy's own run (the profile's
precision at ``AVX512_CORE_BF16``, the cap the runner sets): its final test
error, whether its whole history is bit-identical, and its training speed.
A run that cannot start (bf16 below AVX-512) is recorded with the reason.
The table in the book is read from the JSON this writes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from actbook.analysis.reproduction import without_timing as strip  # noqa: E402
from actbook.runner import precision, provenance  # noqa: E402  (no TensorFlow)
from actbook.runner.files import write_json_atomic  # noqa: E402
from actbook.runner.profiles import Cell, get_profile, result_path  # noqa: E402



def run_one(profile, arm, seed, isa, prec, results: Path, sets: dict) -> dict:
    # The child must train with this tree's code, not whichever actbook the
    # interpreter has installed (an editable install of another checkout).
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA=isa, PYTHONPATH=path)
    overrides = dict(sets, **({"precision": prec} if prec != get_profile(profile)["precision"] else {}))
    cmd = [sys.executable, "-m", "actbook", "run", "--profile", profile, "--activations", arm,
           "--seeds", str(seed), "--results", str(results), "--no-progress",
           *[f"--set={k}={json.dumps(v)}" for k, v in overrides.items()]]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        lines = [l for l in done.stderr.splitlines() if l.startswith("error:")]
        return {"failed": lines[-1] if lines else done.stderr.strip().splitlines()[-1]}
    return json.loads(result_path(results, Cell(profile, arm, seed), overrides or None).read_text()) | {
        "wall_seconds": wall}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="overfit")
    p.add_argument("--activation", default="relu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--isas", default="AVX512_CORE_AMX,AVX512_CORE_BF16,AVX512_CORE,AVX2")
    p.add_argument("--precisions", default="float32,mixed_bfloat16")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "reproducibility" / "cross_isa.json")
    args = p.parse_args(argv)
    from actbook.runner.profiles import parse_set
    sets = parse_set(args.sets)
    best = precision.cpu_isa()
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for prec in args.precisions.split(","):
            for isa in args.isas.split(","):
                if best and precision.ISA_ORDER.index(isa) > precision.ISA_ORDER.index(best):
                    print(f"{isa}: this CPU lacks it (best: {best}); skipped", flush=True)
                    continue
                cell = run_one(args.profile, args.activation, args.seed, isa, prec, Path(tmp) / f"{isa}-{prec}", sets)
                if "failed" in cell:
                    rows.append({"ONEDNN_MAX_CPU_ISA": isa, "precision": prec, "failed": cell["failed"]})
                    print(json.dumps(rows[-1]), flush=True)
                    continue
                if reference is None and isa == precision.PINNED_ISA and prec == get_profile(args.profile)["precision"]:
                    reference = cell
                last = cell["history"][-1]
                rows.append({"ONEDNN_MAX_CPU_ISA": isa, "precision": prec,
                             "effective_isa": cell["provenance"]["hardware"]["kernels"]["effective_isa"],
                             "final_test_error": last["test_error"], "final_train_eval_error": last["train_eval_error"],
                             "final_train_loss": last["train_loss"],
                             "train_images_per_second": sum(r["train_images_per_second"] for r in cell["history"])
                             / len(cell["history"]),
                             "wall_seconds": cell["wall_seconds"], "history": strip(cell["history"])})
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "history"}), flush=True)
    if reference is None:
        raise SystemExit(f"no run at the policy's {precision.PINNED_ISA} in the profile's precision to compare with")
    ref = strip(reference["history"])
    for row in rows:
        if "history" in row:
            row["identical_to_policy_run"] = row.pop("history") == ref
            row["test_error_minus_policy_run"] = row["final_test_error"] - ref[-1]["test_error"]
    write_json_atomic(args.out, {
        "cell": {"profile": args.profile, "activation": args.activation, "seed": args.seed, "overrides": sets},
        "runs": rows,
        "provenance": {**provenance.collect(), "finished": provenance.now(), "cpu_isa": best},
    })
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
