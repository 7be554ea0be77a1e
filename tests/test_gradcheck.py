"""gradcheck checks the network it is given, custom activations included, and its settings."""

import re

import numpy as np
import pytest

import chainrule
from chainrule import Dense, Network
from chainrule.activations import Sigmoid
from chainrule.gradcheck import numerical_gradients, sample_entries


class TwiceSigmoid(Sigmoid):
    """A sigmoid whose backward pass is wrong by a factor of 2."""

    def backward(self, out, grad_out, delta=None):
        return np.multiply(grad_out, 2 * out * (1 - out), out=delta)


def _batch(n_in=4, n=5, n_out=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.random((n, n_out))


def test_a_custom_activation_is_checked_as_it_is(softsign):
    x, y = _batch()
    net = Network([Dense(4, 3, softsign, rng=0), Dense(3, 2, "sigmoid", rng=1)], loss="sse")
    result = chainrule.gradcheck(net, x, y)
    assert result.ok, result.report()
    assert isinstance(net.copy().dense_layers[0].activation, type(softsign))


def test_a_wrong_backward_in_a_subclass_is_caught():
    x, y = _batch()
    net = Network([Dense(4, 3, TwiceSigmoid(), rng=0), Dense(3, 2, "sigmoid", rng=1)], loss="sse")
    result = chainrule.gradcheck(net, x, y)
    assert not result.ok
    assert result["layers[0].weights"] > 0.1  # the factor 2 shows: relative error ~1/2
    assert result["layers[1].weights"] < 1e-6  # the output layer is right


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"eps": 0}, "eps"),
        ({"eps": -1e-5}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"max_entries": 0}, "max_entries"),
        ({"max_entries": 2.5}, "max_entries"),
        ({"tolerance": 0}, "tolerance"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    x, y = _batch()
    net = Network.from_sizes([4, 3, 2], hidden="tanh", loss="sse", seed=0)
    with pytest.raises(ValueError, match=message):
        chainrule.gradcheck(net, x, y, **settings)
    if "tolerance" not in settings:
        with pytest.raises(ValueError, match=message):
            numerical_gradients(net, x, y, **settings)


@pytest.mark.parametrize("n_nonzero, expected", [(40, 15), (3, 3), (1000, 20)])
def test_samples_take_three_quarters_from_nonzero_entries(n_nonzero, expected):
    grad = np.zeros(1000)
    grad[:n_nonzero] = 1.0
    ((idx_w, idx_b),) = sample_entries([(grad.reshape(100, 10), np.zeros(5))], 20, seed=1)
    assert len(idx_w) == 20 and len(set(idx_w)) == 20 and np.all(np.diff(idx_w) > 0)
    assert np.count_nonzero(grad[idx_w]) == expected  # 3/4 of 20, fewer if there are fewer
    assert list(idx_b) == [0, 1, 2, 3, 4]  # small arrays: every entry
    ((again, _),) = sample_entries([(grad.reshape(100, 10), np.zeros(5))], 20, seed=1)
    assert np.array_equal(again, idx_w)  # the seed fixes the sample


def test_a_confident_network_passes():
    """A trained network is confident: its loss and gradients are tiny (~1e-6 here), and the
    finite differences must not drown them in the rounding of the loss (-log p with p ~ 1)."""
    rng = np.random.default_rng(0)
    net = Network.from_sizes([6, 5, 3], hidden="tanh", loss="cross_entropy", seed=0)
    net.dense_layers[-1].weights *= 40  # logits of size ~ 20
    x = rng.normal(size=(4, 6))
    y = net.astype(np.float64).forward(x).argmax(axis=1)
    assert net.astype(np.float64).loss(x, y) < 1e-5  # confident and right
    result = chainrule.gradcheck(net, x, y)
    assert result.ok, result.report()


def test_a_confident_binary_network_passes():
    net = Network.from_sizes([6, 1], loss="binary_cross_entropy", seed=0)
    net.dense_layers[0].weights = np.full((6, 1), 2.0)
    x = np.array([[1.0] * 6, [-1.0] * 6, [1.0] * 6])  # logits 12, -12, 12
    y = np.array([1, 0, 1])
    assert net.astype(np.float64).loss(x, y) < 1e-5
    result = chainrule.gradcheck(net, x, y)
    assert result.ok, result.report()


def _deep_sigmoid(first_activation="sigmoid"):
    """The 10-layer sigmoid network of docs/math.md (F13): its bottom gradients are ~1e-6 of the
    top ones, below what finite differences resolve relative to the array."""
    sizes = [32] * 10 + [10]
    layers = [
        Dense(a, b, first_activation if i == 0 else "sigmoid", rng=i, dtype=np.float64)
        for i, (a, b) in enumerate(zip(sizes, sizes[1:]))
    ]
    rng = np.random.default_rng(0)
    return Network(layers, loss="sse"), rng.normal(size=(4, 32)), rng.integers(0, 10, 4)


def test_vanishing_gradients_within_the_rounding_noise_pass():
    net, x, y = _deep_sigmoid()
    result = chainrule.gradcheck(net, x, y, max_entries=20)
    assert result.max_error > 1e-6  # the bottom arrays: noise relative to tiny gradients
    assert result.ok, result.report()
    assert max(result.differences.values()) <= result.noise < 1e-8
    assert "ok (noise)" in result.report() and "FAIL" not in result.report()


class _OnePercentSigmoid(Sigmoid):
    """A sigmoid whose backward pass is wrong by 1%."""

    def backward(self, out, grad_out, delta=None):
        return np.multiply(grad_out, 1.01 * out * (1 - out), out=delta)


def test_a_small_mistake_in_a_vanishing_layer_still_fails():
    net, x, y = _deep_sigmoid(first_activation=_OnePercentSigmoid())
    result = chainrule.gradcheck(net, x, y, max_entries=20)
    assert not result.ok
    assert not result.passed("layers[0].weights") and result["layers[0].weights"] > 1e-3
    assert result.passed("layers[9].weights")
    # the error is ~1% (the mistake), its last digits those of the machine's BLAS
    assert re.search(r"^layers\[0\]\.weights +20 +9\.\d\de-03  FAIL$", result.report(), re.M)


def test_a_relu_unit_at_its_kink_is_named_in_the_report():
    """A dead ReLU layer with zero biases puts the next layer's net exactly at 0, where E has
    no slope: the differences disagree with any gradient, and the report says why."""
    net = Network(
        [
            Dense(3, 2, "relu", rng=0, dtype=np.float64),
            Dense(2, 1, "relu", rng=1, dtype=np.float64),
        ],
        loss="sse",
    )
    net.dense_layers[0].biases = [-10.0, -10.0]  # every unit of layer 0 off: layer 1's net = 0
    x, y = np.ones((2, 3)), np.array([[0.5], [-0.5]])
    result = chainrule.gradcheck(net, x, y)
    assert not result.ok and result.kinks == 2
    assert "2 ReLU net value(s)" in result.report() and "kink" in result.report()
    net.dense_layers[1].biases = [0.1]  # off the kink: the same network passes
    result = chainrule.gradcheck(net, x, y)
    assert result.ok and result.kinks == 0, result.report()
    assert "kink" not in result.report()


@pytest.mark.parametrize(
    "x, message",
    [("abc", "inputs must be numeric"), ([[1.0, 2.0]], r"shape \(batch, 4\)")],
)
def test_bad_inputs_get_the_networks_own_error(x, message):
    _, y = _batch(n=1)
    net = Network.from_sizes([4, 3, 2], hidden="tanh", loss="sse", seed=0)
    with pytest.raises(ValueError, match=message):
        chainrule.gradcheck(net, x, y)
    with pytest.raises(ValueError, match=message):
        numerical_gradients(net, x, y)


# -- a network that standardizes its inputs --------------------------------------------------------


def _standardized(loss="cross_entropy", output=None, dropout=0.0, dtype=np.float32, seed=0):
    """A 4-6-n network with a Standardize first layer, and inputs far from 0 (mean 1000, std
    300), so that leaving the standardization out changes every gradient."""
    rng = np.random.default_rng(seed)
    data = rng.normal(1000, 300, size=(40, 4))
    n_out = 1 if loss == "binary_cross_entropy" else 3
    net = Network.from_sizes(
        [4, 6, n_out],
        hidden="tanh",
        output=output,
        loss=loss,
        standardize=data,
        dropout=dropout,
        seed=seed,
        dtype=dtype,
    )
    y = rng.integers(0, max(n_out, 2), size=5)
    if loss == "sse":
        y = np.eye(n_out)[y]
    return net, data[:5], y


def test_gradcheck_keys_a_standardized_network_by_its_layers():
    net, x, y = _standardized(dropout=0.2)  # Standardize, Dense, Dropout, Dense
    result = chainrule.gradcheck(net, x, y)
    assert result.ok, result.report()
    assert list(result) == [
        "layers[1].weights",
        "layers[1].biases",
        "layers[3].weights",
        "layers[3].biases",
    ]
    assert result.max_error < 1e-6


@pytest.mark.parametrize(
    ("loss", "output", "dropout"),
    [
        ("cross_entropy", None, 0.0),
        ("sse", "sigmoid", 0.3),
        ("binary_cross_entropy", None, 0.0),
    ],
)
def test_the_input_gradient_through_standardize_equals_finite_differences(loss, output, dropout):
    """Every layer has a float64 finite-difference check: Standardize's backward, dE/dx =
    dE/dout / std, chained from the loss through the network's own backward calls, against
    central differences of the loss in the raw inputs x."""
    from chainrule.gradcheck import input_gradient, numerical_input_gradient

    net, x, y = _standardized(loss, output, dropout)
    analytic = input_gradient(net, x, y)
    numeric = numerical_input_gradient(net, x, y, eps=1e-2)  # x is of order 1000
    assert analytic.shape == numeric.shape == x.shape and analytic.dtype == np.float64
    scale = np.abs(numeric).max()
    assert scale > 0
    assert np.abs(analytic - numeric).max() <= 1e-6 * scale
    # the same network without its Standardize layer, given the standardized inputs: dE/dx is
    # that dE/din divided by std, feature by feature
    first = net.layers[0]
    z = (x - first.mean.astype(np.float64)) / first.std.astype(np.float64)
    plain = Network(net.astype(np.float64).layers[1:], loss=net.loss_function)
    below = input_gradient(plain, z, y)
    np.testing.assert_allclose(analytic, below / first.std, rtol=1e-6)
    assert not np.allclose(analytic, below, rtol=1e-2)  # std ~300: the division shows


def test_a_standardize_backward_that_forgets_std_is_caught(monkeypatch):
    from chainrule.gradcheck import input_gradient, numerical_input_gradient

    def forgetful(self, grad_out, input_grad=True):  # dE/dx = dE/dout: no division by std
        return grad_out.copy() if input_grad else None

    # on the class: the checks work on float64 copies, which are plain Standardize layers
    monkeypatch.setattr(chainrule.Standardize, "backward", forgetful)
    net, x, y = _standardized(dtype=np.float64)
    analytic = input_gradient(net, x, y)
    numeric = numerical_input_gradient(net, x, y, eps=1e-2)
    assert np.abs(analytic - numeric).max() > 0.5 * np.abs(analytic).max()  # off by ~std
    # the parameters' gradients do not go through it: gradcheck cannot see the mistake
    assert chainrule.gradcheck(net, x, y).ok


def test_input_gradient_checks_its_inputs_and_leaves_the_network_alone():
    from chainrule.gradcheck import input_gradient, numerical_input_gradient

    net, x, y = _standardized()
    before = [p.copy() for p in net.parameters()]
    input_gradient(net, x, y)
    numerical_input_gradient(net, x[:1], y[:1])
    for p, q in zip(before, net.parameters()):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        input_gradient(net, x[:, :3], y)
    with pytest.raises(ValueError, match="eps"):
        numerical_input_gradient(net, x, y, eps=0)
