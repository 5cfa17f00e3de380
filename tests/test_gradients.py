"""Gradient diagnostics: checked against a hand-written NumPy backward pass."""

import numpy as np
import pandas as pd
import pytest

from actbook import activations as A
from actbook.gradients import (DeepMLP, activation_norms, first_over_last, gradient_norms, layer_moments, layer_statistics,
                               train_and_track, unit_statistics)


def _numpy_backward(net, x, y):
    """Backpropagation of the mean cross-entropy through a linear network, by hand."""
    Ws = [d.kernel.numpy().astype(np.float64) for d in net.dense]
    bs = [d.bias.numpy().astype(np.float64) for d in net.dense]
    Wh, bh = net.head.kernel.numpy().astype(np.float64), net.head.bias.numpy().astype(np.float64)
    hs = [x.reshape(len(x), -1).astype(np.float64)]
    for W, b in zip(Ws, bs):
        hs.append(hs[-1] @ W + b)
    p = A.softmax(hs[-1] @ Wh + bh)
    dlogits = (p - np.eye(Wh.shape[1])[y]) / len(x)
    delta = dlogits @ Wh.T
    deltas, dWs = [None] * len(Ws), [None] * len(Ws)
    for l in reversed(range(len(Ws))):
        deltas[l] = delta
        dWs[l] = hs[l].T @ delta
        delta = delta @ Ws[l].T  # identity activation: delta_l = W_{l+1} delta_{l+1}
    return dWs, deltas


def test_linear_network_matches_analytic_product():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 12)).astype("float32")
    y = rng.integers(0, 10, 32)
    net = DeepMLP("linear", depth=6, width=16, init="glorot", seed=3)
    norms = gradient_norms(net, x, y)
    dWs, deltas = _numpy_backward(net, x, y)
    np.testing.assert_allclose(norms["weight_grad_norm"], [np.linalg.norm(g) for g in dWs], rtol=2e-4)
    np.testing.assert_allclose(norms["delta_norm"], [np.linalg.norm(d) / np.sqrt(32) for d in deltas], rtol=2e-4)


def test_sigmoid_gradients_shrink_relu_he_does_not_collapse():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 64)).astype("float32")
    y = rng.integers(0, 10, 64)
    sig = gradient_norms(DeepMLP("sigmoid", depth=12, width=64, init="glorot"), x, y)
    relu = gradient_norms(DeepMLP("relu", depth=12, width=64, init="he"), x, y)
    ratio_sig = sig["weight_grad_norm"].iloc[0] / sig["weight_grad_norm"].iloc[-1]
    ratio_relu = relu["weight_grad_norm"].iloc[0] / relu["weight_grad_norm"].iloc[-1]
    assert ratio_sig < 1e-3 and ratio_relu > 100 * ratio_sig


def test_layer_statistics_and_training_shapes():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 20)).astype("float32")
    y = rng.integers(0, 10, 200)
    net = DeepMLP("relu", depth=3, width=8, init="he")
    stats = layer_statistics(net, x)
    assert list(stats.layer) == [1, 2, 3]
    assert ((stats.never_positive >= 0) & (stats.never_positive <= 1)).all()
    # ReLU blocks the gradient exactly where z <= 0, so "blocked" is the share of non-positive z
    _, zs, _ = net.forward(x)
    assert stats.blocked.iloc[0] == pytest.approx(float(np.mean(zs[0].numpy() <= 0)))
    per_epoch, per_layer = train_and_track(net, x, y, x[:50], y[:50], epochs=2, batch_size=50)
    assert list(per_epoch.epoch) == [0, 1, 2] and len(per_layer) == 9
    assert np.isfinite(per_epoch.train_loss.iloc[1:]).all()


def test_unknown_init():
    with pytest.raises(ValueError, match="valid: glorot, he"):
        DeepMLP("relu", init="lecun")


def test_tanh_keeps_far_more_gradient_than_sigmoid():
    """Same S-shape, derivative bound 1 instead of 1/4: no factor of four per layer."""
    from actbook.properties import derivative_bound
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 64)).astype("float32")
    y = rng.integers(0, 10, 64)
    ratios = {}
    for arm in ("sigmoid", "tanh"):
        g = gradient_norms(DeepMLP(arm, depth=12, width=64, init="glorot"), x, y)["weight_grad_norm"]
        ratios[arm] = g.iloc[0] / g.iloc[-1]
    assert ratios["sigmoid"] < 100 * derivative_bound(12) and ratios["tanh"] > 1e4 * ratios["sigmoid"]


def test_first_over_last_orders_by_layer():
    frame = pd.DataFrame({"layer": [3, 1, 2], "weight_grad_norm": [2.0, 1.0, 5.0], "delta_norm": [4.0, 1.0, 1.0]})
    assert first_over_last(frame) == 0.5
    assert first_over_last(frame, "delta_norm") == 0.25


def test_network_measurements():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 20)).astype(np.float32)
    net = DeepMLP("relu", depth=3, width=16, init="he", seed=0)
    norms = activation_norms(net, x)
    assert list(norms.layer) == [1, 2, 3]
    assert norms.input_norm.iloc[0] == pytest.approx(float(np.sqrt(np.mean(np.sum(x.astype(float) ** 2, 1)))),
                                                     rel=1e-6)
    units = unit_statistics(net, x)
    _, zs, _ = net.forward(x)
    assert units.small_slope.iloc[0] == pytest.approx(float(np.mean(zs[0].numpy() <= 0)))
    # The threshold is inclusive: Leaky ReLU with slope 0.01 counts on its negative side.
    leaky = DeepMLP("lrelu_0.01", depth=2, width=16, init="he", seed=0)
    _, zs, _ = leaky.forward(x)
    assert unit_statistics(leaky, x).small_slope.iloc[0] == pytest.approx(float(np.mean(zs[0].numpy() <= 0)))


def test_layer_moments_split_the_mean_square_into_spread_and_offset():
    x = np.random.default_rng(0).standard_normal((128, 12)).astype(np.float32)
    net = DeepMLP("sigmoid", depth=3, width=8, init="glorot", seed=0)
    moments = layer_moments(net, x)
    _, _, hs = net.forward(x)
    a = hs[1].numpy().astype(np.float64)
    row = moments.iloc[1]
    assert row.layer == 2 and row.spread == pytest.approx(a.var(axis=0).mean())
    assert row.second_moment == pytest.approx(np.mean(a ** 2))
    assert 1 - row.offset_share == pytest.approx(row.spread / row.second_moment)   # E[a^2] = Var + mean^2
    assert 0.3 < row.mean_activation < 0.7 and 0 < row.spacing < 1e-7          # sigmoid outputs near 1/2
