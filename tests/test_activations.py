"""Every activation: its derivative and backward against finite differences (float64),
stability in float32, and the name table."""

import numpy as np
import pytest

import chainrule
from chainrule.activations import ACTIVATIONS, Softmax, get_activation

ELEMENTWISE = ["identity", "sigmoid", "tanh", "relu", "leaky_relu"]


def numeric_derivative(f, z, eps=1e-6):
    return (f(z + eps) - f(z - eps)) / (2 * eps)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_finite_differences(name):
    act = get_activation(name)
    z = np.random.default_rng(0).normal(size=(6, 5)) * 3
    z[np.abs(z) < 1e-3] = 0.5  # keep away from the ReLU kink
    out = act.forward(z)
    expected = numeric_derivative(act.forward, z)
    np.testing.assert_allclose(act.derivative(out), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_is_the_chain_rule(name):
    """backward(out, g) = d/dnet sum(g * s(net)), checked entry by entry in float64."""
    act = get_activation(name)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 4)) * 2
    z[np.abs(z) < 1e-3] = 0.5
    g = rng.normal(size=(3, 4))
    analytic = act.backward(act.forward(z), g)
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        bump = np.zeros_like(z)
        bump[idx] = 1e-6
        numeric[idx] = (
            np.sum(g * act.forward(z + bump)) - np.sum(g * act.forward(z - bump))
        ) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_sigmoid_derivative_is_the_notes_formula():
    out = chainrule.get_activation("sigmoid").forward(np.array([[0.0, 2.0, -1.0]]))
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-np.array([[0.0, 2.0, -1.0]]))))
    np.testing.assert_allclose(chainrule.get_activation("sigmoid").derivative(out), out * (1 - out))


def test_relu_derivative_is_zero_at_and_below_zero():
    act = get_activation("relu")
    out = act.forward(np.array([[-2.0, 0.0, 3.0]]))
    np.testing.assert_array_equal(act.derivative(out), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_finite_and_dtype_kept_for_huge_float32_inputs(name):
    act = get_activation(name)
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = act.forward(z)
        delta = act.backward(out, np.ones_like(z))
    assert out.dtype == np.float32 and delta.dtype == np.float32
    assert np.isfinite(out).all() and np.isfinite(delta).all()


def test_softmax_rows_sum_to_one_and_derivative_is_refused():
    out = Softmax().forward(np.array([[1e4, 0.0, -1e4], [1.0, 2.0, 3.0]], dtype=np.float32))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="Jacobian"):
        Softmax().derivative(out)


def test_forward_into_buffer_writes_there():
    act = get_activation("tanh")
    z = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    buf = np.empty_like(z)
    assert act.forward(z, out=buf) is buf
    np.testing.assert_allclose(buf, np.tanh(z))


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*relu.*sigmoid"):
        get_activation("swish")


def test_names_and_configs_round_trip():
    for name in ACTIVATIONS:
        act = get_activation(name)
        assert get_activation(act.config()).config() == act.config()
    assert get_activation({"name": "leaky_relu", "slope": 0.2}).slope == 0.2
    assert get_activation("linear").name == "identity"
    with pytest.raises(ValueError, match="slope"):
        get_activation({"name": "leaky_relu", "slope": 2.0})
