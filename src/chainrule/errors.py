"""The exceptions of training and model files, in one place so every module raises the same."""

from __future__ import annotations

__all__ = ["ModelFileError", "DivergenceError", "TrainingInterrupted", "TrainingWarning"]


class ModelFileError(ValueError):
    """A model or checkpoint file is truncated, tampered with, of an unknown format version,
    holds an object array or an array the format does not define, or has arrays whose shapes
    disagree with its metadata. The message starts with the file's path and names the problem.
    """


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite.

    A ``FloatingPointError`` (so an ``ArithmeticError``). Raised before the bad batch updates
    anything; no checkpoint is written after it, so the last one on disk stays good.

    Attributes
    ----------
    epoch : int
        The epoch (1-based) of the bad batch.
    batch : int
        The batch (1-based, out of ``n_batches``) whose loss was not finite.
    n_batches : int
    loss : float
        The offending value (nan, inf or -inf).
    learning_rate : float
        The learning rate of that step.
    history : History
        The epochs completed before.
    checkpoint_path : str or None
        The last checkpoint written, if checkpointing was on.
    """

    def __init__(
        self,
        message: str,
        *,
        epoch: int,
        batch: int,
        n_batches: int,
        loss: float,
        learning_rate: float,
        history=None,
        checkpoint_path: str | None = None,
    ):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.n_batches = n_batches
        self.loss = loss
        self.learning_rate = learning_rate
        self.history = history
        self.checkpoint_path = checkpoint_path


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C / SIGINT, SIGTERM, or a ``KeyboardInterrupt`` raised by
    a callback); raised by :func:`chainrule.fit` after it has saved a checkpoint.

    A subclass of ``KeyboardInterrupt``, so code that does not catch it still stops as on
    Ctrl-C; the command line catches it, prints the checkpoint path and exits with 130.

    Attributes
    ----------
    history : History
        Everything trained so far (``history.interrupted`` is true).
    checkpoint_path : str or None
        The checkpoint to resume from: written at the interruption when it came between two
        batches (always so for SIGINT and SIGTERM, which fit defers to the end of the current
        batch); otherwise the last one written before. ``None`` if checkpointing was off.
    signal_name : str
        ``"SIGTERM"`` when a SIGTERM stopped training, else ``"SIGINT"`` (Ctrl-C, or a
        ``KeyboardInterrupt`` raised by a callback).
    """

    def __init__(
        self,
        message: str,
        *,
        history=None,
        checkpoint_path: str | None = None,
        signal_name: str = "SIGINT",
    ):
        super().__init__(message)
        self.history = history
        self.checkpoint_path = checkpoint_path
        self.signal_name = signal_name


class TrainingWarning(UserWarning):
    """Training ran to its end, but its result is most likely not what was wanted: the
    training accuracy of its last epoch no better than always answering the most common
    class. The message says so, with the usual causes."""
