"""Dropout: unchanged in expectation (a statistical test), the identity at evaluation, float64
finite-difference checks of a network with dropout in training mode (mask held fixed) and of
the layer's own input gradient, masks from the layer's generator, and bad arguments."""

import numpy as np
import pytest

from chainrule import Dense, Dropout, Network


def test_expected_output_equals_input():
    rate = 0.3
    layer = Dropout(rate, rng=0, dtype=np.float64)
    x = np.full((400, 500), 2.0)
    out = layer.forward(x, training=True)
    # each entry is 0 or 2 / 0.7; mean 2, std 2 * sqrt(rate / (1 - rate)) ~ 1.31 -> the mean of
    # 200000 entries has std ~ 0.003; 0.02 is over 6 of those
    assert abs(out.mean() - 2.0) < 0.02
    assert abs(np.mean(out == 0) - rate) < 0.01
    np.testing.assert_allclose(np.unique(out), [0.0, 2.0 / 0.7], rtol=1e-15)


def test_evaluation_is_the_identity_and_deterministic():
    layer = Dropout(0.5, 4, rng=0)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert layer.forward(x) is x
    net = Network.from_sizes([4, 6, 3], hidden="relu", dropout=0.5, seed=1)
    copies = net.copy().layers  # a layer belongs to one network
    plain = Network([layer for layer in copies if isinstance(layer, Dense)], "cross_entropy")
    first = net.predict_proba(x)
    assert np.array_equal(first, net.predict_proba(x))
    assert np.array_equal(first, plain.predict_proba(x))


def test_training_masks_differ_between_steps_and_follow_the_generator():
    x = np.ones((5, 8), np.float32)
    a = Dropout(0.5, rng=7)
    first = a.forward(x, training=True).copy()
    second = a.forward(x, training=True).copy()
    assert not np.array_equal(first, second)
    b = Dropout(0.5, rng=7)
    assert np.array_equal(b.forward(x, training=True), first)
    assert first.dtype == np.float32


def test_rate_zero_is_the_identity_in_training():
    x = np.ones((2, 3))
    assert Dropout(0.0).forward(x, training=True) is x


def test_backward_uses_the_same_mask():
    layer = Dropout(0.4, rng=3, dtype=np.float64)
    x = np.ones((6, 7))
    out = layer.forward(x, training=True).copy()
    grad = layer.backward(np.full((6, 7), 5.0)).copy()
    np.testing.assert_array_equal(grad, 5.0 * out)
    assert layer.backward(np.ones((6, 7)), input_grad=False) is None


def test_input_gradient_matches_finite_differences():
    """E = sum(c * dropout(x)) with the mask held fixed: dE/dx from backward vs central
    differences, float64."""
    rng = np.random.default_rng(0)
    layer = Dropout(0.5, rng=11, dtype=np.float64)
    x = rng.normal(size=(4, 5))
    c = rng.normal(size=(4, 5))
    state = layer.rng.bit_generator.state

    def energy(inputs):
        layer.rng.bit_generator.state = state  # the same mask every time
        return float(np.sum(c * layer.forward(inputs, training=True)))

    energy(x)
    analytic = layer.backward(c).copy()
    numeric = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = (energy(plus) - energy(minus)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)
    assert np.any(analytic == 0) and np.any(analytic != 0)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_network_with_dropout_gradcheck_in_training_mode(loss):
    """Every Dense layer's weights and biases in a network with two Dropout layers, training
    mode, masks fixed by resetting each Dropout's generator before every forward pass."""
    net = Network.from_sizes(
        [4, 6, 5, 3], hidden="tanh", loss=loss, dropout=0.4, seed=2, dtype=np.float64
    )
    rng = np.random.default_rng(5)
    x = rng.normal(size=(7, 4))
    y = rng.integers(0, 3, size=7)
    target = net.encode_targets(y, len(x))
    drops = [layer for layer in net.layers if isinstance(layer, Dropout)]
    assert len(drops) == 2
    states = [d.rng.bit_generator.state for d in drops]

    def loss_value():
        for d, s in zip(drops, states):
            d.rng.bit_generator.state = s
        net._forward(x, training=True)
        return net._loss_value(target)

    for d, s in zip(drops, states):
        d.rng.bit_generator.state = s
    net.train_step(x, target)
    assert all(np.any(d.mask == 0) for d in drops)  # dropout really acted
    analytic = [g.copy() for g in net.parameter_gradients()]
    eps = 1e-6
    for param, grad in zip(net.parameters(), analytic):
        numeric = np.zeros_like(param)
        for i in np.ndindex(param.shape):
            saved = param[i]
            param[i] = saved + eps
            plus = loss_value()
            param[i] = saved - eps
            minus = loss_value()
            param[i] = saved
            numeric[i] = (plus - minus) / (2 * eps)
        scale = max(np.abs(numeric).max(), 1e-12)
        assert np.abs(grad - numeric).max() / scale < 1e-6


def test_buffers_are_reused_for_one_batch_size():
    layer = Dropout(0.5, rng=0)
    x = np.ones((3, 4), np.float32)
    a = layer.forward(x, training=True)
    b = layer.forward(x, training=True)
    assert a is b
    assert layer.forward(np.ones((2, 4), np.float32), training=True) is not a


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)
