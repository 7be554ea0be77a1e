"""Optimizers: turn the gradients of a batch into an in-place update of the parameters.

Every optimizer has one public verb, :meth:`Optimizer.step`, which updates each parameter
array in place (the network keeps the same arrays for its whole life, so an optimizer may hold
them) from the matching gradient array. A subclass writes one method, ``_update``, for one
array; the base class does the bookkeeping (state buffers, weight decay, the step counter).

Notation, for one parameter array ``w`` with gradient ``g = dE/dw`` (the batch mean), learning
rate ``lr`` (the schedule's value for this step) and step count ``t = 1, 2, ...``:

- :class:`SGD`: ``w -= lr * g``; with momentum ``v = momentum * v - lr * g; w += v``; with
  Nesterov momentum ``v = momentum * v - lr * g; w += momentum * v - lr * g``.
- :class:`Adam`: ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``,
  ``w -= lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1**t)``,
  ``v_hat = v / (1 - b2**t)``.
- :class:`AdamW`: Adam with decoupled weight decay ``w -= lr * wd * w`` before the step.
- :class:`RMSprop`: ``v = rho v + (1 - rho) g**2``, ``w -= lr * g / (sqrt(v) + eps)``.

Weight decay (``weight_decay=wd``) applies to **weight matrices only** (arrays with 2 or more
dimensions), never to biases. It is coupled L2 for every optimizer but AdamW: ``g += wd * w``
before the update, i.e. the gradient of ``E + wd/2 * sum(w**2)``; the gradient arrays are left
holding that sum. AdamW decouples it (see docs/training.md for how the two scale with the
learning rate, the batch size and the data set size).

Performance: state and one scratch buffer per parameter array are allocated once, on the first
step, and every operation writes with ``out=`` or in place: no array is allocated per step.
:func:`chainrule.fit` hands the optimizer the network's single parameter vector (every layer's
weights and biases are views of it), so a step is a handful of whole-network operations, and
SGD, which accepts gradients already multiplied by the learning rate (``scaled_gradients``),
has the backward pass produce ``lr * g`` and updates with one pass: ``w -= (lr * g)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from chainrule._registry import build
from chainrule.backend import asarray, namespace, to_numpy

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "OPTIMIZERS",
    "get_optimizer",
]


def _check_rate(label: str, value, low_open: bool = True) -> float:
    """``value`` as a finite float > 0 (or >= 0 when ``low_open`` is false)."""
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} must be a number, got {label}={value!r}") from exc
    if not math.isfinite(value) or value < 0 or (low_open and value == 0):
        bound = "> 0" if low_open else ">= 0"
        raise ValueError(f"{label} must be finite and {bound}, got {label}={value}")
    return value


def _check_fraction(label: str, value) -> float:
    """``value`` as a float in [0, 1)."""
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} must be a number, got {label}={value!r}") from exc
    if not 0 <= value < 1:
        raise ValueError(f"{label} must be in [0, 1), got {label}={value}")
    return value


class Optimizer:
    """Base class: bookkeeping shared by every optimizer.

    Parameters
    ----------
    learning_rate : float
        The base learning rate (a schedule, if any, replaces it step by step through the
        ``learning_rate`` argument of :meth:`step`; this attribute is never changed).
    weight_decay : float
        L2 coefficient for weight matrices (not biases); see the module docstring.

    Attributes
    ----------
    iterations : int
        Steps taken so far (``t`` of Adam's bias correction); part of a checkpoint.
    slots : tuple of str
        Names of the per-parameter state arrays (``("m", "v")`` for Adam).
    scaled_gradients : bool
        Whether :meth:`step` accepts gradients already multiplied by the learning rate.
    """

    name = "optimizer"
    slots: tuple[str, ...] = ()
    decoupled_weight_decay = False
    scaled_gradients = False

    def __init__(self, learning_rate: float, weight_decay: float = 0.0):
        self.learning_rate = _check_rate("learning_rate", learning_rate)
        self.weight_decay = _check_rate("weight_decay", weight_decay, low_open=False)
        self.iterations = 0
        self._state: dict[str, list[np.ndarray]] | None = None
        self._scratch: list[np.ndarray] = []
        self._flat_scratch = None
        self._shapes: list[tuple[tuple[int, ...], np.dtype]] = []
        self._bound: Sequence[np.ndarray] | None = None

    # -- the public verb -------------------------------------------------------------------

    def step(
        self,
        params: Sequence[np.ndarray],
        grads: Sequence[np.ndarray],
        learning_rate: float | None = None,
        grad_scale: float = 1.0,
        decay: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        """Update every array of ``params`` in place from the matching array of ``grads``.

        Parameters
        ----------
        params : sequence of ndarray
            The parameters: ``net.parameters()``, or ``[net.parameter_vector]`` (the whole
            network in one array: a few operations per step instead of a few per array).
            The same shapes at every step.
        grads : sequence of ndarray
            Gradients shaped like ``params`` (``net.parameter_gradients()``, or
            ``[net.gradient_vector]``). With coupled weight decay they are changed to
            ``g + wd * w``.
        learning_rate : float, optional
            This step's learning rate (from a schedule); default ``self.learning_rate``.
        grad_scale : float
            ``grads`` hold ``grad_scale * g``. Optimizers with :attr:`scaled_gradients` (SGD)
            take ``grad_scale=lr`` (``Network.train_step(..., grad_scale=lr)`` gives such
            gradients), which saves them a pass over the parameters; the others need 1.
        decay : sequence of (weight, gradient) pairs, optional
            The arrays weight decay applies to, views into ``params`` and ``grads``; default:
            the arrays of ``params`` with 2 or more dimensions (weight matrices, not biases).
        """
        if params is not self._bound:
            self._bind(params)
        if grad_scale != 1 and not self.scaled_gradients:
            raise ValueError(f"{type(self).__name__} needs unscaled gradients (grad_scale=1)")
        lr = self.learning_rate if learning_rate is None else learning_rate
        self.iterations += 1
        self._prepare(lr)
        if self.weight_decay:
            self._decay_weights(params, grads, lr, grad_scale, decay)
        scratch = self._scratch
        for i, (param, grad) in enumerate(zip(params, grads)):
            self._update(i, param, grad, lr, scratch[i], grad_scale)

    def _decay_weights(self, params, grads, lr, grad_scale, decay) -> None:
        if decay is None:
            decay = [(p, g) for p, g in zip(params, grads) if p.ndim >= 2]
        wd = self.weight_decay
        if self.decoupled_weight_decay:
            for weights, _ in decay:
                weights *= 1 - lr * wd  # w -= lr * wd * w
            return
        for weights, grad in decay:
            scratch = self._scratch_like(weights)
            namespace(weights).multiply(weights, wd * grad_scale, out=scratch)  # g += wd * w
            grad += scratch

    def _scratch_like(self, array: np.ndarray) -> np.ndarray:
        """A view of free scratch space shaped like ``array`` (used before the updates)."""
        flat = self._flat_scratch
        if flat.size < array.size:
            raise ValueError(f"a weight-decay array of shape {array.shape} is not a parameter")
        return namespace(flat).reshape(flat[: array.size], array.shape)

    # -- what a subclass writes ------------------------------------------------------------

    def _prepare(self, lr: float) -> None:
        """Per-step scalars shared by every array (e.g. Adam's bias corrections)."""

    def _update(
        self,
        index: int,
        param: np.ndarray,
        grad: np.ndarray,
        lr: float,
        scratch: np.ndarray,
        grad_scale: float,
    ) -> None:
        """Update ``param`` in place from ``grad`` (= ``grad_scale * g``); ``scratch`` is a
        buffer shaped like ``param``, free to use."""
        raise NotImplementedError

    # -- state -----------------------------------------------------------------------------

    def build(self, params: Sequence[np.ndarray]) -> None:
        """Allocate zeroed state for ``params`` and reset :attr:`iterations` to 0."""
        self._allocate(params)
        self.iterations = 0

    def _allocate(self, params: Sequence[np.ndarray]) -> None:
        self._state = {slot: [namespace(p).zeros_like(p) for p in params] for slot in self.slots}
        self._set_shapes(params)

    def _set_shapes(self, params: Sequence[np.ndarray]) -> None:
        self._shapes = [(p.shape, _dtype_name(p.dtype)) for p in params]
        self._scratch = [namespace(p).empty_like(p) for p in params]
        largest = max(self._scratch, key=lambda a: a.size)
        self._flat_scratch = namespace(largest).reshape(largest, (-1,))
        self._bound = params

    def _bind(self, params: Sequence[np.ndarray]) -> None:
        if self._state is None:
            self._allocate(params)  # keeps iterations (restored from a checkpoint)
            return
        xp = namespace(params[0])
        if namespace(self._scratch[0]) is not xp:  # the network moved: the state follows
            self._state = {
                slot: [asarray(xp, to_numpy(a)) for a in arrays]
                for slot, arrays in self._state.items()
            }
            first = self._state[self.slots[0]] if self.slots else params
            self._set_shapes(first)
        shapes = [(p.shape, _dtype_name(p.dtype)) for p in params]
        if shapes != self._shapes:
            raise ValueError(
                f"this {type(self).__name__} holds state for parameters of shapes "
                f"{[(s, str(d)) for s, d in self._shapes]}, got {[(s, str(d)) for s, d in shapes]}"
                "; call reset() to use it with another network"
            )
        self._bound = params

    def reset(self) -> None:
        """Forget all state: the next :meth:`step` starts from zero."""
        self._state = None
        self._bound = None
        self.iterations = 0

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The state buffers as NumPy arrays (the buffers themselves on the CPU, copies from
        another device), named ``"<slot>.<index>"`` (e.g. ``"m.0"``); empty if none yet."""
        if self._state is None:
            return {}
        return {
            f"{slot}.{i}": to_numpy(a)
            for slot, arrays in self._state.items()
            for i, a in enumerate(arrays)
        }

    def load_state(self, arrays: dict[str, np.ndarray], iterations: int) -> None:
        """Restore what :meth:`state_arrays` and :attr:`iterations` held (from a checkpoint).

        ``arrays`` must hold ``"<slot>.<i>"`` for every slot and ``i = 0 .. n - 1``, or be
        empty (no state yet).
        """
        if not arrays:
            self._state = None  # no state yet: allocated (zeroed) on the first step
        elif not self.slots:
            raise ValueError(f"{type(self).__name__} has no state arrays, got {sorted(arrays)}")
        else:
            n = len(arrays) // len(self.slots)
            expected = {f"{slot}.{i}" for slot in self.slots for i in range(n)}
            if n == 0 or set(arrays) != expected:
                raise ValueError(
                    f"{type(self).__name__} state needs arrays named "
                    f"{', '.join(f'{slot}.<i>' for slot in self.slots)} for i = 0 .. n - 1, "
                    f"got {sorted(arrays)}"
                )
            self._state = {
                slot: [np.array(arrays[f"{slot}.{i}"]) for i in range(n)] for slot in self.slots
            }
            self._set_shapes(self._state[self.slots[0]])
        self._bound = None
        self.iterations = int(iterations)

    # -- configuration ---------------------------------------------------------------------

    def config(self) -> dict:
        """A JSON-able description; ``get_optimizer(opt.config())`` makes an equal optimizer."""
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    The update rule for parameter ``w`` with gradient ``g`` when ``momentum`` is 0::

        w = w - learning_rate * g

    Update rule when ``momentum`` is larger than 0::

        velocity = momentum * velocity - learning_rate * g
        w = w + velocity

    When ``nesterov=True``, this rule becomes::

        velocity = momentum * velocity - learning_rate * g
        w = w + momentum * velocity - learning_rate * g

    Parameters
    ----------
    learning_rate : float
        Default 0.01.
    momentum : float in [0, 1)
        Accelerates descent in the relevant direction and dampens oscillations. Default 0.
    nesterov : bool
        Whether to apply Nesterov momentum. Default False.
    weight_decay : float
        Coupled L2 on weight matrices: ``g += weight_decay * w``.
    """

    name = "sgd"
    scaled_gradients = True

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__(learning_rate, weight_decay)
        self.momentum = _check_fraction("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0, got momentum=0")
        self.slots = ("velocity",) if self.momentum else ()

    def _update(self, index, param, grad, lr, scratch, grad_scale):
        rate = lr / grad_scale  # grad holds grad_scale * g
        if rate == 1:
            step = grad  # already lr * g
        else:
            step = namespace(grad).multiply(grad, rate, out=scratch)  # lr * g
        if not self.momentum:
            param -= step  # w -= lr * g
            return
        velocity = self._state["velocity"][index]
        velocity *= self.momentum  # v = momentum * v
        velocity -= step  #          - lr * g
        if self.nesterov:
            param -= step  # w += -lr * g
            namespace(param).multiply(velocity, self.momentum, out=scratch)
            param += scratch  #    + momentum * v
        else:
            param += velocity  # w += v

    def config(self) -> dict:
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): per-entry step sizes from running moments of the gradient.

    The update rule for parameter ``w`` with gradient ``g`` at step ``t = 1, 2, ...``::

        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t)          (bias correction: m, v start at 0)
        v_hat = v / (1 - beta_2**t)
        w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    The state holds the exponentially weighted *sums* ``m_sum = m / (1 - beta_1)`` and
    ``v_sum = v / (1 - beta_2)``, which need one pass fewer each to update
    (``m_sum = beta_1 * m_sum + g``); the constants move into the step::

        c = sqrt((1 - beta_2) / (1 - beta_2**t))           so sqrt(v_hat) = c * sqrt(v_sum)
        w = w - lr (1 - beta_1) / ((1 - beta_1**t) c) * m_sum / (sqrt(v_sum) + epsilon / c)

    the same update, in 10 passes over the parameters instead of 13.

    Parameters
    ----------
    learning_rate : float
        Default 0.001.
    beta_1, beta_2 : float in [0, 1)
        Decay rates of the first and second moment estimates. Default 0.9 and 0.999.
    epsilon : float
        Added to ``sqrt(v_hat)`` for numerical stability. Default 1e-7.
    weight_decay : float
        Coupled L2 on weight matrices: ``g += weight_decay * w`` (use :class:`AdamW` for the
        decoupled form).
    """

    name = "adam"
    slots = ("m_sum", "v_sum")

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
    ):
        super().__init__(learning_rate, weight_decay)
        self.beta_1 = _check_fraction("beta_1", beta_1)
        self.beta_2 = _check_fraction("beta_2", beta_2)
        self.epsilon = _check_rate("epsilon", epsilon)
        self._alpha = self._eps = 1.0

    def _prepare(self, lr):
        t = self.iterations
        c = math.sqrt((1 - self.beta_2) / (1 - self.beta_2**t))  # sqrt(v_hat) = c sqrt(v_sum)
        self._eps = self.epsilon / c
        self._alpha = lr * (1 - self.beta_1) / ((1 - self.beta_1**t) * c)

    def _update(self, index, param, grad, lr, scratch, grad_scale):
        xp = namespace(param)
        m_sum = self._state["m_sum"][index]
        v_sum = self._state["v_sum"][index]
        m_sum *= self.beta_1  # m_sum = b1 m_sum + g
        m_sum += grad
        xp.multiply(grad, grad, out=scratch)  # v_sum = b2 v_sum + g^2
        v_sum *= self.beta_2
        v_sum += scratch
        xp.sqrt(v_sum, out=scratch)  # sqrt(v_sum) + eps / c
        scratch += self._eps
        xp.divide(m_sum, scratch, out=scratch)  # w -= alpha * m_sum / (sqrt(v_sum) + eps / c)
        scratch *= self._alpha
        param -= scratch

    def config(self) -> dict:
        return {
            **super().config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    Before the Adam step of :class:`Adam`, each weight matrix (not the biases) shrinks::

        w = w - learning_rate * weight_decay * w

    so the decay is not divided by ``sqrt(v_hat)`` as coupled L2 would be. Default
    ``weight_decay`` 0.004 (as Keras); ``learning_rate`` is the scheduled one, so the decay
    follows the schedule.
    """

    name = "adamw"
    decoupled_weight_decay = True

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float = 0.004,
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay)


class RMSprop(Optimizer):
    """RMSprop (Hinton): divide the gradient by a running root-mean-square of its size.

    The update rule for parameter ``w`` with gradient ``g``::

        v = rho * v + (1 - rho) * g**2
        w = w - learning_rate * g / (sqrt(v) + epsilon)

    The state holds ``v_sum = v / (1 - rho)`` (``v_sum = rho * v_sum + g**2``, a pass fewer);
    with ``c = sqrt(1 - rho)`` the step is ``lr / c * g / (sqrt(v_sum) + epsilon / c)``.

    Parameters
    ----------
    learning_rate : float
        Default 0.001.
    rho : float in [0, 1)
        Decay rate of the running mean of ``g**2``. Default 0.9.
    epsilon : float
        Default 1e-7.
    weight_decay : float
        Coupled L2 on weight matrices: ``g += weight_decay * w``.
    """

    name = "rmsprop"
    slots = ("v_sum",)

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
    ):
        super().__init__(learning_rate, weight_decay)
        self.rho = _check_fraction("rho", rho)
        self.epsilon = _check_rate("epsilon", epsilon)

    def _update(self, index, param, grad, lr, scratch, grad_scale):
        xp = namespace(param)
        v_sum = self._state["v_sum"][index]
        c = math.sqrt(1 - self.rho)  # sqrt(v) = c sqrt(v_sum)
        xp.multiply(grad, grad, out=scratch)  # v_sum = rho v_sum + g^2
        v_sum *= self.rho
        v_sum += scratch
        xp.sqrt(v_sum, out=scratch)  # w -= lr / c * g / (sqrt(v_sum) + eps / c)
        scratch += self.epsilon / c
        xp.divide(grad, scratch, out=scratch)
        scratch *= lr / c
        param -= scratch

    def config(self) -> dict:
        return {**super().config(), "rho": self.rho, "epsilon": self.epsilon}


def _dtype_name(dtype) -> str:
    """``"float32"`` for NumPy's, CuPy's or another array library's float32 dtype."""
    return str(dtype).rsplit(".", 1)[-1]


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": SGD,
    "momentum": lambda **kw: SGD(**{"momentum": 0.9, **kw}),
    "nesterov": lambda **kw: SGD(**{"momentum": 0.9, "nesterov": True, **kw}),
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
}
"""Name -> factory with default settings, for the command line, configs and checkpoints.
``"momentum"`` and ``"nesterov"`` are :class:`SGD` with ``momentum=0.9``."""


def get_optimizer(
    spec: str | dict | Optimizer, learning_rate: float | None = None, **kwargs
) -> Optimizer:
    """An :class:`Optimizer` from a name, a :meth:`~Optimizer.config` dict, or an instance.

    Parameters
    ----------
    spec : str, dict or Optimizer
        A name of :data:`OPTIMIZERS` (``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``,
        ``"adamw"``, ``"rmsprop"``); a dict with ``"name"`` and settings; or an optimizer,
        returned as is (then no other argument may be given).
    learning_rate : float, optional
        Overrides the default (``None`` keeps it).
    **kwargs
        Other settings, e.g. ``momentum=0.8``.

    An unknown name raises ``ValueError`` listing the valid ones.
    """
    if isinstance(spec, Optimizer):
        if learning_rate is not None or kwargs:
            raise ValueError("settings cannot be combined with an Optimizer instance")
        return spec
    if learning_rate is not None:
        kwargs["learning_rate"] = learning_rate
    return build("optimizer", spec, OPTIMIZERS, instance_name="Optimizer", **kwargs)
