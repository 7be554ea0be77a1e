"""Every loss: value against its formula, delta against finite differences of value (float64),
stability from huge logits in float32, batch mean, and the name table."""

import math

import numpy as np
import pytest

from chainrule.activations import Sigmoid, Softmax
from chainrule.losses import LOSSES, get_loss


def targets_for(name, rng, shape):
    if name == "cross_entropy":  # label weights need not sum to 1: E = -sum label log(out)
        t = rng.random(shape)
        return t / t.sum(axis=1, keepdims=True) * rng.uniform(0.5, 1.5, (shape[0], 1))
    if name == "binary_cross_entropy":
        return rng.random(shape)
    return rng.normal(size=shape)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_delta_is_the_gradient_of_value(name):
    loss = get_loss(name)
    rng = np.random.default_rng(0)
    out = rng.normal(size=(4, 3))
    target = targets_for(name, rng, out.shape)
    delta = loss.delta(out, target)
    numeric = np.zeros_like(out)
    for idx in np.ndindex(out.shape):
        bump = np.zeros_like(out)
        bump[idx] = 1e-6
        numeric[idx] = (loss.value(out + bump, target) - loss.value(out - bump, target)) / 2e-6
    np.testing.assert_allclose(delta, numeric, rtol=1e-6, atol=1e-10)


def test_cross_entropy_integer_labels_match_one_hot():
    loss = get_loss("cross_entropy")
    logits = np.random.default_rng(1).normal(size=(5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[labels]
    assert loss.value(logits, labels) == pytest.approx(loss.value(logits, onehot))
    np.testing.assert_allclose(loss.delta(logits, labels), loss.delta(logits, onehot))
    # delta = (softmax(net) - label) / batch
    np.testing.assert_allclose(loss.delta(logits, labels), (Softmax().forward(logits) - onehot) / 5)


def test_values_match_their_formulas():
    out = np.array([[0.2, 0.9], [0.6, 0.1]])
    label = np.array([[0.0, 1.0], [1.0, 0.0]])
    # sse: per example 1/2 sum (label - out)^2 -> (0.04 + 0.01)/2 = 0.025 and (0.16+0.01)/2 = 0.085
    assert get_loss("sse").value(out, label) == pytest.approx((0.025 + 0.085) / 2)
    assert get_loss("mse").value(out, label) == pytest.approx((0.04 + 0.01 + 0.16 + 0.01) / 4)
    p = Softmax().forward(out)
    expected_ce = -np.mean(np.log(p[[0, 1], [1, 0]]))
    assert get_loss("cross_entropy").value(out, np.array([1, 0])) == pytest.approx(expected_ce)
    s = Sigmoid().forward(out)
    expected_bce = -np.sum(label * np.log(s) + (1 - label) * np.log(1 - s)) / 2
    assert get_loss("binary_cross_entropy").value(out, label) == pytest.approx(expected_bce)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_batch_loss_is_mean_of_per_example_losses(name):
    loss = get_loss(name)
    rng = np.random.default_rng(2)
    out = rng.normal(size=(6, 3))
    target = targets_for(name, rng, out.shape)
    per_example = [loss.value(out[i : i + 1], target[i : i + 1]) for i in range(6)]
    assert loss.value(out, target) == pytest.approx(np.mean(per_example))
    each = loss.per_example(out, target)  # the same losses, one call
    assert each.shape == (6,)
    np.testing.assert_allclose(each, per_example, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_per_example_from_probabilities_or_logits(dtype):
    """Given the softmax's probabilities, per_example takes -log(p), as value does, and the
    logits' log-sum-exp where p is too small for that; the two agree elsewhere."""
    ce = get_loss("cross_entropy")
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0], [-200.0, 200.0, 0.0]], dtype)
    labels = np.array([0, 2, 0])
    probs = Softmax().forward(logits)
    from_logits = ce.per_example(logits, labels)
    from_probs = ce.per_example(logits, labels, probs=probs)
    assert from_probs.dtype == dtype
    assert from_logits[2] == pytest.approx(400.0, rel=1e-6)  # p underflows: from the logits
    np.testing.assert_allclose(from_probs, from_logits, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert ce.value(logits[:2], labels[:2], probs=probs[:2]) == pytest.approx(
        float(np.mean(from_probs[:2])), rel=1e-6
    )


@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy"])
def test_fused_losses_finite_for_huge_logits_in_float32(name):
    loss = get_loss(name)
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=np.float32)
    target = (
        np.array([1, 0])
        if name == "cross_entropy"
        else np.array([[0, 1, 1], [1, 0, 0]], dtype=np.float32)
    )
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = loss.value(logits, target)
        delta = loss.delta(logits, target)
    assert np.isfinite(value) and value > 1e3  # the wrong class got a huge logit: loss ~ 2e4
    assert delta.dtype == np.float32 and np.isfinite(delta).all()


def test_float32_kept():
    out = np.ones((2, 3), np.float32)
    for name in ("sse", "mse"):
        assert get_loss(name).delta(out, np.zeros_like(out)).dtype == np.float32


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match="unknown loss 'hinge'.*cross_entropy.*sse"):
        get_loss("hinge")
    assert get_loss("sum_squared_error").name == "sse"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_value_from_probabilities_matches_log_sum_exp(dtype):
    """value(net, labels, probs=softmax(net)) uses -log(p); where p underflows (the huge
    logits of the second row) it falls back to log-sum-exp and stays exact."""
    loss = get_loss("cross_entropy")
    for logits in (
        np.random.default_rng(3).normal(size=(6, 4)) * 3,
        np.array([[1.0, 2.0, 0.5], [1e4, -1e4, 0.0]]),
    ):
        logits = logits.astype(dtype)
        labels = np.arange(len(logits)) % logits.shape[1]
        probs = Softmax().forward(logits)
        with np.errstate(divide="raise", over="raise", invalid="raise"):
            fast = loss.value(logits, labels, probs=probs)
        assert fast == pytest.approx(loss.value(logits, labels), rel=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_delta_into_a_buffer(name):
    """delta=buf writes the same numbers into buf (the network reuses one per batch size)."""
    loss = get_loss(name)
    rng = np.random.default_rng(4)
    out = rng.normal(size=(5, 3)).astype(np.float32)
    target = np.array([0, 2, 1, 1, 0]) if name == "cross_entropy" else rng.random((5, 3))
    target = target if name == "cross_entropy" else target.astype(np.float32)
    buf = np.full_like(out, np.nan)
    assert loss.delta(out, target, delta=buf) is buf
    np.testing.assert_allclose(buf, loss.delta(out, target), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_value_and_delta_match_value_and_delta_scaled(name):
    """value_and_delta gives value() and delta() * scale in one call (SSE and MSE share the
    difference out - label between them); want_value=False gives no value."""
    loss = get_loss(name)
    rng = np.random.default_rng(5)
    out = rng.normal(size=(6, 4))
    target = np.array([0, 3, 1, 1, 2, 0]) if name == "cross_entropy" else rng.random((6, 4))
    probs = None
    if loss.fused_activation:
        probs = Softmax().forward(out) if name == "cross_entropy" else 1 / (1 + np.exp(-out))
    buf = np.full_like(out, np.nan)
    value, delta = loss.value_and_delta(out, target, probs=probs, delta=buf, scale=0.3)
    assert delta is buf
    assert value == pytest.approx(loss.value(out, target), rel=1e-12)
    np.testing.assert_allclose(delta, 0.3 * loss.delta(out, target), rtol=1e-12)
    np.testing.assert_allclose(loss.delta(out, target, scale=0.3), delta, rtol=1e-12)
    none, again = loss.value_and_delta(out, target, probs=probs, scale=0.3, want_value=False)
    assert none is None
    np.testing.assert_allclose(again, delta, rtol=1e-12)


def test_cross_entropy_of_label_weights_not_summing_to_1_in_the_training_path():
    """fit's path (value_and_delta from the softmax's probabilities) weighs each example's
    -sum label log(out) by its labels as value() does, and its delta is that loss's gradient:
    softmax(net) * sum(label) - label, over the batch."""
    loss = get_loss("cross_entropy")
    rng = np.random.default_rng(7)
    out = rng.normal(size=(5, 4))
    target = rng.random((5, 4))  # rows summing to anything
    probs = Softmax().forward(out)
    value, delta = loss.value_and_delta(out, target, probs=probs, scale=1.0)
    expected = -np.sum(target * np.log(probs)) / 5
    assert value == pytest.approx(expected, rel=1e-12)
    assert loss.value(out, target) == pytest.approx(expected, rel=1e-12)
    manual = (probs * target.sum(axis=1, keepdims=True) - target) / 5
    np.testing.assert_allclose(delta, manual, rtol=1e-12)


def test_a_confident_examples_small_loss_keeps_its_relative_precision():
    """lse(net) - net_label computed as written loses a small loss to rounding (|net| ~ 20
    has an ulp of 4e-15); the value is written as a sum of terms >= 0 instead."""
    ce, bce = get_loss("cross_entropy"), get_loss("binary_cross_entropy")
    logits = np.array([[20.0, 0.0, 0.0], [0.0, 25.0, 0.0]])
    exact = (math.log1p(2 * math.exp(-20)) + math.log1p(2 * math.exp(-25))) / 2
    assert ce.value(logits, np.array([0, 1])) == pytest.approx(exact, rel=1e-13, abs=0)
    soft = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert ce.value(logits, soft) == pytest.approx(exact, rel=1e-13, abs=0)
    z = np.array([[30.0, -30.0]])  # both outputs confidently right
    exact = 2 * math.log1p(math.exp(-30))  # ~1.9e-13
    assert bce.value(z, np.array([[1.0, 0.0]])) == pytest.approx(exact, rel=1e-13, abs=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_value_ties_and_huge_logits(dtype):
    """Two logits tied for the largest: only one of their exp(0) = 1 leaves the sum."""
    ce = get_loss("cross_entropy")
    tied = np.array([[3.0, 3.0, -1.0]], dtype)
    expected = math.log(2 + math.exp(-4))
    assert ce.value(tied, np.array([0])) == pytest.approx(expected, rel=1e-6)
    huge = np.array([[1e4, -1e4, 0.0]], dtype)
    with np.errstate(over="raise", invalid="raise"):
        assert ce.value(huge, np.array([1])) == pytest.approx(2e4, rel=1e-6)
        assert ce.value(huge, np.array([0])) == 0.0


LOSS_CASES = sorted(LOSSES) + ["cross_entropy-labels"]  # integer class labels too


def _loss_case(case, rng, shape=(6, 3)):
    """(loss, logits or outputs, target, the output activation a fused loss works through)."""
    name = case.split("-")[0]
    out = rng.normal(size=shape) * 2
    target = rng.integers(0, shape[1], shape[0]) if case.endswith("labels") else None
    if target is None:
        target = targets_for(name, rng, shape)
    activation = {"cross_entropy": Softmax(), "binary_cross_entropy": Sigmoid()}.get(name)
    return get_loss(name), out, target, activation


def _central_differences(energy, out, eps=1e-6):
    numeric = np.zeros_like(out)
    for idx in np.ndindex(out.shape):
        bump = np.zeros_like(out)
        bump[idx] = eps
        numeric[idx] = (energy(out + bump) - energy(out - bump)) / (2 * eps)
    return numeric


@pytest.mark.parametrize("case", LOSS_CASES)
def test_weighted_delta_is_the_gradient_of_the_weighted_per_example_losses(case):
    """E = mean_n(factors[n] * E_n), from per_example (with the probabilities a fused loss is
    given in training, and without): its gradient is delta with row n times factors[n], the
    network's rule for sample weights (Network.train_step), in float64."""
    loss, out, target, activation = _loss_case(case, np.random.default_rng(8))
    factors = np.array([0.5, 2.0, 0.0, 1.5, 0.25, 1.75])  # mean 1, one example left out
    for with_probs in (False, True) if activation else (False,):

        def energy(z, with_probs=with_probs):
            probs = activation.forward(z) if with_probs else None
            return float(np.mean(factors * loss.per_example(z, target, probs=probs)))

        numeric = _central_differences(energy, out)
        probs = activation.forward(out) if with_probs else None
        weighted = loss.delta(out, target, probs=probs) * factors[:, None]
        np.testing.assert_allclose(weighted, numeric, rtol=1e-6, atol=1e-10)
        assert np.all(weighted[2] == 0)


@pytest.mark.parametrize("case", LOSS_CASES)
def test_delta_from_the_probabilities_and_scaled_is_the_scaled_gradient(case):
    """delta(out, target, probs=s(out), scale=c) (the training path: probabilities the output
    layer computed, the learning rate folded in) is c times the finite-difference gradient of
    value, in float64; integer labels are differentiated directly, not only via one-hot rows."""
    loss, out, target, activation = _loss_case(case, np.random.default_rng(9))
    numeric = _central_differences(lambda z: loss.value(z, target), out)
    probs = activation.forward(out) if activation else None
    delta = loss.delta(out, target, probs=probs, scale=0.3)
    np.testing.assert_allclose(delta, 0.3 * numeric, rtol=1e-6, atol=1e-10)
