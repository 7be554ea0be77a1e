"""fit: learning small problems, batching and shuffling, reproducibility and exact resume (bit
for bit), early stopping, divergence, interruption, checkpoints and callbacks."""

import hashlib
import json
import os
import signal

import numpy as np
import pytest

import chainrule
from chainrule import Network, training
from chainrule.errors import DivergenceError, TrainingInterrupted, TrainingWarning
from chainrule.optimizers import SGD, Adam
from chainrule.schedules import InverseTimeDecay
from chainrule.serialization import load, load_checkpoint
from chainrule.training import (
    Callback,
    Checkpoint,
    EarlyStopping,
    History,
    StopTraining,
    fit,
    latest_checkpoint,
)


def blobs(n=200, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [rng.normal(-1.5, spread, (n // 2, 2)), rng.normal(1.5, spread, (n // 2, 2))]
    )
    y = np.repeat([0, 1], n // 2)
    return x, y


def small_net(dropout=0.0, seed=0, **kwargs):
    return Network.from_sizes([2, 8, 2], hidden="tanh", dropout=dropout, seed=seed, **kwargs)


def same_weights(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, info):
        self.calls.append(("train_begin", info))

    def on_epoch_begin(self, epoch, n_batches):
        self.calls.append(("epoch_begin", epoch, n_batches))

    def on_batch_end(self, epoch, batch_index, n_batches, loss):
        self.calls.append(("batch", epoch, batch_index, n_batches, loss))

    def on_epoch_end(self, epoch, record):
        self.calls.append(("epoch_end", epoch, record))

    def on_train_end(self, history):
        self.calls.append(("train_end", history))


class InterruptAt(Callback):
    def __init__(self, epoch, batch_index):
        self.at = (epoch, batch_index)

    def on_batch_end(self, epoch, batch_index, n_batches, loss):
        if (epoch, batch_index) == self.at:
            raise KeyboardInterrupt


class StopAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, record):
        if epoch == self.epoch:
            raise StopTraining


# -- learning --------------------------------------------------------------------------------


def test_fit_learns_two_blobs_with_a_validation_split():
    x, y = blobs()
    net = small_net()
    history = fit(net, x, y, epochs=15, batch_size=16, optimizer="adam", validation_split=0.25)
    assert isinstance(history, History) and len(history) == 15
    assert history["val_accuracy"][-1] >= 0.95
    assert history["accuracy"][-1] >= 0.9
    assert history["loss"][-1] < history["loss"][0]
    assert (net.predict(x) == y).mean() >= 0.95
    record = history.epochs[-1]
    assert set(record) == {
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
        "seconds",
    }
    assert record["epoch"] == 15 and record["learning_rate"] == 0.001 and record["seconds"] > 0
    assert history.as_dict()["loss"] == history["loss"]
    json.dumps(history.to_dicts())


def test_the_epoch_loss_is_the_mean_over_examples_with_a_smaller_last_batch():
    """10 examples in batches of 4: the last batch of 2 counts for 2 examples, so an epoch
    that leaves the weights as they were reports the network's loss on all 10."""
    x, y = blobs(10)
    net = small_net()
    before = float(net.loss(x, y))
    history = fit(net, x, y, epochs=1, batch_size=4, optimizer=SGD(learning_rate=1e-12),
                  shuffle=False)  # fmt: skip
    assert history["loss"][0] == pytest.approx(before, rel=1e-5)
    assert history["accuracy"][0] == pytest.approx(float(np.mean(net.predict(x) == y)))


def test_validation_metrics_over_many_chunks_are_of_every_row():
    """Validation is evaluated 1024 rows at a time: 2500 rows, each chunk against its own
    labels, the loss weighted by the chunks' sizes."""
    x, y = blobs(400)
    rng = np.random.default_rng(3)
    x_val, y_val = rng.normal(size=(2500, 2)) * 2, rng.integers(0, 2, 2500)
    net = small_net()
    history = fit(net, x, y, epochs=1, batch_size=50, validation_data=(x_val, y_val))
    assert history["val_accuracy"][0] == pytest.approx(float(np.mean(net.predict(x_val) == y_val)))
    assert history["val_loss"][0] == pytest.approx(float(net.loss(x_val, y_val)), rel=1e-5)


@pytest.mark.parametrize("monitor", ["loss", "accuracy"])
def test_early_stopping_counts_only_improvements_beyond_min_delta(monitor):
    """min_delta: a better value by less than it is no improvement, by more it is; for a loss
    (lower is better) and an accuracy (higher)."""
    es = EarlyStopping(monitor=monitor, patience=5, min_delta=0.1, restore_best=False)
    es._begin([])
    sign = 1 if monitor == "accuracy" else -1
    values = [1.0, 1.0 + sign * 0.05, 1.0 + sign * 0.15]  # then 0.05 and 0.15 better
    for epoch, value in enumerate(values, 1):
        es._update(epoch, {monitor: value}, [])
    assert es.best_epoch == 3 and es.best == pytest.approx(values[2])
    es._update(4, {monitor: values[2] + sign * 0.09}, [])  # better, but by less than 0.1
    assert es.best_epoch == 3 and es.wait == 1


def test_weights_grown_beyond_float32s_outputs_are_a_divergence():
    """A learning rate of 1e25 in one batch: the loss was finite, the weights are finite but
    about 3e24, and the outputs overflow. fit says so (a DivergenceError naming the weights
    and the learning rate), not a later predict blaming the inputs."""
    rng = np.random.default_rng(0)
    x, y = rng.random((54, 4)).astype(np.float32), rng.integers(0, 3, 54)
    net = Network.from_sizes([4, 16, 3], seed=0)  # ReLU: nothing saturates
    with pytest.raises(DivergenceError, match=r"weights grew to .*e\+2\d.*learning rate 1e\+25"):
        fit(net, x, y, epochs=1, batch_size=64, optimizer=SGD(learning_rate=1e25))


def test_empty_validation_data_is_refused():
    x, y = blobs(20)
    with pytest.raises(ValueError, match="validation_data holds no examples"):
        fit(small_net(), x, y, epochs=1, validation_data=(x[:0], y[:0]))


def test_validation_rows_are_the_rows_fit_holds_out():
    """validation_rows gives the split of fit's validation_split for the same seed: the
    validation loss fit reports is the network's loss on those rows."""
    from chainrule.training import validation_rows

    x, y = blobs()
    for seed in (0, 7):
        net = small_net()
        history = fit(net, x, y, epochs=1, batch_size=16, validation_split=0.25, seed=seed)
        train, val = validation_rows(len(x), 0.25, seed)
        assert len(val) == int(len(x) * 0.25) and len(train) + len(val) == len(x)
        assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(x)))
        assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
        assert history["val_loss"][-1] == pytest.approx(float(net.loss(x[val], y[val])), rel=1e-5)
        other = np.setdiff1d(np.arange(len(x)), val)[: len(val)]
        assert history["val_loss"][-1] != pytest.approx(float(net.loss(x[other], y[other])))
    assert not np.array_equal(validation_rows(100, 0.2, 0)[1], validation_rows(100, 0.2, 1)[1])
    assert len(validation_rows(100, 0.0, 0)[1]) == 0
    for args, message in (((10, 1.0, 0), "validation_split"), ((10, 0.1, -1), "seed")):
        with pytest.raises(ValueError, match=message):
            validation_rows(*args)


def test_fit_learns_xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 16, dtype=float)
    y = np.array([0, 1, 1, 0] * 16)
    net = Network.from_sizes([2, 8, 2], hidden="tanh", seed=0)
    history = fit(net, x, y, epochs=60, batch_size=8, optimizer=Adam(learning_rate=0.05))
    assert history["accuracy"][-1] == 1.0
    assert np.array_equal(net.predict(x), y)


def test_regression_has_no_accuracy_and_explicit_validation_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    net = Network.from_sizes([3, 1], loss="mse", seed=0)
    history = fit(
        net, x, y, epochs=30, batch_size=16, optimizer="momentum", validation_data=(x[:20], y[:20])
    )
    assert history["accuracy"] == [None] * 30
    assert history["val_loss"][-1] < 0.01 * history["val_loss"][0]


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"])
def test_every_optimizer_by_name(name):
    x, y = blobs(100)
    history = fit(small_net(), x, y, epochs=4, batch_size=10, optimizer=name)
    assert history["loss"][-1] < history["loss"][0]


def test_bad_arguments():
    x, y = blobs(40)
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'.*adam"):
        fit(small_net(), x, y, optimizer="adagrad")
    with pytest.raises(ValueError, match="unknown schedule"):
        fit(small_net(), x, y, schedule="linear")
    with pytest.raises(ValueError, match="batch_size"):
        fit(small_net(), x, y, batch_size=0)
    with pytest.raises(ValueError, match="not both"):
        fit(small_net(), x, y, validation_split=0.2, validation_data=(x, y))
    n_out = small_net().n_out
    with pytest.raises(ValueError, match=f"^validation_data: class labels .* got label {n_out}"):
        fit(small_net(), x, y, validation_data=(x, np.full(len(x), n_out)))
    with pytest.raises(ValueError, match=r"^validation_data: inputs must have shape"):
        fit(small_net(), x, y, validation_data=(x[:, :1], y))
    with pytest.raises(ValueError, match="no validation set"):
        fit(small_net(), x, y, early_stopping=EarlyStopping())
    with pytest.raises(ValueError, match="shape"):
        fit(small_net(), x[:, :1], y)


# -- batching --------------------------------------------------------------------------------


def test_each_epoch_visits_every_example_once_in_a_fresh_order(monkeypatch):
    x = np.arange(46, dtype=float).reshape(23, 2)
    y = np.zeros(23, dtype=int)
    net = small_net()
    seen = []
    real = net.train_step

    def spy(xb, tb, want_loss=True):
        seen.append(xb[:, 0].copy())
        return real(xb, tb, want_loss)

    monkeypatch.setattr(net, "train_step", spy)
    fit(net, x, y, epochs=2, batch_size=5, optimizer="sgd")
    assert [len(s) for s in seen] == [5, 5, 5, 5, 3] * 2
    first, second = np.concatenate(seen[:5]), np.concatenate(seen[5:])
    assert sorted(first) == sorted(second) == list(x[:, 0])
    assert not np.array_equal(first, second)


def test_weight_decay_reaches_the_optimizer_and_shrinks_weights():
    x, y = blobs(60)
    plain, decayed = small_net(), small_net()
    opt = SGD(learning_rate=0.1)
    fit(plain, x, y, epochs=5, optimizer="sgd")
    fit(decayed, x, y, epochs=5, optimizer=opt, weight_decay=0.5)
    assert opt.weight_decay == 0.5
    norm = [np.linalg.norm(n.dense_layers[0].weights) for n in (plain, decayed)]
    assert norm[1] < 0.9 * norm[0]


# -- reproducibility and resume ----------------------------------------------------------------


def test_same_seed_gives_bit_identical_weights():
    x, y = blobs(80)
    nets = [small_net(dropout=0.3) for _ in range(3)]
    for net, seed in zip(nets, (4, 4, 5)):
        fit(net, x, y, epochs=3, batch_size=8, optimizer="adam", seed=seed, validation_split=0.2)
    assert same_weights(nets[0], nets[1])
    assert not same_weights(nets[0], nets[2])


def config(**overrides):
    settings = dict(
        epochs=8,
        batch_size=12,
        optimizer=Adam(learning_rate=0.01),
        schedule=InverseTimeDecay(decay_rate=0.5, decay_steps=7),
        validation_split=0.2,
        seed=3,
    )
    settings.update(overrides)
    return settings


def straight_run(**overrides):
    x, y = blobs(100, spread=2.0)
    net = small_net(dropout=0.3)
    history = fit(net, x, y, **config(**overrides))
    return net, history


def assert_same_run(net, history, ref_net, ref_history):
    assert same_weights(net, ref_net)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in history.epochs]
    ref = [{k: v for k, v in r.items() if k != "seconds"} for r in ref_history.epochs]
    assert strip == ref


def test_resume_after_4_epochs_is_bit_identical_to_8_straight(tmp_path):
    ref_net, ref_history = straight_run()
    x, y = blobs(100, spread=2.0)
    net = small_net(dropout=0.3)
    fit(net, x, y, **config(epochs=4, checkpoint=Checkpoint(tmp_path)))
    assert not same_weights(net, ref_net)
    resumed = small_net(dropout=0.3, seed=99)  # different weights and dropout state: all restored
    history = fit(
        resumed,
        x,
        y,
        **config(optimizer=Adam(learning_rate=0.01)),
        resume=tmp_path,
        checkpoint_dir=tmp_path,
    )
    assert_same_run(resumed, history, ref_net, ref_history)
    assert history.checkpoint_path.endswith("epoch-0008.npz")
    # a resume to an epoch the checkpoint has passed: nothing to train, said so
    fresh = small_net(dropout=0.3)
    before = fresh.parameter_vector.copy()
    with pytest.raises(ValueError, match=r"epoch-0008\.npz is at epoch 8, past epochs=3 \(the "
                       r"epoch to train up to\): nothing to train; give epochs >= 9"):  # fmt: skip
        fit(fresh, x, y, **config(epochs=3), resume=tmp_path)
    np.testing.assert_array_equal(fresh.parameter_vector, before)  # the network untouched


def test_resume_restores_the_standardize_statistics(tmp_path):
    """The checkpoint's Standardize statistics come back with its weights: a network built
    with other statistics (here from other rows) resumes exactly as the straight run."""
    x, y = blobs(100, spread=2.0)
    x = x * [1000.0, 0.01] + [5e4, 3.0]
    ref_net = small_net(dropout=0.3, standardize=x)
    ref_history = fit(ref_net, x, y, **config())
    fit(small_net(dropout=0.3, standardize=x), x, y, **config(epochs=4, checkpoint_dir=tmp_path))
    resumed = small_net(dropout=0.3, seed=99, standardize=x[:10])  # other statistics
    history = fit(resumed, x, y, **config(), resume=tmp_path)
    assert_same_run(resumed, history, ref_net, ref_history)
    for name in ("mean", "std", "inv_std"):
        np.testing.assert_array_equal(
            getattr(resumed.layers[0], name), getattr(ref_net.layers[0], name)
        )
    np.testing.assert_array_equal(resumed.predict_proba(x), ref_net.predict_proba(x))


def test_resume_refuses_other_data_and_takes_checkpoints_without_a_checksum(tmp_path, monkeypatch):
    x, y = blobs(100, spread=2.0)
    fit(small_net(), x, y, **config(epochs=2, checkpoint=Checkpoint(tmp_path)))
    changed_label = y.copy()
    changed_label[0] = (y[0] + 1) % 3
    changed_row = x.copy()
    changed_row[0] += 1  # the first row, training or validation: the checksum reads it
    for x_other, y_other in ((x, changed_label), (changed_row, y)):
        with pytest.raises(ValueError, match="was written while training on other data"):
            fit(small_net(), x_other, y_other, **config(epochs=3), resume=tmp_path)
    history = fit(small_net(), x, y, **config(epochs=3), resume=tmp_path)  # the same data
    assert len(history) == 3
    # a checkpoint of an older version, without the checksum, resumes as before
    old_state = training._Trainer._state
    monkeypatch.setattr(
        training._Trainer,
        "_state",
        lambda self: {k: v for k, v in old_state(self).items() if k != "data"},
    )
    fit(small_net(), x, y, **config(epochs=2, checkpoint=Checkpoint(tmp_path / "old")))
    assert "data" not in load_checkpoint(tmp_path / "old" / "epoch-0002.npz").state
    monkeypatch.undo()
    history = fit(small_net(), x, changed_label, **config(epochs=3), resume=tmp_path / "old")
    assert len(history) == 3


def test_resume_of_a_cosine_run_stopped_by_a_callback(tmp_path):
    settings = dict(schedule="cosine", optimizer="adam")
    ref_net, ref_history = straight_run(**settings)
    x, y = blobs(100, spread=2.0)
    net = small_net(dropout=0.3)
    first = fit(net, x, y, **config(**settings), callbacks=[StopAfter(4)], checkpoint_dir=tmp_path)
    assert len(first) == 4 and first.stopped_early
    path = tmp_path / "epoch-0004.npz"
    assert first.checkpoint_path == str(path)
    resumed = load_checkpoint(path).net
    # no optimizer, schedule or batch size given: the checkpoint's are used (12, not 32)
    history = fit(resumed, x, y, epochs=8, validation_split=0.2, resume=path)
    assert_same_run(resumed, history, ref_net, ref_history)


def test_interrupt_mid_epoch_saves_a_checkpoint_and_resumes_exactly(tmp_path):
    ref_net, ref_history = straight_run()
    x, y = blobs(100, spread=2.0)
    net = small_net(dropout=0.3)
    recorder = Recorder()
    with pytest.raises(TrainingInterrupted) as info:
        fit(net, x, y, **config(), callbacks=[InterruptAt(3, 2), recorder], checkpoint_dir=tmp_path)
    exc = info.value
    assert isinstance(exc, KeyboardInterrupt)
    assert exc.history.interrupted and len(exc.history) == 2
    assert exc.checkpoint_path == str(tmp_path / "epoch-0003-batch-00003.npz")
    assert "epoch 3 after batch 3" in str(exc)
    assert recorder.calls[-1][0] == "train_end"
    assert latest_checkpoint(tmp_path) == tmp_path / "epoch-0003-batch-00003.npz"
    with pytest.raises(ValueError, match=r"is inside epoch 3, past epochs=2 .*epochs >= 3"):
        fit(small_net(dropout=0.3), x, y, **config(epochs=2), resume=exc.checkpoint_path)
    resumed = small_net(dropout=0.3)
    history = fit(
        resumed, x, y, **config(optimizer=Adam(learning_rate=0.01)), resume=exc.checkpoint_path
    )
    assert_same_run(resumed, history, ref_net, ref_history)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_is_deferred_to_the_end_of_the_batch(tmp_path, monkeypatch, signum):
    """SIGINT (Ctrl-C) or SIGTERM (kill, timeout, docker stop) arriving in the middle of a
    training step: the step completes, the checkpoint is written after it, and resuming from
    it reproduces the uninterrupted run exactly."""
    ref_net, ref_history = straight_run()
    x, y = blobs(100, spread=2.0)
    net = small_net(dropout=0.3)
    real = net.train_step
    calls = []

    def signalled(*args):
        calls.append(1)
        if len(calls) == 9:  # epoch 2 (7 batches per epoch), batch 2
            os.kill(os.getpid(), signum)
        return real(*args)

    monkeypatch.setattr(net, "train_step", signalled)
    with pytest.raises(TrainingInterrupted) as info:
        fit(net, x, y, **config(), checkpoint_dir=tmp_path)
    assert info.value.checkpoint_path == str(tmp_path / "epoch-0002-batch-00002.npz")
    assert info.value.signal_name == signal.Signals(signum).name
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    resumed = small_net(dropout=0.3)
    history = fit(resumed, x, y, **config(optimizer=Adam(learning_rate=0.01)), resume=tmp_path)
    assert_same_run(resumed, history, ref_net, ref_history)


def test_interrupt_without_checkpointing_ends_cleanly():
    x, y = blobs(40)
    with pytest.raises(TrainingInterrupted) as info:
        fit(small_net(), x, y, epochs=3, batch_size=10, callbacks=[InterruptAt(1, 0)])
    assert info.value.checkpoint_path is None
    assert info.value.history.interrupted


# -- early stopping --------------------------------------------------------------------------


def test_early_stopping_restores_the_best_epochs_weights():
    class Snapshot(Callback):
        def __init__(self, net):
            self.net, self.weights = net, {}

        def on_epoch_end(self, epoch, record):
            self.weights[epoch] = [p.copy() for p in self.net.parameters()]

    class Spoil(Callback):
        """After epoch 3, wreck the weights so that validation only gets worse."""

        def __init__(self, net):
            self.net = net

        def on_epoch_end(self, epoch, record):
            if epoch >= 3:
                for p in self.net.parameters():
                    p += np.float32(3.0) * np.sign(p)

    x, y = blobs(120)
    net = small_net()
    snapshot = Snapshot(net)
    history = fit(
        net,
        x,
        y,
        epochs=20,
        batch_size=10,
        optimizer=SGD(learning_rate=1e-3),
        validation_split=0.25,
        callbacks=[snapshot, Spoil(net)],
        early_stopping=EarlyStopping(monitor="val_loss", patience=2),
    )
    assert history.stopped_early and len(history) == 5  # 2 epochs (4, 5) without a better one
    assert history.best_epoch == 3
    assert min(history["val_loss"]) == history["val_loss"][2]
    assert all(np.array_equal(p, q) for p, q in zip(net.parameters(), snapshot.weights[3]))
    assert not np.array_equal(net.parameters()[0], snapshot.weights[5][0])


def test_early_stopping_on_accuracy_maximizes():
    es = EarlyStopping(monitor="val_accuracy", patience=0, restore_best=False)
    params = [np.zeros(2)]
    es._begin(params)
    assert not es._update(1, {"val_accuracy": 0.5}, params)
    assert not es._update(2, {"val_accuracy": 0.7}, params)
    assert es._update(3, {"val_accuracy": 0.6}, params)
    assert es.best_epoch == 2
    with pytest.raises(ValueError, match="cannot monitor"):
        EarlyStopping(monitor="f1")


# -- divergence ------------------------------------------------------------------------------


def test_divergence_names_epoch_and_batch_and_keeps_the_last_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)) * 10
    y = rng.normal(size=(60, 1)) * 10
    net = Network.from_sizes([2, 8, 1], hidden="identity", loss="mse", seed=0)
    fit(
        net,
        x,
        y,
        epochs=2,
        batch_size=10,
        optimizer=SGD(learning_rate=1e-4),
        checkpoint_dir=tmp_path,
    )
    good = tmp_path / "epoch-0002.npz"
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    with pytest.raises(DivergenceError) as info:
        fit(
            net,
            x,
            y,
            epochs=6,
            batch_size=10,
            optimizer=SGD(learning_rate=1.0),
            checkpoint_dir=tmp_path,
            resume=good,
        )
    exc = info.value
    assert isinstance(exc, ArithmeticError)
    assert exc.epoch == 3 and 1 <= exc.batch <= 6
    message = str(exc)
    assert f"epoch 3, batch {exc.batch} of 6" in message
    assert "smaller learning rate" in message and str(good) in message
    assert exc.checkpoint_path == str(good)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001.npz", "epoch-0002.npz"]
    assert hashlib.sha256(good.read_bytes()).hexdigest() == digest
    saved = load(good)
    assert all(np.isfinite(p).all() for p in saved.parameters())


def test_a_loss_too_large_before_any_update_blames_the_numbers_not_the_learning_rate():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    net = Network.from_sizes([3, 4, 1], hidden="relu", output="identity", loss="mse", seed=0)
    with pytest.raises(DivergenceError) as info:
        fit(net, x, rng.normal(size=(50, 1)) * 1e20, epochs=1)  # its square overflows float32
    message = str(info.value)
    assert message.startswith(
        "the loss of the first batch, before any update, is inf: numbers too large for float32 "
        "(inputs up to |x| = 2."
    )
    assert "targets up to 2.4e+20, weights up to " in message and "in float64" in message
    assert "learning rate" not in message and info.value.epoch == info.value.batch == 1
    float64 = Network.from_sizes([3, 4, 1], hidden="relu", output="identity", loss="mse",
                                 seed=0, dtype="float64")  # fmt: skip
    assert np.isfinite(fit(float64, x, rng.normal(size=(50, 1)) * 1e20, epochs=1)["loss"][0])
    net.parameter_vector[:] = 1e30  # weights that overflow: said so too
    with pytest.raises(DivergenceError, match=r"weights up to 1e\+30\)"):
        fit(net, x, rng.normal(size=(50, 1)), epochs=1)


def test_a_divergence_on_large_data_says_to_scale_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    net = Network.from_sizes([5, 16, 1], hidden="relu", output="identity", loss="mse", seed=0)
    with pytest.raises(DivergenceError) as info:
        fit(net, x, rng.normal(size=(300, 1)) * 5e3, epochs=5, optimizer=SGD(learning_rate=0.1))
    message = str(info.value)
    assert info.value.batch > 1 and "try a smaller learning rate, or scale the data to " in message
    assert "(the targets reach 1.56e+04: divide them by their scale)" in message
    assert "inputs reach" not in message  # of order 1: not blamed
    # large inputs the network standardizes itself, and class labels: no scale to blame
    x = rng.normal(size=(300, 5)) * 5e4
    labels = rng.integers(0, 1500, 300)
    net = Network.from_sizes([5, 16, 1500], hidden="relu", loss="cross_entropy", seed=0,
                             standardize=x)  # fmt: skip
    with pytest.raises(DivergenceError) as info:
        fit(net, x, labels, epochs=3, optimizer=SGD(learning_rate=1e6))
    assert str(info.value).endswith("; try a smaller learning rate")


def test_training_no_better_than_the_most_common_class_warns():
    x, y = blobs(200)
    with pytest.warns(TrainingWarning) as caught:  # a learning rate that saturates every unit
        history = fit(Network.from_sizes([2, 16, 2], hidden="sigmoid", loss="sse", seed=0), x,
                      y, epochs=3, batch_size=10, optimizer=SGD(learning_rate=300.0))  # fmt: skip
    assert history["loss"][-1] == pytest.approx(0.5)  # every output 0 or 1, whatever the input
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the call
    assert str(caught[0].message).startswith(
        "the network classifies the training data no better than always answering its most "
        "common class (0.5000 of 200 training examples right, against 0.5000): it has learned "
        "nothing useful"
    )
    y[:20] = 1  # 120 of 200 in class 1: the most common class is 0.6 of them
    with pytest.warns(TrainingWarning, match=r"against 0\.6000\)"):
        fit(small_net(), x * 0, y, epochs=2, batch_size=10)  # inputs that say nothing
    # integer labels for an identity output (sse's default output): classes all the same
    linear = Network.from_sizes([2, 8, 2], loss="mse", seed=0)
    assert linear.dense_layers[-1].activation.name == "identity"
    with pytest.warns(TrainingWarning, match="no better than always answering"):
        fit(linear, x * 0, y, epochs=2, batch_size=10)
    # uint8 inputs with input_scale: checked as the network saw them (no warning: it learned)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 4)).astype(np.uint8)
    labels = (pixels[:, 0] > 127).astype(int)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingWarning)
        net = Network.from_sizes([4, 8, 2], hidden="relu", loss="cross_entropy", seed=0)
        fit(net, pixels, labels, epochs=20, batch_size=10, optimizer=Adam(learning_rate=0.01),
            input_scale=1 / 255)  # fmt: skip
        assert np.mean(net.predict(pixels / 255) == labels) > 0.9


def test_no_training_warning_where_nothing_is_wrong():
    import warnings

    x, y = blobs(200)
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingWarning)
        assert fit(small_net(), x, y, epochs=3, batch_size=10)["accuracy"][-1] > 0.8
        # regression, even of 0/1 targets (an identity output: no classes)
        regression = Network.from_sizes([2, 4, 1], output="identity", loss="mse", seed=0)
        fit(regression, x, rng.normal(size=(200, 1)), epochs=1)
        fit(regression, x, (rng.random((200, 1)) < 0.7).astype(float), epochs=1)
        # a run the caller stopped on purpose (inputs that say nothing: at chance)
        fit(small_net(), x * 0, y, epochs=5, batch_size=10, callbacks=[StopAfter(1)])
        # a running accuracy at chance (the first epoch of imbalanced data, while the network
        # still learns) whose finished network classifies well: confirmed before warning
        imbalanced = np.r_[np.zeros(190, int), np.ones(10, int)]
        features = np.c_[imbalanced * 4.0 + rng.normal(size=200) * 0.1, rng.normal(size=200)]
        net = Network.from_sizes([2, 8, 2], hidden="tanh", loss="cross_entropy", seed=0)
        first = fit(net, features, imbalanced, epochs=1, batch_size=5,
                    optimizer=Adam(learning_rate=0.02))  # fmt: skip
        assert first["accuracy"][0] <= 0.95 < np.mean(net.predict(features) == imbalanced)
        # the same with uint8 inputs and input_scale: predictions on what the network saw
        pixel_rng = np.random.default_rng(3)
        rare = (pixel_rng.random(400) < 0.15).astype(int)  # 0.865 of the rows in class 0
        level = np.where(rare == 1, 150, 106) + pixel_rng.integers(-15, 16, 400)
        pixels = np.c_[level, pixel_rng.integers(120, 136, 400)].astype(np.uint8)
        net = Network.from_sizes([2, 8, 2], hidden="tanh", loss="cross_entropy", seed=0)
        first = fit(net, pixels, rare, epochs=1, batch_size=20,
                    optimizer=Adam(learning_rate=0.1), input_scale=1 / 255)  # fmt: skip
        assert first["accuracy"][0] <= 0.865 < np.mean(net.predict(pixels / 255) == rare)
        assert np.mean(net.predict(pixels.astype(float)) == rare) <= 0.865  # unscaled: chance
        # a callback's StopTraining, with early stopping on too
        fit(small_net(), x * 0, y, epochs=5, batch_size=10, callbacks=[StopAfter(1)],
            validation_split=0.2, early_stopping=EarlyStopping(patience=3))  # fmt: skip
    # early stopping judges the restored best epoch's network
    history = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainingWarning)
        history = fit(small_net(), x, y, epochs=8, batch_size=10, validation_split=0.2,
                      early_stopping=EarlyStopping(patience=2))  # fmt: skip
    assert history.best_epoch is not None and not caught


# -- checkpoints and callbacks ------------------------------------------------------------------


def test_a_fit_refused_before_training_leaves_no_checkpoint_directory(tmp_path):
    x, y = blobs(40)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(small_net(), x, y, epochs=1, checkpoint_dir=tmp_path / "run" / "checkpoints")
    assert not (tmp_path / "run" / "checkpoints").exists()
    (tmp_path / "mine").mkdir()  # a directory the caller made is the caller's
    with pytest.raises(ValueError, match="NaN"):
        fit(small_net(), x, y, epochs=1, checkpoint_dir=tmp_path / "mine")
    assert (tmp_path / "mine").is_dir()


def test_checkpoint_every_n_epochs_and_at_the_end(tmp_path):
    x, y = blobs(40)
    fit(small_net(), x, y, epochs=5, batch_size=10, checkpoint=Checkpoint(tmp_path / "a", every=2))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "epoch-0002.npz",
        "epoch-0004.npz",
        "epoch-0005.npz",
    ]
    fit(small_net(), x, y, epochs=3, batch_size=10, checkpoint=Checkpoint(tmp_path / "b", keep=1))
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["epoch-0003.npz"]
    assert latest_checkpoint(tmp_path / "a") == tmp_path / "a" / "epoch-0005.npz"
    assert (
        load_checkpoint(tmp_path / "a" / "epoch-0005.npz").state["history"]["epochs"][4]["epoch"]
        == 5
    )


def test_callbacks_are_called_in_order_with_counts():
    x, y = blobs(50)
    recorder = Recorder()

    class DuckTyped:
        def __init__(self):
            self.ends = 0

        def on_epoch_end(self, epoch, record):
            self.ends += 1

    duck = DuckTyped()
    history = fit(small_net(), x, y, epochs=2, batch_size=20, callbacks=[recorder, duck])
    kinds = [c[0] for c in recorder.calls]
    assert kinds == ["train_begin"] + (["epoch_begin"] + ["batch"] * 3 + ["epoch_end"]) * 2 + [
        "train_end"
    ]
    info = recorder.calls[0][1]
    assert info["steps_per_epoch"] == 3 and info["n_train"] == 50 and info["epochs"] == 2
    batches = [c for c in recorder.calls if c[0] == "batch"]
    assert [(c[1], c[2], c[3]) for c in batches] == [(e, b, 3) for e in (1, 2) for b in range(3)]
    assert all(isinstance(c[4], float) for c in batches)
    assert recorder.calls[-1][1] is history
    assert duck.ends == 2


def test_stop_training_from_a_callback():
    x, y = blobs(40)
    history = fit(small_net(), x, y, epochs=10, callbacks=[StopAfter(2)])
    assert len(history) == 2 and history.stopped_early


def test_top_level_names():
    assert training.fit is fit
    assert chainrule.serialization.load is load


def test_fit_with_sgd_matches_a_hand_written_loop():
    """fit's SGD path (one parameter vector, gradients scaled by lr in the backward pass,
    coupled weight decay) against the plain loop train_step + step per array."""
    x, y = blobs(40)
    a, b = small_net(), small_net()
    fit(
        a,
        x,
        y,
        epochs=1,
        batch_size=10,
        optimizer=SGD(0.2, momentum=0.5),
        weight_decay=0.01,
        shuffle=False,
    )
    opt = SGD(0.2, momentum=0.5, weight_decay=0.01)
    xs, ts = b.check_inputs(x), b.encode_targets(y, 40)
    for lo in range(0, 40, 10):
        b.train_step(xs[lo : lo + 10], ts[lo : lo + 10])
        opt.step(b.parameters(), b.parameter_gradients())
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a.parameters()[0], small_net().parameters()[0])


def test_one_sigmoid_output_reports_accuracy():
    x, y = blobs(80)
    net = Network.from_sizes([2, 6, 1], hidden="tanh", loss="binary_cross_entropy", seed=0)
    history = fit(net, x, y, epochs=10, batch_size=8, optimizer=Adam(0.02), validation_split=0.25)
    assert history["accuracy"][-1] >= 0.85 and history["val_accuracy"][-1] >= 0.85
    # the training accuracy is what the steps saw: close to the accuracy after the epoch
    assert abs(history["accuracy"][-1] - (net.predict(x) == y).mean()) < 0.1


def test_resume_carries_the_early_stopping_state(tmp_path):
    def run(**kwargs):
        x, y = blobs(100, spread=2.0)
        net = small_net(dropout=0.3)
        es = EarlyStopping(patience=50)
        history = fit(
            net, x, y, **config(optimizer=Adam(learning_rate=0.01), **kwargs), early_stopping=es
        )
        return net, history

    ref_net, ref_history = run()
    run(callbacks=[StopAfter(4)], checkpoint_dir=tmp_path)
    net, history = run(resume=tmp_path / "epoch-0004.npz")
    assert history.best_epoch == ref_history.best_epoch
    assert same_weights(net, ref_net)  # the best epoch's weights, restored at the end


def test_stop_training_from_a_batch_hook_finishes_the_epoch():
    class StopNow(Callback):
        def on_batch_end(self, epoch, batch_index, n_batches, loss):
            raise StopTraining

    x, y = blobs(40)
    recorder = Recorder()
    history = fit(small_net(), x, y, epochs=5, batch_size=10, callbacks=[StopNow(), recorder])
    assert len(history) == 1 and history.stopped_early
    assert sum(c[0] == "batch" for c in recorder.calls) == 4


# -- compact inputs (uint8 images scaled batch by batch) -----------------------------------------


def _images(n=90, n_in=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, n_in)).astype(np.uint8), rng.integers(0, 3, n)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uint8_inputs_with_input_scale_train_as_the_scaled_floats(shuffle, dtype):
    """fit keeps uint8 inputs compact and scales each batch: the same weights as training on
    the scaled float array (same rounding: the uint8 -> float cast, then one multiply)."""
    x8, y = _images()
    scale = 1 / 255
    xf = x8.astype(dtype) * dtype(scale)
    nets = [chainrule.Network.from_sizes([12, 7, 3], seed=1, dtype=dtype) for _ in range(2)]
    kwargs = dict(epochs=3, batch_size=16, optimizer="adam", seed=4, shuffle=shuffle)
    h8 = fit(nets[0], x8, y, input_scale=scale, validation_split=0.2, **kwargs)
    hf = fit(nets[1], xf, y, validation_split=0.2, **kwargs)
    np.testing.assert_array_equal(nets[0].parameter_vector, nets[1].parameter_vector)
    assert [r["val_loss"] for r in h8.epochs] == [r["val_loss"] for r in hf.epochs]
    assert [r["accuracy"] for r in h8.epochs] == [r["accuracy"] for r in hf.epochs]


def test_integer_inputs_without_scale_are_their_values_and_are_not_copied():
    x8, y = _images()
    x_val8, y_val = _images(30, seed=1)
    a = chainrule.Network.from_sizes([12, 5, 3], seed=2)
    b = a.copy()
    kwargs = dict(epochs=2, batch_size=10, optimizer="sgd", seed=1)
    fit(a, x8.astype(np.int16), y, validation_data=(x_val8, y_val), **kwargs)
    fit(b, x8.astype(np.float32), y, validation_data=(x_val8.astype(np.float32), y_val), **kwargs)
    np.testing.assert_array_equal(a.parameter_vector, b.parameter_vector)


def test_input_scale_on_float_inputs_leaves_the_callers_array_alone():
    x8, y = _images()
    xf = x8.astype(np.float32)
    before = xf.copy()
    a = chainrule.Network.from_sizes([12, 5, 3], seed=2)
    b = a.copy()
    fit(a, xf, y, epochs=2, batch_size=10, seed=1, input_scale=0.5, shuffle=False)
    np.testing.assert_array_equal(xf, before)
    fit(b, xf * np.float32(0.5), y, epochs=2, batch_size=10, seed=1, shuffle=False)
    np.testing.assert_array_equal(a.parameter_vector, b.parameter_vector)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "1/255", float("inf")])
def test_bad_input_scale(bad):
    x8, y = _images()
    net = chainrule.Network.from_sizes([12, 5, 3], seed=2)
    with pytest.raises(ValueError, match="input_scale must be a positive number"):
        fit(net, x8, y, epochs=1, input_scale=bad)


def test_wrong_shape_integer_inputs_get_the_usual_message():
    x8, y = _images()
    net = chainrule.Network.from_sizes([10, 5, 3], seed=2)
    with pytest.raises(ValueError, match=r"inputs must have shape \(batch, 10\)"):
        fit(net, x8, y, epochs=1)


@pytest.mark.parametrize("n_out, loss", [(3, "cross_entropy"), (1, "binary_cross_entropy")])
@pytest.mark.parametrize("shuffle", [True, False])
def test_training_accuracy_counts_every_row_once(n_out, loss, shuffle):
    """fit counts each batch's predictions against its labels (lazily, in one comparison per
    epoch): with a learning rate too small to move a float32 weight, the epoch's training
    accuracy is the network's accuracy on the training set, and a progress bar's running
    accuracy, read mid-epoch, agrees with the rows seen so far."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(101, 6)).astype(np.float32)
    y = rng.integers(0, max(n_out, 2), 101)
    net = chainrule.Network.from_sizes([6, 5, n_out], loss=loss, seed=3)
    expected = float(np.mean(net.predict(x) == y))
    seen = []

    class Probe(training.Callback):
        def on_train_begin(self, info):
            self.metrics = info["running_metrics"]

        def on_batch_end(self, epoch, batch, n_batches, loss):
            seen.append(self.metrics()["accuracy"])

    history = fit(
        net, x, y, epochs=2, batch_size=16, optimizer=SGD(1e-30), seed=1, shuffle=shuffle,
        callbacks=[Probe()],
    )  # fmt: skip
    assert [r["accuracy"] for r in history.epochs] == [pytest.approx(expected, abs=1e-12)] * 2
    assert seen[6] == pytest.approx(expected, abs=1e-12)  # the last batch of epoch 1
    assert all(0 <= a <= 1 for a in seen)


# -- settings checked before any training -----------------------------------------------------


@pytest.mark.parametrize("seed", [-1, "a", 1.5, True])
def test_fit_refuses_a_bad_seed(seed):
    x, y = blobs(20)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        fit(small_net(), x, y, epochs=1, seed=seed)


def test_numpy_scalars_are_accepted_as_settings(tmp_path):
    x, y = blobs(40)
    run = dict(epochs=2, batch_size=np.int64(8), optimizer=SGD(0.1), seed=np.int64(3))
    ckpt = Checkpoint(tmp_path, every=np.int64(2), keep=np.int32(1))
    a = fit(small_net(), x, y, weight_decay=np.float32(0.01), checkpoint=ckpt, **run)
    b = fit(small_net(), x, y, weight_decay=0.01, **{**run, "optimizer": SGD(0.1), "seed": 3})
    assert a["loss"] == b["loss"]
    assert [p.name for p in tmp_path.iterdir()] == ["epoch-0002.npz"]
    assert EarlyStopping(patience=np.int64(2)).patience == 2


def test_a_checkpoint_directory_that_is_a_file_is_refused_before_training(tmp_path):
    x, y = blobs(40)
    taken = tmp_path / "taken.npz"
    taken.write_bytes(b"not a directory")
    seen = Recorder()
    with pytest.raises(ValueError, match="is a file, not a directory"):
        fit(small_net(), x, y, epochs=1, checkpoint_dir=taken, callbacks=[seen])
    assert seen.calls == []  # refused before the first epoch
    assert taken.read_bytes() == b"not a directory"


def test_checkpoint_and_checkpoint_dir_together_are_refused(tmp_path):
    x, y = blobs(20)
    with pytest.raises(ValueError, match="not both"):
        fit(small_net(), x, y, epochs=1, checkpoint=Checkpoint(tmp_path), checkpoint_dir=tmp_path)


def test_a_network_a_checkpoint_cannot_hold_is_refused_before_training(tmp_path, softsign):
    x, y = blobs(40)
    net = Network([chainrule.Dense(2, 4, softsign, rng=0), chainrule.Dense(4, 2, "softmax")],
                  loss="cross_entropy")  # fmt: skip
    seen = Recorder()
    with pytest.raises(ValueError, match="softsign.*not saving"):
        fit(net, x, y, epochs=1, checkpoint_dir=tmp_path / "ckpt", callbacks=[seen])
    assert seen.calls == [] and not (tmp_path / "ckpt").exists()
    fit(net, x, y, epochs=1)  # without checkpoints it trains


def test_a_sigterm_handler_of_the_application_is_left_alone(monkeypatch):
    x, y = blobs(40)
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        net = small_net()
        real = net.train_step

        def signalled(*args):
            if not seen:
                os.kill(os.getpid(), signal.SIGTERM)
            return real(*args)

        monkeypatch.setattr(net, "train_step", signalled)
        history = fit(net, x, y, epochs=2, batch_size=8)  # not interrupted
        assert seen == [signal.SIGTERM] and not history.interrupted
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_regression_example_of_docs_training_md_runs_as_written(capsys):
    """docs/training.md, "Regression": the code as printed, and the numbers it promises."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    code = text.split("## Regression")[1].split("```python")[1].split("```")[0]
    exec(compile(code, "docs/training.md", "exec"), {})
    accuracy, mse = capsys.readouterr().out.split()
    assert accuracy == "None"
    assert float(mse) < 0.01  # the text says about 0.003


# -- sample weights --------------------------------------------------------------------------


def _weighted_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    w = rng.integers(0, 4, n).astype(float)
    w[0] = 2.0
    return x, y, w


def test_sample_weight_counts_an_example_that_many_times():
    """One batch per epoch, no shuffle: weights 0-3 train exactly as the rows repeated that
    many times (momentum, several epochs), with the same reported losses and accuracies."""
    x, y, w = _weighted_data()
    repeated = np.repeat(np.arange(len(x)), w.astype(int))
    a, b = small_net().astype(np.float64), small_net().astype(np.float64)
    kwargs = dict(epochs=5, shuffle=False, optimizer=SGD(learning_rate=0.3, momentum=0.9))
    ha = fit(a, x, y, batch_size=len(x), sample_weight=w, **kwargs)
    kwargs["optimizer"] = SGD(learning_rate=0.3, momentum=0.9)
    hb = fit(b, x[repeated], y[repeated], batch_size=len(repeated), **kwargs)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-12)
    np.testing.assert_allclose(ha["accuracy"], hb["accuracy"], rtol=1e-12)
    assert max(np.abs(p).max() for p in a.parameters()) > 0  # it trained


def test_sample_weights_all_one_train_bit_identically():
    x, y, _ = _weighted_data()
    a, b = small_net(), small_net()
    ha = fit(a, x, y, epochs=3, batch_size=8, optimizer="momentum", sample_weight=np.ones(40))
    hb = fit(b, x, y, epochs=3, batch_size=8, optimizer="momentum")
    assert same_weights(a, b)
    assert ha["accuracy"] == hb["accuracy"]
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-6)


def test_weighted_history_and_validation_metrics_are_weighted_means():
    x, y, w = _weighted_data()
    net = small_net().astype(np.float64)
    before = net.loss(x, y, sample_weight=w)
    right = net.predict(x) == y
    x_val, y_val, w_val = x[:15], y[:15], w[:15] + 0.5
    # one batch: the first epoch's loss and accuracy are those of the weights before the step
    history = fit(net, x, y, epochs=2, batch_size=len(x), sample_weight=w,
                  validation_data=(x_val, y_val, w_val))  # fmt: skip
    assert history["loss"][0] == pytest.approx(before, rel=1e-12)
    assert history["accuracy"][0] == pytest.approx(np.average(right, weights=w), rel=1e-12)
    assert history["val_loss"][-1] == pytest.approx(
        net.loss(x_val, y_val, sample_weight=w_val), rel=1e-12
    )
    assert history["val_accuracy"][-1] == pytest.approx(
        np.average(net.predict(x_val) == y_val, weights=w_val), rel=1e-12
    )
    assert history["val_loss"][-1] != pytest.approx(net.loss(x_val, y_val), rel=1e-6)
    # validation_split splits the weights with the rows
    net = small_net().astype(np.float64)
    history = fit(net, x, y, epochs=1, batch_size=8, sample_weight=w, validation_split=0.25, seed=4)
    _, val = training.validation_rows(len(x), 0.25, 4)
    assert history["val_loss"][0] == pytest.approx(
        net.loss(x[val], y[val], sample_weight=w[val]), rel=1e-12
    )


def test_a_batch_of_zero_weights_moves_nothing():
    x, y, _ = _weighted_data()
    w = np.r_[np.zeros(8), np.ones(32)]
    net = small_net()
    start = [p.copy() for p in net.parameters()]
    recorder = Recorder()
    fit(net, x, y, epochs=1, batch_size=8, shuffle=False, sample_weight=w, callbacks=[recorder])
    losses = [call[4] for call in recorder.calls if call[0] == "batch"]
    assert losses[0] == 0.0 and all(loss > 0 for loss in losses[1:])
    fresh = small_net()
    fit(fresh, x[8:], y[8:], epochs=1, batch_size=8, shuffle=False)  # SGD: no momentum
    assert same_weights(net, fresh)
    assert not all(np.array_equal(p, q) for p, q in zip(net.parameters(), start))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sample_weight=np.zeros(40)), "zero for every example"),
        (dict(sample_weight=np.ones(39)), r"shape \(40,\), one weight per example"),
        (dict(sample_weight=-np.ones(40)), ">= 0, got -1 at row 0"),
        (
            dict(validation_data=(np.zeros((3, 2)), [0, 1, 0], [1, 1, 1], [1])),
            r"a pair \(x_val, y_val\) or a triple \(x_val, y_val, sample_weight_val\)",
        ),
        (
            dict(validation_data=(np.zeros((3, 2)), [0, 1, 0], [1, 1])),
            r"validation_data: sample_weight must have shape \(3,\)",
        ),
        (
            dict(sample_weight=np.r_[np.ones(39), 0.0], validation_split=0.025, seed=0),
            "zero for every validation example",
        ),
    ],
)
def test_bad_sample_weights_are_named(kwargs, message):
    x, y, _ = _weighted_data()
    if kwargs.get("validation_split"):  # the one validation row is the one of weight 0
        _, val = training.validation_rows(len(x), 0.025, 0)
        kwargs["sample_weight"] = np.ones(40)
        kwargs["sample_weight"][val] = 0
    with pytest.raises(ValueError, match=message):
        fit(small_net(), x, y, epochs=1, **kwargs)


def test_sample_weight_needs_a_train_step_that_takes_factors_and_per_example_losses():
    class Older(Network):
        def train_step(self, x, target, want_loss=True, grad_scale=1.0):
            return super().train_step(x, target, want_loss, grad_scale)

    class Passing(Network):  # passes every keyword on: taken
        def train_step(self, *args, **kwargs):
            return super().train_step(*args, **kwargs)

    net = small_net()
    older = Older(net.copy().layers, loss=net.loss_function)
    x, y, w = _weighted_data()
    with pytest.raises(ValueError, match="Older.train_step does not"):
        fit(older, x, y, epochs=1, sample_weight=w)
    passing = Passing(net.copy().layers, loss=net.loss_function)
    fit(passing, x, y, epochs=1, sample_weight=w, seed=1)
    reference = small_net()
    fit(reference, x, y, epochs=1, sample_weight=w, seed=1)
    for p, q in zip(passing.parameters(), reference.parameters()):  # (no grad_scale: unfused)
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-7)

    from chainrule.losses import Loss, SumSquaredError

    class Mine(Loss):  # a loss written before per_example existed
        value, delta = SumSquaredError.value, SumSquaredError.delta

    mine = Network(net.copy().layers, loss=Mine())
    fit(mine, x, y, epochs=1)  # unweighted: as before
    with pytest.raises(ValueError, match="needs each example's loss: Mine has no per_example"):
        fit(mine, x, y, epochs=1, sample_weight=w)
    with pytest.raises(NotImplementedError, match="Mine has no per_example"):
        mine.loss(x, y, sample_weight=w)


def test_validation_data_with_none_for_weights_is_unweighted():
    x, y, w = _weighted_data()
    a, b = small_net(), small_net()
    ha = fit(a, x, y, epochs=1, sample_weight=w, validation_data=(x[:10], y[:10], None))
    hb = fit(b, x, y, epochs=1, sample_weight=w, validation_data=(x[:10], y[:10]))
    assert ha["val_loss"] == hb["val_loss"] and same_weights(a, b)


def test_weighted_run_resumes_exactly_and_only_with_its_weights(tmp_path):
    x, y, w = _weighted_data()
    w = w + np.random.default_rng(4).random(len(w))  # fractions: sums that depend on order
    kwargs = dict(epochs=3, batch_size=8, optimizer="momentum", sample_weight=w)
    straight = small_net()
    expected = fit(straight, x, y, **kwargs)
    net = small_net()
    with pytest.raises(TrainingInterrupted):
        fit(net, x, y, **kwargs, callbacks=[InterruptAt(2, 2)], checkpoint_dir=tmp_path)
    other = "written with other sample weights \\(the data is the same\\): resume it with the"
    with pytest.raises(ValueError, match=other):
        fit(small_net(), x, y, **{**kwargs, "sample_weight": w + 1}, resume=tmp_path)
    with pytest.raises(ValueError, match="while training on other data"):  # other targets
        fit(small_net(), x, 1 - y, **kwargs, resume=tmp_path)
    with pytest.raises(ValueError, match="written with weight_normalization='batch'; resume it "
                       "with the same \\(got 'dataset'\\)"):  # fmt: skip
        fit(small_net(), x, y, **kwargs, weight_normalization="dataset", resume=tmp_path)
    unweighted = {k: v for k, v in kwargs.items() if k != "sample_weight"}
    with pytest.raises(ValueError, match="written while training with sample_weight; resume it "
                       "with the same weights"):  # fmt: skip
        fit(small_net(), x, y, **unweighted, resume=tmp_path)
    plain_dir = tmp_path / "plain"
    fit(small_net(), x, y, **unweighted, checkpoint_dir=plain_dir)
    with pytest.raises(ValueError, match="without sample_weight; resume it without"):
        fit(small_net(), x, y, **{**kwargs, "epochs": 4}, resume=plain_dir)
    resumed = small_net()
    history = fit(resumed, x, y, **kwargs, resume=tmp_path)
    assert same_weights(resumed, straight)
    assert history["loss"] == expected["loss"]
    assert history["accuracy"] == expected["accuracy"]


@pytest.mark.parametrize("scale", [1.0, 0.7, 1 / 3, 0.1])
def test_the_nothing_learned_warning_weighs_the_classes(scale):
    """Whatever the weights' scale (their sums round differently, so a network at the
    majority's share may be a last bit above or below it)."""
    x, y = blobs(200)
    y[:20] = 1  # 120 of 200 in class 1
    w = np.where(y == 0, 3.0, 1.0) * scale  # class 0 weighs 240 of 360
    with pytest.warns(TrainingWarning, match=r"against 0\.6667 \(weighted by sample_weight\)"):
        fit(small_net(), x * 0, y, epochs=2, batch_size=10, sample_weight=w)


def test_the_sample_weights_example_of_docs_training_md_runs_as_written(capsys):
    """docs/training.md, "Sample weights": the code as printed, the number it promises, and
    what the weights are for: the rare class is found more often than without them."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    code = text.split("## Sample weights")[1].split("```python")[1].split("```")[0]
    namespace = {}
    exec(compile(code, "docs/training.md", "exec"), namespace)
    accuracy, loss = capsys.readouterr().out.split()
    assert 0.88 < float(accuracy) < 0.96  # the text says ~0.92
    x, y, net = namespace["x"], namespace["y"], namespace["net"]
    assert float(loss) == pytest.approx(net.loss(x, y, sample_weight=namespace["w"]))
    plain = Network.from_sizes([2, 16, 2], seed=0)
    fit(plain, x, y, epochs=20, validation_split=0.2)
    rare = y == 1
    assert np.mean(net.predict(x[rare]) == 1) > np.mean(plain.predict(x[rare]) == 1) + 0.05


def test_training_labels_of_one_class_warn():
    x, _ = blobs(60)
    with pytest.warns(TrainingWarning, match="every training label is class 1: the network can "
                      "only learn to answer 1, whatever the input"):  # fmt: skip
        fit(small_net(), x, np.ones(60, int), epochs=1)
    y = np.repeat([0, 1], 30)
    w = np.r_[np.zeros(30), np.ones(30)]  # class 0 weighs nothing
    with pytest.warns(TrainingWarning, match=r"every training label \(of those with a weight "
                      r"above 0\) is class 1"):  # fmt: skip
        fit(small_net(), x, y, epochs=1, sample_weight=w)
    import warnings

    with warnings.catch_warnings():  # float targets (regression): no classes, no warning
        warnings.simplefilter("error", TrainingWarning)
        fit(Network.from_sizes([2, 4, 1], loss="mse", seed=0), x, np.ones((60, 1)), epochs=1)


@pytest.mark.parametrize("scale", [1e-3, 1 / 40, 1e-320, 1e300])
def test_scaling_every_weight_changes_nothing(scale):
    """Only the weights' ratios count: weights summing below 1 (normalized ones), subnormal
    ones and huge ones train and report as the raw weights do."""
    x, y, w = _weighted_data()
    w = w + 0.5
    kwargs = dict(epochs=2, batch_size=8, seed=0, validation_split=0.25)
    a, b = small_net().astype(np.float64), small_net().astype(np.float64)
    ha = fit(a, x, y, sample_weight=w, **kwargs)
    hb = fit(b, x, y, sample_weight=w * scale, **kwargs)
    np.testing.assert_allclose(a.parameter_vector, b.parameter_vector, rtol=1e-6, atol=1e-12)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(ha[key], hb[key], rtol=1e-6)


def test_dataset_weight_normalization_divides_by_the_batch_size_times_the_mean_weight():
    """weight_normalization="dataset": each batch's gradient is sum_n w_n dE_n / (B * mean w),
    w over the training set: step by step, plain SGD, against net.gradients."""
    x, y, w = _weighted_data(16)
    w = w + 0.25
    net = small_net().astype(np.float64)
    manual = net.copy()
    fit(net, x, y, epochs=1, batch_size=8, shuffle=False, sample_weight=w,
        weight_normalization="dataset", optimizer=SGD(learning_rate=0.5))  # fmt: skip
    for rows in (slice(0, 8), slice(8, 16)):
        w_b = w[rows]
        batch_mean = manual.gradients(x[rows], y[rows], sample_weight=w_b)  # sum w g / sum w
        share = w_b.sum() / (len(w_b) * w.mean())  # this batch's weight against the average
        for layer, (dw, db) in zip(manual.dense_layers, batch_mean):
            layer.weights -= 0.5 * share * dw
            layer.biases -= 0.5 * share * db
    np.testing.assert_allclose(net.parameter_vector, manual.parameter_vector, rtol=1e-12)
    # one batch per epoch: the two normalizations are the same
    a, b = small_net().astype(np.float64), small_net().astype(np.float64)
    ha = fit(a, x, y, epochs=2, batch_size=16, sample_weight=w, weight_normalization="dataset")
    hb = fit(b, x, y, epochs=2, batch_size=16, sample_weight=w)
    np.testing.assert_allclose(a.parameter_vector, b.parameter_vector, rtol=1e-12)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-12)
    assert ha["accuracy"] == pytest.approx(hb["accuracy"], rel=1e-12)
    with pytest.raises(ValueError, match="weight_normalization must be 'batch' or 'dataset'"):
        fit(small_net(), x, y, sample_weight=w, weight_normalization="data")


def test_dataset_normalization_gives_a_rare_class_its_share_in_small_batches():
    """Balanced weights at batch size 1: "batch" normalization leaves every factor 1 (the
    weights change nothing), "dataset" scales each example's step by its weight."""
    x, _ = blobs(100)
    y = np.r_[np.ones(5, int), np.zeros(95, int)]
    w = np.where(y == 1, 100 / (2 * 5), 100 / (2 * 95))  # balanced: each class weighs 50
    kwargs = dict(epochs=1, batch_size=1, seed=0)
    plain, per_batch, per_dataset = small_net(), small_net(), small_net()
    fit(plain, x, y, **kwargs)
    fit(per_batch, x, y, sample_weight=w, **kwargs)
    fit(per_dataset, x, y, sample_weight=w, weight_normalization="dataset", **kwargs)
    assert same_weights(plain, per_batch)
    assert not same_weights(plain, per_dataset)
    rare = x[y == 1]
    assert per_dataset.predict_proba(rare)[:, 1].mean() > plain.predict_proba(rare)[:, 1].mean()


def test_weights_summing_below_one_give_the_weighted_mean_loss_and_accuracy():
    """The epoch's loss and accuracy divide by the weights' sum even when it is below 1 (the
    weights are rescaled so that the largest is in [0.5, 1): one heavy example and a light
    one sum to about 0.6), not by 1."""
    x, y, _ = _weighted_data()
    first, second = int(np.flatnonzero(y == 0)[0]), int(np.flatnonzero(y == 1)[0])
    w = np.zeros(len(x))
    w[first], w[second] = 1.0, 0.25
    net = small_net().astype(np.float64)
    before = net.loss(x, y, sample_weight=w)
    right = net.predict(x) == y
    import warnings

    with warnings.catch_warnings():  # (whether it learned anything is not the point)
        warnings.simplefilter("ignore", TrainingWarning)
        history = fit(net, x, y, epochs=1, batch_size=len(x), sample_weight=w)
    assert history["loss"][0] == pytest.approx(before, rel=1e-12)
    assert history["accuracy"][0] == pytest.approx(np.average(right, weights=w), rel=1e-12)


def test_training_labels_of_one_class_warn_once():
    """The one-class warning says it all: not followed by the 'no better than its most
    common class' one (a network that answers the only class is right by construction)."""
    x, _ = blobs(60)
    y = np.repeat([0, 1], 30)
    for kwargs in (
        dict(y=np.ones(60, int)),
        dict(y=y, sample_weight=np.r_[np.zeros(30), np.ones(30)]),
    ):
        with pytest.warns(TrainingWarning) as caught:
            fit(small_net(), x, epochs=1, **kwargs)
        messages = [str(w.message) for w in caught if w.category is TrainingWarning]
        assert len(messages) == 1 and "can only learn to answer 1" in messages[0], messages


def test_weighted_validation_over_many_chunks(monkeypatch):
    """Validation goes _EVAL_CHUNK rows at a time: each chunk's rows with their own weights."""
    monkeypatch.setattr(training, "_EVAL_CHUNK", 4)
    x, y, w = _weighted_data()
    x_val, y_val, w_val = x[:15], y[:15], w[:15] + np.linspace(0.1, 3, 15)
    net = small_net().astype(np.float64)
    history = fit(net, x[15:], y[15:], epochs=1, sample_weight=w[15:],
                  validation_data=(x_val, y_val, w_val))  # fmt: skip
    assert history["val_loss"][0] == pytest.approx(
        net.loss(x_val, y_val, sample_weight=w_val), rel=1e-12
    )
    assert history["val_accuracy"][0] == pytest.approx(
        np.average(net.predict(x_val) == y_val, weights=w_val), rel=1e-12
    )


def test_a_checkpoint_of_an_older_version_resumes_as_unweighted(tmp_path, monkeypatch):
    """Checkpoints written before sample weights existed have no "sample_weight" entry: they
    were unweighted, and resume as such (not refused as weighted ones)."""
    x, y = blobs(100, spread=2.0)
    old_state = training._Trainer._state
    monkeypatch.setattr(
        training._Trainer,
        "_state",
        lambda self: {k: v for k, v in old_state(self).items() if k != "sample_weight"},
    )
    fit(small_net(), x, y, **config(epochs=2, checkpoint=Checkpoint(tmp_path)))
    assert "sample_weight" not in load_checkpoint(tmp_path / "epoch-0002.npz").state
    monkeypatch.undo()
    history = fit(small_net(), x, y, **config(epochs=3), resume=tmp_path)
    assert len(history) == 3
    with pytest.raises(ValueError, match="without sample_weight; resume it without"):
        fit(small_net(), x, y, **config(epochs=3), resume=tmp_path, sample_weight=np.ones(100))


def test_dataset_normalization_running_metrics_are_weighted_means_of_the_rows_seen(monkeypatch):
    """Mid-epoch (the progress bar's running_metrics), "dataset" normalization reports the
    weighted mean loss and accuracy of the rows seen so far: never above 1 for accuracy,
    even when heavy examples come first."""
    from chainrule.training import Callback

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 2)).astype(np.float32)
    y = np.zeros(100, int)
    y[:10] = 1
    w = np.where(y == 1, 9.0, 1.0)
    seen = []

    class Watch(Callback):
        def on_train_begin(self, info):
            self.running = info["running_metrics"]

        def on_batch_end(self, epoch, batch_index, n_batches, loss):
            seen.append(self.running())

    for norm in ("batch", "dataset"):
        seen.clear()
        net = Network.from_sizes([2, 8, 2], seed=0)
        fit(net, np.ones((100, 2), np.float32), np.ones(100, int), epochs=5,
            optimizer=SGD(0.5))  # fmt: skip
        fit(net, x, y, epochs=1, batch_size=5, shuffle=False, optimizer=SGD(1e-9),
            sample_weight=w, weight_normalization=norm, callbacks=[Watch()])  # fmt: skip
        assert all(0 <= m["accuracy"] <= 1 for m in seen), (norm, seen[:3])
        first = seen[0]
        expected = net.loss(x[:5], y[:5])  # equal weights inside the first batch
        assert first["loss"] == pytest.approx(expected, rel=1e-5)
