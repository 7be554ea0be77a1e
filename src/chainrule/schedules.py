"""Learning-rate schedules: the learning rate of each update step.

A schedule is a frozen dataclass called with the index of an update, ``step = 0, 1, 2, ...``
counted over the whole run (across epochs and across a resume: the position is part of a
checkpoint), and returns that step's learning rate::

    lr = schedule(step)

Settings left as ``None`` (the peak learning rate, the number of steps) are filled in by
:meth:`Schedule.bind` from what :func:`chainrule.fit` knows: the optimizer's learning rate, the
batches per epoch and the number of epochs. So ``fit(..., optimizer=Adam(3e-3),
schedule="one_cycle")`` warms up to 3e-3 and anneals over the whole run.

- :class:`Constant`: ``lr``.
- :class:`StepDecay`: ``lr * factor ** floor(step / every_steps)``.
- :class:`CosineDecay`: optional linear warm-up, then
  ``min_lr + (lr - min_lr) * (1 + cos(pi * t / decay_steps)) / 2``.
- :class:`InverseTimeDecay` (1/t): ``lr / (1 + decay_rate * step / decay_steps)``.
- :class:`OneCycle`: linear warm-up from ``lr / div_factor`` to ``lr``, then cosine annealing
  to ``lr / div_factor / final_div_factor`` at the last step.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import ClassVar

from chainrule._registry import build

__all__ = [
    "Schedule",
    "Constant",
    "StepDecay",
    "CosineDecay",
    "InverseTimeDecay",
    "OneCycle",
    "SCHEDULES",
    "get_schedule",
]


def _positive(schedule: Schedule, label: str, integer: bool = False, allow_zero: bool = False):
    """Check the optional setting ``label`` of ``schedule``: None passes; otherwise a finite
    real number > 0 (or >= 0), not a bool. Python and NumPy numbers are accepted; the setting is
    stored back as a plain Python ``int`` (``integer=True``) or ``float``, so the config is
    JSON-able."""
    value = getattr(schedule, label)
    if value is None:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    try:
        ok = ok and math.isfinite(value)
    except OverflowError:  # an int too large for a float
        ok = False
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or value < 0 or (value == 0 and not allow_zero):
        kind = "an integer" if integer else "a finite number"
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{label} must be {kind} {bound}, got {label}={value!r}")
    # frozen dataclass: set the plain number the way dataclasses' own __init__ does
    object.__setattr__(schedule, label, int(value) if integer else float(value))


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Base class. Subclasses are frozen dataclasses whose fields are the settings.

    ``learning_rate`` (``None``: the optimizer's) is the base, or peak, learning rate.
    """

    name: ClassVar[str] = "schedule"
    learning_rate: float | None = None

    def __post_init__(self):
        _positive(self, "learning_rate")

    def __call__(self, step: int) -> float:
        """The learning rate of update ``step`` (0-based, counted over the whole run)."""
        raise NotImplementedError

    def bind(self, learning_rate: float, steps_per_epoch: int, epochs: int) -> Schedule:
        """A copy with every ``None`` setting filled in for a run of ``epochs`` epochs of
        ``steps_per_epoch`` updates whose optimizer has ``learning_rate``."""
        lr = self.learning_rate if self.learning_rate is not None else learning_rate
        return dataclasses.replace(
            self, learning_rate=lr, **self._defaults(steps_per_epoch, epochs)
        )

    def _defaults(self, steps_per_epoch: int, epochs: int) -> dict:
        return {}

    def _lr(self) -> float:
        if self.learning_rate is None:
            raise ValueError(
                f"{type(self).__name__} has no learning_rate: give one, or bind() it "
                "(fit does, from the optimizer)"
            )
        return self.learning_rate

    def config(self) -> dict:
        """A JSON-able description; :func:`get_schedule` of it gives an equal schedule."""
        return {"name": self.name, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class Constant(Schedule):
    """``lr(step) = learning_rate``."""

    name: ClassVar[str] = "constant"

    def __call__(self, step: int) -> float:
        return self._lr()


@dataclasses.dataclass(frozen=True)
class StepDecay(Schedule):
    """Multiply the learning rate by ``factor`` every ``every_steps`` updates::

        lr(step) = learning_rate * factor ** floor(step / every_steps)

    Give ``every_steps``, or ``every_epochs`` (turned into steps by :meth:`bind`); with
    neither, the rate drops every ``max(1, epochs // 4)`` epochs.
    """

    name: ClassVar[str] = "step"
    factor: float = 0.5
    every_steps: int | None = None
    every_epochs: int | None = None

    def __post_init__(self):
        super().__post_init__()
        _positive(self, "factor")
        _positive(self, "every_steps", integer=True)
        _positive(self, "every_epochs", integer=True)

    def _defaults(self, steps_per_epoch, epochs):
        if self.every_steps is not None:
            return {}
        every_epochs = self.every_epochs or max(1, epochs // 4)
        return {"every_steps": every_epochs * steps_per_epoch, "every_epochs": every_epochs}

    def __call__(self, step: int) -> float:
        if self.every_steps is None:
            raise ValueError("StepDecay needs every_steps: give it, or bind() the schedule")
        return self._lr() * self.factor ** (step // self.every_steps)


@dataclasses.dataclass(frozen=True)
class CosineDecay(Schedule):
    """Optional linear warm-up, then cosine annealing to ``min_learning_rate``::

        step < warmup_steps:  lr = learning_rate * (step + 1) / (warmup_steps + 1)
        otherwise, t = min(step - warmup_steps, decay_steps):
            lr = min_learning_rate
                 + (learning_rate - min_learning_rate) * (1 + cos(pi * t / decay_steps)) / 2

    ``decay_steps`` defaults to the steps of the run after the warm-up.
    """

    name: ClassVar[str] = "cosine"
    decay_steps: int | None = None
    warmup_steps: int = 0
    min_learning_rate: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        _positive(self, "decay_steps", integer=True)
        _positive(self, "warmup_steps", integer=True, allow_zero=True)
        _positive(self, "min_learning_rate", allow_zero=True)

    def _defaults(self, steps_per_epoch, epochs):
        if self.decay_steps is not None:
            return {}
        return {"decay_steps": max(1, steps_per_epoch * epochs - self.warmup_steps)}

    def __call__(self, step: int) -> float:
        peak = self._lr()
        if step < self.warmup_steps:
            return peak * (step + 1) / (self.warmup_steps + 1)
        if self.decay_steps is None:
            raise ValueError("CosineDecay needs decay_steps: give it, or bind() the schedule")
        t = min(step - self.warmup_steps, self.decay_steps)
        low = self.min_learning_rate
        return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * t / self.decay_steps))


@dataclasses.dataclass(frozen=True)
class InverseTimeDecay(Schedule):
    """1/t decay::

        lr(step) = learning_rate / (1 + decay_rate * step / decay_steps)

    ``decay_steps`` defaults to one epoch, so with ``decay_rate=1`` the rate is halved after
    one epoch, a third after two, ...
    """

    name: ClassVar[str] = "inverse_time"
    decay_rate: float = 1.0
    decay_steps: int | None = None

    def __post_init__(self):
        super().__post_init__()
        _positive(self, "decay_rate", allow_zero=True)
        _positive(self, "decay_steps", integer=True)

    def _defaults(self, steps_per_epoch, epochs):
        return {} if self.decay_steps is not None else {"decay_steps": steps_per_epoch}

    def __call__(self, step: int) -> float:
        if self.decay_steps is None:
            raise ValueError("InverseTimeDecay needs decay_steps: give it, or bind() it")
        return self._lr() / (1 + self.decay_rate * step / self.decay_steps)


@dataclasses.dataclass(frozen=True)
class OneCycle(Schedule):
    """One cycle (Smith): linear warm-up to the peak, then cosine annealing to almost zero.

    With ``peak = learning_rate``, ``start = peak / div_factor``,
    ``end = start / final_div_factor`` and ``T = total_steps``, the warm-up takes
    ``warm = min(max(1, round(warmup_fraction * T)), max(0, T - 2))`` steps: at least one, and
    at least one step is left after the peak::

        step < warm:  lr = start + (peak - start) * step / warm
        otherwise:    p = min(1, (step - warm) / max(1, T - 1 - warm))
                      lr = end + (peak - end) * (1 + cos(pi * p)) / 2

    so for ``T >= 3``: ``lr(0) = start``, ``lr(warm) = peak`` and ``lr(T - 1) = end``. A run of
    one or two steps is too short for a warm-up (``warm = 0``) and starts at the peak: two steps
    get ``peak, end``, a single step gets ``peak``. Steps past the run stay at ``end``.
    ``total_steps`` defaults to the whole run.
    """

    name: ClassVar[str] = "one_cycle"
    total_steps: int | None = None
    warmup_fraction: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4

    def __post_init__(self):
        super().__post_init__()
        _positive(self, "total_steps", integer=True)
        fraction = self.warmup_fraction
        if not (
            isinstance(fraction, numbers.Real)
            and not isinstance(fraction, bool)
            and 0 <= fraction < 1
        ):
            raise ValueError(f"warmup_fraction must be a number in [0, 1), got {fraction!r}")
        object.__setattr__(self, "warmup_fraction", float(fraction))  # a NumPy scalar too
        _positive(self, "div_factor")
        _positive(self, "final_div_factor")

    def _defaults(self, steps_per_epoch, epochs):
        return {} if self.total_steps is not None else {"total_steps": steps_per_epoch * epochs}

    def __call__(self, step: int) -> float:
        if self.total_steps is None:
            raise ValueError("OneCycle needs total_steps: give it, or bind() the schedule")
        peak = self._lr()
        start = peak / self.div_factor
        end = start / self.final_div_factor
        total = self.total_steps
        # at least one warm-up step, but at least one step after the peak (none if total <= 2)
        warm = min(max(1, round(self.warmup_fraction * total)), max(0, total - 2))
        if step < warm:
            return start + (peak - start) * step / warm
        progress = min(1.0, (step - warm) / max(1, total - 1 - warm))
        return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * progress))


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, StepDecay, CosineDecay, InverseTimeDecay, OneCycle)
}
"""Name -> class, for the command line, configs and checkpoints."""

_ALIASES = {
    "step_decay": "step",
    "cosine_decay": "cosine",
    "one_cycle_lr": "one_cycle",
    "onecycle": "one_cycle",
    "1/t": "inverse_time",
    "inverse_time_decay": "inverse_time",
}


def get_schedule(spec: str | dict | Schedule | None = None, **kwargs) -> Schedule:
    """A :class:`Schedule` from a name, a :meth:`~Schedule.config` dict or an instance.

    ``None`` means :class:`Constant`. Names: ``"constant"``, ``"step"``, ``"cosine"``,
    ``"inverse_time"``, ``"one_cycle"``; ``kwargs`` are settings. An unknown name raises
    ``ValueError`` listing the valid ones.
    """
    if isinstance(spec, Schedule):
        if kwargs:
            raise ValueError("settings cannot be combined with a Schedule instance")
        return spec
    if spec is None:
        spec = "constant"
    return build("schedule", spec, SCHEDULES, _ALIASES, instance_name="Schedule", **kwargs)
