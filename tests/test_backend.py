"""The array-module seam (chainrule.backend): the math run on array-api-strict arrays.

The strict arrays live on array-api-strict's non-CPU device "device1", where every attempt to
turn them into NumPy arrays raises, and array-api-strict refuses anything the standard does not
define (mixing in NumPy arrays, NumPy-only functions or methods). So any NumPy call left in the
math of the activations, losses, layers, network, optimizers or training loop fails these
tests, and the results must equal NumPy's to float64 rounding.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import pickle
import subprocess
import sys
from pathlib import Path

import array_api_strict as xps
import numpy as np
import pytest

import chainrule
from chainrule import activations, backend, layers, losses, optimizers
from chainrule.backend import ArrayAPIAdapter, DeviceError, to_numpy
from chainrule.serialization import load, load_checkpoint, save
from chainrule.training import Checkpoint, EarlyStopping, fit

DEVICE = xps.Device("device1")

CASES = [  # (loss, hidden, output or None, n_out)
    ("cross_entropy", "relu", None, 3),
    ("sse", "sigmoid", None, 3),
    ("mse", "tanh", None, 2),
    ("binary_cross_entropy", "leaky_relu", None, 1),
    ("sse", "sigmoid", "softmax", 3),  # the softmax's own backward, not the fused one
    ("mse", "relu", "identity", 2),
]
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"]


def _data(loss, n_out, rows=23, n_in=6, seed=0, soft=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, n_in))
    if loss == "cross_entropy":
        if soft:
            y = rng.random((rows, n_out))
            return x, y / y.sum(axis=1, keepdims=True)
        return x, rng.integers(0, n_out, rows)
    if loss == "binary_cross_entropy":
        return x, rng.integers(0, 2, rows)
    if loss == "sse":
        return x, rng.random((rows, n_out))
    return x, rng.normal(size=(rows, n_out))


def _pair(loss, hidden, output, n_out, dtype=np.float64, dropout=0.0):
    """A NumPy network and an identical copy on the strict device."""
    net = chainrule.Network.from_sizes(
        [6, 5, 4, n_out],
        hidden=hidden,
        output=output,
        loss=loss,
        dtype=dtype,
        seed=1,
        dropout=dropout,
    )
    return net, net.copy().to(xps, DEVICE)


def test_the_strict_device_refuses_numpy():
    """What makes these tests strict: NumPy cannot touch an array on device1."""
    a = xps.ones((2, 2), device=DEVICE)
    with pytest.raises((RuntimeError, TypeError)):
        np.multiply(a, 2)
    with pytest.raises(TypeError):
        a * np.ones(2)


@pytest.mark.parametrize("loss, hidden, output, n_out", CASES)
def test_forward_loss_gradients_match_numpy(loss, hidden, output, n_out):
    ref, net = _pair(loss, hidden, output, n_out)
    x, y = _data(loss, n_out)
    assert isinstance(net.parameter_vector, xps._array_object.Array)
    assert net.parameter_vector.device == DEVICE
    assert all(layer.weights.device == DEVICE for layer in net.dense_layers)
    np.testing.assert_allclose(net.forward(x), ref.forward(x), rtol=1e-13, atol=1e-15)
    assert net.loss(x, y) == pytest.approx(ref.loss(x, y), rel=1e-13)
    for (dw, db), (rw, rb) in zip(net.gradients(x, y), ref.gradients(x, y)):
        assert isinstance(dw, np.ndarray)
        np.testing.assert_allclose(dw, rw, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(db, rb, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(net.predict(x), ref.predict(x))


def test_soft_labels_cross_entropy_match_numpy():
    ref, net = _pair("cross_entropy", "relu", None, 3)
    x, y = _data("cross_entropy", 3, soft=True)
    assert net.loss(x, y) == pytest.approx(ref.loss(x, y), rel=1e-13)
    for (dw, _), (rw, _) in zip(net.gradients(x, y), ref.gradients(x, y)):
        np.testing.assert_allclose(dw, rw, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss, hidden, output, n_out", CASES)
def test_gradcheck_on_the_strict_device(loss, hidden, output, n_out):
    """Finite differences of the loss computed on the device agree with its backward pass."""
    _, net = _pair(loss, hidden, output, n_out)
    x, y = _data(loss, n_out, rows=7)
    result = chainrule.gradcheck(net, x, y)
    assert result.ok, result.report()
    assert result.max_error < 1e-6


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", ["cross_entropy", "sse"])
def test_fit_matches_numpy(optimizer, loss):
    """Whole training runs (shuffling, batches with a short last one, weight decay, the
    optimizer's state, validation) give the NumPy run's weights."""
    n_out = 3
    ref, net = _pair(loss, "relu" if loss == "cross_entropy" else "sigmoid", None, n_out)
    x, y = _data(loss, n_out, rows=30)
    kwargs = dict(
        epochs=3,
        batch_size=8,
        optimizer=optimizer,
        seed=3,
        weight_decay=1e-3,
        validation_split=0.2,
    )
    h_ref = fit(ref, x, y, **kwargs)
    h_dev = fit(net, x, y, **kwargs)
    np.testing.assert_allclose(
        to_numpy(net.parameter_vector), ref.parameter_vector, rtol=1e-12, atol=1e-14
    )
    for a, b in zip(h_dev.epochs, h_ref.epochs):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-12)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-12)
        assert a["accuracy"] == b["accuracy"]


@pytest.mark.parametrize("loss, hidden, output, n_out", CASES)
def test_weighted_fit_matches_numpy(loss, hidden, output, n_out):
    """sample_weight on the device: the factors move there with each batch; the weighted
    losses, validation metrics and weights are the NumPy run's."""
    ref, net = _pair(loss, hidden, output, n_out)
    x, y = _data(loss, n_out, rows=30)
    w = np.random.default_rng(1).random(30) * 2
    assert net.loss(x, y, sample_weight=w) == pytest.approx(
        ref.loss(x, y, sample_weight=w), rel=1e-13
    )
    kwargs = dict(epochs=2, batch_size=8, optimizer="momentum", seed=2, validation_split=0.2)
    h_ref = fit(ref, x, y, sample_weight=w, **kwargs)
    h_dev = fit(net, x, y, sample_weight=w, **kwargs)
    np.testing.assert_allclose(
        to_numpy(net.parameter_vector), ref.parameter_vector, rtol=1e-12, atol=1e-14
    )
    for a, b in zip(h_dev.epochs, h_ref.epochs):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-12)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-12)


def test_dropout_on_the_device_draws_the_numpy_masks():
    ref, net = _pair("cross_entropy", "relu", None, 3, dropout=0.3)
    x, y = _data("cross_entropy", 3, rows=30)
    fit(ref, x, y, epochs=2, batch_size=8, optimizer="adam", seed=5)
    fit(net, x, y, epochs=2, batch_size=8, optimizer="adam", seed=5)
    np.testing.assert_allclose(
        to_numpy(net.parameter_vector), ref.parameter_vector, rtol=1e-12, atol=1e-14
    )
    assert net.layers[1].mask is not None and net.layers[1].mask.device == DEVICE


def test_float32_on_the_device():
    ref, net = _pair("cross_entropy", "relu", None, 3, dtype=np.float32)
    x, y = _data("cross_entropy", 3)
    assert net.parameter_vector.dtype == xps.float32
    out = net.forward(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref.forward(x), rtol=1e-6)


def test_moving_back_and_forth_keeps_weights_and_optimizer_state():
    """net.to(...) moves the parameters; the optimizer's state follows on its next step."""
    ref, _ = _pair("cross_entropy", "relu", None, 3)
    x, y = _data("cross_entropy", 3, rows=32)
    moved = ref.copy()
    opt_ref, opt_moved = optimizers.get_optimizer("adam"), optimizers.get_optimizer("adam")
    fit(ref, x, y, epochs=1, batch_size=8, optimizer=opt_ref, seed=1, shuffle=False)
    fit(moved, x, y, epochs=1, batch_size=8, optimizer=opt_moved, seed=1, shuffle=False)
    moved.to(xps, DEVICE)
    assert moved.device.startswith("array_api_strict")
    fit(ref, x, y, epochs=1, batch_size=8, optimizer=opt_ref, seed=1, shuffle=False)
    fit(moved, x, y, epochs=1, batch_size=8, optimizer=opt_moved, seed=1, shuffle=False)
    assert opt_moved.state_arrays()["m_sum.0"].dtype == np.float64  # NumPy copies out
    moved.to("cpu")
    assert moved.device == "cpu" and isinstance(moved.parameter_vector, np.ndarray)
    fit(ref, x, y, epochs=1, batch_size=8, optimizer=opt_ref, seed=1, shuffle=False)
    fit(moved, x, y, epochs=1, batch_size=8, optimizer=opt_moved, seed=1, shuffle=False)
    np.testing.assert_allclose(moved.parameter_vector, ref.parameter_vector, rtol=1e-12)
    # the layers still share the moved vector
    moved.parameter_vector[0] = 123.0
    assert moved.dense_layers[0].weights[0, 0] == 123.0


def test_save_load_checkpoint_and_early_stopping_from_the_device(tmp_path):
    ref, net = _pair("cross_entropy", "relu", None, 3)
    x, y = _data("cross_entropy", 3, rows=40)
    kwargs = dict(epochs=4, batch_size=8, optimizer="momentum", seed=2, validation_split=0.25)
    es_ref = EarlyStopping(patience=1, restore_best=True)
    es_dev = EarlyStopping(patience=1, restore_best=True)
    fit(ref, x, y, early_stopping=es_ref, **kwargs)
    history = fit(
        net, x, y, early_stopping=es_dev, checkpoint=Checkpoint(tmp_path / "ckpt"), **kwargs
    )
    np.testing.assert_allclose(to_numpy(net.parameter_vector), ref.parameter_vector, rtol=1e-12)
    save(net, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.parameter_vector, to_numpy(net.parameter_vector))
    assert es_dev.best_epoch == es_ref.best_epoch
    ckpt = load_checkpoint(history.checkpoint_path)
    assert ckpt.optimizer is not None and ckpt.optimizer.state_arrays()


def test_setting_weights_on_the_device():
    _, net = _pair("sse", "sigmoid", None, 3)
    layer = net.dense_layers[0]
    layer.weights = np.full((6, 5), 0.5)
    assert float(xps.max(net.parameter_vector[:30])) == 0.5
    with pytest.raises(ValueError, match="shape"):
        layer.weights = np.zeros((5, 6))


def test_pickle_keeps_the_shared_vector():
    """Pickled (scikit-learn clones, joblib) networks still keep their layers' arrays as
    views of one vector, so training after unpickling updates the layers."""
    net = chainrule.Network.from_sizes([4, 3, 2], seed=0)
    copy = pickle.loads(pickle.dumps(net))
    copy.parameter_vector[0] = 7.0
    assert copy.dense_layers[0].weights[0, 0] == 7.0
    np.testing.assert_array_equal(copy.parameter_vector[1:], net.parameter_vector[1:])


# -- devices by name ------------------------------------------------------------------------


def test_gpu_without_cupy_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(DeviceError, match=r"CuPy.*chainrule\[gpu\]"):
        chainrule.Network.from_sizes([4, 3, 2], device="gpu")
    net = chainrule.Network.from_sizes([4, 3, 2])
    with pytest.raises(DeviceError, match="CuPy"):
        net.to("cuda")
    assert net.device == "cpu"  # unchanged


def test_unknown_device_is_a_clear_error():
    with pytest.raises(DeviceError, match="unknown device 'tpu'; use 'cpu' or 'gpu'"):
        chainrule.Network.from_sizes([4, 3, 2], device="tpu")
    with pytest.raises(DeviceError, match="not an array-API module"):
        backend.get_namespace(pytest)


def test_numpy_is_used_as_is():
    """On the CPU the math gets the numpy module itself: nothing between it and NumPy."""
    net = chainrule.Network.from_sizes([4, 3, 2])
    assert net.xp is np and backend.namespace(net.parameter_vector) is np
    assert all(layer.xp is np for layer in net.dense_layers)
    assert isinstance(backend.get_namespace(xps, DEVICE), ArrayAPIAdapter)


def test_distributed_training_refuses_a_device_network():
    _, net = _pair("cross_entropy", "relu", None, 3)
    x, y = _data("cross_entropy", 3)

    class FakeComm:
        def Get_rank(self):
            return 0

        def Get_size(self):
            return 1

        Allreduce = Bcast = bcast = None

        def allgather(self, value):
            return [value]

    with pytest.raises(ValueError, match="distributed training runs networks on the CPU"):
        fit(net, x, y, epochs=1, comm=FakeComm())


def test_adapter_scatter_matches_numpy():
    rng = np.random.default_rng(0)
    a, labels = rng.random((5, 4)), rng.integers(0, 4, 5)
    expected = a.copy()
    expected[np.arange(5), labels] -= 0.25
    on_device = xps.asarray(a, device=DEVICE)
    backend.subtract_at_labels(on_device, xps.asarray(labels, device=DEVICE), 0.25)
    np.testing.assert_array_equal(to_numpy(on_device), expected)


# -- a static check on top: the math names no NumPy function -----------------------------------

_MATH = {
    activations: ("forward", "derivative", "backward"),
    losses: ("value", "delta", "value_and_delta"),
    layers: ("forward", "backward", "backward_delta"),
    optimizers: ("_update", "_decay_weights"),
}


@pytest.mark.parametrize("module", list(_MATH), ids=lambda m: m.__name__)
def test_the_math_takes_its_functions_from_the_arrays(module):
    """No ``np.`` inside the math functions of the module: they use ``xp`` (or ``self.xp``).

    (Dropout draws its random numbers with a NumPy Generator on the host, by design.)"""
    tree = ast.parse(inspect.getsource(module))
    names = _MATH[module]
    offenders = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            annotations = [a.annotation for a in node.args.args if a.annotation] + [node.returns]
            in_annotations = {id(n) for a in annotations if a for n in ast.walk(a)}
            for sub in ast.walk(node):
                if (
                    id(sub) not in in_annotations
                    and isinstance(sub, ast.Attribute)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "np"
                ):
                    offenders.append(f"{node.name}: np.{sub.attr} (line {sub.lineno})")
    assert offenders == []


# -- device="gpu" through a stand-in CuPy (tests/fake_cupy: NumPy behind CuPy's host rules) -----

FAKE_CUPY = Path(__file__).resolve().parent / "fake_cupy"


@pytest.fixture
def fake_cupy(monkeypatch):
    spec = importlib.util.spec_from_file_location("cupy", FAKE_CUPY / "cupy" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "cupy", module)
    return module


def test_gpu_device_dispatches_to_cupy(fake_cupy):
    """What only runs with device="gpu": the cupy module from get_namespace and namespace(),
    parameters and workspaces on it, NumPy results through .get(), bit-identical math."""
    ref = chainrule.Network.from_sizes([6, 5, 4, 3], seed=1)
    net = chainrule.Network.from_sizes([6, 5, 4, 3], seed=1, device="gpu")
    assert net.device == "gpu" and net.xp is fake_cupy
    assert type(net.parameter_vector) is fake_cupy.ndarray
    assert backend.namespace(net.dense_layers[0].weights) is fake_cupy
    x, y = _data("cross_entropy", 3)
    out = net.forward(x)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, ref.forward(x))
    assert type(net.dense_layers[0].out) is fake_cupy.ndarray  # the workspace lives there
    for (dw, db), (rw, rb) in zip(net.gradients(x, y), ref.gradients(x, y)):
        assert type(dw) is np.ndarray
        np.testing.assert_array_equal(dw, rw)
        np.testing.assert_array_equal(db, rb)


def test_fit_save_and_back_on_the_gpu_device(fake_cupy, tmp_path):
    ref = chainrule.Network.from_sizes([6, 5, 4, 3], seed=1, dropout=0.2)
    net = ref.copy().to("gpu")
    x, y = _data("cross_entropy", 3, rows=40)
    kwargs = dict(epochs=3, batch_size=8, optimizer="adam", seed=2, validation_split=0.25)
    h_ref, h_gpu = fit(ref, x, y, **kwargs), fit(net, x, y, **kwargs)
    assert type(net.parameter_vector) is fake_cupy.ndarray
    np.testing.assert_array_equal(to_numpy(net.parameter_vector), ref.parameter_vector)
    assert [r["val_loss"] for r in h_gpu.epochs] == [r["val_loss"] for r in h_ref.epochs]
    save(net, tmp_path / "m.npz")
    np.testing.assert_array_equal(load(tmp_path / "m.npz").parameter_vector, ref.parameter_vector)
    net.to("cpu")
    assert type(net.parameter_vector) is np.ndarray and net.device == "cpu"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_fit_on_the_gpu_device(fake_cupy, dtype):
    """sample_weight with device="gpu": the factors move to the device with each batch, the
    validation weights with each chunk; bit-identical to the NumPy run."""
    ref = chainrule.Network.from_sizes([6, 5, 4, 3], seed=1, dtype=dtype)
    net = ref.copy().to("gpu")
    x, y = _data("cross_entropy", 3, rows=40)
    w = np.random.default_rng(3).random(40) * 2
    kwargs = dict(epochs=2, batch_size=8, optimizer="momentum", seed=2, validation_split=0.25)
    h_ref = fit(ref, x, y, sample_weight=w, **kwargs)
    h_gpu = fit(net, x, y, sample_weight=w, **kwargs)
    np.testing.assert_array_equal(to_numpy(net.parameter_vector), ref.parameter_vector)
    assert h_gpu["loss"] == h_ref["loss"] and h_gpu["val_loss"] == h_ref["val_loss"]
    assert net.loss(x, y, sample_weight=w) == ref.loss(x, y, sample_weight=w)


def test_cli_trains_on_the_gpu_device(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0] > 0).astype(int) + (x[:, 1] > 0))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAKE_CUPY), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", "--dataset", tmp_path / "d.npz",
         "--layers", "5,8,3", "--epochs", "2", "--device", "gpu", "--output", tmp_path / "run"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "on gpu" in proc.stderr
    assert "test accuracy:" in proc.stdout
    assert load(tmp_path / "run" / "model.npz").device == "cpu"  # model files load on the CPU


def test_cupy_without_a_gpu_is_a_clear_error(fake_cupy, monkeypatch):
    monkeypatch.setattr(fake_cupy.cuda.runtime, "getDeviceCount", lambda: 0)
    with pytest.raises(DeviceError, match="CuPy sees no CUDA GPU"):
        chainrule.Network.from_sizes([4, 3, 2], device="gpu")

    def broken():
        raise RuntimeError("cudaErrorInsufficientDriver")

    monkeypatch.setattr(fake_cupy.cuda.runtime, "getDeviceCount", broken)
    with pytest.raises(DeviceError, match="cannot reach a CUDA GPU.*InsufficientDriver"):
        chainrule.Network.from_sizes([4, 3, 2]).to("gpu")


def test_the_stand_in_keeps_cupy_s_host_rules(fake_cupy):
    """What makes the stand-in worth running: a NumPy array where a device array belongs, or
    a device array where a NumPy array belongs, raises as with CuPy."""
    a = fake_cupy.asarray(np.ones((2, 3), np.float32))
    host = np.ones((2, 3), np.float32)
    for mix in (
        lambda: a + host,
        lambda: fake_cupy.multiply(a, host),
        lambda: fake_cupy.multiply(a, 2, out=host),
        lambda: a.argmax(axis=1, out=np.empty(2, np.intp)),
        lambda: a.__setitem__(Ellipsis, host),
    ):
        with pytest.raises(TypeError, match="Unsupported type"):
            mix()
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    assert type(fake_cupy.sum(a)) is fake_cupy.ndarray and float(fake_cupy.sum(a)) == 6.0
    np.testing.assert_array_equal(a.get(), host)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", ["cross_entropy", "sse", "binary_cross_entropy"])
def test_fit_on_the_gpu_device_matches_the_cpu(fake_cupy, optimizer, loss):
    """Every optimizer and each kind of loss, through the device path (batches moved once
    per step, predictions and the loss read back, weight decay, validation): the CPU's
    weights and history, with no host/device mixing."""
    n_out = 1 if loss == "binary_cross_entropy" else 3
    ref = chainrule.Network.from_sizes([6, 5, n_out], hidden="tanh", loss=loss, seed=4)
    net = ref.copy().to("gpu")
    x, y = _data(loss, n_out, rows=30)
    kwargs = dict(epochs=2, batch_size=8, optimizer=optimizer, seed=3, weight_decay=1e-3)
    h_ref = fit(ref, x, y, validation_split=0.2, **kwargs)
    h_gpu = fit(net, x, y, validation_split=0.2, **kwargs)
    np.testing.assert_array_equal(to_numpy(net.parameter_vector), ref.parameter_vector)
    assert h_gpu.epochs[-1]["loss"] == h_ref.epochs[-1]["loss"]
    assert h_gpu.epochs[-1]["val_loss"] == h_ref.epochs[-1]["val_loss"]
    assert h_gpu.epochs[-1]["accuracy"] == h_ref.epochs[-1]["accuracy"]


def test_checkpoints_resume_and_early_stopping_on_the_gpu_device(fake_cupy, tmp_path):
    ref = chainrule.Network.from_sizes([6, 5, 3], seed=1, dropout=0.2)
    net = ref.copy().to("gpu")
    x, y = _data("cross_entropy", 3, rows=40)
    kwargs = dict(batch_size=8, optimizer="adam", seed=2, validation_split=0.25)
    es_ref, es_gpu = (EarlyStopping(patience=1, restore_best=True) for _ in range(2))
    fit(ref, x, y, epochs=4, early_stopping=es_ref, **kwargs)
    history = fit(
        net, x, y, epochs=2, checkpoint=Checkpoint(tmp_path / "ckpt"), early_stopping=es_gpu,
        **kwargs,
    )  # fmt: skip
    resumed = chainrule.Network.from_sizes([6, 5, 3], seed=9, dropout=0.2, device="gpu")
    fit(
        resumed, x, y, epochs=4, resume=history.checkpoint_path, early_stopping=es_gpu,
        **{k: v for k, v in kwargs.items() if k != "optimizer"},
    )  # fmt: skip
    assert es_gpu.best_epoch == es_ref.best_epoch
    np.testing.assert_array_equal(to_numpy(resumed.parameter_vector), ref.parameter_vector)


def test_gradcheck_loss_predict_and_pickle_on_the_gpu_device(fake_cupy):
    ref = chainrule.Network.from_sizes([6, 5, 4, 3], hidden="sigmoid", loss="sse", seed=1,
                                       dtype=np.float64)  # fmt: skip
    net = ref.copy().to("gpu")
    x, y = _data("cross_entropy", 3, rows=9)
    result = chainrule.gradcheck(net, x, y)
    assert result.ok and result.max_error < 1e-6, result.report()
    assert net.loss(x, y) == ref.loss(x, y)
    np.testing.assert_array_equal(net.predict(x), ref.predict(x))
    np.testing.assert_array_equal(net.predict_proba(x, batch_size=4), ref.predict_proba(x, 4))
    copy = pickle.loads(pickle.dumps(net))
    assert copy.device == "gpu" and type(copy.parameter_vector) is fake_cupy.ndarray
    copy.parameter_vector[0] = 7.0
    assert float(copy.dense_layers[0].weights[0, 0]) == 7.0


def test_explain_and_onnx_export_of_a_gpu_network(fake_cupy):
    """The teaching tools and the export read a GPU network's weights through the host."""
    from chainrule import explain, export

    ref = chainrule.Network.from_sizes([6, 5, 3], seed=0)
    net = ref.copy().to("gpu")
    x, y = _data("cross_entropy", 3, rows=4)
    mine, theirs = (
        explain.explain_example(net, x[0], y[0]),
        explain.explain_example(ref, x[0], y[0]),
    )
    for a, b in zip(mine.layers, theirs.layers):
        np.testing.assert_array_equal(a.dE_dw, b.dE_dw)
        np.testing.assert_array_equal(a.network_dw, b.network_dw)
    for a, b in zip(
        explain.explain_batch(net, x, y).layers, explain.explain_batch(ref, x, y).layers
    ):
        np.testing.assert_array_equal(a.mean_dw, b.mean_dw)
    assert net.device == "gpu"  # explained on a CPU copy, not moved
    from onnx import numpy_helper

    weights = numpy_helper.to_array(export.to_onnx(net).graph.initializer[0])
    np.testing.assert_array_equal(weights, ref.dense_layers[0].weights)


def test_activations_and_losses_with_cupy_13_s_names(fake_cupy):
    """Every activation's forward, derivative and backward, and every loss's value and delta,
    on stand-in CuPy arrays (which lack NumPy 2's module-level astype, as CuPy 13 does)."""
    rng = np.random.default_rng(0)
    net = rng.normal(size=(4, 3))
    for name in activations.ACTIVATIONS:
        act = activations.get_activation(name)
        out = act.forward(net)
        got = act.forward(fake_cupy.asarray(net))
        np.testing.assert_array_equal(got.get(), out)
        grad = rng.normal(size=out.shape)
        np.testing.assert_array_equal(
            act.backward(fake_cupy.asarray(out), fake_cupy.asarray(grad)).get(),
            act.backward(out, grad),
        )
        if name != "softmax":
            np.testing.assert_array_equal(act.derivative(fake_cupy.asarray(out)).get(),
                                          act.derivative(out))  # fmt: skip
    for name in losses.LOSSES:
        loss = losses.get_loss(name)
        target = np.array([0, 2, 1, 1]) if name == "cross_entropy" else rng.random((4, 3))
        value, delta = loss.value_and_delta(net, target, scale=0.5)
        got_value, got_delta = loss.value_and_delta(
            fake_cupy.asarray(net), fake_cupy.asarray(target), scale=0.5
        )
        assert got_value == pytest.approx(value, rel=1e-12)
        np.testing.assert_allclose(got_delta.get(), delta, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(set(activations.ACTIVATIONS) - {"softmax"}))
def test_activation_derivatives_on_the_strict_device(name):
    """``derivative(out)`` (what explain and the generic backward use) on the strict device."""
    act = activations.get_activation(name)
    out = act.forward(np.random.default_rng(1).normal(size=(4, 3)))
    got = act.derivative(xps.asarray(out, device=DEVICE))
    assert got.device == DEVICE
    np.testing.assert_array_equal(to_numpy(got), act.derivative(out))


@pytest.mark.parametrize("spread", [10.0, 200.0])
def test_softmax_shift_off_the_host_gives_numpy_s_numbers(fake_cupy, spread):
    """On a device the softmax picks the batch max or the row maxima without a round trip to
    the host (``where``); the numbers are NumPy's, bit for bit, on both sides of the spread."""
    z = np.array([[0.0, 1.0, 2.0], [-spread, 1 - spread, 0.5 - spread], [3.0, -1.0, 0.0]])
    want = activations.Softmax().forward(z)
    assert np.isfinite(want).all()
    got_strict = activations.Softmax().forward(xps.asarray(z, device=DEVICE))
    got_cupy = activations.Softmax().forward(fake_cupy.asarray(z))
    np.testing.assert_array_equal(to_numpy(got_strict), want)
    np.testing.assert_array_equal(got_cupy.get(), want)


def test_total_and_smallest_match_sum_and_min():
    rng = np.random.default_rng(3)
    for a in (rng.normal(size=(7, 5)).astype(np.float32), rng.normal(size=11)):
        assert backend.total(a) == float(np.sum(a)) and type(backend.total(a)) is float
        assert backend.smallest(a) == float(np.min(a)) and type(backend.smallest(a)) is float
        strict = xps.asarray(a, device=DEVICE)
        assert backend.total(strict) == pytest.approx(float(np.sum(a)), rel=1e-6)
        assert backend.smallest(strict) == float(np.min(a))


def test_standardize_on_the_strict_device_and_the_gpu_device(fake_cupy):
    """A Standardize first layer keeps its statistics on the host and uses copies on the
    network's device: forward, training and the statistics match the NumPy network's."""
    x, y = _data("cross_entropy", 3, rows=30)
    x = x * [1e3, 1.0, 5.0, 0.1, 20.0, 1.0] + [5e4, 0.0, -20.0, 1.0, 0.0, 3.0]
    ref = chainrule.Network.from_sizes([6, 5, 3], standardize=x, dtype=np.float64, seed=2)
    strict, gpu = ref.copy().to(xps, DEVICE), ref.copy().to("gpu")
    np.testing.assert_allclose(strict.forward(x), ref.forward(x), rtol=1e-13)
    np.testing.assert_array_equal(gpu.forward(x), ref.forward(x))
    kwargs = dict(epochs=2, batch_size=8, optimizer="momentum", seed=3)
    fit(ref, x, y, **kwargs)
    for net in (strict, gpu):
        fit(net, x, y, **kwargs)
        np.testing.assert_allclose(
            to_numpy(net.parameter_vector), ref.parameter_vector, rtol=1e-12, atol=1e-14
        )
        assert type(net.layers[0].mean) is np.ndarray  # the statistics stay on the host
        np.testing.assert_array_equal(net.layers[0].mean, ref.layers[0].mean)
    assert type(gpu.layers[0].forward(gpu.xp.asarray(x))) is fake_cupy.ndarray
    back = gpu.to("cpu")
    np.testing.assert_array_equal(back.forward(x), ref.forward(x))


def test_constant_is_a_cached_read_only_array_of_the_dtype_asked_for():
    """The numbers of the elementwise math: 0-d arrays of the arrays' own dtype, so a float64
    network computes with float64 numbers (a slope of 0.01 is not rounded to float32)."""
    from chainrule.activations import LeakyReLU
    from chainrule.backend import constant

    half = constant(np, 0.5, np.dtype(np.float32))
    assert half.shape == () and half.dtype == np.float32 and not half.flags.writeable
    assert constant(np, 0.5, np.dtype(np.float32)) is half  # made once
    assert constant(np, 0.01, np.dtype(np.float64)).item() == 0.01
    zeros = constant(np, 0.0, np.dtype(np.float32), (2, 3))
    assert zeros.shape == (2, 3) and not zeros.any()
    net = np.array([[-3.0, 2.0], [0.7, -1e-3]])
    out = LeakyReLU(0.01).forward(net)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.where(net > 0, net, 0.01 * net))
    strict = constant(backend.get_namespace(xps, DEVICE), 0.5, xps.float32)  # its own array
    assert type(strict).__module__.startswith("array_api_strict") and strict.device == DEVICE


@pytest.mark.parametrize("loss", ["cross_entropy", "sse"])
def test_weighted_gradients_of_a_float32_network_on_the_device(loss):
    """net.gradients / input_gradient with sample_weight on a float32 network: the factors
    reach the device in the network's dtype (array-api-strict refuses to multiply a float32
    delta in place by float64 factors), and the results are NumPy's."""
    ref, net = _pair(loss, "relu", None, 3, dtype=np.float32)
    x, y = _data(loss, 3, rows=10)
    w = np.random.default_rng(2).random(10) * 2
    expected_pairs = ref.gradients(x, y, sample_weight=w)
    for got, expected in zip(net.gradients(x, y, sample_weight=w), expected_pairs):
        for a, b in zip(got, expected):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        net.input_gradient(x, y, sample_weight=w),
        ref.input_gradient(x, y, sample_weight=w),
        rtol=1e-5,
        atol=1e-6,
    )
