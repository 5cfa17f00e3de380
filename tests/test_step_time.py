"""The step-time benchmark's reader and its rule for a ratio that stands out."""

import pytest

from actbook.analysis import step_time


def _bench(rows):
    """A benchmark file's ``arms``: (activation, median ms, spread ms, ratio to ReLU)."""
    return {"arms": [{"activation": a, "ms per step (median)": m, "spread over rounds (ms)": s, "time vs ReLU": r}
                     for a, m, s, r in rows]}


def test_a_ratio_stands_out_only_beyond_its_spread_and_relus_together():
    bench = _bench([("relu", 100.0, 10.0, 1.0),     # ReLU's spread: 10 % of its median
                    ("slow", 200.0, 20.0, 1.25),    # 0.25 from 1, bar 0.10 + 0.10: stands out
                    ("near", 100.0, 10.0, 1.15),    # 0.15 from 1, bar 0.20: within the noise
                    ("fast", 50.0, 2.5, 0.80),      # 0.20 from 1, bar 0.05 + 0.10: stands out, faster
                    ("edge", 100.0, 10.0, 1.20)])   # exactly at the bar: not further than it
    assert step_time.stands_out(bench) == ["slow", "fast"]
    assert step_time.spreads(bench)["slow"] == pytest.approx(0.10)
    assert step_time.ratios(bench)["fast"] == 0.80


def test_a_benchmark_without_relu_is_refused():
    with pytest.raises(ValueError, match="no ReLU row"):
        step_time.stands_out(_bench([("elu", 100.0, 10.0, 1.3)]))


def test_the_committed_runs_load_and_an_unknown_precision_is_refused():
    for precision in step_time.PRECISIONS:
        bench = step_time.load(precision)
        assert step_time.ratios(bench)["relu"] == pytest.approx(1.0)
        assert {"float32": "float32", "bf16": "mixed_bfloat16"}[precision] == bench["settings"]["precision"]
    with pytest.raises(ValueError, match="float32, bf16"):
        step_time.load("float16")
