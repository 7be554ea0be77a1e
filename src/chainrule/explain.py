"""See the chain rule: one example (or one batch) through a network, every term with its numbers.

This module builds the explanation as data (dataclasses holding every number shown) and renders
it as text for a terminal (ANSI colour optional) or as Markdown. It parses no arguments and
prints nothing: ``chainrule explain`` / ``chainrule trace`` in :mod:`chainrule.cli` call
:func:`explain_command`, which returns the text.

The notation is the notes' (docs/math.md derives every formula)::

    net_x = in_x . w_x + b_x        in_x (n_in,), w_x (n_in, n_out), b_x (n_out,)
    out_x = s(net_x)                the activation s (the notes use the sigmoid)
    dE/ds   = -(label - out)        at the output, for E = 1/2 sum (label - out)^2
    ds/dnet = out_x (1 - out_x)     for the sigmoid (1 - out^2 for tanh, 1 or 0 for ReLU)
    delta_x = dE/ds * ds/dnet       = dE/dnet_x
    dnet/dw = in_x,  dnet/db = 1,  dnet/ds = w_x
    dE/dw_x = outer(in_x, delta_x), dE/db_x = delta_x
    dE/ds_(x+1) = w_x . delta_x     the error handed to the layer below

Layers are numbered as in the notes: **1 is the output layer**, 2 the layer below it, and so on
(``out = s(b1 + w1(s(b2 + w2(in))))``). ``index`` fields give the position in ``net.layers``.

A network whose first layer is a :class:`~chainrule.layers.Standardize` is explained as it runs:
the bottom Dense layer's input is the standardized example, ``in_n = (x - mean) / std`` (feature
by feature), and the input gradient is chained through it, ``dE/dx = (w_n . delta_n) / std``.
Dropout is the identity at evaluation and is left out.

All numbers are computed in float64 on a copy of the network, one example at a time with the
notes' ``np.outer`` rule, independently of :meth:`~chainrule.Network.gradients`; both that
result and central finite differences are stored beside them for comparison.

Public functions: :func:`explain_example`, :func:`explain_batch`, :func:`trace_shapes`,
:func:`render`, :func:`explain_command`.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from chainrule.activations import Activation, get_activation
from chainrule.gradcheck import fd_noise, near_kink, numerical_gradients, sample_entries
from chainrule.layers import Dense, Standardize
from chainrule.losses import Loss, get_loss
from chainrule.network import Network

__all__ = [
    "LOSS_FORMULA",
    "OUTPUT_ERROR_FORMULA",
    "DEFAULT_ACTIVATION",
    "DEFAULT_LOSS",
    "DEFAULT_SIZES",
    "BatchExplanation",
    "BatchLayer",
    "Explanation",
    "LayerTerms",
    "ShapeRow",
    "ShapeTrace",
    "explain_batch",
    "explain_command",
    "explain_example",
    "derivative_formula",
    "fd_passed",
    "render",
    "trace_shapes",
]

DEFAULT_SIZES: tuple[int, ...] = (8, 4, 2)
"""A bare ``chainrule explain``: the notes' 8 -> 2 layer with a 4-unit hidden layer below it, so
that the recursion (the error handed down through ``w_1``) shows."""
DEFAULT_ACTIVATION = "sigmoid"
DEFAULT_LOSS = "sse"
FD_EPS = 1e-5
"""The finite-difference step ``h`` of ``(E(w + h) - E(w - h)) / 2h``, in float64."""
FD_TOLERANCE = 1e-6
"""A finite-difference relative error at or below this is reported ``ok`` (so is a difference
within the rounding noise of the finite differences, :func:`chainrule.gradcheck.fd_noise`)."""

_FUSED_NOTES = {
    "softmax": (
        "Why ds/dnet drops out: cross-entropy's dE/ds = -label / out divides by out, and every "
        "entry of the softmax Jacobian, out_i (1[i=j] - out_j), multiplies by out_i. They cancel, "
        "leaving delta_1 = out - label, which the library computes directly from the logits. "
        'This is the notes\' "the activation derivative almost never helps": with the matching '
        "loss it is not skipped but cancelled, so a confident wrong output still gets the full "
        "error instead of one shrunk by the activation's slope (docs/math.md (F9))."
    ),
    "sigmoid": (
        "Why ds/dnet drops out: binary cross-entropy's dE/ds = (out - label) / (out (1 - out)) "
        "divides by exactly the sigmoid's ds/dnet = out (1 - out), leaving delta_1 = out - label "
        "(docs/math.md (F9))."
    ),
}
_SIGMOID_SSE_NOTE = (
    "Here ds/dnet = out (1 - out) is at most 1/4 and near 0 when out is near 0 or 1, so a "
    "saturated output unit learns slowly even when it is wrong; with a softmax output and "
    "cross-entropy it would cancel instead (docs/math.md (F9), (F12))."
)

#: Each loss's formula, and its ``dE/dout`` (the output error), as explain prints them.
LOSS_FORMULA = {
    "sse": "E = 1/2 sum (label - out)^2",
    "mse": "E = 1/n_out sum (label - out)^2",
    "cross_entropy": "E = -sum label log(out)",
    "binary_cross_entropy": "E = -sum [label log(out) + (1 - label) log(1 - out)]",
}
OUTPUT_ERROR_FORMULA = {
    "sse": "-(label - out)",
    "mse": "2 (out - label) / n_out",
    "cross_entropy": "-label / out",
    "binary_cross_entropy": "(out - label) / (out (1 - out))",
}


def derivative_formula(activation, x: int) -> str:
    """``ds_x/dnet_x`` of ``activation`` in the notes' terms (layer number ``x``)."""
    name = activation.name
    return {
        "sigmoid": f"out_{x} (1 - out_{x})",
        "tanh": f"1 - out_{x}^2",
        "relu": f"1 if net_{x} > 0 else 0",
        "leaky_relu": f"1 if net_{x} > 0 else {getattr(activation, 'slope', 0.01):g}",
        "identity": "1",
        "softmax": f"diag(out_{x}) - outer(out_{x}, out_{x})",
    }.get(name, f"{name}'(net_{x})")


# -- the explanation as data ----------------------------------------------------------------------


@dataclasses.dataclass
class LayerTerms:
    """Every term of one Dense layer for one example (float64 arrays).

    ``number`` is the notes' layer number x (1 = output layer); ``index`` is the layer's position
    in ``net.layers`` (the ``layers[index]`` keys of :func:`chainrule.gradcheck`).

    Attributes
    ----------
    weights : ndarray of shape (n_in, n_out)
        ``w_x``; also ``dnet/ds``, what hands the error down to the layer below.
    biases : ndarray of shape (n_out,)
        ``b_x``.
    in_x : ndarray of shape (n_in,)
        The layer's input (the example for the bottom layer); also ``dnet/dw``.
    net, out : ndarrays of shape (n_out,)
        ``net_x = in_x . w_x + b_x`` and ``out_x = s(net_x)``.
    dE_ds : ndarray of shape (n_out,)
        ``dE/ds``: the loss's derivative at the output, ``w_(x-1) . delta_(x-1)`` below it.
    ds_dnet : ndarray of shape (n_out,), or (n_out, n_out) for softmax
        The activation's derivative (the softmax Jacobian is a matrix per example).
    delta : ndarray of shape (n_out,)
        ``dE/dnet_x``: ``dE/ds * ds/dnet`` (``out - label`` for a fused loss).
    chain_delta : ndarray of shape (n_out,) or None
        Output layer of a fused loss only: the product ``dE/ds . ds/dnet`` written out, which
        equals ``delta`` (the cancellation).
    dE_dw : ndarray of shape (n_in, n_out)
        ``outer(in_x, delta_x)``.
    dE_db : ndarray of shape (n_out,)
        ``delta_x`` (``dnet/db = 1``).
    network_dw, network_db : ndarrays shaped like the parameters
        :meth:`Network.gradients` on the same example, in the network's own dtype.
    fd_dw, fd_db : ndarrays shaped like the parameters
        Central finite differences (NaN where an entry was not sampled).
    fd_error_w, fd_error_b : float
        ``max |dE_dw - fd| / max(max |dE_dw|, max |fd|)`` over the checked entries.
    fd_checked_w, fd_checked_b : int
        How many entries were checked.
    activation_function : Activation, optional
        The layer's activation itself (``activation`` is its name): the rendering shows its
        derivative's formula, a Leaky ReLU's own slope included.
    """

    number: int
    index: int
    activation: str
    weights: np.ndarray
    biases: np.ndarray
    in_x: np.ndarray
    net: np.ndarray
    out: np.ndarray
    dE_ds: np.ndarray
    ds_dnet: np.ndarray
    delta: np.ndarray
    chain_delta: np.ndarray | None
    dE_dw: np.ndarray
    dE_db: np.ndarray
    network_dw: np.ndarray
    network_db: np.ndarray
    fd_dw: np.ndarray
    fd_db: np.ndarray
    fd_error_w: float
    fd_error_b: float
    fd_checked_w: int
    fd_checked_b: int
    activation_function: Activation | None = None

    @property
    def n_in(self) -> int:
        return self.weights.shape[0]

    @property
    def n_out(self) -> int:
        return self.weights.shape[1]

    @property
    def fd_diff_w(self) -> float:
        """``max |dE_dw - fd_dw|`` over the checked entries."""
        return _max_abs(np.nan_to_num(self.dE_dw - self.fd_dw))

    @property
    def fd_diff_b(self) -> float:
        """``max |dE_db - fd_db|`` over the checked entries."""
        return _max_abs(np.nan_to_num(self.dE_db - self.fd_db))

    @property
    def network_max_diff(self) -> float:
        """``max |explained - net.gradients|`` over the weights and biases of this layer."""
        return max(_max_abs(self.dE_dw - self.network_dw), _max_abs(self.dE_db - self.network_db))


@dataclasses.dataclass
class Explanation:
    """One example through a network: every number :func:`render` shows.

    Attributes
    ----------
    sizes : list of int
        Layer widths, input first (``[8, 4, 2]``).
    activations : list of str
        One per Dense layer, input first.
    loss : str
        The loss's name.
    dtype : str
        The explained network's dtype (the numbers here are float64).
    x : ndarray of shape (n_in,)
        The example, as given to the network (before its Standardize layer, if any).
    label : int or None
        The class label, if one was given.
    target : ndarray of shape (n_out,)
        The label as the loss sees it (one-hot for a class).
    out : ndarray of shape (n_out,)
        The network's output.
    loss_value : float
        ``E`` for this example.
    layers : list of LayerTerms
        **From the output back**: ``layers[0]`` is the notes' layer 1 (the output layer).
    fused : str or None
        The output activation a fused loss works through (``"softmax"``), else None.
    fd_eps : float
        The finite-difference step.
    fd_max_entries : int or None
        At most this many entries per parameter array were checked by finite differences.
    description : str or None
        Where the network and example came from (shown under the title).
    mean, std : ndarrays of shape (n_in,), or None
        The statistics of the network's :class:`~chainrule.layers.Standardize` first layer
        (float64), None without one: the bottom layer's input is then ``(x - mean) / std``.
    """

    sizes: list[int]
    activations: list[str]
    loss: str
    dtype: str
    x: np.ndarray
    label: int | None
    target: np.ndarray
    out: np.ndarray
    loss_value: float
    layers: list[LayerTerms]
    fused: str | None
    fd_eps: float
    fd_max_entries: int | None
    description: str | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def standardized(self) -> bool:
        """Whether the network standardizes its inputs (a Standardize first layer)."""
        return self.std is not None

    @property
    def inputs(self) -> np.ndarray:
        """The bottom Dense layer's input ``in_n``: ``(x - mean) / std`` for a network that
        standardizes its inputs, else ``x``."""
        return self.layers[-1].in_x

    @property
    def input_gradient(self) -> np.ndarray:
        """``dE/dx`` of shape (n_in,), with respect to the example ``x`` as given: the error
        handed down past the bottom layer, ``w_n . delta_n`` (= ``dE/din_n``), divided by
        ``std`` for a network that standardizes its inputs (``din_n/dx = 1 / std``)."""
        bottom = self.layers[-1]
        grad = bottom.weights @ bottom.delta
        return grad / self.std if self.std is not None else grad

    @property
    def max_fd_error(self) -> float:
        """The worst finite-difference relative error over every parameter array."""
        return max(max(t.fd_error_w, t.fd_error_b) for t in self.layers)

    @property
    def fd_noise(self) -> float:
        """The rounding noise of the finite differences at this loss (``fd_noise``): a
        difference below it says nothing."""
        return fd_noise(self.loss_value, self.fd_eps)

    @property
    def fd_ok(self) -> bool:
        """Whether every array passes (:func:`fd_passed`)."""
        return all(
            fd_passed(error, diff, self.fd_noise)
            for t in self.layers
            for error, diff in ((t.fd_error_w, t.fd_diff_w), (t.fd_error_b, t.fd_diff_b))
        )

    @property
    def at_kink(self) -> bool:
        """Whether a ReLU-family unit's ``net`` lies within a finite-difference step of its
        kink at 0, where E has no slope (a failed check there says nothing)."""
        return any(near_kink(t.activation, t.net, self.fd_eps) for t in self.layers)

    @property
    def network_max_diff(self) -> float:
        """The largest ``|explained - net.gradients|`` over every parameter."""
        return max(t.network_max_diff for t in self.layers)

    @property
    def prediction(self) -> int:
        """The predicted class (argmax of ``out``; for one output, 1 where ``out >= 0.5``)."""
        if len(self.out) == 1:
            return int(self.out[0] >= 0.5)
        return int(np.argmax(self.out))


@dataclasses.dataclass
class BatchLayer:
    """One Dense layer's gradients over a batch of N examples, three ways (float64 arrays).

    Attributes
    ----------
    number, index, activation
        As in :class:`LayerTerms`.
    per_example_dw : ndarray of shape (N, n_in, n_out)
        ``outer(in_x^(n), delta_x^(n))`` for each example n: the gradient of its own loss E_n.
    per_example_db : ndarray of shape (N, n_out)
        ``delta_x^(n)``.
    mean_dw, mean_db : ndarrays shaped like the parameters
        The mean over the batch: the gradient of the batch loss ``mean_n E_n`` (the correct one).
    network_dw, network_db : ndarrays shaped like the parameters
        :meth:`Network.gradients` on the whole batch, in the network's own dtype.
    averaged_in : ndarray of shape (n_in,)
        ``mean_n in_x^(n)``, used by the "average first" variant.
    averaged_out : ndarray of shape (n_out,)
        ``mean_n out_x^(n)``, where that variant evaluates ``ds/dnet``.
    averaged_delta : ndarray of shape (n_out,)
        That variant's delta.
    averaged_dw, averaged_db : ndarrays shaped like the parameters
        That variant's gradient: ``outer(averaged_in, averaged_delta)`` and ``averaged_delta``.
    """

    number: int
    index: int
    activation: str
    per_example_dw: np.ndarray
    per_example_db: np.ndarray
    mean_dw: np.ndarray
    mean_db: np.ndarray
    network_dw: np.ndarray
    network_db: np.ndarray
    averaged_in: np.ndarray
    averaged_out: np.ndarray
    averaged_delta: np.ndarray
    averaged_dw: np.ndarray
    averaged_db: np.ndarray

    @property
    def network_max_diff(self) -> float:
        """``max |mean of per-example gradients - net.gradients|`` (weights and biases)."""
        return max(
            _max_abs(self.mean_dw - self.network_dw), _max_abs(self.mean_db - self.network_db)
        )

    @property
    def averaged_max_abs_diff_w(self) -> float:
        """``max |averaged_dw - mean_dw|``."""
        return _max_abs(self.averaged_dw - self.mean_dw)

    @property
    def averaged_max_abs_diff_b(self) -> float:
        """``max |averaged_db - mean_db|``."""
        return _max_abs(self.averaged_db - self.mean_db)

    @property
    def averaged_rel_diff_w(self) -> float:
        """``max |averaged_dw - mean_dw| / max |mean_dw|``."""
        return _relative(self.averaged_dw, self.mean_dw)

    @property
    def averaged_rel_diff_b(self) -> float:
        """``max |averaged_db - mean_db| / max |mean_db|``."""
        return _relative(self.averaged_db, self.mean_db)

    @property
    def averaged_cosine(self) -> float:
        """Cosine of the angle between the averaged and the correct gradient (w and b together);
        1 means the same direction."""
        return _cosine(
            np.concatenate([self.averaged_dw.ravel(), self.averaged_db]),
            np.concatenate([self.mean_dw.ravel(), self.mean_db]),
        )


@dataclasses.dataclass
class BatchExplanation:
    """A batch of N examples: per-example gradients, their mean, ``net.gradients`` and the
    "average inputs/outputs first" variant (see :func:`explain_batch`).

    Attributes
    ----------
    sizes, activations, loss, dtype
        As in :class:`Explanation`.
    x : ndarray of shape (N, n_in)
        The examples as given (before the network's Standardize layer, if any).
    labels : ndarray of shape (N,) or None
        Class labels, if given as such.
    target : ndarray of shape (N, n_out)
        Targets as the loss sees them.
    loss_value : float
        The batch loss, ``mean_n E_n``.
    mean_error : ndarray of shape (n_out,)
        The averaged output error the variant starts from: ``mean_n dE_n/ds`` (plain losses) or
        ``mean_n (out - label)`` (fused losses).
    layers : list of BatchLayer
        From the output back, as in :class:`Explanation`.
    description : str or None
    mean, std : ndarrays of shape (n_in,), or None
        As in :class:`Explanation`: the bottom layer's inputs are ``(x - mean) / std``.
    """

    sizes: list[int]
    activations: list[str]
    loss: str
    dtype: str
    x: np.ndarray
    labels: np.ndarray | None
    target: np.ndarray
    loss_value: float
    mean_error: np.ndarray
    layers: list[BatchLayer]
    description: str | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def batch(self) -> int:
        return len(self.x)

    @property
    def network_max_diff(self) -> float:
        """The largest ``|mean of per-example gradients - net.gradients|`` over every parameter."""
        return max(layer.network_max_diff for layer in self.layers)

    @property
    def averaged_rel_diff(self) -> float:
        """``max |averaged - mean| / max |mean|`` over every parameter of the network."""
        diff = max(max(b.averaged_max_abs_diff_w, b.averaged_max_abs_diff_b) for b in self.layers)
        scale = max(max(_max_abs(b.mean_dw), _max_abs(b.mean_db)) for b in self.layers)
        return diff / scale if scale > 0 else diff

    @property
    def averaged_cosine(self) -> float:
        """Cosine between the averaged and the correct gradient over every parameter."""
        avg = [a for b in self.layers for a in (b.averaged_dw.ravel(), b.averaged_db)]
        mean = [a for b in self.layers for a in (b.mean_dw.ravel(), b.mean_db)]
        return _cosine(np.concatenate(avg), np.concatenate(mean))


class ShapeRow(NamedTuple):
    """One array of the forward or backward pass.

    ``phase`` is ``"forward"``, ``"loss"`` or ``"backward"``; ``layer`` the notes' layer number
    (1 = output); ``name`` the array in the notes' notation (``"net_2"``, ``"dE/dw_1"``);
    ``formula`` how it is computed; ``shape`` its shape for the whole batch.
    """

    phase: str
    layer: int
    name: str
    formula: str
    shape: tuple[int, ...]


class ShapeTrace(list):
    """A list of :class:`ShapeRow`, plus the architecture it describes (for the title)."""

    def __init__(self, rows, sizes, batch, activations, loss):
        super().__init__(rows)
        self.sizes = list(sizes)
        self.batch = int(batch)
        self.activations = list(activations)
        self.loss = loss


# -- the math, one example at a time (float64) ----------------------------------------------------


def _max_abs(a: np.ndarray) -> float:
    return float(np.max(np.abs(a), initial=0.0))


def _relative(a: np.ndarray, reference: np.ndarray) -> float:
    scale = _max_abs(reference)
    diff = _max_abs(a - reference)
    return diff / scale if scale > 0 else diff


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine of the angle between two flat arrays (1 when both are zero)."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm > 0:
        return float(np.dot(a, b) / norm)
    return 1.0 if not a.any() and not b.any() else 0.0


def _on_the_cpu(net: Network) -> Network:
    """``net`` itself on the CPU, else a CPU copy: the explanations are NumPy arithmetic."""
    return net if net.device == "cpu" else net.copy().to("cpu")


def _dense_with_index(net: Network) -> list[tuple[int, Dense]]:
    return [(i, layer) for i, layer in enumerate(net.layers) if isinstance(layer, Dense)]


def _statistics(net: Network) -> tuple[np.ndarray, np.ndarray] | None:
    """``(mean, std)`` in float64 of the network's Standardize first layer, or None.

    The only layer besides Dense that changes an input at evaluation: Dropout is then the
    identity, and a Standardize layer can only come first.
    """
    first = net.layers[0]
    if not isinstance(first, Standardize):
        return None
    return np.asarray(first.mean, np.float64), np.asarray(first.std, np.float64)


def _standardized(stats, x: np.ndarray) -> np.ndarray:
    """What the bottom Dense layer takes for ``x`` (one example or rows): ``(x - mean) / std``
    with the statistics of :func:`_statistics`, or ``x`` itself."""
    if stats is None:
        return x
    mean, std = stats
    return (x - mean) / std


def _through_activation(activation, out: np.ndarray, dE_ds: np.ndarray):
    """``(ds/dnet, delta)`` for one example: elementwise, or the softmax Jacobian (n, n)."""
    if activation.name == "softmax":
        jacobian = np.diag(out) - np.outer(out, out)  # ds_i/dnet_j = out_i (1[i=j] - out_j)
        return jacobian, dE_ds @ jacobian
    slope = activation.derivative(out[None, :])[0]
    return slope, dE_ds * slope


def _forward_one(dense: list[Dense], x: np.ndarray):
    """``(ins, nets, outs)``, input first, for one example ``x`` of shape (n_in,)."""
    ins, nets, outs = [], [], []
    a = x
    for layer in dense:
        net = a @ layer.weights + layer.biases  # net_x = in_x . w_x + b_x
        out = layer.activation.forward(net[None, :])[0]  # out_x = s(net_x)
        ins.append(a)
        nets.append(net)
        outs.append(out)
        a = out
    return ins, nets, outs


def _output_error(loss: Loss, activation, out: np.ndarray, target: np.ndarray):
    """``(dE/ds, ds/dnet, delta, chain_delta)`` at the output layer for one example."""
    fused = loss.fused_activation
    with np.errstate(divide="ignore", invalid="ignore"):
        if fused == "softmax":
            dE_ds = np.where(target != 0, -target / out, 0.0)  # d(-sum label log out)/dout
            jacobian = np.diag(out) - np.outer(out, out)
            delta = out * target.sum() - target  # = out - label for labels summing to 1
            return dE_ds, jacobian, delta, dE_ds @ jacobian
        if fused == "sigmoid":
            slope = out * (1 - out)
            dE_ds = (out - target) / slope
            return dE_ds, slope, out - target, dE_ds * slope
    if loss.name == "sse":
        dE_ds = out - target  # -(label - out)
    elif loss.name == "mse":
        dE_ds = 2 * (out - target) / len(out)
    else:
        dE_ds = np.asarray(loss.delta(out[None, :], target[None, :]), np.float64)[0]
    ds_dnet, delta = _through_activation(activation, out, dE_ds)
    return dE_ds, ds_dnet, delta, None


def _backward_one(dense: list[Dense], loss: Loss, ins, outs, target):
    """Per layer, input first: ``(dE/ds, ds/dnet, delta, chain_delta, dE/dw, dE/db)``.

    The notes' loop: at the output ``delta = dE/ds * ds/dnet``; below it the error handed
    down is ``dE/ds_(x+1) = w_x . delta_x`` and ``delta_(x+1) = dE/ds_(x+1) * ds/dnet``;
    every layer's gradient is ``outer(in_x, delta_x)`` and ``delta_x``.
    """
    n = len(dense)
    terms: list = [None] * n
    dE_ds, ds_dnet, delta, chain = _output_error(loss, dense[-1].activation, outs[-1], target)
    for k in range(n - 1, -1, -1):
        if k < n - 1:
            dE_ds = dense[k + 1].weights @ terms[k + 1][2]  # dnet_above/ds = w_above
            ds_dnet, delta = _through_activation(dense[k].activation, outs[k], dE_ds)
            chain = None
        terms[k] = (dE_ds, ds_dnet, delta, chain, np.outer(ins[k], delta), delta.copy())
    return terms


def _error_at_output(loss: Loss, dE_ds: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The "error" the notes average over a batch: dE/ds, or delta for a fused loss."""
    return delta if loss.fused_activation else dE_ds


def _one_row(net: Network, x) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise ValueError(
            f"x must be one example of shape ({net.n_in},) or (1, {net.n_in}), got shape "
            f"{arr.shape}; use explain_batch for several"
        )
    return net.check_inputs(arr[None, :]).astype(np.float64)[0]


def _targets(net: Network, y, batch: int) -> tuple[np.ndarray | None, np.ndarray]:
    """``(class labels or None, float64 targets of shape (batch, n_out))``; validates ``y``."""
    arr = np.asarray(y)
    encoded = net.encode_targets(arr, batch)
    if encoded.ndim == 1:  # cross_entropy keeps class ids
        target = np.zeros((batch, net.n_out))
        target[np.arange(batch), encoded] = 1.0
    else:
        target = encoded.astype(np.float64)
    labels = arr.astype(np.int64) if arr.dtype.kind in "biu" and arr.ndim == 1 else None
    return labels, target


def _fd_error(analytic: np.ndarray, numeric: np.ndarray, idx: np.ndarray) -> float:
    a = analytic.reshape(-1)[idx]
    n = numeric.reshape(-1)[idx]
    scale = max(_max_abs(a), _max_abs(n))
    diff = _max_abs(a - n)
    return diff / scale if scale > 0 else diff


def explain_example(
    net: Network, x, label, fd_max_entries: int | None = 50, seed: int = 0
) -> Explanation:
    """Take one example through ``net`` and keep every term of the chain rule.

    Parameters
    ----------
    net : Network
        Not changed (the work is done on copies).
    x : array of shape (n_in,) or (1, n_in)
        One example.
    label : int or array of shape (n_out,)
        A class label, or a float target vector (a float for a one-output network).
    fd_max_entries : int or None
        Check at most this many randomly chosen entries of each parameter array by finite
        differences, mostly where the gradient is nonzero (None: every entry). 50 keeps a
        784-30-10 network well under a second.
    seed : int
        Chooses the sampled entries.

    Returns
    -------
    Explanation
        Per layer, from the output back: ``in_x``, ``net``, ``out``, ``dE/ds``, ``ds/dnet``,
        ``delta``, ``dE/dw = outer(in_x, delta)``, ``dE/db = delta``, the same gradients from
        :meth:`Network.gradients`, and finite differences with their relative errors.
    """
    net = _on_the_cpu(net)
    x64 = _one_row(net, x)
    label_arr = np.asarray(label)
    y = label_arr.reshape(1) if label_arr.ndim == 0 else label_arr.reshape(1, -1)
    labels, target = _targets(net, y, 1)
    net64 = net.astype(np.float64)
    dense = _dense_with_index(net64)
    layers = [layer for _, layer in dense]
    loss = net64.loss_function
    stats = _statistics(net64)

    ins, nets, outs = _forward_one(layers, _standardized(stats, x64))
    terms = _backward_one(layers, loss, ins, outs, target[0])
    network = net.copy().gradients(x64[None, :].astype(net.dtype), target.astype(net.dtype))
    entries = sample_entries([(t[4], t[5]) for t in terms], fd_max_entries, seed)
    numeric = numerical_gradients(net64, x64[None, :], target, eps=FD_EPS, entries=entries)
    n = len(layers)
    explained = []
    for k in range(n - 1, -1, -1):
        dE_ds, ds_dnet, delta, chain, dw, db = terms[k]
        (fd_w, fd_b), (idx_w, idx_b) = numeric[k]
        explained.append(
            LayerTerms(
                number=n - k,
                index=dense[k][0],
                activation=layers[k].activation.name,
                weights=layers[k].weights.copy(),
                biases=layers[k].biases.copy(),
                in_x=ins[k],
                net=nets[k],
                out=outs[k],
                dE_ds=dE_ds,
                ds_dnet=ds_dnet,
                delta=delta,
                chain_delta=chain,
                dE_dw=dw,
                dE_db=db,
                network_dw=network[k][0].astype(np.float64),
                network_db=network[k][1].astype(np.float64),
                fd_dw=fd_w,
                fd_db=fd_b,
                fd_error_w=_fd_error(dw, fd_w, idx_w),
                fd_error_b=_fd_error(db, fd_b, idx_b),
                fd_checked_w=int(len(idx_w)),
                fd_checked_b=int(len(idx_b)),
                activation_function=layers[k].activation,
            )
        )
    return Explanation(
        sizes=net.sizes,
        activations=[layer.activation.name for layer in layers],
        loss=loss.name,
        dtype=str(net.dtype),
        x=x64,
        label=None if labels is None else int(labels[0]),
        target=target[0],
        out=outs[-1],
        loss_value=float(net64.loss(x64[None, :], target)),
        layers=explained,
        fused=loss.fused_activation,
        fd_eps=FD_EPS,
        fd_max_entries=fd_max_entries,
        mean=None if stats is None else stats[0],
        std=None if stats is None else stats[1],
    )


def explain_batch(net: Network, x, y) -> BatchExplanation:
    """Gradients over a batch three ways: per example, their mean, and "averaged first".

    1. **Per example** (the notes' rule, one example n at a time): ``dE_n/dw_x =
       outer(in_x^(n), delta_x^(n))``, ``dE_n/db_x = delta_x^(n)``.
    2. **Their mean**, ``1/N sum_n``: the gradient of the batch loss ``E = 1/N sum_n E_n``, so
       the correct batch gradient; it equals :meth:`Network.gradients` (also stored).
    3. **Averaged first** (the notes' mini-batch idea, docs/math.md (F8)): run the forward
       pass on every example, then replace each layer's input and output by their batch means,
       ``in_x_bar = 1/N sum_n in_x^(n)`` and ``out_x_bar = 1/N sum_n out_x^(n)``, and the output
       error by its batch mean, ``e_bar = 1/N sum_n dE_n/ds`` (``1/N sum_n (out - label)`` for
       a fused loss), and do *one* backward pass with them::

           delta_1_bar = e_bar * s'(out_1_bar)        (e_bar for a fused loss)
           delta_(x+1)_bar = (w_x . delta_x_bar) * s'(out_(x+1)_bar)
           dE/dw_x ~ outer(in_x_bar, delta_x_bar),   dE/db_x ~ delta_x_bar

       where ``s'(out_bar)`` is the activation's derivative written from its output (for the
       sigmoid ``out_bar (1 - out_bar)``; for softmax its Jacobian at ``out_bar``). Because a mean
       of products is not the product of means, this differs from 2 by covariance terms
       (exactly ``1/N sum_n outer(in - in_bar, delta - delta_bar)`` for the output weights of
       a fused loss).

    Parameters
    ----------
    net : Network
        Not changed.
    x : array of shape (N, n_in)
    y : class labels of shape (N,) or float targets of shape (N, n_out)

    Returns
    -------
    BatchExplanation
        With ``max |difference|``, relative differences and cosines as properties.
    """
    net = _on_the_cpu(net)
    x64 = net.check_inputs(x).astype(np.float64)
    batch = len(x64)
    if batch == 0:
        raise ValueError("explain_batch needs at least one example, got an empty batch")
    labels, target = _targets(net, y, batch)
    net64 = net.astype(np.float64)
    dense = _dense_with_index(net64)
    layers = [layer for _, layer in dense]
    loss = net64.loss_function
    n = len(layers)
    stats = _statistics(net64)
    inputs = _standardized(stats, x64)  # what the bottom layer takes

    per_dw = [np.empty((batch, *layer.weights.shape)) for layer in layers]
    per_db = [np.empty((batch, layer.n_out)) for layer in layers]
    sum_in = [np.zeros(layer.n_in) for layer in layers]
    sum_out = [np.zeros(layer.n_out) for layer in layers]
    sum_error = np.zeros(net.n_out)
    for i in range(batch):
        ins, _, outs = _forward_one(layers, inputs[i])
        terms = _backward_one(layers, loss, ins, outs, target[i])
        for k in range(n):
            per_dw[k][i] = terms[k][4]
            per_db[k][i] = terms[k][5]
            sum_in[k] += ins[k]
            sum_out[k] += outs[k]
        sum_error += _error_at_output(loss, terms[-1][0], terms[-1][2])

    # The "averaged first" variant: one backward pass on the batch means.
    in_bar = [s / batch for s in sum_in]
    out_bar = [s / batch for s in sum_out]
    error_bar = sum_error / batch
    if loss.fused_activation:
        delta_bar = error_bar
    else:
        _, delta_bar = _through_activation(layers[-1].activation, out_bar[-1], error_bar)
    averaged: list = [None] * n
    for k in range(n - 1, -1, -1):
        if k < n - 1:
            handed_down = layers[k + 1].weights @ averaged[k + 1]
            _, delta_bar = _through_activation(layers[k].activation, out_bar[k], handed_down)
        averaged[k] = delta_bar

    network = net.copy().gradients(x64.astype(net.dtype), target.astype(net.dtype))
    result = []
    for k in range(n - 1, -1, -1):
        result.append(
            BatchLayer(
                number=n - k,
                index=dense[k][0],
                activation=layers[k].activation.name,
                per_example_dw=per_dw[k],
                per_example_db=per_db[k],
                mean_dw=per_dw[k].mean(axis=0),
                mean_db=per_db[k].mean(axis=0),
                network_dw=network[k][0].astype(np.float64),
                network_db=network[k][1].astype(np.float64),
                averaged_in=in_bar[k],
                averaged_out=out_bar[k],
                averaged_delta=averaged[k],
                averaged_dw=np.outer(in_bar[k], averaged[k]),
                averaged_db=averaged[k].copy(),
            )
        )
    return BatchExplanation(
        sizes=net.sizes,
        activations=[layer.activation.name for layer in layers],
        loss=loss.name,
        dtype=str(net.dtype),
        x=x64,
        labels=labels,
        target=target,
        loss_value=float(net64.loss(x64, target)),
        mean_error=error_bar,
        layers=result,
        mean=None if stats is None else stats[0],
        std=None if stats is None else stats[1],
    )


# -- shapes ---------------------------------------------------------------------------------------


def _parse_sizes(sizes) -> list[int]:
    if sizes is None:
        return list(DEFAULT_SIZES)
    if isinstance(sizes, str):
        try:
            values = [int(v) for v in sizes.replace(" ", "").split(",") if v]
        except ValueError:
            raise ValueError(f"sizes must be integers such as 8,4,2, got {sizes!r}") from None
    else:
        values = [int(v) for v in sizes]
    if len(values) < 2 or min(values) < 1:
        raise ValueError(f"sizes needs at least two positive widths such as 8,2, got {sizes!r}")
    return values


def _resolve_activations(n_dense: int, activation, loss: Loss) -> list[Activation]:
    """One activation per Dense layer, input first, from names or Activation objects (kept as
    they are, so that a Leaky ReLU keeps its slope and a custom activation its class).

    A single name applies to every layer, except that a fused loss fixes the output's
    (softmax for cross_entropy, sigmoid for binary_cross_entropy). A list gives one per layer,
    or one per hidden layer (the output then follows the loss, as in ``Network.from_sizes``).
    """
    fused = loss.fused_activation
    if activation is None:
        activation = DEFAULT_ACTIVATION
    if isinstance(activation, str) and "," in activation:
        activation = [a for a in activation.replace(" ", "").split(",") if a]
    if isinstance(activation, str):
        names = [activation] * n_dense
        if fused:
            names[-1] = fused
    else:
        names = list(activation)
        if len(names) == n_dense - 1:
            default_output = {"sse": "sigmoid", "mse": "identity"}.get(loss.name, "identity")
            names.append(fused or default_output)
        if len(names) != n_dense:
            raise ValueError(
                f"give one activation, or one per layer ({n_dense}) or per hidden layer "
                f"({n_dense - 1}), got {len(names)}: {','.join(map(str, names))}"
            )
    acts = [get_activation(name) for name in names]  # validates; objects are kept
    if fused and acts[-1].name != fused:
        raise ValueError(
            f"loss {loss.name!r} works through a {fused} output layer, got output "
            f"activation {acts[-1].name!r}"
        )
    return acts


def trace_shapes(
    sizes,
    batch: int = 64,
    activations: str | Sequence[str] | None = None,
    loss: str = DEFAULT_LOSS,
    standardize: bool = False,
) -> ShapeTrace:
    """The shape of every array in the forward and backward pass of one batch.

    Nothing is allocated, so any architecture works (``784,100,10`` on a batch of 64 is the
    classic). Rows run forward from the input layer, then the loss, then backward from the
    output layer; layers are numbered as in the notes (1 = output).

    Parameters
    ----------
    sizes : sequence of int or str
        ``[784, 100, 10]`` or ``"784,100,10"``.
    batch : int
        Examples per batch.
    activations : str, sequence of str or None
        As in :func:`explain_command` (default sigmoid).
    loss : str
        The loss's name.
    standardize : bool
        The network standardizes its inputs first (a :class:`~chainrule.layers.Standardize`
        first layer): the bottom layer takes ``(x - mean) / std``, not ``x``.

    Returns
    -------
    ShapeTrace
        A list of :class:`ShapeRow` ``(phase, layer, name, formula, shape)``.
    """
    sizes = _parse_sizes(sizes)
    if int(batch) < 1:
        raise ValueError(f"batch must be a positive integer, got batch={batch}")
    batch = int(batch)
    loss_fn = get_loss(loss)
    n = len(sizes) - 1
    acts = _resolve_activations(n, activations, loss_fn)
    rows: list[ShapeRow] = []
    if standardize:
        rows += [
            ShapeRow("forward", n, "x", "the input batch", (batch, sizes[0])),
            ShapeRow("forward", n, "mean", "per feature (Standardize)", (sizes[0],)),
            ShapeRow("forward", n, "std", "per feature (Standardize)", (sizes[0],)),
        ]
    for k in range(n):
        x = n - k
        n_in, n_out = sizes[k], sizes[k + 1]
        if k > 0:
            source = f"out_{x + 1}"
        else:
            source = "(x - mean) / std" if standardize else "x (the input batch)"
        rows += [
            ShapeRow("forward", x, f"in_{x}", source, (batch, n_in)),
            ShapeRow("forward", x, f"w_{x}", "weights", (n_in, n_out)),
            ShapeRow("forward", x, f"b_{x}", "biases", (n_out,)),
            ShapeRow("forward", x, f"net_{x}", f"in_{x} . w_{x} + b_{x}", (batch, n_out)),
            ShapeRow("forward", x, f"out_{x}", f"{acts[k].name}(net_{x})", (batch, n_out)),
        ]
    n_out = sizes[-1]
    if loss_fn.name == "cross_entropy":
        rows.append(ShapeRow("loss", 1, "label", "class ids", (batch,)))
    else:
        rows.append(ShapeRow("loss", 1, "label", "one-hot rows or targets", (batch, n_out)))
    rows.append(
        ShapeRow("loss", 1, "E", LOSS_FORMULA.get(loss_fn.name, "E") + ", mean over batch", ())
    )
    for x in range(1, n + 1):
        k = n - x
        n_in, n_out = sizes[k], sizes[k + 1]
        act = acts[k]
        jacobian = act.name == "softmax"
        if x == 1 and loss_fn.fused_activation:
            rows += [
                ShapeRow(
                    "backward",
                    1,
                    "ds_1/dnet_1",
                    "cancels with dE/ds: never formed",
                    (batch, n_out, n_out) if jacobian else (batch, n_out),
                ),
                ShapeRow("backward", 1, "delta_1", "(out - label) / batch", (batch, n_out)),
            ]
        else:
            if x == 1:
                error = OUTPUT_ERROR_FORMULA.get(loss_fn.name, "dE/dout") + " / batch"
            else:
                error = f"delta_{x - 1} . w_{x - 1}^T"
            slope = derivative_formula(act, x)
            combine = "dE/ds . ds/dnet, per row" if jacobian else "dE/ds * ds/dnet"
            rows += [
                ShapeRow("backward", x, f"dE/ds_{x}", error, (batch, n_out)),
                ShapeRow(
                    "backward",
                    x,
                    f"ds_{x}/dnet_{x}",
                    slope + (" (Jacobian per row, applied unformed)" if jacobian else ""),
                    (batch, n_out, n_out) if jacobian else (batch, n_out),
                ),
                ShapeRow("backward", x, f"delta_{x}", combine, (batch, n_out)),
            ]
        rows += [
            ShapeRow("backward", x, f"dnet_{x}/dw_{x}", f"in_{x}", (batch, n_in)),
            ShapeRow("backward", x, f"dE/dw_{x}", f"in_{x}^T . delta_{x}", (n_in, n_out)),
            ShapeRow("backward", x, f"dE/db_{x}", f"sum over the batch of delta_{x}", (n_out,)),
        ]
        if x < n:
            rows.append(ShapeRow("backward", x, f"dnet_{x}/ds_{x + 1}", f"w_{x}", (n_in, n_out)))
    return ShapeTrace(rows, sizes, batch, [a.name for a in acts], loss_fn.name)


# -- rendering ------------------------------------------------------------------------------------

_WIDTH = 100
"""Text lines are kept within this many characters where the content allows."""
_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


class _Style:
    """ANSI escape codes when ``color`` is true; plain text otherwise."""

    def __init__(self, color: bool):
        self.color = color

    def __call__(self, text: str, *styles: str) -> str:
        if not self.color or not text:
            return text
        codes = ";".join(_ANSI[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"


@dataclasses.dataclass
class _Term:
    name: str
    formula: str
    shape: str
    values: list[str]


@dataclasses.dataclass
class _Check:
    text: str
    ok: bool | None = None  # None: informational


# A document is a list of blocks: ("title", text), ("heading", text), ("text", text),
# ("note", text), ("terms", [_Term | _Check, ...]), ("table", headers, rows).


def _formatter(values: np.ndarray) -> Callable[[float], str]:
    """One fixed format for a whole array: integers, 4 decimals, or 3-digit scientific."""
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite == np.round(finite)) and _max_abs(finite) < 1e6:
        return lambda v: f"{int(v):d}" if np.isfinite(v) else f"{v}"
    magnitude = np.abs(finite[finite != 0])
    if magnitude.size == 0 or (magnitude.min() >= 1e-3 and magnitude.max() < 1e4):
        return lambda v: f"{v + 0.0: .4f}"
    return lambda v: f"{v + 0.0: .3e}"


def _shape(a) -> str:
    return str(tuple(np.shape(a)))


def _value_lines(a, max_items: int) -> list[str]:
    """An array's numbers: in full for a vector of at most ``max_items`` entries or a matrix of
    at most ``max_items`` rows and ``max_items // 2`` columns; otherwise a summary (min, mean,
    max, how many are nonzero, the first ``max_items // 2`` values), or ``all v`` when every
    entry is ``v``."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return [_formatter(a.reshape(1))(float(a))]
    if (a.ndim == 1 and len(a) <= max_items) or (
        a.ndim == 2 and a.shape[0] <= max_items and a.shape[1] <= max(1, max_items // 2)
    ):
        fmt = _formatter(a)
        cells = [[fmt(v) for v in row] for row in np.atleast_2d(a)]
        width = max(len(c) for row in cells for c in row)
        rows = ["[" + ", ".join(c.rjust(width) for c in row) + "]" for row in cells]
        if a.ndim == 1:
            return rows
        if len(rows) == 1:
            return ["[" + rows[0] + "]"]
        return ["[" + rows[0]] + [" " + r for r in rows[1:-1]] + [" " + rows[-1] + "]"]
    flat = a.ravel()
    if flat.size and np.all(flat == flat[0]):
        return [f"all {_formatter(flat[:1])(flat[0]).strip()}"]
    first = flat[: max(1, max_items // 2)]
    stats = np.array([flat.min(), flat.mean(), flat.max()])
    fmt = _formatter(np.concatenate([stats, first]))
    parts = [f"min {fmt(stats[0])}", f"mean {fmt(stats[1])}", f"max {fmt(stats[2])}"]
    nonzero = int(np.count_nonzero(flat))
    if nonzero < flat.size:
        parts.append(f"nonzero {nonzero}/{flat.size}")
    parts.append("first [" + ", ".join(fmt(v) for v in first) + ", ...]")
    return ["  ".join(parts)]


def _term(name, formula, a, max_items) -> _Term:
    return _Term(name, formula, _shape(a), _value_lines(a, max_items))


def fd_passed(error: float, diff: float, noise: float) -> bool:
    """An array's finite-difference check passes: relative error within
    :data:`FD_TOLERANCE`, or its largest difference ``diff`` within the rounding ``noise``."""
    return error <= FD_TOLERANCE or diff <= noise


def _fd_check(
    what: str, error: float, checked: int, total: int, kink: bool, diff: float, noise: float
) -> _Check:
    sample = f"{checked} of {total}" if checked < total else f"all {total}"
    ok = fd_passed(error, diff, noise)
    if error > FD_TOLERANCE and ok:
        hint = f" (every difference <= {noise:.0e}, the rounding noise of finite differences)"
    else:
        hint = (
            ""
            if ok or not kink
            else " (a ReLU unit sits at its kink net = 0, where E has no slope)"
        )
    return _Check(
        f"finite differences on {what}: rel. error {error:.1e} ({sample} entries){hint}", ok
    )


def _arch(sizes, activations, loss) -> str:
    return f"{'-'.join(map(str, sizes))} ({', '.join(activations)}), loss {loss}"


def _layer_heading(
    number: int,
    index: int,
    n_in: int,
    n_out: int,
    act: str,
    last: bool,
    standardized: bool = False,
) -> str:
    where = "output layer" if number == 1 else "hidden layer"
    what = "the standardized input" if standardized else "the input"
    bottom = f", takes {what}" if last and (number != 1 or standardized) else ""
    return f"layer {number}: {where}{bottom} (net.layers[{index}], {n_in} -> {n_out}, {act})"


_STANDARDIZE_TEXT = (
    "The network standardizes its inputs first (net.layers[0], Standardize): the bottom layer "
    "takes in_{n} = (x - mean) / std, feature by feature, with the mean and standard deviation "
    "of the training inputs."
)


def _explanation_doc(e: Explanation, max_items: int) -> list:
    n = len(e.layers)
    doc: list = [
        ("title", f"chainrule explain: one example through {_arch(e.sizes, e.activations, e.loss)}")
    ]
    if e.description:
        doc.append(("text", e.description))
    doc.append(
        (
            "text",
            "Layers are numbered as in the notes: 1 is the output layer, 2 the one below it. "
            "Weights are (n_in, n_out), so net = in . w + b. Every number is float64; "
            f"the network's own dtype is {e.dtype}.",
        )
    )
    label = "target" if e.label is None else f"label {e.label} -> target"
    if e.standardized:
        doc.append(("text", _STANDARDIZE_TEXT.format(n=n)))
        example = [
            _term("x", "the example", e.x, max_items),
            _term("mean", "per feature (net.layers[0])", e.mean, max_items),
            _term("std", "per feature (net.layers[0])", e.std, max_items),
            _term(f"in_{n}", "(x - mean) / std, the standardized example", e.inputs, max_items),
        ]
    else:
        example = [_term("x", "the example (in_" + str(n) + ")", e.x, max_items)]
    doc.append(
        (
            "terms",
            [
                *example,
                _term("label", label, e.target, max_items),
                _term("out", f"out_1, prediction {e.prediction}", e.out, max_items),
                _Term("E", LOSS_FORMULA.get(e.loss, "E"), "()", [f"{e.loss_value:.6f}"]),
            ],
        )
    )
    kink = e.at_kink
    noise = e.fd_noise
    for t in e.layers:
        x = t.number
        act = t.activation_function or get_activation(t.activation)
        doc.append(
            (
                "heading",
                _layer_heading(x, t.index, t.n_in, t.n_out, t.activation, x == n, e.standardized),
            )
        )
        if x < n:
            source = f"out_{x + 1}"
        else:
            source = "(x - mean) / std" if e.standardized else "x (the example)"
        terms: list = [
            _term(f"in_{x}", source, t.in_x, max_items),
            _term(f"w_{x}", "weights", t.weights, max_items),
            _term(f"b_{x}", "biases", t.biases, max_items),
            _term(f"net_{x}", f"in_{x} . w_{x} + b_{x}", t.net, max_items),
            _term(f"out_{x}", f"{t.activation}(net_{x})", t.out, max_items),
        ]
        if x == 1:
            error = OUTPUT_ERROR_FORMULA.get(e.loss, "dE/dout")
        else:
            error = f"w_{x - 1} . delta_{x - 1}"
        combine = "dE/ds . ds/dnet" if t.ds_dnet.ndim == 2 else "dE/ds * ds/dnet"
        terms += [
            _term(f"dE/ds_{x}", error, t.dE_ds, max_items),
            _term(f"ds_{x}/dnet_{x}", derivative_formula(act, x), t.ds_dnet, max_items),
        ]
        if t.chain_delta is not None:
            terms += [
                _term(f"delta_{x}", combine, t.chain_delta, max_items),
                _term(f"delta_{x}", "out - label  (computed)", t.delta, max_items),
                _Check(
                    f"max |dE/ds . ds/dnet - (out - label)| = "
                    f"{_max_abs(t.chain_delta - t.delta):.1e}: the activation's derivative cancels",
                    _max_abs(t.chain_delta - t.delta) <= 1e-8 * max(1.0, _max_abs(t.delta)),
                ),
            ]
        else:
            terms.append(_term(f"delta_{x}", combine, t.delta, max_items))
        terms += [
            _term(f"dnet_{x}/dw_{x}", f"in_{x}", t.in_x, max_items),
            _term(f"dnet_{x}/db_{x}", "1", np.ones_like(t.biases), max_items),
            _term(f"dE/dw_{x}", f"outer(in_{x}, delta_{x})", t.dE_dw, max_items),
            _fd_check(
                f"dE/dw_{x}", t.fd_error_w, t.fd_checked_w, t.dE_dw.size, kink, t.fd_diff_w, noise
            ),
            _term(f"dE/db_{x}", f"delta_{x} * dnet_{x}/db_{x}", t.dE_db, max_items),
            _fd_check(
                f"dE/db_{x}", t.fd_error_b, t.fd_checked_b, t.dE_db.size, kink, t.fd_diff_b, noise
            ),
            _Check(
                f"net.gradients ({e.dtype}): max |difference| {t.network_max_diff:.1e}",
                t.network_max_diff <= (1e-10 if e.dtype == "float64" else 1e-4),
            ),
        ]
        if x < n:
            terms.append(
                _term(
                    f"dnet_{x}/ds_{x + 1}",
                    f"w_{x}  (to layer {x + 1})",
                    t.weights,
                    max_items,
                )
            )
        doc.append(("terms", terms))
        if x == 1 and e.fused in _FUSED_NOTES:
            doc.append(("note", _FUSED_NOTES[e.fused]))
        elif x == 1 and t.activation == "sigmoid" and e.loss in ("sse", "mse"):
            doc.append(("note", _SIGMOID_SSE_NOTE))
    ok = e.fd_ok
    doc.append(("heading", "summary"))
    doc.append(
        (
            "terms",
            [
                _Check(
                    f"every dE/dw and dE/db above equals net.gradients "
                    f"(max |difference| {e.network_max_diff:.1e})",
                    e.network_max_diff <= (1e-10 if e.dtype == "float64" else 1e-4),
                ),
                _Check(
                    f"and the finite differences, h = {e.fd_eps:g} "
                    f"(worst rel. error {e.max_fd_error:.1e})",
                    ok,
                ),
            ],
        )
    )
    return doc


def _batch_doc(b: BatchExplanation, max_items: int) -> list:
    n = len(b.layers)
    doc: list = [
        (
            "title",
            f"chainrule explain --batch {b.batch}: {_arch(b.sizes, b.activations, b.loss)}",
        )
    ]
    if b.description:
        doc.append(("text", b.description))
    if b.std is not None:
        doc.append(("text", _STANDARDIZE_TEXT.format(n=n)))
    doc += [
        (
            "text",
            "The batch loss is the mean of the per-example losses, E = 1/N sum_n E_n, so the "
            "batch gradient is the mean of the per-example gradients: dE/dw_x = 1/N sum_n "
            "outer(in_x^(n), delta_x^(n)) (docs/math.md (F7)).",
        ),
        (
            "text",
            "The notes' idea, averaging first: one backward pass with every in_x and out_x "
            "replaced by its batch mean and the output error by its batch mean, e_bar = "
            f"{_mean_error_formula(b.loss)}; dE/dw_x ~ outer(in_x_bar, delta_x_bar) "
            "(docs/math.md (F8)).",
        ),
        (
            "terms",
            [
                _Term(
                    "E",
                    LOSS_FORMULA.get(b.loss, "E") + ", mean over batch",
                    "()",
                    [f"{b.loss_value:.6f}"],
                ),
                _term("e_bar", "mean output error", b.mean_error, max_items),
            ],
        ),
    ]
    shown = min(b.batch, max_items)
    for layer in b.layers:
        x = layer.number
        doc.append(
            (
                "heading",
                _layer_heading(
                    x,
                    layer.index,
                    layer.mean_dw.shape[0],
                    layer.mean_dw.shape[1],
                    layer.activation,
                    x == n,
                    b.std is not None,
                ),
            )
        )
        rows = []
        for i in range(shown):
            label = "" if b.labels is None else str(int(b.labels[i]))
            delta = " ".join(_value_lines(layer.per_example_db[i], max_items))
            norm = float(np.linalg.norm(layer.per_example_dw[i]))
            rows.append([str(i), label, delta, f"{norm:.4e}"])
        if shown < b.batch:
            rows.append(["...", "", f"({b.batch - shown} more examples)", ""])
        doc.append(
            (
                "table",
                ["example", "label", f"delta_{x} = dE_n/db_{x}", f"|dE_n/dw_{x}|"],
                rows,
            )
        )
        doc.append(
            (
                "terms",
                [
                    _term(
                        f"dE/dw_{x}", f"mean_n outer(in_{x}, delta_{x})", layer.mean_dw, max_items
                    ),
                    _term(f"dE/db_{x}", f"mean_n delta_{x}", layer.mean_db, max_items),
                    _Check(
                        f"net.gradients(x, y) ({b.dtype}): max |difference| "
                        f"{layer.network_max_diff:.1e}",
                        layer.network_max_diff <= (1e-10 if b.dtype == "float64" else 1e-4),
                    ),
                    _term(f"in_{x}_bar", f"mean_n in_{x}", layer.averaged_in, max_items),
                    _term(f"out_{x}_bar", f"mean_n out_{x}", layer.averaged_out, max_items),
                    _term(
                        f"delta_{x}_bar",
                        _averaged_delta_formula(b, x),
                        layer.averaged_delta,
                        max_items,
                    ),
                    _term(
                        f"~dE/dw_{x}",
                        f"outer(in_{x}_bar, delta_{x}_bar)",
                        layer.averaged_dw,
                        max_items,
                    ),
                    _term(f"~dE/db_{x}", f"delta_{x}_bar", layer.averaged_db, max_items),
                    _Check(
                        f"averaged first vs the mean: dE/dw_{x} max |diff| "
                        f"{layer.averaged_max_abs_diff_w:.1e} (rel. "
                        f"{layer.averaged_rel_diff_w:.2f}), dE/db_{x} max |diff| "
                        f"{layer.averaged_max_abs_diff_b:.1e} (rel. "
                        f"{layer.averaged_rel_diff_b:.2f}), cosine {layer.averaged_cosine:.4f}"
                    ),
                ],
            )
        )
    doc.append(("heading", "how far apart"))
    rows = []
    for layer in b.layers:
        x = layer.number
        rows.append(
            [
                f"dE/dw_{x}",
                f"{_max_abs(layer.mean_dw - layer.network_dw):.1e}",
                f"{layer.averaged_max_abs_diff_w:.1e}",
                f"{layer.averaged_rel_diff_w:.3f}",
            ]
        )
        rows.append(
            [
                f"dE/db_{x}",
                f"{_max_abs(layer.mean_db - layer.network_db):.1e}",
                f"{layer.averaged_max_abs_diff_b:.1e}",
                f"{layer.averaged_rel_diff_b:.3f}",
            ]
        )
    doc.append(
        (
            "table",
            ["parameter", "|mean - net.gradients|", "|averaged - mean|", "relative"],
            rows,
        )
    )
    doc.append(
        (
            "note",
            f"Over all parameters the averaged-first gradient is off by "
            f"{b.averaged_rel_diff:.3f} of the largest true entry, at cosine "
            f"{b.averaged_cosine:.4f} to the true direction. The mean of products is not the "
            "product of means: the difference is the covariance over the batch of in_x and "
            "delta_x (and of the error and ds/dnet), which the averaging throws away.",
        )
    )
    return doc


def _mean_error_formula(loss: str) -> str:
    if loss in ("cross_entropy", "binary_cross_entropy"):
        return "mean_n (out - label)"
    return "mean_n " + OUTPUT_ERROR_FORMULA.get(loss, "dE/dout")


def _averaged_delta_formula(b: BatchExplanation, x: int) -> str:
    if x == 1:
        if b.loss in ("cross_entropy", "binary_cross_entropy"):
            return "e_bar"
        return f"e_bar * s'(out_{x}_bar)"
    return f"(w_{x - 1} . delta_{x - 1}_bar) * s'(out_{x}_bar)"


def _shapes_doc(rows: Sequence[ShapeRow]) -> list:
    if isinstance(rows, ShapeTrace):
        title = (
            f"chainrule trace: {_arch(rows.sizes, rows.activations, rows.loss)}, batch {rows.batch}"
        )
    else:
        title = "chainrule trace"
    table = [[r.phase, str(r.layer), r.name, r.formula, str(tuple(r.shape))] for r in rows]
    return [
        ("title", title),
        (
            "text",
            "Layers are numbered as in the notes: 1 is the output layer. Batch first: "
            "every per-example vector becomes a row. Training never computes the input's own "
            "gradient dE/dx (the input has no parameters to update); net.input_gradient(x, y) "
            "does, for the web page's heat map.",
        ),
        ("table", ["phase", "layer", "array", "formula", "shape"], table),
    ]


def _render_text(doc: list, style: _Style) -> str:
    lines: list[str] = []
    for block in doc:
        kind = block[0]
        if kind == "title":
            lines += [style(block[1], "bold"), ""]
        elif kind == "heading":
            if lines and lines[-1] != "":
                lines.append("")
            lines.append(style(block[1], "bold"))
        elif kind == "text":
            lines += textwrap.wrap(block[1], _WIDTH)
        elif kind == "note":
            lines += [style(line, "yellow") for line in textwrap.wrap("note: " + block[1], _WIDTH)]
        elif kind == "terms":
            lines += _terms_lines(block[1], style, indent="  ")
        elif kind == "table":
            lines += _table_lines(block[1], block[2], style, indent="  ")
    return "\n".join(lines).rstrip("\n")


def _terms_lines(items: list, style: _Style, indent: str) -> list[str]:
    terms = [t for t in items if isinstance(t, _Term)]
    name_w = max((len(t.name) for t in terms), default=0)
    formula_w = max((len(t.formula) for t in terms), default=0)
    shape_w = max((len(t.shape) for t in terms), default=0)
    lines = []
    for item in items:
        if isinstance(item, _Check):
            verdict = ""
            if item.ok is True:
                verdict = "  " + style("ok", "green", "bold")
            elif item.ok is False:
                verdict = "  " + style("FAIL", "red", "bold")
            lines.append(f"{indent}  -> {item.text}{verdict}")
            continue
        head = f"{indent}{style(item.name.ljust(name_w), 'cyan')}  {item.formula.ljust(formula_w)}"
        head_width = len(indent) + name_w + formula_w + shape_w + 4
        if len(item.values) == 1 and head_width + 2 + len(item.values[0]) <= _WIDTH:
            lines.append(f"{head}  {style(item.shape.ljust(shape_w), 'dim')}  {item.values[0]}")
        else:
            lines.append(f"{head}  {style(item.shape, 'dim')}")
            lines += [f"{indent}    {v}" for v in item.values]
    return [line.rstrip() for line in lines]


def _table_lines(headers, rows, style: _Style, indent: str) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    head = "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()
    lines = [indent + style(head, "bold"), indent + "  ".join("-" * w for w in widths)]
    for row in rows:
        lines.append(indent + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return lines


def _render_markdown(doc: list) -> str:
    plain = _Style(False)
    out: list[str] = []
    for block in doc:
        kind = block[0]
        if kind == "title":
            out += [f"# {block[1]}", ""]
        elif kind == "heading":
            out += [f"## {block[1]}", ""]
        elif kind == "text":
            out += [block[1], ""]
        elif kind == "note":
            out += [f"> {block[1]}", ""]
        elif kind == "terms":
            out += ["```", *_terms_lines(block[1], plain, indent=""), "```", ""]
        elif kind == "table":
            headers, rows = block[1], block[2]
            out.append("| " + " | ".join(h.replace("|", "\\|") for h in headers) + " |")
            out.append("|" + "|".join("---" for _ in headers) + "|")
            for row in rows:
                cells = [str(c).replace("|", "\\|") for c in row]
                out.append("| " + " | ".join(f"`{c}`" if c else "" for c in cells) + " |")
            out.append("")
    return "\n".join(out).rstrip("\n")


def render(obj, format: str = "text", color: bool = False, max_items: int = 8) -> str:
    """The text of an :class:`Explanation`, a :class:`BatchExplanation` or a shape trace.

    Parameters
    ----------
    obj : Explanation, BatchExplanation, or list of ShapeRow
    format : ``"text"`` (for a terminal) or ``"markdown"`` (to save)
    color : bool
        ANSI colour in the text format (the caller decides, e.g. when stdout is a TTY).
        Ignored for Markdown.
    max_items : int
        A vector is printed in full up to this many entries, a matrix up to this many rows
        and ``max_items // 2`` columns; larger arrays as a summary (min/mean/max, how many are
        nonzero, the first ``max_items // 2`` values) beside their shape.

    Returns
    -------
    str
        Without a trailing newline. Numbers have a fixed precision, so the same input renders
        to the same text.
    """
    if format not in ("text", "markdown"):
        raise ValueError(f"format must be 'text' or 'markdown', got format={format!r}")
    if int(max_items) < 1:
        raise ValueError(f"max_items must be a positive integer, got max_items={max_items}")
    max_items = int(max_items)
    if isinstance(obj, Explanation):
        doc = _explanation_doc(obj, max_items)
    elif isinstance(obj, BatchExplanation):
        doc = _batch_doc(obj, max_items)
    elif isinstance(obj, list) and all(isinstance(r, ShapeRow) for r in obj):
        doc = _shapes_doc(obj)
    else:
        raise ValueError(
            "render takes an Explanation, a BatchExplanation or a list of ShapeRow, got "
            f"{type(obj).__name__}"
        )
    if format == "markdown":
        return _render_markdown(doc)
    return _render_text(doc, _Style(color))


# -- the command's entry point --------------------------------------------------------------------


def explain_command(
    sizes=None,
    activation: str | Sequence[str] | None = None,
    loss: str | None = None,
    seed: int | None = 0,
    model=None,
    batch: int | None = None,
    shapes: bool = False,
    format: str = "text",
    color: bool = False,
    *,
    net: Network | None = None,
    x=None,
    label=None,
    max_items: int = 10,
    fd_max_entries: int | None = 50,
    description: str | None = None,
) -> str:
    """The full text of ``chainrule explain`` (and ``chainrule trace``), ready to print.

    With no arguments: a random 8-4-2 sigmoid network (the notes' 8 -> 2 layer with a 4-unit
    hidden layer below it, so the recursion shows), sum of squared errors, seed 0, in float64,
    on a random example with a random class label.

    Parameters
    ----------
    sizes : str or sequence of int, optional
        ``"8,2"``, ``[784, 30, 10]``; default :data:`DEFAULT_SIZES`. Ignored when ``net`` is
        given.
    activation : str or sequence of str, optional
        One name for every layer (a fused loss fixes the output's), or one per layer;
        default sigmoid.
    loss : str, optional
        Default ``"sse"``, the notes' loss.
    seed : int
        Fixes the random weights, example and label.
    model : Network or str, optional
        A loaded network (same as ``net=``), or the file it was loaded from, shown in the
        description. Loading files is the caller's job.
    batch : int, optional
        Explain a batch of this many examples (:func:`explain_batch`) instead of one; with
        ``shapes``, the batch size of the trace (default 64).
    shapes : bool
        Only the shape of every array (:func:`trace_shapes`).
    format, color, max_items
        As in :func:`render`; ``max_items`` defaults to 10 here so that a 10-class output
        (MNIST) shows in full.
    net : Network, optional
        Explain this network instead of a random one.
    x, label : optional
        The example (n_in,) and its label; with ``batch``, x of shape (N, n_in) with at least
        ``batch`` rows and labels (N,). Default: random, from ``seed``.
    fd_max_entries : int or None
        Finite differences check at most this many entries per parameter array.
    description : str, optional
        A line under the title saying where the network and example come from (e.g.
        ``"Model run/model.npz, MNIST test image 3."``); a default one otherwise.
    """
    if isinstance(model, Network):
        net, model = model, None
    if model is not None and net is None:
        raise ValueError(
            f"explain_command does not load files: load {model} and pass the network as net="
        )
    if shapes:
        if net is not None:
            trace = trace_shapes(
                net.sizes,
                batch=batch or 64,
                activations=[layer.activation for layer in net.dense_layers],
                loss=net.loss_function.name,
                standardize=_statistics(net) is not None,
            )
        else:
            trace = trace_shapes(
                sizes, batch=batch or 64, activations=activation, loss=loss or DEFAULT_LOSS
            )
        return render(trace, format=format, color=color, max_items=max_items)

    seed = 0 if seed is None else int(seed)
    default_description = None
    if net is None:
        sizes = _parse_sizes(sizes)
        loss_fn = get_loss(loss or DEFAULT_LOSS)
        acts = _resolve_activations(len(sizes) - 1, activation, loss_fn)
        net = Network.from_sizes(
            sizes, hidden=acts[:-1], output=acts[-1], loss=loss_fn, seed=seed, dtype=np.float64
        )
        examples = "a random example" if batch is None else "random examples"
        default_description = f"A random network (seed {seed}) on {examples}."
        random_net = (sizes, acts, loss_fn)
    else:
        random_net = None
        default_description = f"Model {model}." if model else "A given network."
    rng = np.random.default_rng([seed, 1])
    n_classes = 2 if net.n_out == 1 else net.n_out
    if batch is not None:
        batch = int(batch)
        if batch < 1:
            raise ValueError(f"batch must be a positive integer, got batch={batch}")
        if x is None:
            x = np.round(rng.random((batch, net.n_in)), 2)
            label = rng.integers(0, n_classes, size=batch)
        else:
            x = np.asarray(x)
            if x.ndim != 2 or len(x) < batch:
                raise ValueError(
                    f"batch={batch} needs x of shape (N, {net.n_in}) with N >= {batch}, got "
                    f"shape {x.shape}"
                )
            if label is None:
                raise ValueError("x was given without its labels")
            x, label = x[:batch], np.asarray(label)[:batch]
        if random_net is not None:
            net, default_description = _with_live_units(net, x, seed, random_net, examples)
        result = explain_batch(net, x, label)
    else:
        if x is None:
            x = np.round(rng.random(net.n_in), 2)
            label = int(rng.integers(0, n_classes))
        elif label is None:
            raise ValueError("x was given without its label")
        if random_net is not None:
            net, default_description = _with_live_units(net, x, seed, random_net, examples)
        result = explain_example(net, x, label, fd_max_entries=fd_max_entries, seed=seed)
    result.description = description or default_description
    return render(result, format=format, color=color, max_items=max_items)


def _with_live_units(net: Network, x, seed: int, spec, examples: str) -> tuple[Network, str]:
    """The random network, or a redrawn one if all the ReLU units of a layer are off.

    A ReLU unit with ``net <= 0`` passes no gradient back; when every unit of a layer is off
    for the example, every gradient below and at it is 0, which shows nothing of the chain
    rule. Such a network is redrawn (from the seed, so the same seed gives the same one), and
    the description says so.
    """
    sizes, acts, loss_fn = spec
    rows = np.atleast_2d(np.asarray(x, dtype=np.float64))
    for redraws in range(100):
        if redraws:
            rng = np.random.default_rng([seed, 2, redraws])
            net = Network.from_sizes(
                sizes, hidden=acts[:-1], output=acts[-1], loss=loss_fn, seed=rng, dtype=np.float64
            )
        if _units_on_in_every_relu_layer(net, rows):
            break
    description = f"A random network (seed {seed}) on {examples}."
    if redraws:
        times = "once" if redraws == 1 else f"{redraws} times"
        description = (
            f"A random network (seed {seed}, redrawn {times}: every ReLU unit of a layer was "
            f"off, net <= 0, so every gradient below it was 0) on {examples}."
        )
    return net, description


def _units_on_in_every_relu_layer(net: Network, rows: np.ndarray) -> bool:
    """Whether every ReLU layer has a unit with ``net > 0`` for at least one of ``rows``."""
    dense = net.dense_layers
    rows = _standardized(_statistics(net), rows)
    nets = [_forward_one(dense, row)[1] for row in rows]  # per row, per layer
    return all(
        any((per_row[k] > 0).any() for per_row in nets)
        for k, layer in enumerate(dense)
        if layer.activation.name == "relu"
    )
