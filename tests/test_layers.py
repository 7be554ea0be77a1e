"""Dense: the forward formula, backward against finite differences, parameters, init, checks."""

import numpy as np
import pytest

from chainrule.layers import Dense


def test_forward_is_activation_of_x_dot_w_plus_b():
    layer = Dense(3, 2, activation="sigmoid", rng=0, dtype=np.float64)
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]])
    expected = 1 / (1 + np.exp(-(x @ layer.weights + layer.biases)))
    np.testing.assert_allclose(layer.forward(x), expected)
    assert layer.x is x  # the input is kept by reference, not copied
    np.testing.assert_allclose(layer.net, x @ layer.weights + layer.biases)


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu", "leaky_relu"])
def test_backward_matches_finite_differences(activation):
    """E = sum(g * out): dE/dw, dE/db, dE/dx from backward against central differences."""
    rng = np.random.default_rng(3)
    layer = Dense(4, 3, activation=activation, rng=1, dtype=np.float64)
    layer.biases = rng.normal(size=3)
    x = rng.normal(size=(5, 4))
    g = rng.normal(size=(5, 3))

    def energy():
        return float(np.sum(g * layer.forward(x)))

    layer.forward(x)
    dx = layer.backward(g).copy()
    dw, db = layer.dweights.copy(), layer.dbiases.copy()
    for analytic, param in ((dw, layer.weights), (db, layer.biases), (dx, x)):
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            saved = param[idx]
            param[idx] = saved + 1e-6
            plus = energy()
            param[idx] = saved - 1e-6
            minus = energy()
            param[idx] = saved
            numeric[idx] = (plus - minus) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_no_input_gradient_when_not_asked():
    layer = Dense(4, 2, activation="relu", rng=0)
    layer.forward(np.ones((3, 4), np.float32))
    assert layer.backward(np.ones((3, 2), np.float32), input_grad=False) is None
    assert layer.dweights.shape == (4, 2) and layer.dbiases.shape == (2,)


def test_buffers_are_reused_between_steps_of_one_batch_size():
    layer = Dense(4, 2, activation="tanh", rng=0)
    first = layer.forward(np.ones((3, 4), np.float32))
    second = layer.forward(np.zeros((3, 4), np.float32))
    assert first is second
    other = layer.forward(np.zeros((5, 4), np.float32))
    assert other.shape == (5, 2)


def test_weights_assignment_checks_shape_and_keeps_the_array():
    layer = Dense(3, 2, rng=0)
    array = layer.weights
    layer.weights = np.ones((3, 2))
    assert layer.weights is array and layer.weights.dtype == np.float32
    np.testing.assert_array_equal(array, 1)
    with pytest.raises(ValueError, match=r"weights must have shape \(3, 2\), got \(2, 3\)"):
        layer.weights = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"biases must have shape \(2,\)"):
        layer.biases = np.ones(3)


def test_same_seed_same_weights_and_dtype():
    a = Dense(20, 10, activation="relu", rng=42)
    b = Dense(20, 10, activation="relu", rng=42)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.weights.dtype == np.float32
    assert Dense(2, 2, dtype="float64").weights.dtype == np.float64
    assert not np.array_equal(a.weights, Dense(20, 10, activation="relu", rng=43).weights)


@pytest.mark.parametrize(
    ("activation", "init", "variance"),
    [
        ("relu", None, 2 / 400),  # He
        ("sigmoid", None, 2 / (400 + 300)),  # Glorot
        ("tanh", "lecun", 1 / 400),
    ],
)
def test_init_variance(activation, init, variance):
    layer = Dense(400, 300, activation=activation, init=init, rng=0, dtype=np.float64)
    assert layer.init == (init or ("he" if activation == "relu" else "glorot"))
    assert layer.weights.var() == pytest.approx(variance, rel=0.03)
    assert abs(layer.weights.mean()) < 0.01 * np.sqrt(variance) * 10
    np.testing.assert_array_equal(layer.biases, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_in": 0, "n_out": 2}, "n_in must be a positive integer, got n_in=0"),
        ({"n_in": 2, "n_out": 2.5}, "n_out must be a positive integer"),
        ({"n_in": 2, "n_out": 2, "dtype": "int32"}, "dtype must be float32 or float64"),
        ({"n_in": 2, "n_out": 2, "init": "magic"}, "unknown init 'magic'; valid names:"),
        ({"n_in": 2, "n_out": 2, "activation": "gelu"}, "unknown activation 'gelu'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Dense(**kwargs)


def test_an_activation_that_returns_a_new_array_is_used():
    """A custom forward that ignores ``out`` (returns a new array) still sets the output."""
    from chainrule.activations import Activation

    class NewArraySoftplus(Activation):
        name = "softplus"

        def forward(self, net, out=None):
            return np.logaddexp(0, net)  # a new array, out ignored

        def derivative(self, out):
            return 1 - np.exp(-out)

    layer = Dense(3, 2, NewArraySoftplus(), rng=0)
    x = np.array([[0.5, -1.0, 2.0]], np.float32)
    expected = np.logaddexp(0, x @ layer.weights + layer.biases)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-6)
