"""Training: :func:`fit` runs mini-batch epochs and returns a :class:`History`; it prints nothing.

One epoch::

    perm = rng.permutation(n_train)                 a fresh seeded shuffle
    for each batch of batch_size indices of perm:   (the last batch may be smaller)
        loss = net.train_step(x[batch], y[batch])   forward (dropout on) + backward
        optimizer.step(params, grads, schedule(step))
    evaluate the validation set; callbacks; early stopping; checkpoint

The inputs are checked and the targets encoded once, before the first epoch; each batch is
gathered with ``np.take(..., out=buffer)`` into arrays allocated once, so a step allocates
nothing large.

Metrics of an epoch (one dict per epoch in :attr:`History.epochs`):

- ``loss``: the mean of the batch losses, weighted by batch size, as computed by the training
  steps themselves (dropout on, weights changing during the epoch), as Keras reports it;
- ``accuracy``: likewise the fraction of training examples whose prediction in their training
  step was right (``None`` for targets that are not class labels);
- ``val_loss``, ``val_accuracy``: on the validation set at the end of the epoch, dropout off
  (``None`` without a validation set);
- ``learning_rate``: the rate of the epoch's last update; ``seconds``: the epoch's wall time.

Control flow, for callers such as the command line:

- :class:`StopTraining` raised by a callback ends training cleanly after the current epoch;
- a ``KeyboardInterrupt`` (Ctrl-C; fit defers SIGINT, and SIGTERM, to the end of the current
  batch) writes a checkpoint if checkpointing is on and raises :class:`TrainingInterrupted`,
  carrying the history, the checkpoint path and which signal it was;
- a NaN or infinite loss raises :class:`DivergenceError` naming the epoch and batch, before the
  bad batch updates anything; no checkpoint is written after it.

Data-parallel training (``comm=``, an mpi4py communicator; see :mod:`chainrule.distributed`):
every rank runs this loop on its share of each global batch with one ``Allreduce`` of the
gradient vector per step; it has its own batch loop, so ``comm=None`` costs nothing per step.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import math
import numbers
import os
import re
import signal
import threading
import time
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from chainrule import distributed, serialization
from chainrule.backend import copy_into, namespace, to_numpy
from chainrule.errors import DivergenceError, TrainingInterrupted, TrainingWarning
from chainrule.layers import Dropout, Standardize
from chainrule.losses import Loss
from chainrule.network import Network, check_sample_weight, row_weights
from chainrule.optimizers import Optimizer, get_optimizer
from chainrule.schedules import Schedule, get_schedule

__all__ = [
    "fit",
    "History",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "StopTraining",
    "TrainingInterrupted",
    "DivergenceError",
    "latest_checkpoint",
    "validation_rows",
]

_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")
_EVAL_CHUNK = 1024


class StopTraining(Exception):
    """Raise from a callback to end training cleanly after the current epoch."""


# -- history ---------------------------------------------------------------------------------


class History:
    """Per-epoch metrics of a run.

    Attributes
    ----------
    epochs : list of dict
        One dict per epoch with ``epoch`` (1-based), ``loss``, ``accuracy``, ``val_loss``,
        ``val_accuracy``, ``learning_rate``, ``seconds`` (``None`` where not measured).
    interrupted : bool
        The run ended with :class:`TrainingInterrupted`.
    stopped_early : bool
        Early stopping (or a :class:`StopTraining` callback) ended the run.
    best_epoch : int or None
        The epoch early stopping judged best (its weights are restored when it says so).
    checkpoint_path : str or None
        The last checkpoint written.

    ``history["val_loss"]`` is the list of one metric over the epochs.
    """

    def __init__(self, epochs: Iterable[dict] = ()):
        self.epochs: list[dict] = [dict(record) for record in epochs]
        self.interrupted = False
        self.stopped_early = False
        self.best_epoch: int | None = None
        self.checkpoint_path: str | None = None

    def __getitem__(self, key: str) -> list:
        if key not in _KEYS:
            raise KeyError(f"no metric {key!r}; metrics: {', '.join(_KEYS)}")
        return [record.get(key) for record in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def to_dicts(self) -> list[dict]:
        """A copy of :attr:`epochs` (JSON-able)."""
        return [dict(record) for record in self.epochs]

    def as_dict(self) -> dict[str, list]:
        """``{metric: [value per epoch]}`` (JSON-able)."""
        return {key: self[key] for key in _KEYS}

    def __repr__(self) -> str:
        last = self.epochs[-1] if self.epochs else {}
        return f"History({len(self.epochs)} epochs, last={last})"


# -- callbacks -------------------------------------------------------------------------------


class Callback:
    """Hooks :func:`fit` calls; every method is a no-op here, override what you need.

    ``epoch`` is 1-based; ``batch_index`` is 0-based, in ``range(n_batches)``. Only the hooks
    a callback overrides are called (a callback need not subclass this: any object with some
    of these methods works). Raise :class:`StopTraining` to end the run after this epoch.
    """

    def on_train_begin(self, info: dict) -> None:
        """``info``: epochs, initial_epoch, batch_size, steps_per_epoch, n_train, n_val,
        optimizer and schedule configs, seed, and ``running_metrics``: a function returning
        the current epoch's mean training loss and accuracy so far."""

    def on_epoch_begin(self, epoch: int, n_batches: int) -> None:
        """Before the first batch of ``epoch``."""

    def on_batch_end(self, epoch: int, batch_index: int, n_batches: int, loss: float) -> None:
        """After the update of one batch; ``loss`` is that batch's mean loss."""

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        """``record`` is the epoch's entry of :attr:`History.epochs`."""

    def on_train_end(self, history: History) -> None:
        """At the end of the run: normal, early-stopped, interrupted or diverged."""


def _hooks(callbacks: Sequence, name: str) -> list:
    """The bound ``name`` methods of the callbacks that define it as more than the no-op."""
    base = getattr(Callback, name)
    return [
        getattr(cb, name)
        for cb in callbacks
        if getattr(type(cb), name, None) not in (None, base) or name in getattr(cb, "__dict__", {})
    ]


class Checkpoint:
    """Where and how often :func:`fit` writes checkpoints.

    Files are ``directory/epoch-0003.npz`` after epoch 3, and ``epoch-0004-batch-00017.npz``
    for an interruption after 17 batches of epoch 4 (names sort in training order). A
    checkpoint is written every ``every`` epochs, after the last epoch, when training stops
    early and on interruption; never with non-finite weights.

    Parameters
    ----------
    directory : str or path-like
        Created if missing.
    every : int
        Epochs between checkpoints (default 1).
    keep : int, optional
        Keep only the newest ``keep`` files this run wrote (default: keep all).
    """

    def __init__(self, directory: str | os.PathLike, every: int = 1, keep: int | None = None):
        self.every = _positive_int("Checkpoint every", every)
        self.keep = None if keep is None else _positive_int("Checkpoint keep", keep)
        self.directory = Path(directory)
        self.written: list[Path] = []

    def path_for(self, epoch: int, batch: int = 0) -> Path:
        """The file for ``epoch`` epochs done (plus ``batch`` batches of the next one)."""
        if batch:
            return self.directory / f"epoch-{epoch + 1:04d}-batch-{batch:05d}.npz"
        return self.directory / f"epoch-{epoch:04d}.npz"

    def _wrote(self, path: Path) -> None:
        if path in self.written:
            self.written.remove(path)
        self.written.append(path)
        while self.keep is not None and len(self.written) > self.keep:
            with contextlib.suppress(FileNotFoundError):
                self.written.pop(0).unlink()

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.directory)!r}, every={self.every}, keep={self.keep})"


_CHECKPOINT_NAME = re.compile(r"epoch-\d{4,}(-batch-\d{5,})?\.npz")


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest checkpoint file :class:`Checkpoint` wrote in ``directory``, or ``None``."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    names = [p for p in directory.iterdir() if _CHECKPOINT_NAME.fullmatch(p.name)]
    return max(names, key=_checkpoint_order, default=None)


def _checkpoint_order(path: Path) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", path.name)]
    # epoch-E.npz is E epochs done; epoch-E-batch-B.npz is E - 1 epochs and B batches done
    return (numbers[0], 0) if len(numbers) == 1 else (numbers[0] - 1, numbers[1])


class EarlyStopping:
    """Stop when a metric has not improved for ``patience`` epochs; restore the best weights.

    Parameters
    ----------
    monitor : str
        A metric of the epoch records: ``"val_loss"`` (default), ``"val_accuracy"``,
        ``"loss"``, ``"accuracy"``.
    patience : int
        Epochs without improvement before stopping.
    min_delta : float
        The least change that counts as an improvement.
    mode : "auto", "min" or "max"
        Whether smaller or larger is better; ``"auto"``: larger for accuracies.
    restore_best : bool
        At the end of training (stopped early or not), copy the weights of the best epoch back
        into the network.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ):
        if monitor not in _KEYS[1:5]:
            raise ValueError(f"cannot monitor {monitor!r}; choose one of {', '.join(_KEYS[1:5])}")
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got patience={patience!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got mode={mode!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.maximize = mode == "max" or (mode == "auto" and monitor.endswith("accuracy"))
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_weights: list[np.ndarray] | None = None

    def _begin(self, params: list[np.ndarray]) -> None:
        """Start afresh (a resume then loads the saved state)."""
        self.best, self.best_epoch, self.wait = None, None, 0
        if self.restore_best:
            self.best_weights = [to_numpy(p, copy=True) for p in params]  # kept on the host

    def _update(self, epoch: int, record: dict, params: list[np.ndarray]) -> bool:
        """Take the epoch's record; True when training should stop."""
        value = record[self.monitor]
        if value is None or not math.isfinite(value):
            improved = False
        elif self.best is None:
            improved = True
        elif self.maximize:
            improved = value > self.best + self.min_delta
        else:
            improved = value < self.best - self.min_delta
        if improved:
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.best_weights is not None:
                for saved, param in zip(self.best_weights, params):
                    copy_into(saved, param)
            return False
        self.wait += 1
        return self.wait >= self.patience  # patience epochs in a row without a better value

    def _restore(self, params: list[np.ndarray]) -> bool:
        if not self.restore_best or self.best_epoch is None:
            return False
        for param, saved in zip(params, self.best_weights):
            copy_into(param, saved)
        return True

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state(self, state: dict, best_weights: list[np.ndarray] | None) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        if best_weights is not None and self.restore_best:
            self.best_weights = [np.array(a) for a in best_weights]

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
            f"restore_best={self.restore_best})"
        )


# -- fit -------------------------------------------------------------------------------------


DEFAULT_BATCH_SIZE = 32  # fit's batch size when none is given (and no checkpoint has one)


def fit(
    net: Network,
    x,
    y,
    epochs: int = 10,
    batch_size: int | None = None,
    optimizer: str | Optimizer | None = None,
    schedule: str | Schedule | None = None,
    weight_decay: float | None = None,
    validation_split: float = 0.0,
    validation_data: tuple | None = None,
    seed: int | None = 0,
    callbacks: Sequence = (),
    checkpoint: Checkpoint | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    early_stopping: EarlyStopping | None = None,
    resume: str | os.PathLike | None = None,
    shuffle: bool = True,
    handle_sigint: bool = True,
    comm=None,
    input_scale: float | None = None,
    sample_weight=None,
    weight_normalization: str = "batch",
) -> History:
    """Train ``net`` in place by mini-batch gradient descent; return the :class:`History`.

    Parameters
    ----------
    net : Network
        Trained in place (its parameter arrays are updated).
    x : array of shape (n, n_in)
        Checked and converted to the network's dtype once; integer arrays (such as uint8
        images) are kept as they are, and each batch is converted when it is gathered
        (MNIST: 47 MB instead of 188 MB in float32, and a faster gather).
    y : int labels of shape (n,), or float targets of shape (n, n_out)
        As :meth:`Network.encode_targets` takes them; encoded once.
    epochs : int
        The epoch to train up to, counting those of a resumed checkpoint: ``fit(...,
        epochs=8, resume=path)`` after 4 epochs trains 4 more.
    batch_size : int, optional
        Examples per update; the last batch of an epoch may be smaller. Default 32, or when
        resuming the checkpoint's (another size is taken as given: then the schedule's steps
        and the shuffles' batches are not those of an uninterrupted run).
    optimizer : str or Optimizer
        An :class:`~chainrule.optimizers.Optimizer` (it keeps its state after fit), or a name
        with default settings: ``"sgd"`` (the default), ``"momentum"``, ``"nesterov"``,
        ``"adam"``, ``"adamw"``, ``"rmsprop"``.
    schedule : str or Schedule, optional
        ``"constant"`` (default), ``"step"``, ``"cosine"``, ``"inverse_time"``,
        ``"one_cycle"``, or a :class:`~chainrule.schedules.Schedule`; settings left ``None``
        are filled from the optimizer's learning rate and the length of the run.
    weight_decay : float, optional
        If given, sets the optimizer's ``weight_decay`` (L2 on weight matrices, not biases:
        coupled, except decoupled for AdamW; see docs/training.md). It is set on the
        optimizer object, which keeps it after ``fit``, as it keeps its state.
    validation_split : float in [0, 1)
        Hold out this fraction of ``(x, y)``, chosen at random from ``seed``, for validation.
    validation_data : (x_val, y_val) or (x_val, y_val, sample_weight_val), optional
        An explicit validation set (not with ``validation_split``); with weights, the
        validation loss and accuracy are weighted means.
    seed : int or None
        Seeds the validation split and the per-epoch shuffles (dropout masks come from the
        Dropout layers' own generators). The same seed, network and data give bit-identical
        weights. When resuming, the checkpoint's seed and generator state are used.
    callbacks : sequence of Callback
        See :class:`Callback`.
    checkpoint : Checkpoint, optional
        Where and how often to write checkpoints; or give ``checkpoint_dir`` (and
        ``checkpoint_every``).
    early_stopping : EarlyStopping, optional
    resume : path, optional
        A checkpoint file (or a directory: its newest checkpoint) to continue from, exactly:
        weights, the statistics of a Standardize first layer, optimizer state, schedule
        position, shuffle and dropout RNG states, early stopping state, history, and the
        position inside an interrupted epoch. Without ``optimizer``/``schedule``, the
        checkpoint's are used.
    shuffle : bool
        Shuffle the training set every epoch (default True).
    handle_sigint : bool
        While fit runs in the main thread, Ctrl-C (SIGINT) and SIGTERM (``kill``,
        ``timeout``, ``docker stop``) are deferred to the end of the current batch so the
        checkpoint written is consistent; a second one does not wait. Each only while it has
        its default handler (one installed by the application is left alone).
    comm : mpi4py communicator, optional
        Data-parallel training on every rank of ``comm`` (e.g. ``MPI.COMM_WORLD`` under
        ``mpiexec -n P``); every rank calls fit with the same arguments and data. Rank 0's
        parameters and seed are broadcast; each global batch of ``batch_size`` rows is split
        across the ranks, and the gradients are summed with ``Allreduce`` and divided by the
        global batch size, so every rank applies the update one process would (up to the
        order of float additions). Losses, accuracies and validation metrics are the global
        ones, identical on every rank, and so are early-stopping decisions. Only rank 0
        writes checkpoints (``history.checkpoint_path`` names them on every rank); ``resume``
        must then be readable by every rank (a shared file system). Dropout layers draw
        rank 0's masks for the whole global batch on every rank and use their own rows: the
        masks of one process. See docs/scaling.md.
    input_scale : float, optional
        Multiply every batch of inputs (and of validation inputs) by this, e.g. ``1 / 255``
        for uint8 images: the network trains on ``x * input_scale`` and expects inputs
        scaled that way afterwards (``load_mnist()`` gives them so). A Standardize first
        layer sees the scaled inputs: its statistics must be those of ``x * input_scale``.
    sample_weight : array of shape (n,), optional
        A weight >= 0 per example. Each batch's loss becomes the weighted mean
        ``sum_n w_n E_n / sum_n w_n`` and its gradient the weighted mean of the per-example
        gradients (as scikit-learn's ``sample_weight``); so the reported loss and accuracy are
        weighted means too. A weight of 2 counts an example as if it were there twice in its
        batch, 0 leaves it out. ``validation_split`` splits the weights with the rows (the
        validation metrics are then weighted as well). With ``comm`` (every rank gives the
        same weights) a batch's factors are those of the whole global batch, so data-parallel
        training is one-process weighted training (up to the order of float additions).
    weight_normalization : {"batch", "dataset"}
        What a weighted batch's sum ``sum_n w_n E_n`` is divided by. ``"batch"`` (default, as
        scikit-learn's MLP and PyTorch's weighted losses): the batch's own total weight, so
        every batch's loss is its weighted mean and every batch makes a full step.
        ``"dataset"`` (as Keras, for weights of mean 1): the batch size times the training
        set's mean weight, so each batch's gradient is an unbiased estimate of the whole
        set's weighted mean gradient, and a batch of light examples makes a small step:
        rare classes given large weights get their share of every update on average, even
        in small batches (``chainrule train --class-weight balanced`` uses it). The loss of
        a step (``on_batch_end``'s, a divergence's) is then that batch's ``sum_n w_n E_n /
        (B mean(w))``; the epoch's loss and the running metrics are weighted means either way.

    Returns
    -------
    History
        All epochs, those of a resumed checkpoint included.

    Raises
    ------
    TrainingInterrupted
        On KeyboardInterrupt/SIGINT, after writing a checkpoint (if configured).
    DivergenceError
        When the loss (or a weight) becomes NaN or infinite.
    ValueError
        For bad arguments or data, or a checkpoint that does not fit the network.

    Warns
    -----
    TrainingWarning
        When the network, as fit leaves it, classifies the training data no better than always
        answering the most common class of the training labels (docs/training.md).
    """
    if checkpoint is not None and checkpoint_dir is not None:
        raise ValueError("give checkpoint or checkpoint_dir, not both")
    if checkpoint is None and checkpoint_dir is not None:
        checkpoint = Checkpoint(checkpoint_dir, every=checkpoint_every)
    if comm is not None:
        distributed.check_comm(comm)
    made = checkpoint is not None and not checkpoint.directory.exists()
    try:
        with contextlib.nullcontext() if comm is None else _all_or_none(comm):
            trainer = _Trainer(
                net,
                epochs=epochs,
                batch_size=batch_size,
                optimizer=optimizer,
                schedule=schedule,
                weight_decay=weight_decay,
                seed=seed,
                callbacks=list(callbacks),
                checkpoint=checkpoint,
                early_stopping=early_stopping,
                resume=resume,
                shuffle=shuffle,
                comm=comm,
            )
        trainer.start()
        trainer.prepare_data(
            x, y, validation_split, validation_data, input_scale, sample_weight,
            weight_normalization,
        )  # fmt: skip
    except BaseException:  # nothing trained: the checkpoint directory made for it goes too
        if made:
            with contextlib.suppress(OSError):  # not empty, or gone: left as it is
                checkpoint.directory.rmdir()
        raise
    # overflow on the way to a divergence is reported as a DivergenceError, not as warnings
    with _deferred_sigint(trainer, handle_sigint), np.errstate(over="ignore", invalid="ignore"):
        history = trainer.run()
        _check_final_outputs(trainer)
    if _WARN_IF_NOTHING_LEARNED.get() and trainer.rank == 0:
        _warn_if_nothing_learned(trainer)
    return history


# whether fit ends with a TrainingWarning for a network at chance (the scikit-learn wrapper's
# partial_fit and regressor turn it off, per thread and task, through _no_training_warning)
_WARN_IF_NOTHING_LEARNED = contextvars.ContextVar("warn_if_nothing_learned", default=True)


def _check_final_outputs(trainer: _Trainer) -> None:
    """A DivergenceError when the trained network's outputs are not finite although every
    loss was: weights grown so large (1e29 after a learning rate of 1e30) that the products
    of the forward pass overflow, on up to 256 training rows spread over the set."""
    if not trainer.history.epochs:
        return
    net, x = trainer.net.copy(), trainer.x  # a copy: its buffers stay as fit left them
    rows = trainer._converted(x[:: -(-len(x) // 256)])
    out = to_numpy(net._forward(net._on_device(rows)))
    if np.isfinite(out).all():
        return
    record = trainer.history.epochs[-1]
    w = max(float(np.max(np.abs(to_numpy(p)))) for p in trainer.params)
    raise trainer._divergence(
        record["epoch"],
        trainer.n_batches,
        record["loss"],
        record["learning_rate"],
        weights=True,
        what=f"the weights grew to {w:.3g} (outputs beyond {net.dtype.name}) by the end of",
    )


def _seed(seed, alternative: str = "") -> int:
    """``seed`` as an int, or a ValueError unless it is an integer >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0{alternative}, got seed={seed!r}")
    return int(seed)


def validation_rows(
    n_examples: int, validation_split: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``fit(..., validation_split=validation_split, seed=seed)`` trains on and holds
    out: ``(train_rows, val_rows)``, each sorted, ``int(n_examples * validation_split)`` held
    out at random from ``seed`` (none for 0; ``fit`` refuses a split that leaves no rows on
    either side, which this returns as it is).

    For what must come from the training part alone, such as a
    :class:`~chainrule.layers.Standardize` layer's statistics::

        train_rows, _ = validation_rows(len(x), 0.1, seed=0)
        net = Network.from_sizes([n_features, 64, n_classes], standardize=x[train_rows])
        fit(net, x, y, validation_split=0.1, seed=0)
    """
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    seed = _seed(seed)
    n_val = int(n_examples * validation_split)
    # the first of the seed's two generators (the second shuffles the batches)
    split_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    order = split_rng.permutation(n_examples)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@contextlib.contextmanager
def _no_training_warning():
    token = _WARN_IF_NOTHING_LEARNED.set(False)
    try:
        yield
    finally:
        _WARN_IF_NOTHING_LEARNED.reset(token)


LARGE_DATA = 1e3  # inputs or targets beyond this: a divergence's message says to scale them
CHECKED_ROWS = 10_000  # at most this many training rows confirm a TrainingWarning


def _warn_if_nothing_learned(trainer: _Trainer) -> None:
    """A TrainingWarning when the network, as fit leaves it, classifies the training data no
    better than always answering its most common class. The running accuracy of the epoch
    that counts (the last, or the best one whose weights early stopping restored) is the
    cheap first test; the network's own predictions on (up to CHECKED_ROWS of) the training
    rows confirm it. Only for classes the caller gave (integer labels, one-hot rows; not a
    column of floats, which may be a regression target), and not for a run a callback
    stopped on purpose."""
    history, labels, net = trainer.history, trainer.labels, trainer.net
    if not trainer.given_classes or not history.epochs or trainer.asked_to_stop:
        return
    es = trainer.early_stopping
    best = history.best_epoch if es is not None and es.restore_best else None
    record = next((r for r in history.epochs if r["epoch"] == best), history.epochs[-1])
    labels = np.asarray(to_numpy(labels), dtype=np.intp)
    weights = trainer.weights  # sample weights: the weighted accuracy and class shares
    counts = np.bincount(labels, weights=weights)
    present = np.flatnonzero(counts)
    if len(present) == 1:  # nothing to tell apart: right by construction, useless
        weighed = "" if weights is None else " (of those with a weight above 0)"
        warnings.warn(
            f"every training label{weighed} is class {int(present[0])}: the network can only "
            f"learn to answer {int(present[0])}, whatever the input. Give it examples of the "
            "other classes (data sorted by class and cut short, a subset, or the wrong label "
            "column?)",
            TrainingWarning,
            stacklevel=3,
        )
        return
    accuracy = record.get("accuracy")
    if accuracy is None:
        return
    majority = counts.max() / counts.sum()
    margin = 1e-9  # weighted fractions are float sums: equal ones may differ in the last bits
    if accuracy > majority + margin:
        return
    rows = slice(None, None, -(-len(labels) // CHECKED_ROWS))  # spread over the set
    x = trainer._converted(trainer.x[rows])  # as the network saw them (input_scale)
    checked = labels[rows]
    weights = None if weights is None or not weights[rows].any() else weights[rows]
    predicted = np.average(net.predict(x) == checked, weights=weights)
    if predicted > majority + margin:
        return
    weighted = "" if weights is None else " (weighted by sample_weight)"
    warnings.warn(
        f"the network classifies the training data no better than always answering its most "
        f"common class ({predicted:.4f} of {len(checked)} training examples right, "
        f"against {majority:.4f}{weighted}): it has learned nothing useful. The usual causes: a "
        "learning rate too large (saturated or dead units) or too small, inputs far from "
        "order 1 (pixels 0-255: input_scale=1/255; other features: a Standardize first "
        "layer), too few epochs",
        TrainingWarning,
        stacklevel=3,
    )


@contextlib.contextmanager
def _all_or_none(comm, typed: bool = True):
    """Run the body on every rank of ``comm``; then every rank learns whether every other one
    got through it, and a failure anywhere is raised everywhere (the failing rank's own error,
    on the others a ValueError naming it), so that no rank is left waiting in a collective
    call for one that gave up. ``typed=False``: that ValueError gives the failure's message
    without its type (the command line's errors are their message alone)."""
    failure = None
    try:
        yield
    except Exception as exc:
        failure = exc
    mine = None
    if failure is not None:
        mine = (
            f"{type(failure).__name__}: {failure}"
            if typed
            else str(failure) or type(failure).__name__
        )
    failures = comm.allgather(mine)
    if failure is not None:
        raise _on_every_rank(failure)
    for rank, message in enumerate(failures):
        if message is not None:
            raise _on_every_rank(ValueError(f"rank {rank} could not start training: {message}"))


def _on_every_rank(exc: BaseException) -> BaseException:
    """``exc``, marked as raised on every rank at once (``exc.on_every_rank``): no rank waits
    for another, so none needs to abort the others (the command line reads the mark)."""
    exc.on_every_rank = True
    return exc


def _make_directory(directory: Path) -> None:
    """Create ``directory`` (and its parents) if missing, or a ValueError saying why not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"checkpoint directory {directory} is a file, not a directory") from None
    except OSError as exc:
        reason = exc.strerror or exc
        raise ValueError(f"cannot create checkpoint directory {directory}: {reason}") from None


def _fingerprint(
    x: np.ndarray, target: np.ndarray, x_val, target_val, weights=None, weights_val=None
) -> tuple[int, ...]:
    """CRC-32s of the targets, of every 64th training input row, and of every 64th validation
    row with the validation targets, and with sample weights a fourth of the weights (training
    and validation): cheap, and different when ranks were given different data, or a run is
    resumed on other data."""
    rows = np.ascontiguousarray(x[::64])
    val = 0
    if x_val is not None:
        val = zlib.crc32(np.ascontiguousarray(x_val[::64]).tobytes())
        val = zlib.crc32(np.ascontiguousarray(target_val).tobytes(), val)
    crcs = zlib.crc32(np.ascontiguousarray(target).tobytes()), zlib.crc32(rows.tobytes()), val
    if weights is None:
        return crcs
    weighed = zlib.crc32(weights.tobytes())
    if weights_val is not None:
        weighed = zlib.crc32(weights_val.tobytes(), weighed)
    return (*crcs, weighed)


def _positive_int(label: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{label} must be a positive integer, got {label}={value!r}")
    return int(value)


def _class_labels(y, target: np.ndarray) -> np.ndarray | None:
    """Integer class labels for accuracy, or None when the targets are not classes."""
    y = np.asarray(y)
    if y.dtype.kind in "biu" and y.ndim == 1:
        return y.astype(np.intp)
    if target.ndim != 2 or not np.all((target == 0) | (target == 1)):
        return None
    if target.shape[1] == 1:
        return target[:, 0].astype(np.intp)
    return target.argmax(axis=1) if np.all(target.sum(axis=1) == 1) else None


def _training_inputs(net: Network, x) -> np.ndarray:
    """``x`` checked as the network's inputs; integer arrays are kept as they are (compact),
    the rest converted to the network's dtype (:meth:`Network.check_inputs`)."""
    compact = isinstance(x, np.ndarray) and x.dtype.kind in "iu"
    if compact and x.ndim == 2 and x.shape[1] == net.n_in:
        return np.ascontiguousarray(x)
    return net.check_inputs(x)


def _finite(array) -> bool:
    """Whether every entry of ``array`` (on any device) is finite."""
    xp = namespace(array)
    return bool(xp.all(xp.isfinite(array)))


def _predict_classes(out: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The class each row of ``out`` (batch, n_out) predicts, into ``pred`` (batch,)."""
    if out.shape[1] == 1:
        return np.greater_equal(out[:, 0], 0.5, out=pred, casting="unsafe")
    return out.argmax(axis=1, out=pred)


def _count_correct(out: np.ndarray, labels: np.ndarray, pred: np.ndarray) -> int:
    """How many rows of ``out`` (batch, n_out) predict ``labels``; ``pred`` is scratch."""
    return int(np.count_nonzero(_predict_classes(out, pred) == labels))


@contextlib.contextmanager
def _deferred_sigint(trainer: _Trainer, enabled: bool):
    """Turn SIGINT (Ctrl-C), and SIGTERM (``kill``, ``timeout``, ``docker stop``), into a flag
    the training loop checks after each batch. Each is only taken over while it has its default
    handler, i.e. nobody else (an application, a web server) has installed one."""
    default = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = [signum for signum, handler in default.items() if signal.getsignal(signum) is handler]

    def handler(signum, frame):
        if trainer.sigint:  # a second signal does not wait for the batch to end
            raise KeyboardInterrupt
        trainer.sigint = True
        trainer.signal_name = signal.Signals(signum).name

    for signum in taken:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum in taken:
            signal.signal(signum, default[signum])


class _Trainer:
    """The state of one :func:`fit` call; :meth:`run` is the loop."""

    def __init__(
        self,
        net: Network,
        *,
        epochs,
        batch_size,
        optimizer,
        schedule,
        weight_decay,
        seed,
        callbacks,
        checkpoint,
        early_stopping,
        resume,
        shuffle,
        comm=None,
    ):
        if not isinstance(net, Network):
            raise ValueError(f"fit needs a Network, got {type(net).__name__}")
        self.net = net
        self.epochs = _positive_int("epochs", epochs)
        if batch_size is not None:
            _positive_int("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.params = net.parameters()
        # The optimizer works on the whole network at once where the network keeps every
        # parameter in one vector (each layer's arrays are views of it).
        vector = getattr(net, "parameter_vector", None)
        if vector is not None:
            self.opt_params, self.opt_grads = [vector], [net.gradient_vector]
        else:
            self.opt_params, self.opt_grads = self.params, net.parameter_gradients()
        self.decay = [(layer.weights, layer.dweights) for layer in net.dense_layers]
        self.can_scale = "grad_scale" in inspect.signature(net.train_step).parameters
        self.checkpoint = checkpoint
        self.early_stopping = early_stopping
        self.history = History()
        self.epoch_done = self.batch_done = self.step = 0
        self._reset_epoch_totals()
        self.last_lr = float("nan")
        self.last_checkpoint: str | None = None
        self.consistent = True
        self.sigint = False  # a deferred SIGINT or SIGTERM: stop after this batch
        self.signal_name = "SIGINT"  # which one (KeyboardInterrupt from a callback: SIGINT)
        self.stop = False
        self.asked_to_stop = False  # a callback raised StopTraining (not early stopping)
        self.hooks = {
            name: _hooks(callbacks, name)
            for name in (
                "on_train_begin",
                "on_epoch_begin",
                "on_batch_end",
                "on_epoch_end",
                "on_train_end",
            )
        }
        loaded = serialization.load_checkpoint(_resolve(resume)) if resume is not None else None
        if loaded is not None:
            _check_epochs_left(loaded, self.epochs)  # before the network takes its weights
            self._restore_model(loaded, optimizer)
            seed = loaded.state.get("seed", seed)
            if schedule is None:  # the checkpoint's, bound again to this run
                schedule = loaded.state.get("schedule_spec")
            if batch_size is None:  # the checkpoint's: the same steps, the same schedule
                batch_size = loaded.state.get("batch_size", DEFAULT_BATCH_SIZE)
        else:
            self.optimizer = get_optimizer(optimizer if optimizer is not None else "sgd")
        self.batch_size = _positive_int(
            "batch_size", DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        )
        if weight_decay is not None:
            ok = isinstance(weight_decay, numbers.Real) and not isinstance(weight_decay, bool)
            if not (ok and 0 <= weight_decay < math.inf):
                raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
            self.optimizer.weight_decay = float(weight_decay)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        else:
            seed = _seed(seed, " or None")
        self.comm = comm
        self.rank, self.size = 0, 1
        if comm is not None:
            if net.device != "cpu":
                raise ValueError(
                    f"distributed training runs networks on the CPU; this one is on "
                    f"{net.device} (call net.to('cpu') first)"
                )
            self.rank, self.size = distributed.rank_and_size(comm)
        if checkpoint is not None and not self.rank:  # before any work that it would save
            serialization._check_rebuildable(checkpoint.directory, net)
            _make_directory(checkpoint.directory)
        self.seed = seed
        self.schedule_spec = get_schedule(schedule)
        self.loaded = loaded

    def start(self) -> None:
        """The set-up that takes every rank (with ``comm``, called once they all got through
        ``__init__``): rank 0's seed, parameters and dropout generators; then the shuffling
        generators."""
        comm, net = self.comm, self.net
        if comm is not None:
            self.seed = comm.bcast(self.seed, root=0)
            distributed.broadcast_parameters(net, comm)
            _share_dropout_streams(net, comm)
        self.rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[1])
        self.epoch_rng_state = self.rng.bit_generator.state  # before this epoch's shuffle
        if self.early_stopping is not None:
            self.early_stopping._begin(self.params)

    # -- set-up ---------------------------------------------------------------------------

    def prepare_data(
        self,
        x,
        y,
        validation_split: float,
        validation_data,
        input_scale,
        sample_weight=None,
        weight_normalization: str = "batch",
    ) -> None:
        """Check and hold the data; with ``comm``, every rank learns whether every other rank
        could, and that all were given the same data and settings, before any step (a rank
        that failed alone, or that trains differently, would leave the others waiting)."""
        with contextlib.nullcontext() if self.comm is None else _all_or_none(self.comm):
            self._prepare_data(
                x, y, validation_split, validation_data, input_scale, sample_weight,
                weight_normalization,
            )  # fmt: skip
        if self.comm is not None:
            self._check_ranks_agree()

    def _check_ranks_agree(self) -> None:
        n_val = 0 if self.x_val is None else len(self.x_val)
        mine = {
            "(n_train, n_val, row shape)": (self.n_train, n_val, self.x.shape[1:]),
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "shuffle": self.shuffle,
            "weight_normalization": self.weight_normalization,
            "optimizer": repr(self.optimizer.config()),
            "schedule": repr(self.schedule_spec),
            "data (checksums of the targets, every 64th input row, the validation data)": (
                self.fingerprint[:3]
            ),
            "sample_weight (a checksum of the weights; None: not given)": (
                self.fingerprint[3] if len(self.fingerprint) > 3 else None
            ),
        }
        everyone = self.comm.allgather(mine)
        for name in mine:
            values = [theirs[name] for theirs in everyone]
            if any(v != values[0] for v in values):
                raise _on_every_rank(
                    ValueError(
                        f"every rank must call fit with the same data and settings; {name} by "
                        f"rank: {values}"
                    )
                )

    def _prepare_data(
        self, x, y, validation_split, validation_data, input_scale, sample_weight,
        weight_normalization,
    ) -> None:  # fmt: skip
        net = self.net
        if input_scale is not None and not (
            isinstance(input_scale, (int, float, np.floating, np.integer))
            and math.isfinite(input_scale)
            and input_scale > 0
        ):
            raise ValueError(f"input_scale must be a positive number, got {input_scale!r}")
        self.input_scale = None if input_scale is None else net.dtype.type(input_scale)
        x = _training_inputs(net, x)
        target = net.encode_targets(y, len(x))
        labels = _class_labels(y, target)
        if weight_normalization not in ("batch", "dataset"):
            raise ValueError(
                f"weight_normalization must be 'batch' or 'dataset', got {weight_normalization!r}"
            )
        self.weight_normalization = weight_normalization
        weights = None
        if sample_weight is not None:
            parameters = inspect.signature(net.train_step).parameters.values()
            if not any(p.name == "factors" or p.kind == p.VAR_KEYWORD for p in parameters):
                raise ValueError(
                    f"sample_weight needs a train_step that takes factors; "
                    f"{type(net).__name__}.train_step does not"
                )
            if type(net.loss_function).per_example is Loss.per_example:
                raise ValueError(
                    f"sample_weight needs each example's loss: {type(net.loss_function).__name__}"
                    " has no per_example(out, target, probs=None) method"
                )
            weights = check_sample_weight(sample_weight, len(x))
        # classes the caller gave: integer labels, or one-hot rows (a 0/1 column of floats
        # may be a regression target)
        self.given_classes = labels is not None and (
            np.asarray(y).dtype.kind in "biu" or (target.ndim == 2 and target.shape[1] > 1)
        )
        self.x_val = self.target_val = self.labels_val = self.weights_val = None
        if validation_data is not None:
            if validation_split:
                raise ValueError("give validation_split or validation_data, not both")
            try:
                x_val, y_val, *w_val = validation_data
                if len(w_val) > 1:
                    raise ValueError
                if len(w_val) == 1 and w_val[0] is None:  # (x_val, y_val, None): unweighted
                    w_val = []
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    "validation_data must be a pair (x_val, y_val) or a triple (x_val, y_val, "
                    "sample_weight_val)"
                ) from exc
            try:
                self.x_val = _training_inputs(net, x_val)
                self.target_val = net.encode_targets(y_val, len(self.x_val))
                if w_val:
                    self.weights_val = check_sample_weight(w_val[0], len(self.x_val))
            except ValueError as exc:
                raise ValueError(f"validation_data: {exc}") from None
            if len(self.x_val) == 0:  # else validation would be skipped without a word
                raise ValueError("validation_data holds no examples")
            self.labels_val = _class_labels(y_val, self.target_val)
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
            n_val = int(len(x) * validation_split)
            if not 0 < n_val < len(x):
                raise ValueError(
                    f"validation_split={validation_split} of {len(x)} examples leaves "
                    f"{n_val} for validation and {len(x) - n_val} for training"
                )
            train, val = validation_rows(len(x), validation_split, self.seed)
            self.x_val, self.target_val = x[val], target[val]
            self.labels_val = None if labels is None else labels[val]
            x, target = x[train], target[train]
            labels = None if labels is None else labels[train]
            if weights is not None:
                self.weights_val, weights = weights[val], weights[train]
                if not self.weights_val.any() or not weights.any():
                    part = "validation" if weights.any() else "training"
                    raise ValueError(
                        f"sample_weight is zero for every {part} example of validation_split="
                        f"{validation_split}"
                    )
        if len(x) == 0:
            raise ValueError("no training examples")
        if labels is not None and target.ndim == 1 and target.dtype == labels.dtype:
            labels = target  # cross-entropy's integer targets are the labels: gathered once
        self.x, self.target, self.labels, self.weights = x, target, labels, weights
        # "dataset": a batch's weighted sum over batch size times this (see fit)
        self.weight_mean = 1.0 if weights is None else float(np.mean(weights))
        # integer inputs stay compact, gathered as they are and converted batch by batch
        self.compact = x.dtype != net.dtype
        self.n_train = len(x)
        # kept in checkpoints: a resume must see the same data
        self.fingerprint = list(
            _fingerprint(x, target, self.x_val, self.target_val, weights, self.weights_val)
        )
        self.n_batches = -(-self.n_train // self.batch_size)
        self.schedule = self.schedule_spec.bind(
            self.optimizer.learning_rate, self.n_batches, self.epochs
        )
        if self.early_stopping is not None:
            monitor = self.early_stopping.monitor
            if monitor.startswith("val_") and self.x_val is None:
                raise ValueError(
                    f"early stopping monitors {monitor} but there is no validation set"
                )
            if (
                monitor.endswith("accuracy")
                and (self.labels if monitor == "accuracy" else self.labels_val) is None
            ):
                raise ValueError(
                    f"early stopping monitors {monitor} but the targets are not labels"
                )
        self._allocate_buffers()
        if self.loaded is not None:
            self._restore_loop(self.loaded)
            self.loaded = None

    def _allocate_buffers(self) -> None:
        bs = min(self.batch_size, self.n_train)
        x_buf = np.empty((bs,) + self.x.shape[1:], self.net.dtype)
        t_buf = np.empty((bs,) + self.target.shape[1:], self.target.dtype)
        l_buf = np.empty(bs, np.intp)
        pred = np.empty(bs, np.intp)
        # each row's predicted class, this epoch (one process; see _settle_correct)
        counted = self.labels is not None and self.comm is None
        self.pred_epoch = np.empty(self.n_train if counted else 0, np.intp)
        raw_buf = np.empty((bs if self.compact else 0,) + self.x.shape[1:], self.x.dtype)
        weighted = self.weights is not None
        w_buf = np.empty(bs if weighted else 0)  # the batch's sample weights
        f_buf = np.empty(bs if weighted else 0, self.net.dtype)  # and their row_weights
        self.full = (x_buf, t_buf, l_buf, pred, raw_buf, w_buf, f_buf)
        last = self.n_train - (self.n_batches - 1) * self.batch_size
        self.last = tuple(buf[:last] for buf in self.full)
        if self.comm is not None:  # this rank's share of a batch: at most ceil(bs / size) rows
            bs = -(-bs // self.size)
            # (the weights and factors of a weighted batch are those of the whole global
            # batch, in the full buffers: _distributed_steps)
            self.local = tuple(buf[:bs] for buf in self.full)
            # summed over the ranks: sum_n f_n E_n over the rows (f_n = 1 unweighted), the
            # correct count (weighted: the weight of the rows predicted right), SIGINT
            self.stats = np.zeros(3)

    def _restore_model(self, loaded: serialization.LoadedCheckpoint, optimizer) -> None:
        net, theirs = self.net, loaded.net
        if theirs.config() != net.config():
            raise ValueError(
                f"checkpoint {loaded.path} holds a network {theirs.config()} but fit got "
                f"{net.config()}"
            )
        for param, saved in zip(self.params, theirs.parameters()):
            copy_into(param, saved)
        for mine, saved in zip(net.layers, theirs.layers):
            if isinstance(mine, Dropout):
                mine.rng = saved.rng
            elif isinstance(mine, Standardize):  # the statistics the weights were trained with
                mine.mean, mine.std, mine.inv_std = saved.mean, saved.std, saved.inv_std
                mine._workspaces.clear()
        if optimizer is None:
            self.optimizer = loaded.optimizer or get_optimizer("sgd")
            return
        self.optimizer = get_optimizer(optimizer)
        if loaded.optimizer is not None:
            if type(self.optimizer) is not type(loaded.optimizer) or (
                self.optimizer.slots != loaded.optimizer.slots
            ):
                raise ValueError(
                    f"checkpoint {loaded.path} was trained with {loaded.optimizer!r}; "
                    f"cannot resume it with {self.optimizer!r}"
                )
            self.optimizer.load_state(loaded.optimizer.state_arrays(), loaded.optimizer.iterations)

    def _restore_loop(self, loaded: serialization.LoadedCheckpoint) -> None:
        state = loaded.state
        try:
            batch = int(state.get("batch", 0))
            if batch and (
                state.get("batch_size") != self.batch_size or state.get("n_train") != self.n_train
            ):
                raise ValueError(
                    f"checkpoint {loaded.path} stopped inside an epoch of "
                    f"{state.get('n_train')} examples in batches of {state.get('batch_size')}; "
                    f"resume it with the same data and batch_size (got {self.n_train} and "
                    f"{self.batch_size})"
                )
            saved = state.get("data")  # absent in checkpoints of older versions
            weighted = bool(state.get("sample_weight", False))
            if weighted != (self.weights is not None):
                raise ValueError(
                    f"checkpoint {loaded.path} was written while training "
                    f"{'with' if weighted else 'without'} sample_weight; resume it "
                    f"{'with the same weights' if weighted else 'without sample_weight'}"
                )
            normalization = state.get("weight_normalization", "batch")
            if weighted and normalization != self.weight_normalization:
                raise ValueError(
                    f"checkpoint {loaded.path} was written with weight_normalization="
                    f"{normalization!r}; resume it with the same (got "
                    f"{self.weight_normalization!r})"
                )
            if weighted and saved is not None and list(saved)[:3] == self.fingerprint[:3]:
                if list(saved) != self.fingerprint:
                    raise ValueError(
                        f"checkpoint {loaded.path} was written with other sample weights (the "
                        "data is the same): resume it with the sample_weight it was training "
                        "with"
                    )
            if saved is not None and list(saved) != self.fingerprint:
                raise ValueError(
                    f"checkpoint {loaded.path} was written while training on other data (the "
                    "checksums of the targets, of every 64th input row and of the validation "
                    f"data differ: {list(saved)} there, {self.fingerprint} here); "
                    "resume a run with the data it was training on, or start a new fit from "
                    "its network, load_checkpoint(path).net"
                )
            self.epoch_done = int(state["epoch"])
            self.batch_done = batch
            self.step = int(state["step"])
            self.rng.bit_generator.state = state["shuffle_rng"]
            self.epoch_rng_state = self.rng.bit_generator.state
            totals = state.get("epoch_totals", {})
            self.loss_sum = float(totals.get("loss_sum", 0.0))
            number = int if self.weights is None else float  # weighted: sums of weights
            self.correct = number(totals.get("correct", 0))
            self.seen = number(totals.get("seen", 0))
            self.epoch_seconds = float(totals.get("seconds", 0.0))
            self.last_lr = float(state.get("learning_rate", float("nan")))
            saved = state.get("history", {})
            self.history = History(saved.get("epochs", []))
            self.history.best_epoch = saved.get("best_epoch")
            es_state = state.get("early_stopping")
            if self.early_stopping is not None and es_state is not None:
                self.early_stopping.load_state(es_state, loaded.groups.get("early_stopping.best"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"checkpoint {loaded.path}: bad training state ({exc!r})") from exc
        self.last_checkpoint = self.history.checkpoint_path = loaded.path

    def _reset_epoch_totals(self) -> None:
        self.loss_sum = 0.0
        self.correct = 0
        self.seen = 0
        self.epoch_seconds = 0.0
        self.pred_from = self.pred_to = 0  # rows predicted but not yet counted in correct
        self.perm = None  # this epoch's shuffle

    def _settle_correct(self) -> None:
        """Count the predictions of rows ``[pred_from, pred_to)`` of this epoch into
        ``correct``. The loop only writes each batch's predicted classes into ``pred_epoch``
        (one call); comparing them with the labels waits until a count is needed."""
        lo, hi = self.pred_from, self.pred_to
        if hi > lo:
            rows = slice(lo, hi) if self.perm is None else self.perm[lo:hi]
            right = self.pred_epoch[lo:hi] == self.labels[rows]
            if self.weights is None:
                self.correct += int(np.count_nonzero(right))
            else:  # the weighted accuracy: the weight of the rows predicted right, summed
                # batch by batch, so that the total does not depend on when it is settled
                # (a checkpoint, a progress bar): a resumed run's is the uninterrupted one's
                w, bs = self.weights[rows], self.batch_size
                for start in range(0, hi - lo, bs):  # lo is a batch boundary
                    self.correct += float(w[start : start + bs] @ right[start : start + bs])
            self.pred_from = hi

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> History:
        try:
            self._call("on_train_begin", self._info())
            if self.comm is not None:
                self._sync_flags()
            while self.epoch_done < self.epochs and not self.stop:
                self._run_epoch(self.epoch_done + 1)
        except KeyboardInterrupt:
            self._interrupted()
        except DivergenceError:
            self._call("on_train_end", self.history)
            raise
        if self.early_stopping is not None:
            self.history.best_epoch = self.early_stopping.best_epoch
            self.early_stopping._restore(self.params)
        self._call("on_train_end", self.history)
        return self.history

    def _run_epoch(self, epoch: int) -> None:
        started = time.perf_counter()
        self._call("on_epoch_begin", epoch, self.n_batches)
        self.epoch_rng_state = self.rng.bit_generator.state
        perm = self.perm = self.rng.permutation(self.n_train) if self.shuffle else None
        self.pred_from = self.pred_to = self.batch_done * self.batch_size  # resumed: counted
        try:
            if self.comm is None:
                self._run_batches(epoch, perm)
            else:
                self._run_batches_distributed(epoch, perm)
        finally:
            self.epoch_seconds += time.perf_counter() - started
        started = time.perf_counter()
        self._end_epoch(epoch, started)

    def _run_batches(self, epoch: int, perm: np.ndarray | None) -> None:
        """The hot loop: gather a batch, forward and backward, update."""
        net, optimizer, schedule = self.net, self.optimizer, self.schedule
        params, grads, decay = self.opt_params, self.opt_grads, self.decay
        scaled = self.can_scale and optimizer.scaled_gradients
        bs, n_batches = self.batch_size, self.n_batches
        batch_hooks = self.hooks["on_batch_end"]
        output = net.layers[-1]
        # each batch's predicted classes, counted with the labels later (_settle_correct)
        pred_epoch = None if self.labels is None else self.pred_epoch
        host = net.device == "cpu"  # else a batch moves to the network's device once per step
        on_device, gather = net._on_device, self._batch
        weighted = self.weights is not None
        factors = None
        for b in range(self.batch_done, n_batches):
            lo = b * bs
            bufs = self.full if b < n_batches - 1 else self.last
            k = len(bufs[0])
            rows = slice(lo, lo + k) if perm is None else perm[lo : lo + k]
            x_b, t_b, _ = gather(rows, bufs)
            weight = total = k  # the weight the batch's loss stands for; its total weight
            if weighted:  # factors: the batch's mean loss becomes the weighted mean
                factors, weight, total = self._batch_factors(rows, bufs)
            if not host:
                x_b, t_b = on_device(x_b), on_device(t_b)
                factors = None if factors is None else on_device(factors)
            lr = schedule(self.step)
            self.consistent = False
            fused = scaled and lr > 0  # the backward pass gives lr * g: SGD saves a pass
            if weighted:
                loss = net.train_step(x_b, t_b, True, lr if fused else 1.0, factors)
            elif fused:
                loss = net.train_step(x_b, t_b, True, lr)
            else:
                loss = net.train_step(x_b, t_b)
            if not math.isfinite(loss):
                raise self._divergence(epoch, b + 1, loss, lr)
            optimizer.step(params, grads, lr, lr if fused else 1.0, decay)
            self.step += 1
            self.batch_done = b + 1
            self.loss_sum += loss * weight
            self.seen += total  # mid-epoch too: the weighted mean of the rows seen so far
            if pred_epoch is not None:
                out = output.out if host else to_numpy(output.out)
                _predict_classes(out, pred_epoch[lo : lo + k])
                self.pred_to = lo + k
            self.last_lr = lr
            self.consistent = True
            for hook in batch_hooks:
                try:
                    hook(epoch, b, n_batches, loss)
                except StopTraining:  # honoured after this epoch
                    self.stop = self.history.stopped_early = self.asked_to_stop = True
            if self.sigint:
                raise KeyboardInterrupt

    def _batch(self, rows, bufs, labels: bool = False) -> tuple:
        """The inputs, targets and labels of one batch: ``rows`` is a slice of the training
        set (no shuffling: views) or shuffled row numbers, gathered into the reused buffers
        ``bufs`` (shaped for this batch). Compact inputs are converted into ``bufs[0]``.
        The labels only with ``labels=True`` (the one-process loop counts accuracy per epoch,
        from ``self.labels``, see :meth:`_settle_correct`), else None."""
        x_buf, t_buf, l_buf, _, raw_buf, _, _ = bufs
        x, target = self.x, self.target
        labels = self.labels if labels else None
        if type(rows) is slice:
            x_b, t_b = x[rows], target[rows]
            l_b = None if labels is None else labels[rows]
        else:
            x_b = x.take(rows, axis=0, out=raw_buf if self.compact else x_buf, mode="clip")
            t_b = target.take(rows, axis=0, out=t_buf, mode="clip")
            if labels is target:
                l_b = t_b
            elif labels is not None:
                l_b = labels.take(rows, out=l_buf, mode="clip")
            else:
                l_b = None
        if self.compact or self.input_scale is not None:
            x_b = self._converted(x_b, x_buf)
        return x_b, t_b, l_b

    def _batch_factors(self, rows, bufs) -> tuple[np.ndarray, float, float]:
        """The factors of a batch's examples (written into ``bufs``'s last buffer), the
        weight its mean loss stands for (``loss * that = sum_n w_n E_n``), and the batch's
        total weight (what the running metrics divide by). ``"batch"`` normalization:
        :func:`~chainrule.network.row_weights` (mean 1 in every batch), and the total twice;
        ``"dataset"``: each weight over the training set's mean weight, and the batch size
        times that mean."""
        w_buf, f_buf = bufs[5], bufs[6]
        w_b = self.weights[rows] if type(rows) is slice else self.weights.take(rows, out=w_buf)
        total = float(w_b.sum())
        if self.weight_normalization == "dataset":
            mean = self.weight_mean
            return np.multiply(w_b, 1 / mean, out=f_buf), len(w_b) * mean, total
        return row_weights(w_b, out=f_buf), total, total

    def _converted(self, x, out=None) -> np.ndarray:
        """Inputs ``x`` in the network's dtype, written into ``out`` if given, and times
        ``input_scale`` if one was given (the caller's arrays are never changed)."""
        if out is None:
            if not self.compact and self.input_scale is None:
                return x
            out = np.empty(x.shape, self.net.dtype)
        if out is not x:
            np.copyto(out, x)  # integers -> floats for compact inputs
        if self.input_scale is not None:
            out *= self.input_scale
        return out

    def _run_batches_distributed(self, epoch: int, perm: np.ndarray | None) -> None:
        """The loop of :meth:`_run_batches` for data-parallel training: this rank's rows of
        each global batch, forward and backward scaled by rows / batch rows, then the gradients
        and the batch's loss sum and correct count are summed over the ranks. Dropout layers
        draw the masks of each whole global batch (the same on every rank) and use their rows.

        With sample weights, every rank computes the factors of the whole global batch (it
        holds every row's weight and the same shuffle: no message) and uses its rows' share:
        ``sum_ranks (m / k) mean_local(f_n g_n) = (1 / k) sum_batch f_n g_n``, the gradient
        one process takes for the batch (:meth:`_batch_factors`)."""
        net = self.net
        dropouts = _dropout_widths(net)
        try:
            self._distributed_steps(epoch, perm, dropouts)
        finally:
            for layer, _ in dropouts:
                layer.share = None

    def _distributed_steps(self, epoch: int, perm: np.ndarray | None, dropouts: list) -> None:
        net, optimizer, schedule, comm = self.net, self.optimizer, self.schedule, self.comm
        params, grads, decay = self.opt_params, self.opt_grads, self.decay
        can_scale = self.can_scale
        scaled = can_scale and optimizer.scaled_gradients
        labels = self.labels
        bs, n_batches, n_train = self.batch_size, self.n_batches, self.n_train
        rank, size = self.rank, self.size
        pred = self.local[3]
        weighted = self.weights is not None
        factors = w_b = None  # a weighted global batch's factors and weights (k,)
        stats = self.stats
        batch_hooks = self.hooks["on_batch_end"]
        output = net.layers[-1]
        mpi = distributed._mpi()
        in_place, sum_op = mpi.IN_PLACE, mpi.SUM
        for b in range(self.batch_done, n_batches):
            lo = b * bs
            k = min(bs, n_train - lo)  # rows in this global batch
            first, end = distributed.local_rows(k, rank, size)
            m = end - first  # rows of this rank, maybe 0
            for layer, _ in dropouts:  # every rank draws the global batch's masks
                layer.share = (k, first)
            lr = schedule(self.step)
            fused = scaled and lr > 0  # the backward pass gives lr * g (see _run_batches)
            weight = total = k  # the weight the batch's loss stands for; its total weight
            if weighted:  # the factors (k,) of the global batch, the same on every rank
                batch = slice(lo, lo + k) if perm is None else perm[lo : lo + k]
                batch_bufs = self.full if b < n_batches - 1 else self.last
                factors, weight, total = self._batch_factors(batch, batch_bufs)
                # the global batch's weights (k,): gathered into batch_bufs[5] when shuffled
                w_b = self.weights[batch] if perm is None else batch_bufs[5]
            self.consistent = False
            if m:
                rows = slice(lo + first, lo + end)
                bufs = tuple(buf[:m] for buf in self.local)
                x_b, t_b, l_b = self._batch(rows if perm is None else perm[rows], bufs, labels=True)
                # (m / k) * (mean over this rank's rows) = (1 / k) * (sum over them)
                if weighted:  # this rank's rows' factors: mean(f_n E_n) over them
                    scale = (lr if fused else 1.0) * m / k if can_scale else 1.0
                    local_loss = net.train_step(x_b, t_b, True, scale, factors[first:end])
                    if not can_scale:
                        for grad in grads:
                            grad *= m / k
                elif can_scale:
                    local_loss = net.train_step(x_b, t_b, True, (lr if fused else 1.0) * m / k)
                else:
                    local_loss = net.train_step(x_b, t_b)
                    for grad in grads:
                        grad *= m / k
                stats[0] = local_loss * m
                if labels is None:
                    stats[1] = 0
                elif weighted:  # the weight of this rank's rows predicted right
                    right = _predict_classes(output.out, pred[:m]) == l_b
                    stats[1] = w_b[first:end] @ right
                else:
                    stats[1] = _count_correct(output.out, l_b, pred[:m])
            else:
                for grad in grads:
                    grad.fill(0)
                stats[0] = stats[1] = 0
                for layer, width in dropouts:  # the draws the other ranks make, all the same
                    layer.rng.random((k, width), dtype=layer.dtype)
            stats[2] = self.sigint
            for grad in grads:  # one message: the network's gradient vector
                comm.Allreduce(in_place, grad, op=sum_op)
            comm.Allreduce(in_place, stats, op=sum_op)
            loss = float(stats[0]) / k  # mean_n(f_n E_n) over the global batch
            if not math.isfinite(loss):
                raise self._divergence(epoch, b + 1, loss, lr)
            optimizer.step(params, grads, lr, lr if fused else 1.0, decay)
            self.step += 1
            self.batch_done = b + 1
            self.loss_sum += loss * weight if weighted else float(stats[0])
            self.seen += total
            if labels is not None:
                self.correct += float(stats[1]) if weighted else int(stats[1])
            self.last_lr = lr
            self.consistent = True
            for hook in batch_hooks:
                try:
                    hook(epoch, b, n_batches, loss)
                except StopTraining:  # honoured after this epoch (every rank: _sync_flags)
                    self.stop = self.history.stopped_early = self.asked_to_stop = True
            if stats[2]:  # SIGINT on some rank: every rank stops after the same batch
                self.sigint = True
                raise KeyboardInterrupt

    def _sync_flags(self) -> None:
        """Stop (or stop for SIGINT) on every rank when one rank would."""
        flags = np.array([self.stop, self.sigint], np.float64)
        self.comm.Allreduce(distributed._mpi().IN_PLACE, flags)
        if flags[0]:
            self.stop = self.history.stopped_early = True
        if flags[1]:
            self.sigint = True

    def _end_epoch(self, epoch: int, started: float) -> None:
        self._settle_correct()
        if not all(_finite(p) for p in self.params):
            raise self._divergence(epoch, self.batch_done, float("nan"), self.last_lr, True)
        val_loss, val_accuracy = self._evaluate()
        seconds = self.epoch_seconds + time.perf_counter() - started
        seen = self.seen or 1  # weighted: a sum of weights, which may be below 1
        record = {
            "epoch": epoch,
            "loss": self.loss_sum / seen,
            "accuracy": None if self.labels is None else self.correct / seen,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "learning_rate": self.last_lr,
            "seconds": seconds,
        }
        if self.comm is not None:  # rank 0's record (and so decisions) on every rank
            record = self.comm.bcast(record, root=0)
        self.consistent = False
        self.history.epochs.append(record)
        self.epoch_done, self.batch_done = epoch, 0
        self._reset_epoch_totals()
        self.epoch_rng_state = self.rng.bit_generator.state
        es = self.early_stopping
        if es is not None and es._update(epoch, record, self.params):
            self.stop = self.history.stopped_early = True
        self.history.best_epoch = None if es is None else es.best_epoch
        self.consistent = True
        for hook in self.hooks["on_epoch_end"]:
            try:
                hook(epoch, dict(record))
            except StopTraining:
                self.stop = self.history.stopped_early = self.asked_to_stop = True
        if self.comm is not None:
            self._sync_flags()
        ckpt = self.checkpoint
        if ckpt is not None and (epoch % ckpt.every == 0 or epoch == self.epochs or self.stop):
            self._save_checkpoint()
        if self.sigint:
            raise KeyboardInterrupt

    def _evaluate(self) -> tuple[float | None, float | None]:
        """Validation loss and accuracy, dropout off, ``_EVAL_CHUNK`` rows at a time."""
        if self.x_val is None or len(self.x_val) == 0:
            return None, None
        n = len(self.x_val)
        if self.comm is None:
            total, correct = self._evaluate_rows(0, n)
        else:  # each rank its share of the rows, summed
            sums = np.array(self._evaluate_rows(*distributed.local_rows(n, self.rank, self.size)))
            distributed.allreduce_sum([sums], self.comm)
            total = float(sums[0])  # weighted: sum_n w_n E_n
            # weighted: the weight of the rows predicted right, not a count
            correct = int(sums[1]) if self.weights_val is None else float(sums[1])
        weight = n if self.weights_val is None else float(self.weights_val.sum())
        return total / weight, (None if self.labels_val is None else correct / weight)

    def _evaluate_rows(self, first: int, end: int) -> tuple[float, int]:
        """The summed loss and the correct count of validation rows ``[first, end)``; with
        validation weights, the weighted sums."""
        net, labels, weights = self.net, self.labels_val, self.weights_val
        total, correct = 0.0, 0
        pred = np.empty(max(min(_EVAL_CHUNK, end - first), 0), np.intp)
        for lo in range(first, end, _EVAL_CHUNK):
            hi = min(lo + _EVAL_CHUNK, end)
            out = net._forward(net._on_device(self._converted(self.x_val[lo:hi])))
            target = net._on_device(self.target_val[lo:hi])
            if weights is None:
                total += net._loss_value(target) * (hi - lo)
            else:  # sum_n w_n E_n: the factors w_n themselves, over hi - lo rows
                w = weights[lo:hi]
                total += net._weighted_loss_value(target, net._on_device(w)) * (hi - lo)
            if labels is None:
                continue
            right = _predict_classes(to_numpy(out), pred[: hi - lo]) == labels[lo:hi]
            correct += int(np.count_nonzero(right)) if weights is None else float(w @ right)
        return total, correct

    # -- ends -----------------------------------------------------------------------------

    def _divergence(
        self,
        epoch: int,
        batch: int,
        loss: float,
        lr: float,
        weights: bool = False,
        what: str | None = None,
    ) -> DivergenceError:
        if what is None:
            what = (
                "the weights became NaN or inf by the end of"
                if weights
                else f"the loss is {loss} at"
            )
        x, t, w = (
            max(float(np.max(np.abs(to_numpy(a)))) for a in arrays)
            for arrays in ([self.x], [self.target], self.params)
        )
        if self.input_scale is not None:
            x *= float(self.input_scale)
        message = (
            f"training diverged: {what} epoch {epoch}, batch {batch} of {self.n_batches} "
            f"(learning rate {lr:.3g}); try a smaller learning rate"
        )
        standardized = isinstance(self.net.layers[0], Standardize)  # scales its inputs
        labels = self.target.dtype.kind != "f" or self.given_classes  # labels have no scale
        large = [
            f"{name} reach {value:.3g}: {how}"
            for name, value, how, applies in (
                ("the inputs", x, "a Standardize first layer", not standardized),
                ("the targets", t, "divide them by their scale", not labels),
            )
            if applies and value > LARGE_DATA
        ]
        if large:  # a smaller learning rate may only put the divergence off
            message += f", or scale the data to numbers of order 1 ({'; '.join(large)})"
        if self.step == 0 and not weights:  # before any update: no learning rate did this
            message = (
                f"the loss of the first batch, before any update, is {loss}: numbers too large "
                f"for {self.net.dtype} (inputs up to |x| = {x:.3g}, targets up to {t:.3g}, "
                f"weights up to {w:.3g}); scale what is large (the inputs: a Standardize first "
                "layer; regression targets: divide them by their scale; weights: a network "
                "freshly initialized), or train in float64"
            )
        if self.last_checkpoint:
            message += f"; the last good checkpoint is {self.last_checkpoint}"
        return DivergenceError(
            message,
            epoch=epoch,
            batch=batch,
            n_batches=self.n_batches,
            loss=loss,
            learning_rate=lr,
            history=self.history,
            checkpoint_path=self.last_checkpoint,
        )

    def _interrupted(self):
        path = self.last_checkpoint
        if self.checkpoint is not None and self.consistent:
            with contextlib.suppress(ValueError):  # non-finite weights: keep the last one
                path = self._save_checkpoint()
        self.history.interrupted = True
        self._call("on_train_end", self.history)
        if self.batch_done:
            where = f"in epoch {self.epoch_done + 1} after batch {self.batch_done}"
        else:
            where = f"after epoch {self.epoch_done}"
        saved = f"; checkpoint: {path}" if path else ""
        by = f" by {self.signal_name}" if self.signal_name != "SIGINT" else ""
        raise TrainingInterrupted(
            f"training interrupted{by} {where}{saved}",
            history=self.history,
            checkpoint_path=path,
            signal_name=self.signal_name,
        ) from None

    # -- checkpoints ----------------------------------------------------------------------

    def _save_checkpoint(self) -> str:
        ckpt = self.checkpoint
        path = ckpt.path_for(self.epoch_done, self.batch_done)
        if self.rank:  # only rank 0 writes; the others know the name
            self.last_checkpoint = self.history.checkpoint_path = str(path)
            return str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        groups = {}
        es = self.early_stopping
        if es is not None and es.best_weights is not None and es.best_epoch is not None:
            groups["early_stopping.best"] = es.best_weights
        serialization.save_checkpoint(
            path, self.net, self.optimizer, state=self._state(), groups=groups
        )
        ckpt._wrote(path)
        self.last_checkpoint = self.history.checkpoint_path = str(path)
        return str(path)

    def _state(self) -> dict:
        """Everything besides the arrays that a resume needs, JSON-able."""
        self._settle_correct()
        return {
            "epoch": self.epoch_done,
            "batch": self.batch_done,
            "step": self.step,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "n_train": self.n_train,
            "n_val": 0 if self.x_val is None else len(self.x_val),
            "data": self.fingerprint,
            "sample_weight": self.weights is not None,
            "weight_normalization": self.weight_normalization,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "shuffle_rng": self.epoch_rng_state
            if self.batch_done
            else self.rng.bit_generator.state,
            "schedule": self.schedule.config(),
            "schedule_spec": self.schedule_spec.config(),
            "learning_rate": self.last_lr,
            "epoch_totals": {
                "loss_sum": self.loss_sum,
                "correct": self.correct,
                "seen": self.seen,
                "seconds": self.epoch_seconds,
            },
            "history": {"epochs": self.history.to_dicts(), "best_epoch": self.history.best_epoch},
            "early_stopping": None if self.early_stopping is None else self.early_stopping.state(),
        }

    # -- callbacks ------------------------------------------------------------------------

    def _call(self, name: str, *args) -> None:
        for hook in self.hooks[name]:
            try:
                hook(*args)
            except StopTraining:
                self.stop = self.history.stopped_early = self.asked_to_stop = True

    def _info(self) -> dict:
        return {
            "epochs": self.epochs,
            "initial_epoch": self.epoch_done,
            "batch_size": self.batch_size,
            "steps_per_epoch": self.n_batches,
            "n_train": self.n_train,
            "n_val": 0 if self.x_val is None else len(self.x_val),
            "optimizer": self.optimizer.config(),
            "schedule": self.schedule.config(),
            "seed": self.seed,
            "running_metrics": self._running_metrics,
        }

    def _running_metrics(self) -> dict:
        """The current epoch's mean training loss and accuracy so far (for progress bars)."""
        self._settle_correct()
        seen = self.seen or 1
        accuracy = self.correct / seen if self.labels is not None else None
        return {"loss": self.loss_sum / seen, "accuracy": accuracy}


def _share_dropout_streams(net: Network, comm) -> None:
    """Give every rank's Dropout layers rank 0's generators (their states, broadcast): each
    rank then draws the masks of the whole global batch and keeps its own rows of them (see
    :attr:`Dropout.share`), the masks one process would draw, whatever the number of ranks."""
    for layer in net.layers:
        if isinstance(layer, Dropout):
            state = comm.bcast(layer.rng.bit_generator.state, root=0)
            bits = getattr(np.random, state["bit_generator"])()
            bits.state = state
            layer.rng = np.random.Generator(bits)


def _dropout_widths(net: Network) -> list[tuple[Dropout, int]]:
    """Each Dropout layer with dropping to do, and its width (the layer before it)."""
    widths, width = [], net.n_in
    for layer in net.layers:
        if isinstance(layer, Dropout):
            if layer.rate > 0:
                widths.append((layer, width))
        else:
            width = layer.n_out
    return widths


def _check_epochs_left(loaded: serialization.LoadedCheckpoint, epochs: int) -> None:
    """ValueError if the checkpoint is past ``epochs``, the epoch to train up to (a checkpoint
    written inside an epoch is in the next one)."""
    try:
        done, inside = int(loaded.state["epoch"]), int(loaded.state.get("batch", 0)) > 0
    except (KeyError, TypeError, ValueError):
        return  # reported with the rest of the state, by _restore_loop
    if done + inside > epochs:
        where = f"inside epoch {done + 1}" if inside else f"at epoch {done}"
        raise ValueError(
            f"checkpoint {loaded.path} is {where}, past epochs={epochs} (the epoch to train up "
            f"to): nothing to train; give epochs >= {done + 1} to train on"
        )


def _resolve(resume) -> str:
    """A checkpoint file from ``resume``: the file itself, or a directory's newest."""
    if os.path.isdir(resume):
        latest = latest_checkpoint(resume)
        if latest is None:
            raise FileNotFoundError(f"no checkpoint in {os.fspath(resume)}")
        return str(latest)
    return os.fspath(resume)
