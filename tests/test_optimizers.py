"""Optimizers: the first steps of each against its update rule worked by hand, one contract run
over every optimizer (it drives a small problem's loss down, updates in place, keeps dtypes),
weight decay on weights only, state round trips, and bad arguments."""

import math

import numpy as np
import pytest

from chainrule import Network
from chainrule.optimizers import OPTIMIZERS, SGD, Adam, AdamW, RMSprop, get_optimizer

G1 = np.array([1.0, -2.0])
G2 = np.array([3.0, 0.5])
W0 = np.array([0.5, 0.5])


def run_steps(optimizer, grads, w0=W0):
    """Apply ``optimizer`` to one float64 array with the given gradients; the iterates."""
    w = w0.copy()
    seen = []
    for g in grads:
        optimizer.step([w], [g.copy()])
        seen.append(w.copy())
    return seen


def test_sgd_steps_by_hand():
    # w = w - lr * g, lr = 0.1
    w1, w2 = run_steps(SGD(learning_rate=0.1), [G1, G2])
    np.testing.assert_allclose(w1, [0.5 - 0.1 * 1.0, 0.5 - 0.1 * -2.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(w2, [0.4 - 0.1 * 3.0, 0.7 - 0.1 * 0.5], rtol=0, atol=1e-15)


def test_momentum_steps_by_hand():
    # v = 0.9 v - 0.1 g; w = w + v
    w1, w2 = run_steps(SGD(learning_rate=0.1, momentum=0.9), [G1, G2])
    v1 = np.array([-0.1, 0.2])
    np.testing.assert_allclose(w1, [0.4, 0.7], atol=1e-15)
    v2 = 0.9 * v1 - 0.1 * G2  # [-0.39, 0.13]
    np.testing.assert_allclose(w2, [0.4 - 0.39, 0.7 + 0.13], atol=1e-15)
    np.testing.assert_allclose(w2, w1 + v2, atol=1e-15)


def test_nesterov_steps_by_hand():
    # v = 0.9 v - 0.1 g; w = w + 0.9 v - 0.1 g
    w1, w2 = run_steps(SGD(learning_rate=0.1, momentum=0.9, nesterov=True), [G1, G2])
    # v1 = [-0.1, 0.2]; w1 = w0 + 0.9 * v1 - 0.1 * g1 = [0.5 - 0.09 - 0.1, 0.5 + 0.18 + 0.2]
    np.testing.assert_allclose(w1, [0.31, 0.88], atol=1e-15)
    # v2 = [-0.39, 0.13]; w2 = w1 + 0.9 * v2 - 0.1 * g2 = [0.31 - 0.351 - 0.3, 0.88 + 0.117 - 0.05]
    np.testing.assert_allclose(w2, [-0.341, 0.947], atol=1e-15)


def test_adam_steps_by_hand():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
    w1, w2 = run_steps(Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps), [G1, G2])
    # t = 1: m = 0.1 g1, v = 0.001 g1^2; m_hat = g1, v_hat = g1^2 (bias correction)
    expected1 = W0 - lr * G1 / (np.abs(G1) + eps)
    np.testing.assert_allclose(w1, expected1, rtol=1e-13)
    np.testing.assert_allclose(w1, [0.4, 0.6], atol=1e-7)  # a step of lr * sign(g)
    # t = 2: m = 0.9 * 0.1 g1 + 0.1 g2 = [0.39, -0.13]
    #        v = 0.999 * 0.001 g1^2 + 0.001 g2^2 = [0.009999, 0.004246]
    m2 = np.array([0.39, -0.13])
    v2 = np.array([0.009999, 0.004246])
    m_hat = m2 / (1 - 0.9**2)
    v_hat = v2 / (1 - 0.999**2)
    expected2 = expected1 - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(w2, expected2, rtol=1e-12)


def test_adamw_decays_weights_not_biases_before_the_adam_step():
    lr, wd, eps = 0.1, 0.5, 1e-7
    opt = AdamW(learning_rate=lr, weight_decay=wd, epsilon=eps)
    weights = np.array([[0.5, 0.5]])
    biases = np.array([0.5, 0.5])
    g = G1.reshape(1, 2)
    opt.step([weights, biases], [g.copy(), G1.copy()])
    # weights: w = w - lr * wd * w = 0.95 w, then the Adam step lr * g / (|g| + eps)
    np.testing.assert_allclose(weights[0], 0.5 * (1 - lr * wd) - lr * G1 / (np.abs(G1) + eps))
    # biases: no decay
    np.testing.assert_allclose(biases, 0.5 - lr * G1 / (np.abs(G1) + eps))


def test_rmsprop_steps_by_hand():
    lr, rho, eps = 0.01, 0.9, 1e-7
    w1, w2 = run_steps(RMSprop(learning_rate=lr, rho=rho, epsilon=eps), [G1, G2])
    v1 = 0.1 * G1**2  # [0.1, 0.4]
    expected1 = W0 - lr * G1 / (np.sqrt(v1) + eps)
    np.testing.assert_allclose(w1, expected1, rtol=1e-13)
    np.testing.assert_allclose(w1, W0 - lr * np.sign(G1) / math.sqrt(0.1), rtol=1e-6)
    v2 = 0.9 * v1 + 0.1 * G2**2  # [0.99, 0.385]
    np.testing.assert_allclose(w2, expected1 - lr * G2 / (np.sqrt(v2) + eps), rtol=1e-13)


def test_coupled_weight_decay_on_weights_only():
    # g = g + wd * w for weight matrices; w = w - lr * g
    opt = SGD(learning_rate=0.1, weight_decay=0.2)
    weights = np.full((2, 2), 1.0)
    biases = np.full(2, 1.0)
    gw, gb = np.zeros((2, 2)), np.zeros(2)
    opt.step([weights, biases], [gw, gb])
    np.testing.assert_allclose(weights, 1.0 - 0.1 * 0.2 * 1.0)
    np.testing.assert_allclose(biases, 1.0)
    np.testing.assert_allclose(gw, 0.2)  # the gradient of the regularized loss


def test_adam_coupled_weight_decay_enters_the_moments():
    opt = Adam(learning_rate=0.1, weight_decay=1.0)
    weights = np.array([[2.0]])
    opt.step([weights], [np.array([[0.0]])])
    # g = 0 + 1.0 * 2.0 = 2; first Adam step moves by lr * sign(g)
    np.testing.assert_allclose(weights, [[1.9]], atol=1e-7)


def test_learning_rate_argument_overrides_without_changing_the_base():
    opt = SGD(learning_rate=0.1)
    w = np.array([1.0])
    opt.step([w], [np.array([1.0])], learning_rate=0.5)
    assert w[0] == 0.5
    assert opt.learning_rate == 0.1


# -- one contract over every optimizer ----------------------------------------------------------

RATES = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "adam": 0.02, "adamw": 0.02, "rmsprop": 0.01}


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-1.5, 1, (n // 2, 2)), rng.normal(1.5, 1, (n // 2, 2))])
    y = np.repeat([0, 1], n // 2)
    return x, y


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_optimizer_drives_the_loss_down_in_place(name, dtype):
    x, y = blobs()
    net = Network.from_sizes([2, 8, 2], hidden="tanh", loss="cross_entropy", seed=3, dtype=dtype)
    x = net.check_inputs(x)
    target = net.encode_targets(y, len(x))
    opt = get_optimizer(name, learning_rate=RATES[name])
    params = net.parameters()
    ids = [id(p) for p in params]
    before = net.loss(x, y)
    for _ in range(60):
        net.train_step(x, target)
        opt.step(params, net.parameter_gradients())
    after = net.loss(x, y)
    assert after < 0.5 * before, (name, before, after)
    assert [id(p) for p in net.parameters()] == ids
    assert all(p.dtype == dtype for p in net.parameters())
    assert opt.iterations == 60
    assert all(a.dtype == dtype for a in opt.state_arrays().values())


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_round_trip_continues_exactly(name):
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(3, 2)) for _ in range(5)]
    a = get_optimizer(name, learning_rate=0.05, weight_decay=0.1)
    wa = np.ones((3, 2))
    for g in grads[:3]:
        a.step([wa], [g.copy()])
    b = get_optimizer(a.config())
    assert b.config() == a.config()
    b.load_state({k: v.copy() for k, v in a.state_arrays().items()}, a.iterations)
    wb = wa.copy()
    for g in grads[3:]:
        a.step([wa], [g.copy()])
        b.step([wb], [g.copy()])
    assert np.array_equal(wa, wb)


def test_names_and_defaults():
    assert get_optimizer("momentum").momentum == 0.9
    nesterov = get_optimizer("nesterov")
    assert nesterov.nesterov and nesterov.momentum == 0.9
    assert get_optimizer("adam").learning_rate == 0.001
    assert get_optimizer("sgd", learning_rate=None).learning_rate == 0.01
    assert get_optimizer("adamw").weight_decay > 0
    opt = Adam()
    assert get_optimizer(opt) is opt


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'.*adam, adamw, momentum"):
        get_optimizer("adagrad")


def test_an_unknown_setting_is_named_with_the_valid_ones():
    with pytest.raises(
        ValueError,
        match="optimizer 'sgd' has no setting 'bogus'; its settings: learning_rate, momentum, "
        "nesterov, weight_decay",
    ):
        get_optimizer({"name": "sgd", "momentum": 0.9, "bogus": 1})
    from chainrule.activations import get_activation

    with pytest.raises(ValueError, match="activation 'relu' has no setting 'slope'; its "
                       "settings: none"):  # fmt: skip
        get_activation({"name": "relu", "slope": 0.2})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SGD(learning_rate=0), "learning_rate"),
        (lambda: SGD(learning_rate=float("nan")), "learning_rate"),
        (lambda: SGD(momentum=1.0), "momentum"),
        (lambda: SGD(nesterov=True), "nesterov"),
        (lambda: Adam(beta_1=-0.1), "beta_1"),
        (lambda: Adam(epsilon=0), "epsilon"),
        (lambda: RMSprop(weight_decay=-1), "weight_decay"),
        (lambda: get_optimizer("sgd", betas=3), "has no setting .betas."),
        (lambda: get_optimizer(Adam(), learning_rate=0.1), "cannot be combined"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_state_for_other_shapes_is_refused_until_reset():
    opt = Adam()
    opt.step([np.zeros(3)], [np.ones(3)])
    with pytest.raises(ValueError, match="reset"):
        opt.step([np.zeros(4)], [np.ones(4)])
    opt.reset()
    opt.step([np.zeros(4)], [np.ones(4)])
    assert opt.iterations == 1


def test_sgd_takes_gradients_already_scaled_by_the_learning_rate():
    rng = np.random.default_rng(2)
    grads = [rng.normal(size=(3, 2)) for _ in range(3)]
    for settings in ({}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}):
        a, b = SGD(0.1, weight_decay=0.3, **settings), SGD(0.1, weight_decay=0.3, **settings)
        wa, wb = np.ones((3, 2)), np.ones((3, 2))
        for g in grads:
            a.step([wa], [g.copy()])
            b.step([wb], [0.1 * g], learning_rate=0.1, grad_scale=0.1)
        np.testing.assert_allclose(wa, wb, rtol=1e-14)
    with pytest.raises(ValueError, match="unscaled"):
        Adam().step([np.zeros(2)], [np.ones(2)], grad_scale=0.5)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_whole_network_vector_equals_array_by_array(name):
    """One step on ``net.parameter_vector`` with the weight matrices named for decay gives
    exactly what a step per array gives (every rule is elementwise)."""
    nets = [Network.from_sizes([3, 4, 2], seed=0, dtype=np.float64) for _ in range(2)]
    x = np.random.default_rng(0).normal(size=(5, 3))
    y = np.array([0, 1, 1, 0, 1])
    by_array = get_optimizer(name, weight_decay=0.1)
    whole = get_optimizer(name, weight_decay=0.1)
    decay = [(layer.weights, layer.dweights) for layer in nets[1].dense_layers]
    for _ in range(3):
        for net in nets:
            net.train_step(net.check_inputs(x), net.encode_targets(y, 5))
        by_array.step(nets[0].parameters(), nets[0].parameter_gradients())
        whole.step([nets[1].parameter_vector], [nets[1].gradient_vector], decay=decay)
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        assert np.array_equal(p, q)
