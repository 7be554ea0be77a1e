"""Loss functions: ``value(out, target)`` and ``delta(out, target)``.

The loss of a batch is the **mean of the per-example losses**, so its gradient is the mean of the
per-example gradients: ``delta`` already carries the factor ``1 / batch``.

Two kinds:

- plain losses (``sse``, ``mse``) take the network's output ``out`` and return
  ``dE/dout``; the output layer then applies its activation's derivative;
- fused losses (``cross_entropy`` with a softmax output, ``binary_cross_entropy`` with a sigmoid
  output) take the output layer's ``net`` (the logits: their argument ``out`` is ``net``, not
  probabilities), compute the loss stably with log-sum-exp, and return
  ``dE/dnet = (softmax(net) - label) / batch`` (the sigmoid's for binary) directly. The activation's
  derivative cancels out of the chain rule, which is why the notes found that "the activation
  derivative almost never helps".

``target`` is always a float array of shape ``(batch, n_out)`` here (one-hot rows for class
labels), except that :class:`CrossEntropy` also takes integer labels of shape ``(batch,)``.
The :class:`~chainrule.network.Network` converts user targets before calling a loss.

As in :mod:`chainrule.activations`, the functions come from the arrays' own module
(``xp = namespace(out)``), so the same code runs on the CPU and on a GPU.
"""

from __future__ import annotations

import numpy as np

from chainrule._registry import build
from chainrule.backend import at_labels, namespace, smallest, subtract_at_labels, total

__all__ = [
    "Loss",
    "SumSquaredError",
    "MeanSquaredError",
    "CrossEntropy",
    "BinaryCrossEntropy",
    "LOSSES",
    "get_loss",
]


class Loss:
    """Base class. ``fused_activation`` names the output activation a fused loss works through."""

    name = "loss"
    fused_activation: str | None = None

    def value(self, out: np.ndarray, target: np.ndarray, probs: np.ndarray | None = None) -> float:
        """The mean over the batch of the per-example loss (of :meth:`per_example`).

        ``out``: the network's output for a plain loss, but the output layer's ``net`` (the
        logits) for a fused one (``cross_entropy``, ``binary_cross_entropy``): probabilities
        given there would be taken for logits. ``probs`` (fused losses only), as for
        :meth:`delta`, may save recomputing the output activation.
        """
        raise NotImplementedError

    def per_example(
        self, out: np.ndarray, target: np.ndarray, probs: np.ndarray | None = None
    ) -> np.ndarray:
        """Each example's own loss ``E_n``, shape (batch,): :meth:`value` is their mean.
        Weighted training (``fit(..., sample_weight=w)``) takes ``sum_n w_n E_n / sum_n w_n``
        instead. The arguments are those of :meth:`value`."""
        raise NotImplementedError(
            f"{type(self).__name__} has no per_example(out, target, probs=None) method, which "
            "sample weights need (each example's loss, shape (batch,))"
        )

    def delta(
        self,
        out: np.ndarray,
        target: np.ndarray,
        probs: np.ndarray | None = None,
        delta: np.ndarray | None = None,
        scale: float = 1.0,
    ) -> np.ndarray:
        """The gradient of :meth:`value`: ``dE/dout`` (plain) or ``dE/dnet`` (fused).

        ``probs`` (fused losses only) is the output activation already computed from ``out``,
        so it need not be computed twice. ``delta``, optional, is an array shaped like ``out``
        to write the result into (the network passes a reused buffer; it may be ``probs``).
        ``scale`` multiplies the result (the training loop passes the learning rate, see
        :meth:`chainrule.Network.train_step`); it joins the ``1 / batch`` in one multiply.
        """
        raise NotImplementedError

    def value_and_delta(
        self,
        out: np.ndarray,
        target: np.ndarray,
        probs: np.ndarray | None = None,
        delta: np.ndarray | None = None,
        scale: float = 1.0,
        want_value: bool = True,
    ) -> tuple[float | None, np.ndarray]:
        """``(value(...), delta(...))`` in one call (the value ``None`` unless
        ``want_value``): a training step needs both, and some losses share work between
        them."""
        value = self.value(out, target, probs) if want_value else None
        return value, self.delta(out, target, probs, delta, scale)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SumSquaredError(Loss):
    """The notes' loss: ``E = 1/2 * sum_k (label_k - out_k)**2`` per example.

    ``dE/dout = -(label - out)``, divided by the batch size for the batch mean.
    """

    name = "sse"

    def value(self, out, target, probs=None):
        diff = out - target
        return 0.5 * float(namespace(out).vdot(diff, diff)) / out.shape[0]

    def per_example(self, out, target, probs=None):
        diff = out - target
        return 0.5 * namespace(out).sum(diff * diff, axis=1)

    def delta(self, out, target, probs=None, delta=None, scale=1.0):
        delta = namespace(out).subtract(out, target, out=delta)  # -(label - out)
        delta *= scale / out.shape[0]
        return delta

    def value_and_delta(self, out, target, probs=None, delta=None, scale=1.0, want_value=True):
        # both start from the difference out - label: computed once
        xp = namespace(out)
        diff = xp.subtract(out, target, out=delta)
        value = 0.5 * float(xp.vdot(diff, diff)) / out.shape[0] if want_value else None
        diff *= scale / out.shape[0]
        return value, diff


class MeanSquaredError(Loss):
    """``E = 1/n_out * sum_k (label_k - out_k)**2`` per example (the mean over outputs).

    ``dE/dout = 2 (out - label) / n_out``, divided by the batch size for the batch mean.
    """

    name = "mse"

    def value(self, out, target, probs=None):
        diff = out - target
        return float(namespace(out).vdot(diff, diff)) / diff.size

    def per_example(self, out, target, probs=None):
        diff = out - target
        return namespace(out).sum(diff * diff, axis=1) / diff.shape[1]

    def delta(self, out, target, probs=None, delta=None, scale=1.0):
        delta = namespace(out).subtract(out, target, out=delta)
        delta *= 2 * scale / delta.size
        return delta

    def value_and_delta(self, out, target, probs=None, delta=None, scale=1.0, want_value=True):
        # both start from the difference out - label: computed once
        xp = namespace(out)
        diff = xp.subtract(out, target, out=delta)
        value = float(xp.vdot(diff, diff)) / diff.size if want_value else None
        diff *= 2 * scale / diff.size
        return value, diff


# Below 1e8 times the smallest normal number (about 1e-30 in float32, 2e-300 in float64),
# -log(p) is recomputed from the logits.
_TINY = 1e8


class CrossEntropy(Loss):
    """Softmax and cross-entropy fused, from the logits ``net`` of the output layer.

    ``E = -sum_k label_k log(softmax(net)_k) = log(sum_j exp(net_j)) - sum_k label_k net_k`` per
    example (labels summing to 1), computed with log-sum-exp so it stays finite. The gradient
    with respect to the logits is ``softmax(net) - label``: the softmax's Jacobian and the log's
    derivative cancel. ``target`` may be integer class labels of shape ``(batch,)``.
    """

    name = "cross_entropy"
    fused_activation = "softmax"

    def value(self, out, target, probs=None):
        xp = namespace(out)
        batch = out.shape[0]
        if probs is not None and target.ndim == 1:
            # E = -log(p of the labelled class), from the probabilities the softmax already
            # computed; as precise as p while p is far from float underflow, else log-sum-exp
            # below. Near p = 1 (a confident right answer) only the absolute error stays small:
            # p rounds to 1 in float32 above a logit margin of ~17 (E = 0, as PyTorch gives).
            picked = _labelled_probabilities(probs, target)
            if picked is not None:
                xp.log(picked, out=picked)
                return -total(picked) / batch
        return total(_log_sum_exp_loss(out, target)) / batch

    def per_example(self, out, target, probs=None):
        if probs is not None and target.ndim == 1:  # as in value: -log(p), when p is not tiny
            picked = _labelled_probabilities(probs, target)
            if picked is not None:
                return -namespace(picked).log(picked)
        return _log_sum_exp_loss(out, target)

    def delta(self, out, target, probs=None, delta=None, scale=1.0):
        xp = namespace(out)
        if probs is None:
            from chainrule.activations import Softmax

            probs = Softmax().forward(out)
        scale = scale / out.shape[0]  # the batch mean (times scale)
        if target.ndim == 1:  # (probs - onehot(label)) * scale / batch, written in place
            delta = xp.multiply(probs, scale, out=delta)
            subtract_at_labels(delta, target, scale)  # delta[i, label_i] -= scale / batch
        else:  # labels that may not sum to 1: probs * sum_k label_k - label
            delta = xp.multiply(probs, xp.sum(target, axis=1, keepdims=True), out=delta)
            delta -= target
            delta *= scale
        return delta


def _labelled_probabilities(probs, labels):
    """``p`` of each row's labelled class, shape (batch,) (a copy), or None when one is within
    ``_TINY`` of float underflow: then ``-log(p)`` would lose its precision, and the loss is
    taken from the logits instead."""
    picked = at_labels(probs, labels)
    tiny = _TINY * namespace(picked).finfo(picked.dtype).smallest_normal
    return picked if smallest(picked) > tiny else None


def _log_sum_exp_loss(out, target):
    """Softmax cross-entropy per example from the logits ``out``, shape (batch,), written
    without subtracting nearly equal numbers: with m the row's largest logit,
    ``lse(net) - net_k = (m - net_k) + log(1 + sum of exp(net_j - m) over every j but the
    largest)``, a sum of terms >= 0. So a confident example's small loss keeps its relative
    precision (finite differences in float64 rely on it)."""
    xp = namespace(out)
    top = xp.max(out, axis=1, keepdims=True)
    below = xp.subtract(top, out)  # m - net_j >= 0, 0 at the largest
    if target.ndim == 1:
        per_example = at_labels(below, target)  # m - net of the labelled class
    else:
        per_example = xp.sum(target * below, axis=1)
    rest = xp.exp(-below)
    subtract_at_labels(rest, xp.argmax(out, axis=1), 1.0)  # the largest's exp(0): exact 0
    log_rest = xp.log1p(xp.sum(rest, axis=1))
    weight = 1.0 if target.ndim == 1 else xp.sum(target, axis=1)  # labels summing to 1
    return per_example + weight * log_rest


class BinaryCrossEntropy(Loss):
    """Sigmoid and binary cross-entropy fused, from the logits ``net``; one or more outputs.

    Per output: ``-(y log s(net) + (1 - y) log(1 - s(net))) = softplus(net) - y * net``, with
    ``softplus(net) = max(net, 0) + log(1 + exp(-|net|))`` finite for any input. Summed over the
    outputs of an example, averaged over the batch. ``dE/dnet = s(net) - y``.
    """

    name = "binary_cross_entropy"
    fused_activation = "sigmoid"

    def value(self, out, target, probs=None):
        return total(_softplus_loss(out, target)) / out.shape[0]

    def per_example(self, out, target, probs=None):
        return namespace(out).sum(_softplus_loss(out, target), axis=1)

    def delta(self, out, target, probs=None, delta=None, scale=1.0):
        if probs is None:
            from chainrule.activations import Sigmoid

            probs = Sigmoid().forward(out)
        delta = namespace(out).subtract(probs, target, out=delta)
        delta *= scale / out.shape[0]
        return delta


def _softplus_loss(out, target):
    """Binary cross-entropy per output from the logits ``out``, shape (batch, n_out):
    ``softplus(net) - y net = (1 - y) max(net, 0) + y max(-net, 0) + log(1 + exp(-|net|))``,
    terms >= 0 for y in [0, 1], so a small loss keeps its relative precision."""
    xp = namespace(out)
    per_output = xp.log1p(xp.exp(-xp.abs(out)))
    per_output += (1 - target) * xp.maximum(out, 0)
    per_output += target * xp.maximum(-out, 0)
    return per_output


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (SumSquaredError, MeanSquaredError, CrossEntropy, BinaryCrossEntropy)
}
"""Name -> class, for configs, saved models and the command line."""

_ALIASES = {
    "sum_squared_error": "sse",
    "mean_squared_error": "mse",
    "crossentropy": "cross_entropy",
    "categorical_cross_entropy": "cross_entropy",
    "softmax_cross_entropy": "cross_entropy",
    "bce": "binary_cross_entropy",
}


def get_loss(spec: str | Loss) -> Loss:
    """A :class:`Loss` from a name (``"sse"``, ``"cross_entropy"``, ...) or an instance.

    An unknown name raises ``ValueError`` listing the valid names.
    """
    if isinstance(spec, Loss):
        return spec
    return build("loss", spec, LOSSES, _ALIASES, "Loss")
