"""Activation functions ``out = f(net)`` and their derivatives.

In the notes' notation a layer computes ``net = in . w + b`` and then ``out = s(net)``, where
``s`` is the activation (the notes use the sigmoid). Backpropagation needs ``ds/dnet``: for the
sigmoid that is ``out * (1 - out)``. Every activation here can write its derivative in terms of
its *output* alone, so a layer only has to keep ``out`` for the backward pass.

Each activation has three methods, all on whole batches of shape ``(batch, units)``:

- ``forward(net, out=None)``: ``out = s(net)``;
- ``derivative(out)``: ``ds/dnet`` elementwise (not defined for softmax, whose Jacobian is a
  matrix per example);
- ``backward(out, grad_out, delta=None)``: the chain rule ``dE/dnet = dE/dout * dout/dnet``.

``out=``/``delta=`` name preallocated arrays to write into (the training loop reuses them); when
left out, a new array is returned. Dtypes are kept: float32 in, float32 out. The numbers in the
formulas are written ``constant(xp, 0.5, net.dtype)``: just the number 0.5, as a 0-d array of
the array's dtype, which NumPy combines faster than a Python float (see
:func:`chainrule.backend.constant`).

Your own activation: subclass :class:`Activation`, give it a ``name``, and write ``forward``
(into ``out`` when given) and ``derivative`` from the output (or ``backward`` itself, when the
derivative is not a function of the output alone); pass an instance to
:class:`~chainrule.layers.Dense` and check it with :func:`chainrule.gradcheck`. Model files
store activations by name, so :func:`chainrule.save` holds only the built-in ones and refuses
a network with yours (keep its weights with ``np.savez(path, *net.parameters())``).

The functions come from the arrays' own module (``xp = namespace(net)``: NumPy, or CuPy on a
GPU, see :mod:`chainrule.backend`), so the same code runs wherever the network lives.
"""

from __future__ import annotations

import numpy as np

from chainrule._registry import build
from chainrule.backend import constant, namespace

__all__ = [
    "Activation",
    "Identity",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "Softmax",
    "ACTIVATIONS",
    "get_activation",
]


class Activation:
    """Base class: an elementwise activation with its derivative written from its output."""

    name = "activation"

    def forward(self, net: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Return ``s(net)``, shape and dtype of ``net``: written into ``out`` when it is
        given (the layers pass their reused buffer; a subclass that returns a new array
        instead also works, at the cost of a copy)."""
        raise NotImplementedError

    def derivative(self, out: np.ndarray) -> np.ndarray:
        """Return ``ds/dnet`` evaluated where the forward pass gave ``out``."""
        raise NotImplementedError

    def backward(
        self, out: np.ndarray, grad_out: np.ndarray, delta: np.ndarray | None = None
    ) -> np.ndarray:
        """Chain rule through the activation: ``dE/dnet = dE/dout * ds/dnet``.

        Parameters
        ----------
        out : ndarray of shape (batch, units)
            What ``forward`` returned.
        grad_out : ndarray of shape (batch, units)
            ``dE/dout``.
        delta : ndarray of shape (batch, units), optional
            Where to write the result (may be ``grad_out`` itself).
        """
        return namespace(out).multiply(grad_out, self.derivative(out), out=delta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def config(self) -> dict:
        """A JSON-able description, inverse of :func:`get_activation`."""
        return {"name": self.name}


class Identity(Activation):
    """``s(net) = net``; ``ds/dnet = 1``. For regression outputs."""

    name = "identity"

    def forward(self, net, out=None):
        xp = namespace(net)
        if out is None:
            return xp.copy(net)
        xp.copyto(out, net)
        return out

    def derivative(self, out):
        return namespace(out).ones_like(out)

    def backward(self, out, grad_out, delta=None):
        xp = namespace(out)
        if delta is None:
            return xp.copy(grad_out)
        if delta is not grad_out:
            xp.copyto(delta, grad_out)
        return delta


class Sigmoid(Activation):
    """``s(net) = 1 / (1 + exp(-net))``; ``ds/dnet = out * (1 - out)`` (the notes' formula).

    Computed as ``0.5 * tanh(net / 2) + 0.5``, the same function written so that it never
    overflows: finite for any finite input, float32 or float64. The price is absolute rather
    than relative precision near 0: ``s(net)`` comes in steps of 3e-8 in float32 (6e-17 in
    float64), so ``s(-10)`` is off by ~2e-4 of itself in float32, and ``s(net)`` is 0 below
    ``net`` ~ -20 (float32) or ~ -38 (float64).
    """

    name = "sigmoid"

    def forward(self, net, out=None):
        xp = namespace(net)
        half = constant(xp, 0.5, net.dtype)  # 0.5 in net's dtype (see backend.constant)
        out = xp.multiply(net, half, out=out)
        xp.tanh(out, out=out)
        out *= half
        out += half
        return out

    def derivative(self, out):
        return out * (1 - out)

    def backward(self, out, grad_out, delta=None):
        # dE/dnet = dE/dout * out * (1 - out): grad_out * self.derivative(out), built in the
        # delta buffer when there is one (no temporary arrays)
        xp = namespace(out)
        one = constant(xp, 1.0, out.dtype)
        slope = xp.subtract(one, out, out=None if delta is grad_out else delta)  # 1 - out
        slope *= out  # ds/dnet = out (1 - out)
        return xp.multiply(grad_out, slope, out=slope if delta is None else delta)


class Tanh(Activation):
    """``s(net) = tanh(net)``; ``ds/dnet = 1 - out**2``."""

    name = "tanh"

    def forward(self, net, out=None):
        return namespace(net).tanh(net, out=out)

    def derivative(self, out):
        return 1 - out * out

    def backward(self, out, grad_out, delta=None):
        xp = namespace(out)
        slope = xp.multiply(out, out, out=None if delta is grad_out else delta)  # out**2
        xp.subtract(constant(xp, 1.0, out.dtype), slope, out=slope)  # ds/dnet = 1 - out**2
        return xp.multiply(grad_out, slope, out=slope if delta is None else delta)


class ReLU(Activation):
    """``s(net) = max(net, 0)``; ``ds/dnet = 1 where net > 0, else 0`` (the notes' rule).

    ``out > 0`` exactly where ``net > 0``, so the derivative reads the output.
    """

    name = "relu"

    def forward(self, net, out=None):
        # max(net, 0), against an array of zeros: NumPy's vectorized loop takes two arrays;
        # with the scalar 0 it runs about 3x slower (NumPy 2.x).
        xp = namespace(net)
        return xp.maximum(net, constant(xp, 0.0, net.dtype, net.shape), out=out)

    def derivative(self, out):
        # out >= 0, so sign(out) is 1 where out > 0 and 0 elsewhere, in out's dtype (and
        # sign exists in NumPy, CuPy 13 and the array API; a module-level astype does not)
        return namespace(out).sign(out)

    def backward(self, out, grad_out, delta=None):
        xp = namespace(out)
        return xp.multiply(grad_out, out > constant(xp, 0.0, out.dtype), out=delta)


class LeakyReLU(Activation):
    """``s(net) = net if net > 0 else slope * net``; ``ds/dnet = 1 or slope``.

    Parameters
    ----------
    slope : float in [0, 1)
        The gradient for negative inputs (default 0.01).
    """

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01):
        if not 0 <= slope < 1:
            raise ValueError(f"LeakyReLU slope must be in [0, 1), got slope={slope}")
        self.slope = float(slope)

    def forward(self, net, out=None):
        # For 0 <= slope < 1, max(net, slope * net) is net for net > 0 and slope * net otherwise.
        xp = namespace(net)
        scaled = xp.multiply(net, constant(xp, self.slope, net.dtype), out=out)
        return xp.maximum(net, scaled, out=scaled)

    def derivative(self, out):
        xp = namespace(out)
        return xp.where(out > 0, xp.ones_like(out), xp.full_like(out, self.slope))

    def backward(self, out, grad_out, delta=None):
        return namespace(out).multiply(grad_out, self.derivative(out), out=delta)

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope})"

    def config(self) -> dict:
        return {"name": self.name, "slope": self.slope}


class Softmax(Activation):
    """``out_i = exp(net_i) / sum_j exp(net_j)`` over each row; for the output layer.

    Its Jacobian is a matrix per example, ``dout_i/dnet_j = out_i (1[i=j] - out_j)``, so
    ``derivative`` is not elementwise; ``backward`` applies the Jacobian:
    ``dE/dnet = out * (dE/dout - sum_j dE/dout_j out_j)``. With the cross-entropy loss the two
    fuse into ``delta = out - label`` (see :class:`chainrule.losses.CrossEntropy`).
    Stable for any finite input: a shift that keeps every ``exp`` at most 1 is subtracted
    first (the row maximum, or the batch's when the logits lie close together; see
    :func:`_softmax_shift`).
    """

    name = "softmax"

    def forward(self, net, out=None):
        xp = namespace(net)
        if net.ndim != 2:  # (a row of one example's logits is net[None, :])
            raise ValueError(
                f"softmax takes a (batch, n) array, a row per example, got shape {net.shape}"
                + (" (for one example use net[None, :])" if net.ndim == 1 else "")
            )
        out = xp.subtract(net, _softmax_shift(net), out=out)  # so that exp cannot overflow
        xp.exp(out, out=out)
        # / the row sums, out.sum(axis=1, keepdims=True), computed as the product out . 1
        out /= xp.dot(out, constant(xp, 1.0, out.dtype, (out.shape[1], 1)))
        return out

    def derivative(self, out):
        raise ValueError(
            "softmax has no elementwise derivative (its Jacobian mixes the outputs of an "
            "example); use Softmax.backward, or the fused cross_entropy loss"
        )

    def backward(self, out, grad_out, delta=None):
        xp = namespace(out)
        inner = xp.sum(grad_out * out, axis=1, keepdims=True)
        delta = xp.subtract(grad_out, inner, out=delta)
        delta *= out
        return delta


# exp(-80) is about 1.8e-35, a normal number in float32 (whose smallest is about 1.2e-38)
_SOFTMAX_SPREAD = 80.0


def _softmax_shift(net):
    """What softmax subtracts from the logits ``net`` (batch, n) before ``exp``.

    ``softmax(net - c) = softmax(net)`` for any ``c`` per row. The row maxima, (batch, 1),
    make every ``exp(net - c) <= 1`` (no overflow) with a 1 in each row (no row sums to 0).
    On NumPy a maximum along rows of ~10 logits is a slow reduction (about 20 us at batch 512,
    more than the ``exp``), so when all the logits of the batch lie within 80 of each other,
    the batch's largest logit, one number, does the same: every ``exp(net - c)`` is then
    between ``exp(-80)`` and 1, normal numbers. Two whole-array reductions find that out.
    """
    xp = namespace(net)
    if net.shape[0] == 0:
        return 0.0
    if type(net) is np.ndarray:
        top = float(np.maximum.reduce(net, axis=None))
        if top - float(np.minimum.reduce(net, axis=None)) < _SOFTMAX_SPREAD:  # False for NaN
            return top
        return np.max(net, axis=1, keepdims=True)
    # on a device: the same choice (the same numbers) without a wait for the host
    top = xp.max(net)
    return xp.where(top - xp.min(net) < _SOFTMAX_SPREAD, top, xp.max(net, axis=1, keepdims=True))


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax)
}
"""Name -> class, for configs, saved models and the command line."""


def get_activation(spec: str | dict | Activation | None) -> Activation:
    """An :class:`Activation` from a name (``"relu"``), a config dict, or an instance.

    ``None`` means identity. An unknown name raises ``ValueError`` listing the valid names.
    """
    if spec is None:
        return Identity()
    if isinstance(spec, Activation):
        return spec
    return build("activation", spec, ACTIVATIONS, {"linear": "identity"}, "Activation")
