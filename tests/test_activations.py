"""Every activation: its derivative and backward against finite differences (float64),
stability in float32, and the name table."""

import numpy as np
import pytest

import chainrule
from chainrule import activations
from chainrule.activations import ACTIVATIONS, LeakyReLU, ReLU, Sigmoid, Softmax, get_activation

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


@pytest.mark.parametrize("slope", [0.0, 0.2, 0.5])
def test_leaky_relu_with_its_own_slope_against_finite_differences(slope):
    """The slope is a setting (not learned, so it has no gradient of its own): derivative and
    backward use the instance's slope, not the default 0.01, checked by central differences
    in float64 on both sides of the kink."""
    act = LeakyReLU(slope)
    rng = np.random.default_rng(2)
    z = rng.normal(size=(4, 5)) * 2
    z[np.abs(z) < 1e-3] = 0.5
    assert (z < 0).any() and (z > 0).any()
    out = act.forward(z)
    np.testing.assert_allclose(out, np.where(z > 0, z, slope * z), rtol=1e-15)
    numeric = numeric_derivative(act.forward, z)
    np.testing.assert_allclose(act.derivative(out), numeric, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(act.derivative(out), np.where(z > 0, 1.0, slope))
    g = rng.normal(size=z.shape)
    np.testing.assert_allclose(act.backward(out, g), g * numeric, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_into_grad_out_itself(name):
    """delta=grad_out (dE/dnet written over dE/dout, which Activation.backward allows) gives
    the numbers of a fresh array: no factor is read after it was overwritten."""
    act = get_activation(name)
    rng = np.random.default_rng(3)
    z = rng.normal(size=(3, 4)) * 2
    g = rng.normal(size=(3, 4))
    out = act.forward(z)
    expected = act.backward(out, g.copy())
    buffer = g.copy()
    assert act.backward(out, buffer, delta=buffer) is buffer
    np.testing.assert_array_equal(buffer, expected)


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
    # softmax normalizes rows: one example's logits without the batch axis are refused
    with pytest.raises(ValueError, match=r"got shape \(3,\) \(for one example use net\[None"):
        Softmax().forward(np.array([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_shift_by_the_batch_max_or_the_row_max(dtype):
    """Within a spread of 80 the batch's largest logit is subtracted (one number), beyond it each
    row's own maximum: a row 200 below the batch's max would otherwise be exp(-200) = 0 in every
    entry, and 0 / 0. Both give the probabilities of a float64 reference to rounding."""

    def reference(z):
        z = np.asarray(z, np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    within = np.array([[0.0, 1.0, 2.0], [-77.0, -76.0, -77.5]], dtype)  # spread 79.5
    beyond = np.array([[0.0, 1.0, 2.0], [-200.0, -199.0, -200.5]], dtype)
    for z in (within, beyond):
        with np.errstate(over="raise", under="ignore", invalid="raise", divide="raise"):
            out = Softmax().forward(z)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, reference(z), rtol=1e-6 if dtype == np.float32 else 1e-13)
    assert activations._softmax_shift(within) == 2.0
    np.testing.assert_array_equal(activations._softmax_shift(beyond), [[2.0], [-199.0]])
    nan = np.array([[0.0, np.nan], [1.0, 2.0]], dtype)
    assert np.isnan(Softmax().forward(nan)[0]).all()  # NaN stays NaN, not a silent number
    np.testing.assert_allclose(Softmax().forward(nan)[1], reference(nan[1:])[0], rtol=1e-6)
    assert Softmax().forward(np.empty((0, 3), dtype)).shape == (0, 3)


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


def test_activations_on_integer_arrays_compute_in_floats():
    """Called by hand on integers, the activations promote them to floats as NumPy does (their
    numbers are 0-d arrays of the input's dtype only for float inputs: 0.01 as an integer would
    be 0, and a leaky ReLU a plain ReLU)."""
    net = np.array([[-3, 0, 2]])
    np.testing.assert_allclose(Sigmoid().forward(net), 1 / (1 + np.exp(-net)))
    np.testing.assert_allclose(LeakyReLU(0.01).forward(net), [[-0.03, 0.0, 2.0]])
    np.testing.assert_array_equal(ReLU().forward(net), [[0, 0, 2]])
