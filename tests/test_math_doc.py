"""docs/math.md: every labelled formula, (F1) to (F16), checked numerically.

Each test is named ``test_F<n>_...`` after the formula it checks; the last test makes sure that
every label in the document has a test and every test a label. Notation as in the document:
layer 1 is the output layer, ``in_x``, ``w_x`` (n_in, n_out), ``net_x``, ``out_x``, ``delta_x``.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from chainrule import Network
from chainrule.activations import ReLU, Sigmoid, Tanh
from chainrule.explain import explain_batch, explain_example
from chainrule.gradcheck import numerical_gradients
from chainrule.initializers import init_weights
from chainrule.losses import BinaryCrossEntropy, CrossEntropy

MATH_DOC = Path(__file__).resolve().parents[1] / "docs" / "math.md"


def sig(z):
    return 1 / (1 + np.exp(-z))


def central_difference(f, z, eps=1e-6):
    return (f(z + eps) - f(z - eps)) / (2 * eps)


def net_and_example(sizes, hidden="sigmoid", output="sigmoid", loss="sse", seed=0):
    net = Network.from_sizes(
        sizes, hidden=hidden, output=output, loss=loss, seed=seed, dtype=np.float64
    )
    rng = np.random.default_rng(seed + 7)
    x = rng.normal(size=sizes[0])
    label = int(rng.integers(0, sizes[-1]))
    return net, x, label, np.eye(sizes[-1])[label]


def params(net):
    """``[(w_x, b_x), ...]`` in the notes' numbering: index 0 is layer 1 (the output)."""
    return [(layer.weights, layer.biases) for layer in reversed(net.dense_layers)]


def notes_order(grads):
    """``net.gradients`` (input first) in the notes' numbering (output first)."""
    return list(reversed(grads))


# -- one layer ------------------------------------------------------------------------------------


def test_F1_one_layer_forward_and_sse():
    """(F1) net_1 = in_1 . w_1 + b_1, out = s(net_1), E = 1/2 sum (label - out)^2."""
    net, x, _, label = net_and_example([8, 2])
    ((w1, b1),) = params(net)
    net.layers[0].biases = np.array([0.3, -0.2])
    net_1 = x @ w1 + b1
    assert net_1.shape == (2,)
    out = sig(net_1)
    np.testing.assert_allclose(net.forward(x[None, :])[0], out, rtol=1e-12)
    assert net.loss(x[None, :], label[None, :]) == pytest.approx(0.5 * np.sum((label - out) ** 2))


def test_F2_one_layer_gradient_is_the_outer_product():
    """(F2) delta_1 = -(label - out) * out (1 - out), dE/dw_1 = outer(in_1, delta_1),
    dE/db_1 = delta_1: equal to net.gradients and to finite differences."""
    net, x, _, label = net_and_example([8, 2])
    ((w1, b1),) = params(net)
    out = sig(x @ w1 + b1)
    delta_1 = -(label - out) * out * (1 - out)
    dw, db = np.outer(x, delta_1), delta_1
    ((got_w, got_b),) = net.gradients(x[None, :], label[None, :])
    np.testing.assert_allclose(got_w, dw, rtol=1e-12)
    np.testing.assert_allclose(got_b, db, rtol=1e-12)
    (((num_w, num_b), _),) = numerical_gradients(net, x[None, :], label[None, :])
    np.testing.assert_allclose(num_w, dw, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(num_b, db, rtol=1e-6, atol=1e-10)


def test_F3_sigmoid_derivative_is_out_times_one_minus_out():
    """(F3) ds/dnet = out (1 - out), against a central difference of the sigmoid."""
    z = np.linspace(-8, 8, 161)
    out = Sigmoid().forward(z[None, :])[0]
    numeric = central_difference(lambda t: Sigmoid().forward(t[None, :])[0], z)
    np.testing.assert_allclose(out * (1 - out), numeric, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(Sigmoid().derivative(out), out * (1 - out))


# -- two and three layers -------------------------------------------------------------------------


def test_F4_two_layers_by_hand():
    """(F4) dE/ds_2 = w_1 . delta_1, delta_2 = dE/ds_2 * out_2 (1 - out_2),
    dE/dw_2 = outer(in_2, delta_2), dE/db_2 = delta_2."""
    net, x, _, label = net_and_example([8, 4, 2])
    (w1, b1), (w2, b2) = params(net)
    out_2 = sig(x @ w2 + b2)
    out = sig(out_2 @ w1 + b1)
    delta_1 = -(label - out) * out * (1 - out)
    dE_ds_2 = w1 @ delta_1  # the notes' np.matmul(weights1, dE_dnet)
    delta_2 = dE_ds_2 * out_2 * (1 - out_2)
    (g1w, g1b), (g2w, g2b) = notes_order(net.gradients(x[None, :], label[None, :]))
    np.testing.assert_allclose(g1w, np.outer(out_2, delta_1), rtol=1e-12)
    np.testing.assert_allclose(g1b, delta_1, rtol=1e-12)
    np.testing.assert_allclose(g2w, np.outer(x, delta_2), rtol=1e-12)
    np.testing.assert_allclose(g2b, delta_2, rtol=1e-12)


def test_F5_three_layers_by_hand():
    """(F5) delta_3 = (w_2 . delta_2) * out_3 (1 - out_3), dE/dw_3 = outer(in_3, delta_3)."""
    net, x, _, label = net_and_example([7, 5, 4, 3])
    (w1, b1), (w2, b2), (w3, b3) = params(net)
    out_3 = sig(x @ w3 + b3)
    out_2 = sig(out_3 @ w2 + b2)
    out = sig(out_2 @ w1 + b1)
    delta_1 = -(label - out) * out * (1 - out)
    delta_2 = (w1 @ delta_1) * out_2 * (1 - out_2)
    delta_3 = (w2 @ delta_2) * out_3 * (1 - out_3)
    grads = notes_order(net.gradients(x[None, :], label[None, :]))
    np.testing.assert_allclose(grads[2][0], np.outer(x, delta_3), rtol=1e-12)
    np.testing.assert_allclose(grads[2][1], delta_3, rtol=1e-12)
    ((num_w, _), _) = numerical_gradients(net, x[None, :], label[None, :])[0]
    np.testing.assert_allclose(num_w, np.outer(x, delta_3), rtol=1e-5, atol=1e-10)


# -- the general recursion ------------------------------------------------------------------------

SLOPES = {
    "sigmoid": lambda out: out * (1 - out),
    "tanh": lambda out: 1 - out**2,
    "relu": lambda out: (out > 0).astype(float),
    "identity": lambda out: np.ones_like(out),
}


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
def test_F6_general_recursion_matches_network_gradients(depth, hidden):
    """(F6) delta_1 = dE/ds * s'(net_1); delta_(x+1) = (w_x . delta_x) * s'(net_(x+1));
    dE/dw_x = outer(in_x, delta_x); and the input-first form
    delta_l = (delta_(l+1) W_(l+1)^T) * f'(net_l) gives the same numbers."""
    rng = np.random.default_rng(depth)
    sizes = [int(s) for s in rng.integers(2, 7, size=depth + 1)]
    net, x, _, label = net_and_example(sizes, hidden=hidden, output="sigmoid", seed=depth)
    layers = net.dense_layers
    acts = [layer.activation.name for layer in layers]
    # forward, input first
    ins, outs = [], []
    a = x
    for layer in layers:
        ins.append(a)
        a = layer.activation.forward((a @ layer.weights + layer.biases)[None, :])[0]
        outs.append(a)
    # the notes' numbering: x = 1 is the output (index -1 input-first)
    deltas = {1: (outs[-1] - label) * SLOPES[acts[-1]](outs[-1])}
    for xnum in range(1, depth):
        w_x = layers[-xnum].weights
        below = -(xnum + 1)
        deltas[xnum + 1] = (w_x @ deltas[xnum]) * SLOPES[acts[below]](outs[below])
    # the textbook numbering: l = 1 is the first layer, l = L the output
    L = depth
    std = {L: deltas[1]}
    for li in range(L - 1, 0, -1):  # delta_l = (delta_(l+1) W_(l+1)^T) * f'(net_l)
        std[li] = (std[li + 1] @ layers[li].weights.T) * SLOPES[acts[li - 1]](outs[li - 1])
    grads = net.gradients(x[None, :], label[None, :])
    for k, (dw, db) in enumerate(grads):  # input-first index k is notes' layer L - k
        xnum = L - k
        np.testing.assert_allclose(dw, np.outer(ins[k], deltas[xnum]), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db, deltas[xnum], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(std[k + 1], deltas[xnum], rtol=1e-12, atol=1e-15)


# -- batches --------------------------------------------------------------------------------------


def test_F7_batch_matrix_form_is_the_mean_of_outer_products():
    """(F7) dE/dw_x = IN_x^T . DELTA_x = 1/B sum_n outer(in_x^(n), delta_x^(n)),
    dE/db_x = sum of the rows of DELTA_x, DELTA_(x+1) = (DELTA_x . w_x^T) * s'(NET_(x+1))."""
    net, _, _, _ = net_and_example([6, 5, 3])
    rng = np.random.default_rng(3)
    B = 9
    X = rng.normal(size=(B, 6))
    Y = np.eye(3)[rng.integers(0, 3, size=B)]
    (w1, b1), (w2, b2) = params(net)
    OUT_2 = sig(X @ w2 + b2)
    OUT = sig(OUT_2 @ w1 + b1)
    DELTA_1 = (OUT - Y) * OUT * (1 - OUT) / B
    DELTA_2 = (DELTA_1 @ w1.T) * OUT_2 * (1 - OUT_2)
    summed_1 = sum(np.outer(OUT_2[n], DELTA_1[n] * B) for n in range(B)) / B
    summed_2 = sum(np.outer(X[n], DELTA_2[n] * B) for n in range(B)) / B
    np.testing.assert_allclose(OUT_2.T @ DELTA_1, summed_1, rtol=1e-12)
    np.testing.assert_allclose(X.T @ DELTA_2, summed_2, rtol=1e-12)
    (g1w, g1b), (g2w, g2b) = notes_order(net.gradients(X, Y))
    np.testing.assert_allclose(g1w, OUT_2.T @ DELTA_1, rtol=1e-12)
    np.testing.assert_allclose(g1b, DELTA_1.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(g2w, X.T @ DELTA_2, rtol=1e-12)
    np.testing.assert_allclose(g2b, DELTA_2.sum(axis=0), rtol=1e-12)


def test_F8_averaging_first_misses_the_covariance():
    """(F8) mean_n outer(in, delta) = outer(in_bar, delta_bar) + mean_n outer(in - in_bar,
    delta - delta_bar); for the output layer of a fused loss the averaged bias is exact and the
    averaged weights miss exactly the covariance; the two-example case gives zero."""
    rng = np.random.default_rng(5)
    ins, deltas = rng.normal(size=(11, 4)), rng.normal(size=(11, 3))
    mean_of_products = np.mean([np.outer(i, d) for i, d in zip(ins, deltas)], axis=0)
    in_bar, d_bar = ins.mean(axis=0), deltas.mean(axis=0)
    cov = np.mean([np.outer(i - in_bar, d - d_bar) for i, d in zip(ins, deltas)], axis=0)
    np.testing.assert_allclose(mean_of_products, np.outer(in_bar, d_bar) + cov, atol=1e-14)

    net, _, _, _ = net_and_example([5, 4, 3], hidden="relu", output="softmax", loss="cross_entropy")
    x = rng.normal(size=(8, 5))
    y = rng.integers(0, 3, size=8)
    b = explain_batch(net, x, y)
    out_layer = b.layers[0]
    np.testing.assert_allclose(out_layer.averaged_db, out_layer.mean_db, atol=1e-15)
    h = np.maximum(x @ net.layers[0].weights + net.layers[0].biases, 0)
    per_delta = out_layer.per_example_db
    cov = np.mean(
        [np.outer(h[n] - h.mean(0), per_delta[n] - per_delta.mean(0)) for n in range(8)], axis=0
    )
    np.testing.assert_allclose(out_layer.mean_dw - out_layer.averaged_dw, cov, atol=1e-14)

    # The document's example: in = [1, 0] with error +1 and in = [0, 1] with error -1.
    ins, errors = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0], [-1.0]])
    true = np.mean([np.outer(i, e) for i, e in zip(ins, errors)], axis=0)
    np.testing.assert_allclose(true, [[0.5], [-0.5]])
    np.testing.assert_allclose(np.outer(ins.mean(0), errors.mean(0)), [[0.0], [0.0]])


# -- softmax and cross-entropy --------------------------------------------------------------------


def test_F9_softmax_cross_entropy_delta_is_out_minus_label():
    """(F9) dE/ds = -label/out, ds/dnet = diag(out) - outer(out, out), their product is
    out - label, equal to finite differences of E with respect to the logits; the same for a
    sigmoid output with binary cross-entropy."""
    rng = np.random.default_rng(9)
    logits = rng.normal(size=5) * 2
    label = np.eye(5)[2]
    out = np.exp(logits - logits.max())
    out /= out.sum()
    jacobian = np.diag(out) - np.outer(out, out)
    chain = (-label / out) @ jacobian
    np.testing.assert_allclose(chain, out - label, atol=1e-14)

    def ce(z):
        return CrossEntropy().value(z[None, :], label[None, :])

    numeric = np.array(
        [central_difference(lambda t, j=j: ce(logits + t * np.eye(5)[j]), 0.0) for j in range(5)]
    )
    np.testing.assert_allclose(numeric, out - label, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        CrossEntropy().delta(logits[None, :], label[None, :])[0], out - label
    )

    target = np.array([1.0, 0.0, 1.0])
    z = rng.normal(size=3)
    p = sig(z)
    np.testing.assert_allclose((p - target) / (p * (1 - p)) * p * (1 - p), p - target)

    def bce(t):
        return BinaryCrossEntropy().value(t[None, :], target[None, :])

    numeric = np.array(
        [central_difference(lambda t, j=j: bce(z + t * np.eye(3)[j]), 0.0) for j in range(3)]
    )
    np.testing.assert_allclose(numeric, p - target, rtol=1e-6, atol=1e-9)


# -- ReLU and tanh --------------------------------------------------------------------------------


def test_F10_relu_derivative_is_one_above_zero_else_zero():
    """(F10) ds/dnet = 1 if net > 0 else 0, read from out > 0; matches finite differences away
    from the kink."""
    z = np.concatenate([np.linspace(-3, -0.01, 50), np.linspace(0.01, 3, 50)])
    out = ReLU().forward(z[None, :])[0]
    numeric = central_difference(lambda t: ReLU().forward(t[None, :])[0], z)
    expected = np.where(z > 0, 1.0, 0.0)
    np.testing.assert_allclose(numeric, expected, atol=1e-9)
    np.testing.assert_array_equal(ReLU().derivative(out), expected)
    assert ReLU().derivative(np.zeros(1))[0] == 0  # taken as 0 at the kink


def test_F11_tanh_derivative_is_one_minus_out_squared():
    """(F11) ds/dnet = 1 - out^2, at most 1 (at net = 0)."""
    z = np.linspace(-5, 5, 101)
    out = np.tanh(z)
    np.testing.assert_allclose(central_difference(np.tanh, z), 1 - out**2, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(Tanh().derivative(out), 1 - out**2)
    assert (1 - out**2).max() == pytest.approx(1.0)


# -- saturation and vanishing gradients -----------------------------------------------------------


def test_F12_sigmoid_slope_is_at_most_a_quarter_and_saturates():
    """(F12) out (1 - out) = 1/4 - (out - 1/2)^2 <= 1/4, equal at net = 0; s'(net) <= e^-|net|;
    s'(10) < 5e-5."""
    z = np.linspace(-20, 20, 4001)
    out = sig(z)
    slope = out * (1 - out)
    np.testing.assert_allclose(slope, 0.25 - (out - 0.5) ** 2, atol=1e-15)
    assert slope.max() == pytest.approx(0.25) and z[slope.argmax()] == pytest.approx(0.0)
    e = np.exp(-np.abs(z))
    exact = e / (1 + e) ** 2  # the same slope, without the cancellation in 1 - out
    np.testing.assert_allclose(exact, slope, rtol=1e-6, atol=1e-16)
    assert np.all(exact <= e)
    assert sig(10) * (1 - sig(10)) < 5e-5


def test_F13_each_sigmoid_layer_shrinks_the_error():
    """(F13) |delta_(x+1)| <= 1/4 ||w_x|| |delta_x| for every sigmoid layer; a 10-layer
    sigmoid network of width 32 ends with a bottom delta ~1e-6 of the top one, a ReLU network
    within a factor of about 3."""
    for seed in (0, 1):
        net, x, label, _ = net_and_example([32] * 10 + [10], hidden="sigmoid", seed=seed)
        e = explain_example(net, x, label, fd_max_entries=1)
        for above, below in zip(e.layers, e.layers[1:]):
            bound = 0.25 * np.linalg.norm(above.weights, 2) * np.linalg.norm(above.delta)
            assert np.linalg.norm(below.delta) <= bound * (1 + 1e-12)
        ratio = np.linalg.norm(e.layers[-1].delta) / np.linalg.norm(e.layers[0].delta)
        assert 1e-7 < ratio < 1e-5  # "about 1e-6"

        relu_net, x, label, _ = net_and_example([32] * 10 + [10], hidden="relu", seed=seed)
        e = explain_example(relu_net, x, label, fd_max_entries=1)
        ratio = np.linalg.norm(e.layers[-1].delta) / np.linalg.norm(e.layers[0].delta)
        assert 1 / 4 < ratio < 4  # "within a factor of about 3"


# -- initialization -------------------------------------------------------------------------------


def test_F14_var_net_is_n_in_var_w_mean_in_squared():
    """(F14) Var(net) = n_in Var(w) E[in^2]: about 1 with Var(w) = 1/n_in (scale 1/sqrt(n_in))
    and unit inputs, about 1 with He's 2/n_in on ReLU inputs, about n_in unscaled (and then the
    sigmoid saturates). Monte Carlo, 784 inputs."""
    rng = np.random.default_rng(14)
    n_in, n_out, n = 784, 256, 2000
    x = rng.normal(size=(n, n_in))
    lecun = init_weights("lecun", n_in, n_out, rng, np.float64)
    assert np.var(x @ lecun) == pytest.approx(1.0, rel=0.05)
    he = init_weights("he", n_in, n_out, rng, np.float64)
    relu_in = np.maximum(rng.normal(size=(n, n_in)), 0)  # E[relu(z)^2] = 1/2
    assert np.mean(relu_in**2) == pytest.approx(0.5, rel=0.02)
    assert np.var(relu_in @ he) == pytest.approx(n_in * np.var(he) * np.mean(relu_in**2), rel=0.05)
    assert n_in * np.var(he) * np.mean(relu_in**2) == pytest.approx(1.0, rel=0.05)
    glorot = init_weights("glorot", n_in, n_out, rng, np.float64)
    assert np.var(glorot) == pytest.approx(2 / (n_in + n_out), rel=0.05)
    unscaled = rng.normal(size=(n_in, 64))
    net = x[:500] @ unscaled
    assert np.var(net) == pytest.approx(n_in, rel=0.1)
    slope = sig(net) * (1 - sig(net))
    assert np.mean(slope < 1e-3) > 0.75  # most sigmoid units saturated: (F12)
    assert np.mean(sig(x[:500] @ lecun) * (1 - sig(x[:500] @ lecun)) < 1e-3) < 0.01


# -- standardized inputs ----------------------------------------------------------------------


def _people(n=500, seed=15):
    """An income near 50,000, a year near 1990, a fraction in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(5e4, 2e4, n), rng.normal(1990, 15, n), rng.random(n)])
    return x, (x[:, 0] + 1000 * (x[:, 1] - 1990) > 5e4).astype(np.int64)


def test_F15_standardized_inputs_and_their_chain_rule():
    """(F15) Raw features: |net| in the tens of thousands, gradient rows in proportion to the
    features; standardized: mean 0 and mean square 1 per feature; dE/dx = (w_n . delta_n) / std
    against finite differences; the same function as the folded raw network w / std,
    b - (mean / std) . w; a step of w is a step of w' = w / std scaled by 1 / std^2."""
    from chainrule import Standardize

    x, y = _people()
    raw = Network.from_sizes([3, 8, 2], hidden="sigmoid", seed=0, dtype=np.float64)
    net_raw = x @ raw.dense_layers[0].weights
    assert np.median(np.abs(net_raw)) > 1e4  # |net| in the tens of thousands
    slope = Sigmoid().derivative(Sigmoid().forward(net_raw))
    assert np.mean(slope < 1e-3) > 0.99  # saturated (F12)
    relu = Network.from_sizes([3, 8, 2], hidden="relu", seed=0, dtype=np.float64)
    e = explain_batch(relu, x[:50], y[:50])
    rows = np.linalg.norm(e.layers[-1].mean_dw, axis=1)  # dE/dw_n, row i ~ feature i
    assert rows[0] / rows[2] > 1e4

    layer = Standardize.from_data(x, dtype=np.float64)
    z = layer.forward(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose((z**2).mean(axis=0), 1, rtol=1e-12)

    net = Network.from_sizes([3, 8, 2], hidden="sigmoid", seed=0, dtype=np.float64, standardize=x)
    one = explain_example(net, x[0], y[0], fd_max_entries=1)
    bottom = one.layers[-1]
    np.testing.assert_allclose(bottom.in_x, (x[0] - layer.mean) / layer.std, rtol=1e-12)
    handed_down = bottom.weights @ bottom.delta  # dE/dz = w_n . delta_n
    dE_dx = net.input_gradient(x[:1], y[:1])[0]
    np.testing.assert_allclose(dE_dx, handed_down / layer.std, rtol=1e-10)
    for i in range(3):
        h = 1e-6 * abs(x[0, i])
        plus, minus = x[:1].copy(), x[:1].copy()
        plus[0, i] += h
        minus[0, i] -= h
        numeric = (net.loss(plus, y[:1]) - net.loss(minus, y[:1])) / (2 * h)
        assert numeric == pytest.approx(dE_dx[i], rel=1e-5)

    first = net.dense_layers[0]
    w_folded = first.weights / layer.std[:, None]  # row i divided by std_i
    b_folded = first.biases - (layer.mean / layer.std) @ first.weights
    folded = Network.from_sizes([3, 8, 2], hidden="sigmoid", seed=0, dtype=np.float64)
    folded.dense_layers[0].weights, folded.dense_layers[0].biases = w_folded, b_folded
    folded.dense_layers[1].weights = net.dense_layers[1].weights
    folded.dense_layers[1].biases = net.dense_layers[1].biases
    np.testing.assert_allclose(folded.forward(x), net.forward(x), rtol=1e-9)

    # a step of w, seen in w' = w / std: the centred raw gradient over std^2, row by row
    (g_w, _), _ = net.gradients(x, y)
    (g_raw, g_b_raw), _ = folded.gradients(x, y)  # x^T delta / N and 1^T delta / N
    centred = g_raw - np.outer(layer.mean, g_b_raw)  # (x - mean)^T delta / N
    step_w = -0.1 * g_w
    np.testing.assert_allclose(
        step_w / layer.std[:, None], -0.1 * centred / layer.std[:, None] ** 2, rtol=1e-8
    )


def test_F16_weighted_examples_scale_the_rows_of_delta_1():
    """(F16) E = sum w_n E_n / sum w_n; its gradient is the weighted mean of the per-example
    gradients, and the matrix form (F7) with row n of DELTA_1 times f_n = B w_n / sum w."""
    net, _, _, _ = net_and_example([6, 5, 3])
    rng = np.random.default_rng(4)
    B = 7
    X = rng.normal(size=(B, 6))
    Y = np.eye(3)[rng.integers(0, 3, size=B)]
    w = rng.random(B) * 2
    w[3] = 0.0
    each = [net.loss(X[n : n + 1], Y[n : n + 1]) for n in range(B)]
    assert net.loss(X, Y, sample_weight=w) == pytest.approx(w @ each / w.sum(), rel=1e-13)
    per_example = [notes_order(net.gradients(X[n : n + 1], Y[n : n + 1])) for n in range(B)]
    weighted = notes_order(net.gradients(X, Y, sample_weight=w))
    for x, (gw, gb) in enumerate(weighted):
        mean_w = sum(w[n] * per_example[n][x][0] for n in range(B)) / w.sum()
        mean_b = sum(w[n] * per_example[n][x][1] for n in range(B)) / w.sum()
        np.testing.assert_allclose(gw, mean_w, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(gb, mean_b, rtol=1e-12, atol=1e-16)
    # the matrix form: DELTA_1's rows times f_n, carried down by (F6)
    (w1, b1), (w2, b2) = params(net)
    OUT_2 = sig(X @ w2 + b2)
    OUT = sig(OUT_2 @ w1 + b1)
    f = B * w / w.sum()
    assert f.mean() == pytest.approx(1.0)
    DELTA_1 = (OUT - Y) * OUT * (1 - OUT) / B * f[:, None]
    DELTA_2 = (DELTA_1 @ w1.T) * OUT_2 * (1 - OUT_2)
    (g1w, g1b), (g2w, g2b) = weighted
    np.testing.assert_allclose(g1w, OUT_2.T @ DELTA_1, rtol=1e-12)
    np.testing.assert_allclose(g1b, DELTA_1.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(g2w, X.T @ DELTA_2, rtol=1e-12)
    np.testing.assert_allclose(g2b, DELTA_2.sum(axis=0), rtol=1e-12)
    # a weight of 2 is the example written twice into its batch
    twice = np.r_[np.arange(B), 0]
    doubled = np.ones(B)
    doubled[0] = 2
    for (a, b), (c, d) in zip(
        net.gradients(X, Y, sample_weight=doubled), net.gradients(X[twice], Y[twice])
    ):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(b, d, rtol=1e-12, atol=1e-16)


# -- the document and the tests agree -------------------------------------------------------------


def test_every_formula_label_has_a_test():
    labels = set(re.findall(r"\(F(\d+)\)", MATH_DOC.read_text()))
    tested = {
        m.group(1) for name in globals() if (m := re.match(r"test_F(\d+)_", name)) is not None
    }
    assert labels == {str(i) for i in range(1, 17)}
    assert labels == tested
