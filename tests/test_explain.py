"""chainrule.explain: the numbers it shows equal Network.gradients and finite differences, the
batch comparison, the shape trace against real arrays, rendering, and a golden output.

Golden file: ``tests/golden/explain_8_4_2_sigmoid_sse_seed0.txt`` is the exact text of a bare
``chainrule explain`` (``explain_command()``, no colour). After an intended change to the output,
regenerate it with::

    CHAINRULE_REGEN_GOLDEN=1 pytest tests/test_explain.py -k golden

and review the diff before committing.
"""

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule import Dense, Dropout, Network, explain
from chainrule.explain import (
    BatchExplanation,
    Explanation,
    ShapeRow,
    explain_batch,
    explain_command,
    explain_example,
    render,
    trace_shapes,
)

GOLDEN = Path(__file__).parent / "golden" / "explain_8_4_2_sigmoid_sse_seed0.txt"

# (sizes, hidden, output, loss, label kind)
CONFIGS = [
    ([8, 4, 2], "sigmoid", "sigmoid", "sse", "class"),
    ([8, 2], "sigmoid", "sigmoid", "sse", "class"),
    ([6, 5, 4, 3], "relu", "softmax", "cross_entropy", "class"),
    ([5, 4, 3], "tanh", "identity", "mse", "vector"),
    ([5, 4, 2], "leaky_relu", "sigmoid", "binary_cross_entropy", "vector01"),
    ([5, 4, 3], "softmax", "tanh", "sse", "class"),
    ([4, 3, 1], "sigmoid", "sigmoid", "binary_cross_entropy", "class"),
]


def make_case(sizes, hidden, output, loss, kind, seed=0, dtype=np.float64):
    net = Network.from_sizes(sizes, hidden=hidden, output=output, loss=loss, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    for _ in range(100):  # keep ReLU units off their kink at 0, where differences are meaningless
        x = rng.normal(size=sizes[0])
        net.forward(x[None, :])
        kinked = [d for d in net.dense_layers if d.activation.name in ("relu", "leaky_relu")]
        if all(np.abs(d.net).min() > 1e-3 for d in kinked):
            break
    n_out = sizes[-1]
    if kind == "class":
        label = int(rng.integers(0, 2 if n_out == 1 else n_out))
    elif kind == "vector01":
        label = rng.integers(0, 2, size=n_out).astype(np.float64)
    else:
        label = rng.normal(size=n_out)
    return net, x, label


def batch_targets(label):
    label = np.asarray(label)
    return label.reshape(1) if label.ndim == 0 else label.reshape(1, -1)


@pytest.mark.parametrize(("sizes", "hidden", "output", "loss", "kind"), CONFIGS)
def test_explained_gradients_equal_network_gradients_and_finite_differences(
    sizes, hidden, output, loss, kind
):
    net, x, label = make_case(sizes, hidden, output, loss, kind)
    e = explain_example(net, x, label, fd_max_entries=None)
    expected = net.gradients(x[None, :], batch_targets(label))
    assert [t.number for t in e.layers] == list(range(1, len(sizes)))
    for t, (dw, db) in zip(e.layers, reversed(expected)):
        np.testing.assert_allclose(t.dE_dw, dw, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(t.dE_db, db, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(t.network_dw, dw, rtol=0, atol=0)
        # Finite differences: every entry checked, all close to the explained gradient.
        np.testing.assert_allclose(t.fd_dw, t.dE_dw, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(t.fd_db, t.dE_db, rtol=1e-5, atol=1e-8)
        assert t.fd_checked_w == t.dE_dw.size and t.fd_checked_b == t.dE_db.size
        assert t.fd_error_w < 1e-6 and t.fd_error_b < 1e-6
    assert e.network_max_diff < 1e-12
    assert e.max_fd_error < 1e-6


def test_cross_entropy_label_weights_not_summing_to_1_are_explained_exactly():
    """-sum label log(out) with labels summing to 1.5: delta = out * sum(label) - label, the
    network's gradient, and the finite differences agree."""
    net, x, _ = make_case([6, 5, 3], "relu", "softmax", "cross_entropy", "class")
    label = np.array([0.5, 0.5, 0.5])
    e = explain_example(net, x, label, fd_max_entries=None)
    np.testing.assert_allclose(e.layers[0].delta, e.out * 1.5 - label, rtol=1e-12)
    expected = net.gradients(x[None, :], label[None, :])
    for t, (dw, _) in zip(e.layers, reversed(expected)):
        np.testing.assert_allclose(t.dE_dw, dw, rtol=1e-12, atol=1e-14)
    assert e.fd_ok


def test_the_notes_terms_hold_layer_by_layer():
    """Each layer: net = in . w + b, out = s(net), delta = dE/ds * ds/dnet, dE/dw =
    outer(in, delta), dE/db = delta, and the error handed down is w . delta."""
    net, x, label = make_case([8, 4, 3, 2], "sigmoid", "sigmoid", "sse", "class")
    e = explain_example(net, x, label)
    np.testing.assert_allclose(e.out, net.forward(x[None, :])[0], rtol=1e-12)
    np.testing.assert_array_equal(e.layers[-1].in_x, x)
    for t in e.layers:
        np.testing.assert_allclose(t.net, t.in_x @ t.weights + t.biases, rtol=1e-12)
        np.testing.assert_allclose(t.out, 1 / (1 + np.exp(-t.net)), rtol=1e-12)
        np.testing.assert_allclose(t.ds_dnet, t.out * (1 - t.out), rtol=1e-12)
        np.testing.assert_allclose(t.delta, t.dE_ds * t.ds_dnet, rtol=1e-12)
        np.testing.assert_array_equal(t.dE_dw, np.outer(t.in_x, t.delta))
        np.testing.assert_array_equal(t.dE_db, t.delta)
    np.testing.assert_allclose(e.layers[0].dE_ds, -(e.target - e.out), rtol=1e-12)
    for above, below in zip(e.layers, e.layers[1:]):
        np.testing.assert_array_equal(below.out, above.in_x)
        np.testing.assert_allclose(below.dE_ds, above.weights @ above.delta, rtol=1e-12)


def test_softmax_cross_entropy_shows_the_cancellation():
    net, x, label = make_case([6, 5, 4], "relu", "softmax", "cross_entropy", "class")
    e = explain_example(net, x, label)
    out_layer = e.layers[0]
    onehot = np.eye(4)[label]
    np.testing.assert_allclose(out_layer.delta, e.out - onehot, rtol=1e-12)
    np.testing.assert_allclose(out_layer.chain_delta, out_layer.delta, atol=1e-12)
    assert out_layer.ds_dnet.shape == (4, 4)  # the softmax Jacobian
    # ReLU below: ds/dnet is 1 where the unit is active, else 0.
    np.testing.assert_array_equal(e.layers[1].ds_dnet, (e.layers[1].net > 0).astype(float))
    text = " ".join(render(e).split())  # undo the line wrapping
    assert "cancels" in text and "the activation derivative almost never helps" in text


def test_printed_numbers_are_network_gradients():
    """The dE/dw and dE/db matrices in the text are net.gradients, to the printed precision."""
    net, x, label = make_case([8, 4, 2], "sigmoid", "sigmoid", "sse", "class")
    text = render(explain_example(net, x, label))
    grads = net.gradients(x[None, :], [label])
    for dw, db in grads:
        for line in explain._value_lines(dw, 8) + explain._value_lines(db, 8):
            assert line.strip("[] ") in text


def test_float32_network_and_fd_sampling():
    net, x, label = make_case([30, 12, 10], "relu", "softmax", "cross_entropy", "class")
    net32 = net.astype(np.float32)
    e = explain_example(net32, x, label, fd_max_entries=20, seed=3)
    assert e.dtype == "float32"
    expected = net32.gradients(x[None, :].astype(np.float32), [label])
    for t, (dw, _) in zip(e.layers, reversed(expected)):
        np.testing.assert_allclose(t.dE_dw, dw, rtol=1e-4, atol=1e-6)
        assert t.fd_checked_w == 20 and np.isnan(t.fd_dw).sum() == t.dE_dw.size - 20
        assert t.fd_error_w < 1e-6
    assert e.network_max_diff < 1e-5


def test_dropout_layers_are_skipped_and_indexed():
    layers = [Dense(5, 4, "tanh", rng=0), Dropout(0.5, 4, rng=1), Dense(4, 3, "softmax", rng=2)]
    net = Network(layers, loss="cross_entropy")
    e = explain_example(net, np.linspace(-1, 1, 5), 2)
    assert [t.index for t in e.layers] == [2, 0]
    np.testing.assert_allclose(
        e.layers[0].dE_dw, net.gradients(np.linspace(-1, 1, 5)[None], [2])[1][0], rtol=1e-5
    )


def test_explain_does_not_change_the_network():
    net, x, label = make_case([8, 4, 2], "sigmoid", "sigmoid", "sse", "class")
    before = [p.copy() for p in net.parameters()]
    explain_example(net, x, label)
    explain_batch(net, np.stack([x, -x]), [label, 1 - label])
    for p, q in zip(before, net.parameters()):
        np.testing.assert_array_equal(p, q)


def test_bad_inputs_raise_value_errors():
    net, x, label = make_case([8, 4, 2], "sigmoid", "sigmoid", "sse", "class")
    with pytest.raises(ValueError, match="one example"):
        explain_example(net, np.stack([x, x]), label)
    with pytest.raises(ValueError, match="shape"):
        explain_example(net, x[:5], label)
    with pytest.raises(ValueError, match="label"):
        explain_example(net, x, 7)
    with pytest.raises(ValueError, match="render takes"):
        render(42)
    with pytest.raises(ValueError, match="format"):
        render(explain_example(net, x, label), format="html")
    with pytest.raises(ValueError, match="sizes"):
        explain_command(sizes="8")
    with pytest.raises(ValueError, match="unknown activation"):
        explain_command(activation="swish")
    with pytest.raises(ValueError, match="without its label"):
        explain_command(net=net, x=x)
    with pytest.raises(ValueError, match="does not load files"):
        explain_command(model="model.npz")
    with pytest.raises(ValueError, match="N >= 5"):
        explain_command(net=net, x=x, label=label, batch=5)


# -- golden output --------------------------------------------------------------------------------


def test_golden_default_explain():
    """A bare ``chainrule explain`` (8-4-2 sigmoid, sse, seed 0), compared character by
    character. Regenerate with CHAINRULE_REGEN_GOLDEN=1 (see the module docstring)."""
    text = explain_command() + "\n"
    if os.environ.get("CHAINRULE_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    # The finite-difference errors are rounding noise (~1e-10) whose last digits depend on the
    # CPU and BLAS; compare them as "below 1e-8", everything else character by character.
    fd_error = re.compile(r"rel\. error (\d\.\de-\d\d)")
    for value in fd_error.findall(text):
        assert float(value) < 1e-8
    assert fd_error.sub("rel. error <fd>", text) == fd_error.sub(
        "rel. error <fd>", GOLDEN.read_text()
    )


def test_output_is_deterministic_and_plain_without_color():
    a = explain_command(sizes="6,3,2", seed=4)
    assert a == explain_command(sizes="6,3,2", seed=4)
    assert "\033[" not in a
    colored = explain_command(sizes="6,3,2", seed=4, color=True)
    assert "\033[1m" in colored and "\033[32;1mok" in colored
    # Stripping the escape codes gives the plain text back.
    import re

    assert re.sub(r"\033\[[0-9;]*m", "", colored) == a


def test_markdown_format():
    md = explain_command(sizes="6,3,2", format="markdown")
    assert md.startswith("# chainrule explain")
    assert "## layer 1: output layer" in md and "```" in md
    assert "\033[" not in explain_command(sizes="6,3,2", format="markdown", color=True)
    md_batch = explain_command(sizes="6,3,2", batch=3, format="markdown")
    assert "| example | label |" in md_batch
    md_trace = explain_command(sizes="6,3,2", shapes=True, format="markdown")
    assert "| phase | layer | array | formula | shape |" in md_trace


def test_large_arrays_are_summarized():
    text = explain_command(sizes="40,12,3")
    assert "min " in text and "mean " in text and "first [" in text
    # in full: vectors up to max_items, matrices up to max_items rows, max_items // 2 columns
    assert len(explain._value_lines(np.ones((8, 4)), 8)) == 8
    assert explain._value_lines(np.arange(8.0), 8) == ["[0, 1, 2, 3, 4, 5, 6, 7]"]
    assert explain._value_lines(np.arange(9.0), 8)[0].startswith("min 0  mean 4  max 8")
    assert explain._value_lines(np.arange(50.0).reshape(5, 10), 8)[0].startswith("min ")
    assert explain._value_lines(np.zeros(30), 8) == ["all 0"]


# -- batch ----------------------------------------------------------------------------------------


def batch_case(loss="sse", hidden="sigmoid", output="sigmoid", sizes=(6, 5, 3), n=7, seed=1):
    net = Network.from_sizes(
        list(sizes), hidden=hidden, output=output, loss=loss, seed=seed, dtype=np.float64
    )
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, sizes[0]))
    y = rng.integers(0, sizes[-1], size=n)
    return net, x, y


@pytest.mark.parametrize(
    ("loss", "hidden", "output"),
    [("sse", "sigmoid", "sigmoid"), ("cross_entropy", "relu", "softmax"), ("mse", "tanh", "tanh")],
)
def test_batch_mean_of_per_example_gradients_is_network_gradient(loss, hidden, output):
    net, x, y = batch_case(loss, hidden, output)
    b = explain_batch(net, x, y)
    expected = net.gradients(x, y)
    for layer, (dw, db) in zip(b.layers, reversed(expected)):
        np.testing.assert_allclose(layer.mean_dw, dw, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.mean_db, db, rtol=1e-12, atol=1e-15)
        assert layer.per_example_dw.shape == (len(x), *dw.shape)
        for i in (0, len(x) - 1):  # each per-example gradient is that example's own gradient
            own = net.gradients(x[i : i + 1], y[i : i + 1])[len(b.layers) - layer.number]
            np.testing.assert_allclose(layer.per_example_dw[i], own[0], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(layer.per_example_db[i], own[1], rtol=1e-12, atol=1e-15)
    assert b.network_max_diff < 1e-14
    assert b.loss_value == pytest.approx(net.loss(x, y), rel=1e-12)


def test_batch_averaged_first_variant_by_hand():
    """The "averaged first" numbers recomputed by hand for a 6-5-3 sigmoid/sse network."""
    net, x, y = batch_case()
    b = explain_batch(net, x, y)
    w2, b2 = net.layers[0].weights, net.layers[0].biases
    w1, b1 = net.layers[1].weights, net.layers[1].biases
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h = sig(x @ w2 + b2)
    out = sig(h @ w1 + b1)
    target = np.eye(3)[y]
    e_bar = (out - target).mean(axis=0)
    out1_bar, out2_bar, in2_bar = out.mean(axis=0), h.mean(axis=0), x.mean(axis=0)
    d1 = e_bar * out1_bar * (1 - out1_bar)
    d2 = (w1 @ d1) * out2_bar * (1 - out2_bar)
    np.testing.assert_allclose(b.mean_error, e_bar, rtol=1e-12)
    np.testing.assert_allclose(b.layers[0].averaged_dw, np.outer(out2_bar, d1), rtol=1e-12)
    np.testing.assert_allclose(b.layers[0].averaged_db, d1, rtol=1e-12)
    np.testing.assert_allclose(b.layers[1].averaged_dw, np.outer(in2_bar, d2), rtol=1e-12)
    np.testing.assert_allclose(b.layers[1].averaged_db, d2, rtol=1e-12)
    # The reported distances are what they say.
    for layer in b.layers:
        diff = np.abs(layer.averaged_dw - layer.mean_dw).max()
        assert layer.averaged_max_abs_diff_w == pytest.approx(diff)
        assert layer.averaged_rel_diff_w == pytest.approx(diff / np.abs(layer.mean_dw).max())
        assert -1 <= layer.averaged_cosine <= 1
    assert b.averaged_rel_diff > 0.01  # the shortcut is measurably wrong here


def test_batch_numbers_appear_in_the_text():
    net, x, y = batch_case(n=3)
    b = explain_batch(net, x, y)
    text = render(b)
    for layer in b.layers:
        assert f"{layer.averaged_max_abs_diff_w:.1e}" in text
        assert f"{layer.averaged_rel_diff_w:.3f}" in text
        for line in explain._value_lines(layer.mean_dw, 8):
            assert line.strip("[] ") in text
    assert "how far apart" in text


def test_batch_of_one_averaging_is_exact():
    """With one example the averages are that example: the variant equals the true gradient."""
    net, x, y = batch_case(n=1)
    b = explain_batch(net, x, y)
    for layer in b.layers:
        np.testing.assert_allclose(layer.averaged_dw, layer.mean_dw, rtol=1e-12, atol=1e-15)
    assert b.averaged_cosine == pytest.approx(1.0)


def test_explain_command_batch_with_given_examples():
    net, x, y = batch_case(n=6)
    text = explain_command(net=net.astype(np.float32), x=x, label=y, batch=4, model="m.npz")
    assert "--batch 4" in text and "Model m.npz." in text and "float32" in text
    text = explain_command(net=net, x=x[0], label=y[0], description="MNIST test image 0.")
    assert "MNIST test image 0." in text and "one example through 6-5-3" in text


# -- shapes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "batch", "loss", "hidden"),
    [
        ([784, 100, 10], 64, "sse", "sigmoid"),
        ([784, 100, 10], 64, "cross_entropy", "relu"),
        ([7, 6, 5, 4], 3, "mse", "tanh"),
    ],
)
def test_trace_shapes_match_the_real_arrays(sizes, batch, loss, hidden):
    rows = trace_shapes(sizes, batch=batch, activations=hidden, loss=loss)
    assert all(isinstance(r, ShapeRow) for r in rows)
    acts = rows.activations
    net = Network.from_sizes(sizes, hidden=acts[:-1], output=acts[-1], loss=loss, seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], size=batch)
    grads = net.gradients(x, y)
    table = {(r.layer, r.name): tuple(r.shape) for r in rows}
    n = len(net.dense_layers)
    for k, layer in enumerate(net.dense_layers):
        num = n - k
        assert table[(num, f"in_{num}")] == layer.x.shape
        assert table[(num, f"w_{num}")] == layer.weights.shape
        assert table[(num, f"b_{num}")] == layer.biases.shape
        assert table[(num, f"net_{num}")] == layer.net.shape
        assert table[(num, f"out_{num}")] == layer.out.shape
        assert table[(num, f"delta_{num}")] == layer.net.shape
        assert table[(num, f"dE/dw_{num}")] == grads[k][0].shape
        assert table[(num, f"dE/db_{num}")] == grads[k][1].shape
        if num > 1:  # what is handed down: delta_(x-1) . w_(x-1)^T
            above = net.dense_layers[k + 1]
            assert table[(num, f"dE/ds_{num}")] == (batch, above.n_in)
    assert [r.phase for r in rows][0] == "forward" and rows[-1].phase == "backward"
    assert table[(1, "E")] == ()


def test_trace_render_and_command():
    text = explain_command(sizes="784,100,10", shapes=True, batch=64)
    assert "784-100-10" in text and "(64, 784)" in text and "(784, 100)" in text
    net = Network.from_sizes([5, 3, 2], hidden="relu", loss="cross_entropy")
    text = explain_command(net=net, shapes=True)
    assert "5-3-2 (relu, softmax)" in text and "(64, 5)" in text
    with pytest.raises(ValueError, match="output"):
        trace_shapes([4, 3, 2], activations=["relu", "relu"], loss="cross_entropy")


# -- timing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["sse", "cross_entropy"])
def test_explain_784_30_10_is_fast(loss):
    start = time.perf_counter()
    text = explain_command(sizes="784,30,10", loss=loss)
    elapsed = time.perf_counter() - start
    assert "layer 2" in text
    assert elapsed < 2.0, f"explain 784-30-10 took {elapsed:.2f} s"


def test_explain_returns_dataclasses():
    net, x, label = make_case([8, 4, 2], "sigmoid", "sigmoid", "sse", "class")
    assert isinstance(explain_example(net, x, label), Explanation)
    assert isinstance(explain_batch(net, np.stack([x, x]), [0, 1]), BatchExplanation)


def test_fd_sampling_checks_mostly_nonzero_gradients():
    """On an image that is mostly blank pixels most first-layer gradients are 0: the sample
    still checks nonzero ones (three quarters of it), not a run of 0 == 0."""
    net = Network.from_sizes([100, 8, 3], hidden="sigmoid", loss="cross_entropy", seed=0)
    x = np.zeros(100)
    x[[3, 40, 77]] = 1.0  # 3 lit pixels: 24 of the 800 weights have a nonzero gradient
    e = explain_example(net.astype(np.float64), x, 1, fd_max_entries=20, seed=0)
    first = e.layers[-1]
    checked = ~np.isnan(first.fd_dw)
    assert checked.sum() == 20
    assert np.count_nonzero(first.dE_dw[checked]) == 15  # 3/4 of 20, rounded up
    assert np.count_nonzero(first.fd_dw[checked]) == 15  # and the numbers agree on which
    assert first.fd_error_w < 1e-6


def test_a_random_relu_network_with_a_dead_layer_is_redrawn():
    # seed 0 draws an 8-4-2 ReLU network whose 4 hidden units are all off for its example
    text = explain_command(activation="relu", seed=0)
    assert "redrawn once" in text and "FAIL" not in text
    assert text == explain_command(activation="relu", seed=0)  # still fixed by the seed
    first = Network.from_sizes([8, 4, 2], hidden="relu", output="relu", loss="sse", seed=0)
    x = np.round(np.random.default_rng([0, 1]).random(8), 2)
    assert not (x @ first.dense_layers[0].weights > 0).any()  # why it was redrawn
    assert "redrawn" not in explain_command(activation="sigmoid", seed=0)


def test_a_leaky_relus_own_slope_and_a_custom_activation_are_shown(softsign):
    from chainrule.activations import LeakyReLU

    for first, formula in ((LeakyReLU(0.2), "else 0.2"), (softsign, "softsign'(net_2)")):
        net = Network([Dense(4, 3, first, rng=0), Dense(3, 2, "softmax", rng=1)], "cross_entropy")
        text = explain_command(net=net, x=np.linspace(-1, 1, 4), label=1)
        assert formula in text and "FAIL" not in text
        assert formula in explain_command(net=net, shapes=True)
    assert "else 0.01" not in explain_command(net=net, shapes=True)


def test_markdown_tables_escape_the_bars_of_their_headers():
    text = explain_command(sizes="4,3,2", batch=3, format="markdown")
    for line in text.splitlines():
        if line.startswith("| example") or line.startswith("| parameter"):
            cells = line.replace("\\|", "").strip("|").split("|")
            assert len(cells) == 4, line


def net_and_example_deep():
    net = Network.from_sizes(
        [32] * 10 + [10], hidden="sigmoid", output="sigmoid", loss="sse", seed=0, dtype=np.float64
    )
    x = np.random.default_rng(0).normal(size=32)
    return net, x, 3


def test_vanishing_gradients_are_not_reported_as_failures():
    """docs/math.md (F13): in a 10-layer sigmoid network the bottom gradients are ~1e-6 of the
    top ones, so their finite-difference relative error is rounding noise, not a mistake."""
    text = explain_command(sizes=[32] * 10 + [10], fd_max_entries=20)
    e = explain_example(*net_and_example_deep())
    assert e.max_fd_error > 1e-6  # relative to tiny gradients, the noise shows...
    assert e.fd_ok  # ...but every difference is within it
    assert all(max(t.fd_diff_w, t.fd_diff_b) <= e.fd_noise for t in e.layers[-3:])
    assert "FAIL" not in text
    assert "the rounding noise of finite differences)  ok" in text


# -- a network that standardizes its inputs --------------------------------------------------------


def standardized_case(dtype=np.float64, dropout=0.0):
    """A 4-6-3 network with a Standardize first layer, on features far from 0 (mean 1000, std
    300): forgetting the standardization changes every number."""
    rng = np.random.default_rng(7)
    x = rng.normal(1000, 300, size=(40, 4))
    net = Network.from_sizes(
        [4, 6, 3],
        hidden="sigmoid",
        loss="cross_entropy",
        standardize=x,
        seed=0,
        dtype=dtype,
        dropout=dropout,
    )
    return net, x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_standardized_network_is_explained_as_it_runs(dtype):
    from chainrule.gradcheck import input_gradient, numerical_input_gradient

    net, x = standardized_case(dtype, dropout=0.3)
    example, label = x[3], 2
    e = explain_example(net, example, label)
    mean, std = net.layers[0].mean.astype(np.float64), net.layers[0].std.astype(np.float64)
    assert e.standardized
    np.testing.assert_array_equal(e.x, example.astype(dtype))  # the example as given
    np.testing.assert_allclose(e.mean, mean) and np.testing.assert_allclose(e.std, std)
    np.testing.assert_allclose(e.layers[-1].in_x, (e.x - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(e.inputs, e.layers[-1].in_x)
    assert [t.index for t in e.layers] == [3, 1]  # Standardize, Dense, Dropout, Dense
    np.testing.assert_allclose(e.out, net.forward(example[None])[0], rtol=1e-5)
    # the same gradients as the network computes, and as finite differences of the loss
    assert e.network_max_diff <= (1e-10 if dtype == np.float64 else 1e-4)
    assert e.fd_ok and e.max_fd_error < 1e-6
    assert e.loss_value == pytest.approx(net.loss(example[None], [label]), rel=1e-5)
    # dE/dx with respect to the raw example: chained through the standardization (/ std)
    numeric = numerical_input_gradient(net, e.x[None], [label], eps=1e-2)[0]  # x as explained
    np.testing.assert_allclose(e.input_gradient, numeric, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(
        e.input_gradient, input_gradient(net, e.x[None], [label])[0], rtol=1e-10
    )
    bottom = e.layers[-1]
    np.testing.assert_allclose(e.input_gradient * std, bottom.weights @ bottom.delta)


def test_the_text_shows_the_standardized_example():
    net, x = standardized_case()
    e = explain_example(net, x[0], 1)
    text = render(e, max_items=10)
    words = " ".join(text.split())  # the note may be wrapped anywhere
    assert "standardizes its inputs first (net.layers[0], Standardize)" in words
    assert "the bottom layer takes in_2 = (x - mean) / std" in words
    assert re.search(r"in_2\s+\(x - mean\) / std, the standardized example", text)
    assert "layer 2: hidden layer, takes the standardized input (net.layers[1]" in text
    assert re.search(r"in_2\s+\(x - mean\) / std\s+\(4,\)", text)  # the bottom layer's input
    for name in ("x", "mean", "std"):
        assert re.search(rf"^  {name}\s", text, re.M), name
    standardized = " ".join(f"{v: .4f}" for v in e.inputs)
    assert standardized.split()[0] in text  # the numbers the bottom layer takes
    assert "FAIL" not in text
    markdown = render(e, format="markdown")
    assert "(x - mean) / std" in markdown
    # a network without one says nothing about it
    plain, xp, label = make_case([8, 4, 2], "sigmoid", "sigmoid", "sse", "class")
    e_plain = explain_example(plain, xp, label)
    assert not e_plain.standardized and e_plain.mean is None
    assert "mean" not in render(e_plain) and "takes the input" in render(e_plain)
    np.testing.assert_allclose(
        e_plain.input_gradient, e_plain.layers[-1].weights @ e_plain.layers[-1].delta
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_standardized_batch_is_explained_as_it_runs(dtype):
    net, x = standardized_case(dtype)
    rows, labels = x[:6], np.array([0, 1, 2, 1, 0, 2])
    b = explain_batch(net, rows, labels)
    mean, std = net.layers[0].mean.astype(np.float64), net.layers[0].std.astype(np.float64)
    assert b.network_max_diff <= (1e-10 if dtype == np.float64 else 1e-5)
    assert b.loss_value == pytest.approx(net.loss(rows, labels), rel=1e-5)
    inputs = (rows.astype(dtype) - mean) / std
    bottom = b.layers[-1]
    np.testing.assert_allclose(bottom.averaged_in, inputs.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(
        bottom.per_example_dw[0], np.outer(inputs[0], bottom.per_example_db[0])
    )
    np.testing.assert_allclose(b.x, rows.astype(dtype))
    text = render(b)
    assert "takes in_2 = (x - mean) / std" in " ".join(text.split())
    assert "takes the standardized input (net.layers[1]" in text


def test_the_shape_trace_of_a_standardized_network():
    net, _ = standardized_case()
    rows = trace_shapes([4, 6, 3], batch=5, loss="cross_entropy", standardize=True)
    table = {(r.layer, r.name): (r.formula, tuple(r.shape)) for r in rows}
    assert table[(2, "x")] == ("the input batch", (5, 4))
    assert table[(2, "mean")][1] == table[(2, "std")][1] == (4,)
    assert table[(2, "in_2")] == ("(x - mean) / std", (5, 4))
    assert rows[0].name == "x"
    plain = {(r.layer, r.name): r.formula for r in trace_shapes([4, 6, 3], batch=5)}
    assert plain[(2, "in_2")] == "x (the input batch)" and (2, "mean") not in plain
    text = explain_command(net=net, shapes=True, batch=5)
    assert "(x - mean) / std" in text and "(5, 4)" in text
