"""The step-time benchmark's arithmetic (benchmarks/bench_step.py), without timing anything."""

import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _bench_step():
    spec = importlib.util.spec_from_file_location("bench_step", HERE.parent / "benchmarks" / "bench_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paired_ratios_cancel_a_slow_round_that_hits_both_arms():
    bench = _bench_step()
    # Round 2 runs at half speed for everyone: unpaired, the spread hides a steady 1.2x.
    times = {"relu": [1.0, 2.0, 1.0], "gelu": [1.2, 2.4, 1.2]}
    out = bench.paired_ratios(times, "relu")
    assert out["gelu"] == pytest.approx({"median": 1.2, "low": 1.2, "high": 1.2})
    assert out["relu"] == {"median": 1.0, "low": 1.0, "high": 1.0}
