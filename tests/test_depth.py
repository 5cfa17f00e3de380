"""actbook.depth: the typical-case recursion, the measurements on a deep network,
SELU's exact constants and the later arms' table."""

import math
from decimal import Decimal, localcontext

import numpy as np
import pandas as pd
import pytest

from actbook import activations as A
from actbook import depth


# --- settings -------------------------------------------------------------------------

def test_vanishing_settings_are_plain_data():
    s = depth.VANISHING
    assert s["depth"] == 15 and s["width"] == 256 and s["n_train"] % 10 == 0 and s["n_probe"] % 10 == 0
    assert all(isinstance(v, (int, float)) for v in s.values())


# --- mean field -----------------------------------------------------------------------

def test_relu_gain_is_half_under_glorot_and_one_under_he():
    for init, chi in (("glorot", 0.5), ("he", 1.0)):
        mf = depth.mean_field("relu", init, depth=5, width=64, inputs=64)
        np.testing.assert_allclose(mf["chi"], chi, rtol=1e-9)
    est = depth.gradient_estimate("relu", "glorot", depth=15, width=64, inputs=64)
    assert est["delta_ratio"] == pytest.approx(0.5 ** 7, rel=1e-9)          # (1/sqrt 2)^14
    assert est["activation_ratio"] == pytest.approx(2 ** 7, rel=1e-6)       # a^2 halves per layer going up
    he = depth.gradient_estimate("relu", "he", depth=15, width=64, inputs=64)
    assert he["delta_ratio"] == pytest.approx(1, rel=1e-9)


def test_relu_second_moment_recursion():
    mf = depth.mean_field("relu", "he", depth=3, width=100, inputs=100, input_second_moment=3.0)
    # q_1 = 2 * 3; E[relu(z)^2] = q / 2, so every layer has q = 6.
    np.testing.assert_allclose(mf["q"], 6.0, rtol=1e-9)
    np.testing.assert_allclose(mf["second_moment"], 3.0, rtol=1e-9)


def test_sigmoid_gain_and_critical_point():
    q, chi = depth.fixed_point_gain("sigmoid", 1.0)
    assert 0.25 < q < 0.28 and 0.054 < chi < 0.057
    s = depth.critical_weight_variance("sigmoid")
    assert 90 < s < 115
    q_c, chi_c = depth.fixed_point_gain("sigmoid", s)
    assert chi_c == pytest.approx(1, abs=1e-6)
    assert 0.4 < depth.saturated_fraction("sigmoid", q_c) < 0.6


def test_gaussian_expectations_for_narrow_and_wide_variances():
    for q in (1e-10, 1.0, 1e4):
        assert depth._gauss(lambda t: t * t, q) == pytest.approx(q, rel=1e-9)
    assert depth.output_mean("relu", 2.0) == pytest.approx(math.sqrt(2 / (2 * math.pi)), rel=1e-9)
    assert depth.saturated_fraction("relu", 1.0) == pytest.approx(0.5, abs=1e-9)


# --- measured ---------------------------------------------------------------------------

def test_first_over_last_orders_by_layer():
    frame = pd.DataFrame({"layer": [3, 1, 2], "weight_grad_norm": [2.0, 1.0, 5.0], "delta_norm": [4.0, 1.0, 1.0]})
    assert depth.first_over_last(frame) == 0.5
    assert depth.first_over_last(frame, "delta_norm") == 0.25


def test_network_measurements():
    from actbook.gradients import DeepMLP
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 20)).astype(np.float32)
    net = DeepMLP("relu", depth=3, width=16, init="he", seed=0)
    norms = depth.activation_norms(net, x)
    assert list(norms.layer) == [1, 2, 3]
    assert norms.input_norm.iloc[0] == pytest.approx(float(np.sqrt(np.mean(np.sum(x.astype(float) ** 2, 1)))),
                                                     rel=1e-6)
    units = depth.unit_statistics(net, x)
    _, zs, _ = net.forward(x)
    assert units.small_slope.iloc[0] == pytest.approx(float(np.mean(zs[0].numpy() <= 0)))
    # The threshold is inclusive: Leaky ReLU with slope 0.01 counts on its negative side.
    leaky = DeepMLP("lrelu_0.01", depth=2, width=16, init="he", seed=0)
    _, zs, _ = leaky.forward(x)
    assert depth.unit_statistics(leaky, x).small_slope.iloc[0] == pytest.approx(float(np.mean(zs[0].numpy() <= 0)))


# --- shapes ------------------------------------------------------------------------------

def test_curve_and_dip():
    label, f, df = depth.curve("silu")
    assert label == "SiLU" and f(1.0) == pytest.approx(A.silu(1.0)) and df(0.0) == 0.5
    d = depth.dip("silu")
    assert d["dip at x"] == pytest.approx(-1.2784645427610738, rel=1e-9)
    assert d["dip depth f(x)"] == pytest.approx(d["dip at x"] + 1, rel=1e-9)
    assert d["min f'(x)"] < 0 < d["max f'(x)"] - 1


def test_shapes_figure_marks_zero_with_stars():
    import matplotlib
    matplotlib.use("Agg")
    fig = depth.shapes_figure([depth.curve("relu"), depth.curve("elu")])
    stars = [l for l in fig.axes[1].lines if l.get_marker() == "*"]
    assert len(stars) == 2 and [float(l.get_ydata()[0]) for l in stars] == [0.0, 1.0]


# --- SELU ---------------------------------------------------------------------------------

def test_selu_exact_constants():
    exact = depth.selu_constants_exact()
    # Klambauer et al. (2017) print alpha_01 ~ 1.6733 and lambda_01 ~ 1.0507; more digits, from the closed form:
    assert str(exact["alpha"]).startswith("1.67326324235437728481704299167")
    assert str(exact["lambda"]).startswith("1.05070098735548049341933498529")
    with localcontext() as ctx:
        ctx.prec = 60
        assert abs(exact["lambda * alpha"] - exact["alpha"] * exact["lambda"]) < Decimal("1e-45")


def test_selu_exact_constants_against_mpmath():
    """The decimal closed form against the same closed form in mpmath, all three constants to 50 digits."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(70):
        phi = lambda t: mpmath.erfc(-t / mpmath.sqrt(2)) / 2             # standard normal CDF
        alpha = mpmath.sqrt(2 / mpmath.pi) / (1 - mpmath.exp(0.5) * mpmath.erfc(1 / mpmath.sqrt(2)))
        neg = mpmath.exp(2) * phi(-2) - 2 * mpmath.exp(0.5) * phi(-1) + mpmath.mpf(1) / 2
        scale = 1 / mpmath.sqrt(mpmath.mpf(1) / 2 + alpha ** 2 * neg)
        expected = {"alpha": alpha, "lambda": scale, "lambda * alpha": scale * alpha}
        exact = depth.selu_constants_exact()
        for name, value in expected.items():
            assert abs(Decimal(mpmath.nstr(value, 60)) - exact[name]) < Decimal("1e-48"), name


def test_selu_ulps_table():
    exact = depth.selu_constants_exact()
    nearest = {k: float(v) for k, v in exact.items()}         # Decimal -> float rounds correctly
    table = depth.selu_constants_against_exact({"nearest": nearest, "actbook": {
        "lambda": A.SELU_SCALE, "lambda * alpha": A.SELU_SCALE * A.SELU_ALPHA, "alpha": A.SELU_ALPHA}})
    assert (table["nearest, ulps from exact"].abs() <= 0.5).all()
    # The chapter's prose: actbook's lambda is correctly rounded, its alpha and lambda * alpha are not.
    assert abs(table.loc["lambda", "actbook, ulps from exact"]) <= 0.5
    assert table.loc["alpha", "actbook, ulps from exact"] > 0.5
    assert table.loc["lambda * alpha", "actbook, ulps from exact"] > 0.5


def test_keras_selu_constants_are_correctly_rounded():
    """TensorFlow's kernel holds lambda and lambda * alpha, both correctly rounded;
    alpha read back as their quotient carries the division's rounding too."""
    from actbook.compare import keras_selu_constants
    k = keras_selu_constants()["Keras"]
    table = depth.selu_constants_against_exact({"Keras": {"lambda": k["lambda (scale)"],
                                                          "lambda * alpha": k["lambda * alpha"],
                                                          "alpha": k["alpha = (lambda * alpha) / lambda"]}})
    ulps = table["Keras, ulps from exact"].abs()
    assert ulps["lambda"] <= 0.5 and ulps["lambda * alpha"] <= 0.5
    assert ulps["alpha"] < 1.5


# --- the later arms -------------------------------------------------------------------------

def _final(rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    rows = []
    for seed in range(3):
        base = 0.5 + 0.01 * rng.standard_normal()
        rows += [{"activation": "relu", "seed": seed, "test_error": base},
                 {"activation": "lrelu_1/5.5", "seed": seed, "test_error": base - 0.05 + 0.001 * seed},
                 {"activation": "tanh", "seed": seed, "test_error": base + 0.002 * (seed - 1)},
                 {"activation": "silu", "seed": seed, "test_error": base - 0.05 - 0.0005 * seed}]
    return pd.DataFrame(rows)


def test_later_arms_table_and_sentence():
    table = depth.later_arms_table(_final(), ["tanh", "silu", "gelu"])
    assert list(table.index) == ["tanh", "SiLU"]                     # GELU has no cell
    assert table[("", "seeds")].tolist() == [3, 3]
    assert not table.isna().any().any()
    assert set(table.columns.get_level_values(0)) == {"", "against ReLU", "against Leaky ReLU (slope 1/5.5)"}
    lo, hi = (float(v) for v in table.loc["SiLU", ("against ReLU", "interval (pp)")].split(" to "))
    assert lo < float(table.loc["SiLU", ("against ReLU", "difference (pp)")]) < hi
    sentence = depth.later_arms_sentence(table)
    assert sentence.startswith("With 3 seeds per arm, against ReLU, SiLU's test error is lower")
    assert "suggestive only" in sentence                               # 3 seeds < 5
    assert "- " not in sentence and "((" not in sentence and ") (" not in sentence.split("(Holm")[0]
    table.loc[:, [c for c in table.columns if c[1] == "Holm p"]] = 1.0
    assert depth.later_arms_sentence(table) == (
        "With 3 seeds per arm, no difference from ReLU is resolved; no difference from Leaky ReLU (slope 1/5.5) "
        "is resolved (Holm-adjusted p below 0.05).")


def test_later_arms_empty():
    assert depth.later_arms_table(_final(), ["gelu"]).empty
    assert "None of the later" in depth.later_arms_sentence(pd.DataFrame())
