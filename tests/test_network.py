"""Network: gradients of every activation with every loss at depths 1-4 (float64 finite
differences), batch correctness against the notes' per-example outer-product rule, a
hand-worked example, property tests over shapes and dtypes, and bad input."""

import warnings
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule
from chainrule import Dense, Network

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]
# Each loss with the output activations it applies to.
OUTPUTS = {
    "sse": ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"],
    "mse": ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"],
    "cross_entropy": ["softmax"],
    "binary_cross_entropy": ["sigmoid"],
}
CASES = [(loss, out, hid) for loss, outs in OUTPUTS.items() for out in outs for hid in HIDDEN]


def make_targets(loss, n_out, batch, rng, integer=True):
    if loss in ("cross_entropy",) or (integer and loss == "sse"):
        return rng.integers(0, n_out, size=batch)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, size=(batch, n_out)).astype(np.float64)
    return rng.normal(size=(batch, n_out))


def away_from_kinks(net, draw, margin=1e-3):
    """Inputs for which no ReLU-family unit sits within ``margin`` of its kink at 0, where
    the derivative is undefined and a finite difference straddling it is meaningless."""
    for _ in range(100):
        x = draw()
        net.forward(x)
        nets = [layer.net for layer in net.dense_layers if layer.activation.name in KINKED]
        if all(np.abs(v).min() > margin for v in nets):
            return x
    raise AssertionError("could not draw inputs away from the kinks")


KINKED = ("relu", "leaky_relu")


@pytest.mark.parametrize(("loss", "output", "hidden"), CASES)
def test_gradcheck_every_activation_with_every_loss(loss, output, hidden):
    """Depth 1 to 4 with random widths: relative error below 1e-6 in float64."""
    rng = np.random.default_rng(zlib.crc32(f"{loss}/{output}/{hidden}".encode()))
    for depth in range(1, 5):
        sizes = list(rng.integers(2, 6, size=depth + 1))
        if loss == "cross_entropy":
            sizes[-1] = max(sizes[-1], 2)
        net = Network.from_sizes(
            sizes, hidden=hidden, output=output, loss=loss, seed=depth, dtype=np.float64
        )
        for layer in net.dense_layers:  # nonzero biases, so their gradients are tested too
            layer.biases = rng.normal(scale=0.1, size=layer.n_out)
        x = away_from_kinks(net, lambda n=sizes[0]: rng.normal(size=(7, n)))
        y = make_targets(loss, sizes[-1], 7, rng, integer=depth % 2 == 0)
        result = chainrule.gradcheck(net, x, y)
        assert len(result) == 2 * depth
        assert result.max_error < 1e-6, result.report()


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    net = Network.from_sizes([3, 4, 2], hidden="sigmoid", loss="sse", seed=0)
    x = np.random.default_rng(0).normal(size=(5, 3))
    y = np.array([0, 1, 1, 0, 1])
    original = chainrule.activations.Sigmoid.backward

    def wrong(self, out, grad_out, delta=None):  # forgets the (1 - out) factor
        return np.multiply(grad_out, out, out=delta)

    monkeypatch.setattr(chainrule.activations.Sigmoid, "backward", wrong)
    assert chainrule.gradcheck(net, x, y).max_error > 1e-2
    monkeypatch.setattr(chainrule.activations.Sigmoid, "backward", original)
    assert chainrule.gradcheck(net, x, y).ok


def notes_per_example_gradients(net, x_row, label_row):
    """The notes' rule for sigmoid layers and sse, one example, written out by hand."""
    ins, outs = [], []
    a = x_row
    for layer in net.dense_layers:
        ins.append(a)
        a = 1 / (1 + np.exp(-(a @ layer.weights + layer.biases)))
        outs.append(a)
    grads = []
    dE_ds = -(label_row - outs[-1])  # dE/ds = -(label - out)
    for i in range(len(net.dense_layers) - 1, -1, -1):
        delta = dE_ds * outs[i] * (1 - outs[i])  # * ds/dnet = out (1 - out)
        grads.append((np.outer(ins[i], delta), delta))  # dnet/dw = in_x, dnet/db = 1
        dE_ds = net.dense_layers[i].weights @ delta  # dnet/ds = w_x
    return grads[::-1]


def test_batch_gradient_is_mean_of_per_example_outer_products():
    rng = np.random.default_rng(5)
    net = Network.from_sizes([6, 5, 4, 3], hidden="sigmoid", loss="sse", seed=1, dtype="float64")
    x = rng.normal(size=(9, 6))
    labels = rng.integers(0, 3, size=9)
    onehot = np.eye(3)[labels]
    per_example = [notes_per_example_gradients(net, x[i], onehot[i]) for i in range(9)]
    batch = net.gradients(x, labels)
    for layer_index, (dw, db) in enumerate(batch):
        np.testing.assert_allclose(
            dw, np.mean([g[layer_index][0] for g in per_example], axis=0), rtol=1e-12
        )
        np.testing.assert_allclose(
            db, np.mean([g[layer_index][1] for g in per_example], axis=0), rtol=1e-12
        )
    # and one example at a time through the library gives the same per-example terms
    single = net.gradients(x[:1], labels[:1])
    np.testing.assert_allclose(single[0][0], per_example[0][0][0], rtol=1e-12)


def test_averaging_inputs_and_outputs_first_gives_a_different_gradient():
    """The notes wondered about averaging in_x/out_x over the batch before backprop."""
    rng = np.random.default_rng(6)
    net = Network.from_sizes([6, 5, 3], hidden="sigmoid", loss="sse", seed=2, dtype="float64")
    x = rng.normal(size=(16, 6)) * 2
    labels = rng.integers(0, 3, size=16)
    true = net.gradients(x, labels)
    # averaged variant: run the notes' per-example rule with the batch means of the
    # inputs and the labels, i.e. the gradient at the averaged example
    averaged = notes_per_example_gradients(net, x.mean(axis=0), np.eye(3)[labels].mean(axis=0))
    difference = max(np.abs(t[0] - a[0]).max() for t, a in zip(true, averaged))
    scale = max(np.abs(t[0]).max() for t in true)
    assert difference > 0.1 * scale


def test_hand_worked_example_8_inputs_2_hidden_1_output():
    """The notes' 8-input, 2-output sigmoid layer followed by a 2 -> 1 sigmoid layer, sse.

    Layer 1: w1 column 0 = [0.5, -0.5, 0, ...], column 1 = [-0.25, 0.25, 0, ...], b1 = 0.
      in = [1, 1, 0, 0, 0, 0, 0, 0]  ->  net1 = [0.5 - 0.5, -0.25 + 0.25] = [0, 0]
      out1 = sigmoid(0) = [0.5, 0.5]
    Layer 2: w2 = [[1], [1]], b2 = -1  ->  net2 = 0.5 + 0.5 - 1 = 0,  out = sigmoid(0) = 0.5
    label = 1:  E = 1/2 (1 - 0.5)^2 = 0.125
    Backward, output layer:
      dE/ds = -(label - out) = -0.5;  ds/dnet = out (1 - out) = 0.25
      delta2 = -0.5 * 0.25 = -0.125
      dE/dw2 = outer(in2, delta2) = outer([0.5, 0.5], [-0.125]) = [[-0.0625], [-0.0625]]
      dE/db2 = delta2 * dnet/db = -0.125
    Hidden layer:
      dE/ds1 = w2 . delta2 = [-0.125, -0.125];  ds1/dnet1 = 0.5 * 0.5 = 0.25
      delta1 = [-0.03125, -0.03125]
      dE/dw1 = outer(in, delta1): rows 0 and 1 = [-0.03125, -0.03125], other rows 0
      dE/db1 = [-0.03125, -0.03125]
    Every number is a power of two: the comparison is exact.
    """
    first = Dense(8, 2, activation="sigmoid", dtype=np.float64)
    first.weights = np.zeros((8, 2))
    first.weights[0] = [0.5, -0.25]
    first.weights[1] = [-0.5, 0.25]
    first.biases = [0.0, 0.0]
    second = Dense(2, 1, activation="sigmoid", dtype=np.float64)
    second.weights = [[1.0], [1.0]]
    second.biases = [-1.0]
    net = Network([first, second], loss="sse")
    x = np.array([[1, 1, 0, 0, 0, 0, 0, 0]], dtype=np.float64)
    y = np.array([[1.0]])

    assert net.forward(x)[0, 0] == 0.5
    assert net.loss(x, y) == 0.125
    (dw1, db1), (dw2, db2) = net.gradients(x, y)
    np.testing.assert_array_equal(dw2, [[-0.0625], [-0.0625]])
    np.testing.assert_array_equal(db2, [-0.125])
    expected_dw1 = np.zeros((8, 2))
    expected_dw1[:2] = -0.03125
    np.testing.assert_array_equal(dw1, expected_dw1)
    np.testing.assert_array_equal(db1, [-0.03125, -0.03125])


def test_from_sizes_refuses_a_string_and_a_misspelt_hidden_activation():
    with pytest.raises(ValueError, match="list of layer widths"):
        Network.from_sizes("784,10")
    # no hidden layer uses it, but a typo is still a mistake worth saying
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        Network.from_sizes([4, 3], hidden="relux")
    assert Network.from_sizes([4, 3], hidden="tanh").sizes == [4, 3]


def test_from_sizes_builds_any_depth_and_defaults():
    net = Network.from_sizes([784, 100, 50, 10], hidden="relu", loss="cross_entropy")
    assert net.sizes == [784, 100, 50, 10]
    assert [layer.activation.name for layer in net.layers] == ["relu", "relu", "softmax"]
    assert net.n_parameters == 784 * 100 + 100 + 100 * 50 + 50 + 50 * 10 + 10
    assert Network.from_sizes([4, 3], loss="sse").layers[-1].activation.name == "sigmoid"
    per_layer = Network.from_sizes([4, 3, 3, 2], hidden=["tanh", "relu"], loss="mse")
    assert [layer.activation.name for layer in per_layer.layers] == ["tanh", "relu", "identity"]
    a = Network.from_sizes([5, 4, 3], seed=7)
    b = Network.from_sizes([5, 4, 3], seed=7)
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa, pb)


def test_predict_and_forward():
    net = Network.from_sizes([3, 4, 3], loss="cross_entropy", seed=0)
    x = np.random.default_rng(0).normal(size=(10, 3))
    probs = net.forward(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(net.predict(x), probs.argmax(axis=1))
    np.testing.assert_allclose(net.predict_proba(x, batch_size=3), probs, rtol=1e-6)
    assert net.forward(x) is not net.forward(x)  # a fresh array each call
    binary = Network.from_sizes([3, 1], loss="binary_cross_entropy", seed=0)
    assert set(binary.predict(x)) <= {0, 1}


def test_float64_network_keeps_float64_and_float32_keeps_float32():
    x = np.random.default_rng(0).normal(size=(4, 3))
    for dtype in (np.float32, np.float64):
        net = Network.from_sizes([3, 5, 2], hidden="tanh", loss="sse", dtype=dtype)
        assert net.forward(x).dtype == dtype
        for dw, db in net.gradients(x, np.array([0, 1, 1, 0])):
            assert dw.dtype == dtype and db.dtype == dtype
        for layer in net.dense_layers:
            assert layer.net.dtype == dtype and layer.out.dtype == dtype


def test_astype_and_copy_are_independent():
    net = Network.from_sizes([3, 4, 2], loss="sse", seed=0)
    twin = net.astype("float64")
    assert twin.dtype == np.float64
    np.testing.assert_allclose(twin.layers[0].weights, net.layers[0].weights)
    twin.layers[0].weights[...] = 0
    assert np.abs(net.layers[0].weights).sum() > 0


def test_copy_keeps_a_custom_loss_with_its_settings():
    class Weighted(chainrule.losses.SumSquaredError):
        name = "weighted_sse"

        def __init__(self, weight):
            self.weight = weight

        def value(self, out, target, probs=None):
            return self.weight * super().value(out, target, probs)

        def delta(self, out, target, probs=None, delta=None, scale=1.0):
            return super().delta(out, target, probs, delta, scale * self.weight)

    net = Network([Dense(3, 2, "sigmoid", rng=0)], loss=Weighted(3.0))
    x, y = np.ones((2, 3)), np.array([[0.0, 1.0], [1.0, 0.0]])
    for twin in (net.copy(), net.astype("float64")):
        assert type(twin.loss_function) is Weighted and twin.loss_function.weight == 3.0
        assert twin.loss_function is not net.loss_function
        assert twin.loss(x, y) == pytest.approx(net.loss(x, y), rel=1e-6)


def test_parameters_are_views_of_one_vector():
    """The update of a whole network can be one operation on parameter_vector."""
    first = Dense(3, 4, activation="relu", rng=0)
    weights_before = first.weights.copy()
    net = Network([first, Dense(4, 2, activation="softmax", rng=1)], loss="cross_entropy")
    np.testing.assert_array_equal(first.weights, weights_before)  # values kept
    assert net.parameter_vector.shape == (net.n_parameters,)
    for p, g in zip(net.parameters(), net.parameter_gradients()):
        assert np.shares_memory(p, net.parameter_vector) and p.flags.c_contiguous
        assert np.shares_memory(g, net.gradient_vector) and g.flags.c_contiguous
    np.testing.assert_array_equal(
        net.parameter_vector, np.concatenate([p.ravel() for p in net.parameters()])
    )
    x, y = np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    grads = net.gradients(x, y)
    np.testing.assert_array_equal(
        net.gradient_vector, np.concatenate([a.ravel() for pair in grads for a in pair])
    )
    net.parameter_vector[:] = 0  # one write reaches every layer
    assert not any(p.any() for p in net.parameters())


@pytest.mark.parametrize("loss", ["sse", "cross_entropy"])
def test_train_step_grad_scale_scales_every_gradient(loss):
    net = Network.from_sizes([4, 5, 3], hidden="tanh", loss=loss, seed=0, dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(6, 4))
    target = net.encode_targets(np.array([0, 1, 2, 2, 1, 0]))
    value = net.train_step(x, target)
    plain = net.gradient_vector.copy()
    assert net.train_step(x, target, grad_scale=0.25) == value  # the loss is not scaled
    np.testing.assert_allclose(net.gradient_vector, 0.25 * plain, rtol=1e-12)


@pytest.mark.parametrize("loss", sorted(OUTPUTS))
def test_train_step_with_factors_and_grad_scale_is_the_scaled_weighted_gradient(loss):
    """fit's step: train_step(x, target, grad_scale=lr, factors=row_weights(w)) returns the
    weighted loss and leaves lr times its gradient: float64 central differences of
    net.loss(x, y, sample_weight=w), every weight and bias."""
    from chainrule.network import row_weights

    net = Network.from_sizes([4, 5, 3], hidden="tanh", loss=loss, seed=0, dtype=np.float64)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 4))
    y = np.array([0, 1, 2, 2, 1, 0])
    if loss in ("mse", "binary_cross_entropy"):
        y = np.eye(3)[y]
    w = np.array([1.0, 0.5, 0.0, 3.0, 2.0, 1.0])
    value = net.train_step(x, net.encode_targets(y), grad_scale=0.25, factors=row_weights(w))
    assert value == pytest.approx(net.loss(x, y, sample_weight=w), rel=1e-12)
    analytic = [g.copy() for g in net.parameter_gradients()]
    for param, grad in zip(net.parameters(), analytic):
        numeric = _weighted_loss_differences(net, x, y, w, param)
        np.testing.assert_allclose(grad, 0.25 * numeric, rtol=1e-6, atol=1e-10)


def _weighted_loss_differences(net, x, y, w, param, eps=1e-6) -> np.ndarray:
    """Central differences of ``net.loss(x, y, sample_weight=w)`` in each entry of ``param``
    (one of the network's own arrays, changed in place and put back)."""
    numeric = np.zeros_like(param)
    for idx in np.ndindex(param.shape):
        keep = param[idx]
        param[idx] = keep + eps
        up = net.loss(x, y, sample_weight=w)
        param[idx] = keep - eps
        down = net.loss(x, y, sample_weight=w)
        param[idx] = keep
        numeric[idx] = (up - down) / (2 * eps)
    return numeric


@st.composite
def network_and_batch(draw):
    depth = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 6), min_size=depth + 1, max_size=depth + 1))
    loss = draw(st.sampled_from(sorted(OUTPUTS)))
    output = draw(st.sampled_from(OUTPUTS[loss]))
    if loss == "cross_entropy" or output == "softmax":  # a softmax needs 2 or more outputs
        sizes[-1] = max(sizes[-1], 2)
    hidden = draw(st.sampled_from(HIDDEN))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    batch = draw(st.integers(1, 8))
    x = draw(
        hnp.arrays(
            dtype,
            (batch, sizes[0]),
            elements=st.floats(-1e4, 1e4, allow_nan=False, width=32),
        )
    )
    seed = draw(st.integers(0, 2**16))
    net = Network.from_sizes(sizes, hidden=hidden, output=output, loss=loss, seed=seed, dtype=dtype)
    y = make_targets(loss, sizes[-1], batch, np.random.default_rng(seed))
    if loss == "binary_cross_entropy" or loss == "mse":
        y = y.astype(dtype)
    return net, x, y


@given(network_and_batch())
def test_property_shapes_dtypes_finite(case):
    net, x, y = case
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = net.forward(x)
        loss = net.loss(x, y)
        grads = net.gradients(x, y)
    assert out.shape == (len(x), net.n_out) and out.dtype == net.dtype
    assert np.isfinite(out).all() and np.isfinite(loss)
    for (dw, db), layer in zip(grads, net.dense_layers):
        assert dw.shape == layer.weights.shape and db.shape == layer.biases.shape
        assert dw.dtype == net.dtype and db.dtype == net.dtype
        assert np.isfinite(dw).all() and np.isfinite(db).all()


# -- bad input -------------------------------------------------------------------------------


@pytest.fixture
def classifier():
    return Network.from_sizes([4, 5, 3], loss="cross_entropy", seed=0)


def test_wrong_input_width(classifier):
    with pytest.raises(ValueError, match=r"shape \(batch, 4\), got shape \(2, 5\)"):
        classifier.forward(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"got shape \(4,\) \(for one example use x\[None, :\]\)"):
        classifier.forward(np.ones(4))


def test_finite_inputs_too_large_for_float32_are_named_not_answered(classifier):
    """3e38 is a finite float32 (accepted as input), but its products overflow: predict says
    so instead of answering class 0 for NaN outputs; NaN weights are named as such."""
    x = np.full((4, 4), 3e38, np.float32)
    big = classifier.copy()
    big.parameters()[0][...] = 1.0  # every product adds up: 4 * 3e38 overflows
    for predict in (big.predict, big.predict_proba):
        with pytest.raises(ValueError, match=r"not finite for 4 of 4 rows .*inputs up to 3e\+38"):
            predict(x)
    broken = classifier.copy()
    broken.parameters()[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="weights hold NaN or inf"):
        broken.predict(np.ones((2, 4)))
    assert classifier.predict(np.ones((2, 4))).shape == (2,)


def test_one_sigmoid_output_takes_labels_0_and_1():
    net = Network.from_sizes([3, 4, 1], output="sigmoid", loss="binary_cross_entropy", seed=0)
    np.testing.assert_array_equal(net.encode_targets(np.array([0, 1, 1])), [[0], [1], [1]])
    with pytest.raises(ValueError):
        net.encode_targets(np.array([0, 2]))


def test_cross_entropy_rows_of_no_class_are_refused(classifier):
    """An all-zero one-hot row (an unknown class) would count for nothing: refused, named."""
    target = np.eye(3)[[0, 1, 2, 1]]
    target[2] = 0
    with pytest.raises(ValueError, match=r"row 2 is all zeros \(1 such rows\)"):
        classifier.loss(np.ones((4, 4)), target)
    assert np.isfinite(classifier.loss(np.ones((4, 4)), np.eye(3)[[0, 1, 2, 1]]))


def test_nan_and_inf_in_inputs(classifier):
    x = np.ones((3, 4))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf .*row 1, column 2"):
        classifier.forward(x)
    x[1, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        classifier.gradients(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"inputs must be numeric, got dtype <U1 \(text: "
                       r"numbers written as strings convert with x\.astype\(float\)"):  # fmt: skip
        classifier.forward(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(ValueError, match=r"first at \[1, 2\]: None"):
        classifier.forward(np.array([[1, 2, 3, 4], [1, 2, None, 4]], dtype=object))
    with pytest.raises(ValueError, match=r"first at \[0, 3\]: 'd'"):
        classifier.forward(np.array([[1, 2, 3, "d"], [1, 2, 3, 4]], dtype=object))
    with pytest.raises(ValueError, match=r"every cell converts: give x\.astype\(float\)"):
        classifier.forward(np.array([[1, 2, 3, "4"]], dtype=object))
    import pandas as pd  # a test dependency (scikit-learn's checks use it too)

    frame = pd.DataFrame({"a": [1.0], "kind": ["x"], "b": [2.0], "c": pd.Categorical(["y"])})
    with pytest.raises(ValueError, match=r"columns not numeric: kind, c\)"):
        classifier.forward(frame)
    nullable = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [1.0, 2.0],
                             "c": [0.0, 1.0], "d": [2.0, 3.0]})  # fmt: skip
    with pytest.raises(ValueError, match=r"first at \[1, 0\]: <NA>"):
        classifier.forward(nullable)


def test_labels_that_became_floats_say_why(classifier):
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"\(row 1 is nan: a missing label\? drop rows"):
        classifier.gradients(x, np.array([0, np.nan, 2]))  # pandas' Int64 with NA, as floats
    with pytest.raises(ValueError, match=r"\(class labels as floats: give y\.astype\(int\)\)"):
        classifier.gradients(x, np.array([0.0, 1.0, 2.0]))


def test_wrong_target_shape(classifier):
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"targets must have 3 rows.*got shape \(2,\)"):
        classifier.loss(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"floats of shape \(batch, 3\), got float64 of shape"):
        classifier.loss(x, np.ones((3, 2)))
    # labels as a column (a pandas habit): the dtype given, and what to do
    with pytest.raises(ValueError, match=r"got int64 of shape \(3, 1\) \(class labels as a col"):
        classifier.loss(x, np.array([[0], [1], [2]], np.int64))
    with pytest.raises(ValueError, match="targets contain NaN"):
        classifier.loss(x, np.full((3, 3), np.nan))


def test_label_out_of_range(classifier):
    with pytest.raises(ValueError, match=r"class labels must be in \[0, 2\].*got label 3"):
        classifier.gradients(np.ones((2, 4)), np.array([0, 3]))
    with pytest.raises(ValueError, match="got label -1"):
        classifier.loss(np.ones((2, 4)), np.array([-1, 0]))
    # a regression network given whole-number targets (counts, prices) is told what to give;
    # a classifier is not (its labels are class indices)
    regressor = Network.from_sizes([4, 3, 1], output="identity", loss="mse", seed=0)
    with pytest.raises(ValueError, match=r"got label 7; for regression targets give floats"):
        regressor.loss(np.ones((2, 4)), np.array([7, 3]))
    with pytest.raises(ValueError, match=r"got label 3$"):
        classifier.loss(np.ones((2, 4)), np.array([0, 3]))


def test_unknown_names_list_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'sigmod'; valid names: .*sigmoid"):
        Network.from_sizes([2, 2], hidden="sigmod", output="sigmod")
    with pytest.raises(ValueError, match="unknown loss 'l2'; valid names: .*mse.*sse"):
        Network.from_sizes([2, 2], loss="l2")


def test_inconsistent_architectures_are_refused():
    with pytest.raises(ValueError, match="do not chain.*expects n_in=4"):
        Network([Dense(3, 5), Dense(4, 2)])
    with pytest.raises(
        ValueError, match="output activation is 'sigmoid'; use activation='softmax'"
    ):
        Network([Dense(3, 2, activation="sigmoid")], loss="cross_entropy")
    with pytest.raises(ValueError, match="cross_entropy needs at least 2 outputs"):
        Network([Dense(3, 1, activation="softmax")], loss="cross_entropy")
    with pytest.raises(ValueError, match="share one dtype"):
        Network([Dense(3, 2, dtype="float64"), Dense(2, 2)])


def test_what_is_not_a_list_of_layers_is_refused_by_name():
    with pytest.raises(ValueError, match=r"layers must be a list of layers.*got Dense\(3, 2"):
        Network(Dense(3, 2))
    with pytest.raises(ValueError, match="layer 1 must be a Layer .*got 'relu'"):
        Network([Dense(3, 2), "relu", Dense(2, 2)])


def test_a_dropout_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match=r"layer 1, Dropout\(0.5\), expects 7 inputs .* gives 4"):
        Network([Dense(3, 4), chainrule.Dropout(0.5, 7), Dense(4, 2)])
    net = Network([Dense(3, 4), chainrule.Dropout(0.5, 4), Dense(4, 2)])  # the right width
    assert net.config()["layers"][1]["n_units"] == 4


def test_a_value_too_large_for_float32_is_named_without_a_warning(classifier):
    x = np.ones((2, 4))
    x[1, 3] = 1e300  # finite in float64, inf once cast to the network's float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the cast
        with pytest.raises(ValueError, match=r"too large for float32 \(1e\+300\).*row 1, col"):
            classifier.forward(x)
        with pytest.raises(ValueError, match=r"targets contain a value too large for float32"):
            classifier.loss(np.ones((1, 4)), np.array([[0.5, 0.5, 1e300]]))
    assert classifier.astype(np.float64).forward(x[:1]).shape == (1, 3)  # float64 takes it


# -- a layer belongs to one network; inputs the methods refuse --------------------------------


def test_a_layer_in_two_networks_is_refused():
    layers = [Dense(4, 8, "relu", rng=0), Dense(8, 3, "softmax", rng=1)]
    first = Network(layers, loss="cross_entropy")
    with pytest.raises(ValueError, match="already belongs to another network"):
        Network(layers, loss="cross_entropy")
    assert np.shares_memory(first.dense_layers[0].weights, first.parameter_vector)
    copies = Network(first.copy().layers, loss="cross_entropy")  # what the message suggests
    assert np.array_equal(copies.parameter_vector, first.parameter_vector)


def test_the_same_layer_twice_is_refused():
    same = Dense(3, 3, "tanh", rng=0)
    with pytest.raises(ValueError, match="listed twice"):
        Network([same, same], loss="mse")


def test_layers_of_a_network_that_is_gone_can_be_used_again():
    layers = Network.from_sizes([4, 3, 2], loss="sse", seed=0).layers  # the network is freed
    net = Network(layers, loss="sse")
    assert net.dense_layers[0] is layers[0]


def test_copies_and_pickles_keep_their_own_layers():
    import pickle

    net = Network.from_sizes([4, 3, 2], loss="sse", dropout=0.5, seed=0)
    again = pickle.loads(pickle.dumps(net))  # scikit-learn's clone and joblib pickle
    for other in (again, net.copy(), net.astype(np.float64)):
        assert all(layer._owner() is other for layer in other.layers)
        assert not np.shares_memory(other.parameter_vector, net.parameter_vector)


def test_copy_keeps_a_dropout_generator_of_any_kind():
    from chainrule.layers import Dropout

    for bits in (np.random.MT19937(0), np.random.Philox(0)):
        rng = np.random.Generator(bits)
        net = Network(
            [Dense(3, 4, "relu", rng=0), Dropout(0.5, 4, rng=rng), Dense(4, 2, "softmax", rng=1)],
            loss="cross_entropy",
        )
        twin = net.copy()  # the generator's state is copied: the same masks follow
        h = np.ones((6, 4), np.float32)
        first = net.layers[1].forward(h, training=True).copy()
        assert np.array_equal(first, twin.layers[1].forward(h, training=True))


def test_a_softmax_over_one_output_is_refused():
    with pytest.raises(ValueError, match="softmax over one output"):
        Network.from_sizes([4, 1], output="softmax", loss="sse")


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_predict_refuses_a_bad_batch_size(batch_size):
    net = Network.from_sizes([4, 3], loss="cross_entropy", seed=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        net.predict(np.ones((7, 4)), batch_size=batch_size)


def test_boolean_labels_are_classes_0_and_1():
    net = Network.from_sizes([4, 2], loss="sse", seed=0)
    x = np.arange(12.0).reshape(3, 4) / 10
    flags = np.array([True, False, True])
    assert net.loss(x, flags) == net.loss(x, flags.astype(int))


def test_the_loss_of_an_empty_batch_is_refused():
    net = Network.from_sizes([4, 3], loss="cross_entropy", seed=0)
    empty_x, empty_y = np.empty((0, 4)), np.empty(0, int)
    for method in (net.loss, net.gradients):
        with pytest.raises(ValueError, match="empty batch"):
            method(empty_x, empty_y)
    assert net.predict(empty_x).shape == (0,)  # predicting nothing is fine


@pytest.mark.parametrize(
    "loss, sizes, target, message",
    [
        ("cross_entropy", [4, 3], [[1.2, -0.2, 0.0]], ">= 0"),
        ("binary_cross_entropy", [4, 1], [2.0], r"in \[0, 1\]"),
        ("binary_cross_entropy", [4, 1], [-0.5], r"in \[0, 1\]"),
    ],
)
def test_probability_targets_out_of_range_are_refused(loss, sizes, target, message):
    net = Network.from_sizes(sizes, loss=loss, seed=0)
    with pytest.raises(ValueError, match=message):
        net.loss(np.ones((1, 4)), np.array(target))


@pytest.mark.parametrize("seed", [-3, "a", 1.5, True])
def test_from_sizes_refuses_a_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        Network.from_sizes([4, 2], seed=seed)


def test_from_sizes_refuses_none_and_takes_hidden_none_as_identity():
    with pytest.raises(ValueError, match="sizes must be a list"):
        Network.from_sizes(None)
    net = Network.from_sizes([4, 3, 2], hidden=None, loss="sse", seed=0)
    assert net.dense_layers[0].activation.name == "identity"


# -- a Standardize layer first -------------------------------------------------------------


def _wide_features(rows=40, seed=0):
    """Features far from 0 and of different sizes (incomes, years, fractions)."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(5e4, 2e4, rows), rng.normal(1990, 15, rows), rng.random(rows)])
    return x, (x[:, 0] + 1000 * (x[:, 1] - 1990) > 5e4).astype(np.int64)


def test_standardized_network_is_the_plain_network_on_standardized_inputs():
    """Forward, loss and gradients of [Standardize, Dense...] equal those of the same Dense
    layers given (x - mean) / std, float64."""
    x, y = _wide_features()
    net = Network.from_sizes([3, 5, 2], hidden="tanh", standardize=x, dtype=np.float64, seed=2)
    standardize = net.layers[0]
    assert isinstance(standardize, chainrule.Standardize) and net.sizes == [3, 5, 2]
    np.testing.assert_allclose(standardize.mean, x.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(standardize.std, x.std(axis=0), rtol=1e-15)
    plain = Network(net.copy().layers[1:], loss="cross_entropy")
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    np.testing.assert_allclose(net.forward(x), plain.forward(z), rtol=1e-12)
    assert net.loss(x, y) == pytest.approx(plain.loss(z, y), rel=1e-12)
    for (dw, db), (pw, pb) in zip(net.gradients(x, y), plain.gradients(z, y)):
        np.testing.assert_allclose(dw, pw, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db, pb, rtol=1e-10, atol=1e-14)
    result = chainrule.gradcheck(net, x[:8], y[:8])
    assert result.ok and set(result) == {
        "layers[1].weights", "layers[1].biases", "layers[2].weights", "layers[2].biases"
    }, result.report()  # fmt: skip


def test_standardize_trains_where_raw_features_do_not():
    x, y = _wide_features(rows=400)
    raw = Network.from_sizes([3, 16, 2], seed=0)
    standardized = Network.from_sizes([3, 16, 2], seed=0, standardize=x)
    for net in (raw, standardized):
        history = chainrule.fit(
            net, x, y, epochs=20, batch_size=32, optimizer=chainrule.optimizers.Adam(0.01)
        )
    assert (standardized.predict(x) == y).mean() >= 0.97
    assert (raw.predict(x) == y).mean() < 0.9
    assert history.epochs[-1]["accuracy"] >= 0.95
    np.testing.assert_allclose(standardized.layers[0].mean, x.mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("first", ["standardize", "dropout"])
def test_backward_computes_no_gradient_below_the_lowest_dense_layer(first, monkeypatch):
    """What lies below the first Dense layer has no parameters: the Dense layer is not asked
    for its input gradient (a (batch, n_in) product saved) and the layers below are skipped."""
    x, y = _wide_features()
    if first == "standardize":
        net = Network.from_sizes([3, 4, 2], standardize=x)
    else:
        net = Network([chainrule.Dropout(0.2, 3, rng=0), Dense(3, 4, "relu", rng=0),
                       Dense(4, 2, "softmax", rng=1)], loss="cross_entropy")  # fmt: skip
    asked = []
    for layer in net.layers:
        original = layer.backward

        def spy(grad, input_grad=True, _original=original, _layer=layer):
            asked.append((type(_layer).__name__, input_grad))
            return _original(grad, input_grad)

        monkeypatch.setattr(layer, "backward", spy)
    net.train_step(x[:8].astype(np.float32), net.encode_targets(y[:8], 8))
    assert asked == [("Dense", False)]  # the output layer's fused backward is not spied
    assert np.any(net.layers[1].dweights != 0)


def test_standardize_must_come_first_and_fit_the_inputs():
    x, _ = _wide_features()
    standardize = chainrule.Standardize.from_data(x)
    with pytest.raises(ValueError, match="layer 1, Standardize.*must be the first layer"):
        Network([Dense(3, 3, rng=0), standardize, Dense(3, 2, "softmax", rng=0)],
                loss="cross_entropy")  # fmt: skip
    with pytest.raises(ValueError, match="layer widths do not chain: layer 1"):
        Network([chainrule.Standardize([0.0] * 4, [1.0] * 4), Dense(3, 2, "softmax", rng=0)],
                loss="cross_entropy")  # fmt: skip
    with pytest.raises(ValueError, match="standardize has 3 features but sizes\\[0\\] is 5"):
        Network.from_sizes([5, 2], standardize=x)
    with pytest.raises(ValueError, match="must be a Layer \\(Dense, Dropout or Standardize\\)"):
        Network([object(), Dense(3, 2, "softmax", rng=0)], loss="cross_entropy")
    with pytest.raises(
        ValueError, match="inputs must have shape \\(batch, 3\\), got shape \\(2, 4\\)"
    ):
        Network([standardize, Dense(3, 2, "softmax", rng=0)], loss="cross_entropy").forward(
            np.ones((2, 4))
        )


def test_standardize_has_the_networks_dtype(tmp_path):
    """A Standardize layer of another dtype than the Dense layers is refused: its statistics
    are saved in the network's dtype, and such a file would not load again."""
    x, _ = _wide_features()
    for layer_dtype, dense_dtype in [(np.float64, np.float32), (np.float32, np.float64)]:
        with pytest.raises(ValueError, match="all layers must share one dtype"):
            Network(
                [
                    chainrule.Standardize.from_data(x, dtype=layer_dtype),
                    Dense(3, 2, "softmax", rng=0, dtype=dense_dtype),
                ],
                loss="cross_entropy",
            )
    net = Network.from_sizes([3, 2], standardize=x, dtype=np.float64)
    chainrule.save(net, tmp_path / "model.npz")
    assert chainrule.load(tmp_path / "model.npz").layers[0].mean.dtype == np.float64


def test_from_sizes_refuses_a_switch_or_statistics_for_standardize():
    """standardize=True (the CLI's switch) and standardize=(mean, std) (what
    Standardize.statistics returns) are not training inputs: a clear error, not an error
    about shape () or, for the pair, statistics of the two rows [mean, std]."""
    x, _ = _wide_features()
    for value in (True, False, chainrule.Standardize.statistics(x)):
        with pytest.raises(ValueError, match="standardize takes the training inputs"):
            Network.from_sizes([3, 2], standardize=value)
    mean, std = chainrule.Standardize.statistics(x)
    net = Network.from_sizes([3, 2], standardize=chainrule.Standardize(mean, std))
    np.testing.assert_allclose(net.layers[0].mean, mean, rtol=1e-6)


def test_copies_and_pickles_keep_the_statistics():
    import pickle

    x, y = _wide_features()
    net = Network.from_sizes([3, 4, 2], standardize=x, seed=0)
    expected = net.forward(x)
    for other in (net.copy(), pickle.loads(pickle.dumps(net)), net.astype(np.float64)):
        assert isinstance(other.layers[0], chainrule.Standardize)
        assert other.layers[0] is not net.layers[0]
        np.testing.assert_allclose(other.forward(x), expected, rtol=1e-5)
        np.testing.assert_allclose(other.layers[0].mean, net.layers[0].mean, rtol=1e-7)
    assert net.astype(np.float64).layers[0].mean.dtype == np.float64
    again = pickle.loads(pickle.dumps(net))
    chainrule.fit(again, x, y, epochs=1, batch_size=8, seed=0)  # the pickle trains
    np.testing.assert_array_equal(net.forward(x), expected)


@pytest.mark.parametrize("standardize", [False, True])
def test_input_gradient_matches_finite_differences(standardize):
    """``Network.input_gradient``: dE/dx through every layer (a Standardize first layer and a
    Dropout too), float64, against central differences of ``net.loss``."""
    x, y = _wide_features(rows=6)
    if not standardize:
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    net = Network.from_sizes(
        [3, 5, 4, 2], hidden="tanh", loss="cross_entropy", seed=1, dtype=np.float64,
        dropout=0.3, standardize=x if standardize else None,
    )  # fmt: skip
    analytic = net.input_gradient(x, y)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(x[i]))
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        numeric[i] = (net.loss(plus, y) - net.loss(minus, y)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-12)
    assert analytic.shape == x.shape and np.abs(analytic).max() > 0


# -- sample weights: the weighted mean of the per-example losses and its gradient ------------

WEIGHTED_CASES = [  # (loss, hidden, output)
    ("sse", "sigmoid", None),
    ("mse", "tanh", None),
    ("cross_entropy", "relu", None),
    ("binary_cross_entropy", "tanh", None),
    ("sse", "tanh", "softmax"),  # a plain loss through the softmax's own backward
]


def _weighted_case(loss, hidden, output, seed=0):
    net = Network.from_sizes([4, 5, 3], hidden=hidden, output=output, loss=loss, seed=1)
    net = net.astype(np.float64)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(7, 4))
    if loss == "cross_entropy":
        y = rng.integers(0, 3, 7)
    elif loss == "binary_cross_entropy":
        y = (rng.random((7, 3)) > 0.5).astype(float)
    else:
        y = rng.random((7, 3))
    w = rng.random(7) * 3
    w[2] = 0.0  # an example left out
    return net, x, y, w


@pytest.mark.parametrize("loss, hidden, output", WEIGHTED_CASES)
def test_weighted_loss_is_the_weighted_mean_of_the_examples_losses(loss, hidden, output):
    net, x, y, w = _weighted_case(loss, hidden, output)
    each = [net.loss(x[i : i + 1], y[i : i + 1]) for i in range(len(x))]
    assert net.loss(x, y, sample_weight=w) == pytest.approx(np.dot(w, each) / w.sum(), rel=1e-13)
    assert net.loss(x, y, sample_weight=np.full(7, 0.3)) == pytest.approx(net.loss(x, y), rel=1e-14)


@pytest.mark.parametrize("loss, hidden, output", WEIGHTED_CASES)
def test_weighted_gradients_match_finite_differences(loss, hidden, output):
    """Every weight and bias, and the inputs: central differences of the weighted loss in
    float64 against the chain rule with each row of the output delta times its factor."""
    net, x, y, w = _weighted_case(loss, hidden, output)
    grads = net.gradients(x, y, sample_weight=w)
    eps = 1e-6
    for layer, (dw, db) in zip(net.dense_layers, grads):
        for param, grad in ((layer.weights, dw), (layer.biases, db)):
            numeric = _weighted_loss_differences(net, x, y, w, param, eps)
            np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    dx = net.input_gradient(x, y, sample_weight=w)
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        shifted = x.copy()
        shifted[idx] += eps
        up = net.loss(shifted, y, sample_weight=w)
        shifted[idx] -= 2 * eps
        numeric[idx] = (up - net.loss(shifted, y, sample_weight=w)) / (2 * eps)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-9)
    assert np.all(dx[2] == 0)  # the example of weight 0 moves nothing


def test_integer_weights_count_an_example_that_many_times():
    net, x, y, _ = _weighted_case("cross_entropy", "relu", None)
    w = np.array([1, 3, 0, 2, 1, 1, 2])
    repeated = np.repeat(np.arange(7), w)
    assert net.loss(x, y, sample_weight=w) == pytest.approx(
        net.loss(x[repeated], y[repeated]), rel=1e-14
    )
    for (dw, db), (rw, rb) in zip(
        net.gradients(x, y, sample_weight=w), net.gradients(x[repeated], y[repeated])
    ):
        np.testing.assert_allclose(dw, rw, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(db, rb, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(6), r"shape \(7,\), one weight per example, got shape \(6,\)"),
        (np.ones((7, 1)), r"got shape \(7, 1\)"),
        (np.r_[1.0, -0.5, np.ones(5)], "must be >= 0, got -0.5 at row 1"),
        (np.r_[1.0, 1.0, np.nan, np.ones(4)], "must be finite, got nan at row 2"),
        (np.zeros(7), "zero for every example"),
        (np.array(["1"] * 7), "must be numbers, got dtype <U1"),
        (np.array([1.0, 2.0, None, 1.0, 1.0, 1.0, 1.0], dtype=object), "got None at row 2"),
    ],
)
def test_bad_sample_weight_is_named(weights, message):
    net, x, y, _ = _weighted_case("sse", "sigmoid", None)
    with pytest.raises(ValueError, match=message):
        net.loss(x, y, sample_weight=weights)
    with pytest.raises(ValueError, match=message):
        net.gradients(x, y, sample_weight=weights)


def test_a_network_too_large_for_memory_is_named(monkeypatch):
    """Layers that fit one by one, but not their parameter vector (as on a small machine)."""
    import chainrule.network as network_module

    def no_memory(xp, array):
        raise MemoryError("Unable to allocate 1.2 MiB for an array with shape (321,)")

    monkeypatch.setattr(network_module, "asarray", no_memory)
    with pytest.raises(MemoryError, match=r"a network of 7,850 parameters \(Dense\(784, 10, "
                       r".*\)\) needs 61\.3 KiB for them and their gradients"):  # fmt: skip
        Network.from_sizes([784, 10])


def test_equal_weights_give_the_loss_of_confident_float32_examples():
    """Weighted or not, cross-entropy is -log(p) of the softmax's probabilities where p is not
    tiny (per_example takes them, as value does): equal weights give the unweighted loss to
    float32 rounding, also where p is so near 1 that -log(p) is off by a percent of itself
    (the logits' log-sum-exp alone would give another number)."""
    net = Network.from_sizes([2, 3], seed=0, dtype=np.float32)
    layer = net.dense_layers[0]
    layer.weights = np.zeros((2, 3))
    layer.biases = np.array([12.0, 0.0, 0.0])  # p = 1 - 1.2e-5 for class 0, every row
    x = np.random.default_rng(0).normal(size=(16, 2))
    y = np.zeros(16, int)
    assert net.loss(x, y, sample_weight=np.full(16, 3.0)) == pytest.approx(net.loss(x, y), rel=1e-6)
