"""The network: a stack of layers and a loss, with forward, backward and gradients.

The notes write a 3-layer network as ``out = s(b1 + w1(s(b2 + w2(s(b3 + w3(in))))))`` and
the chain rule for its deepest weights as one long product. Written as a loop, the product is
built one layer at a time from the output back::

    delta_L = dE/dout * s'(net_L)                 (output layer; or out - label, fused)
    delta_l = (delta_{l+1} . w_{l+1}^T) * s'(net_l)   for l = L-1, ..., 1
    dE/dw_l = in_l^T . delta_l,   dE/db_l = sum over the batch of delta_l

with one row per example, and ``dE/dout`` (so every delta) divided by the batch size: the
gradients are the batch means of the per-example ones (docs/math.md (F7)). No code is written
per layer index: any depth, any widths (docs/math.md derives it). Here
layers are counted from the input (``l = 1`` is the first, ``L`` the output), the order of
``net.layers`` and of :meth:`Network.gradients`; the notes count from the output (their layer
1 is ``L`` here), as ``chainrule explain`` does.

A network lives on one device: ``Network(..., device="gpu")`` or ``net.to("gpu")`` moves its
parameters to a GPU (CuPy; see :mod:`chainrule.backend`). The public methods take and return
NumPy arrays wherever the network lives; each call moves its inputs to the device once.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from copy import deepcopy

import numpy as np

from chainrule.activations import Activation, get_activation
from chainrule.backend import asarray, device_name, get_namespace, namespace, to_numpy
from chainrule.layers import (
    Dense,
    Dropout,
    Layer,
    Standardize,
    _float_dtype,
    as_generator,
    memory_size,
)
from chainrule.losses import Loss, get_loss

__all__ = ["Network"]

_DEFAULT_OUTPUT = {
    "cross_entropy": "softmax",
    "binary_cross_entropy": "sigmoid",
    "sse": "sigmoid",
    "mse": "identity",
}


class Network:
    """A feed-forward network: ``layers`` applied in order, trained on ``loss``.

    Parameters
    ----------
    layers : sequence of Layer
        :class:`~chainrule.layers.Dense` layers (and optionally
        :class:`~chainrule.layers.Dropout`), each ``n_in`` equal to the previous ``n_out``;
        optionally a :class:`~chainrule.layers.Standardize` layer first.
    loss : str or Loss
        ``"sse"`` (the notes' ``1/2 sum (label - out)**2``), ``"mse"``, ``"cross_entropy"``
        (needs a softmax output layer), ``"binary_cross_entropy"`` (needs a sigmoid output).
    device : str or module
        ``"cpu"`` (NumPy, the default) or ``"gpu"`` (CuPy, the ``gpu`` extra); see :meth:`to`.

    Attributes
    ----------
    parameter_vector, gradient_vector : ndarray of shape (n_parameters,)
        Every weight and bias, and every gradient, in the order of :meth:`parameters`: each
        layer's arrays are views of these two vectors (the network moves its layers' values
        into them when it is built, so a layer belongs to one network). They live on the
        network's device.
    xp : module
        The array module of the parameters: ``numpy``, ``cupy``, or an adapter
        (:mod:`chainrule.backend`).

    Examples
    --------
    >>> import numpy as np, chainrule
    >>> net = chainrule.Network.from_sizes([4, 8, 3], hidden="relu", loss="cross_entropy")
    >>> x = np.ones((5, 4), np.float32); y = np.array([0, 1, 2, 1, 0])
    >>> net.forward(x).shape
    (5, 3)
    >>> [dw.shape for dw, db in net.gradients(x, y)]
    [(4, 8), (8, 3)]
    """

    def __init__(self, layers: Sequence[Layer], loss: str | Loss = "sse", device="cpu"):
        if isinstance(layers, Layer) or not isinstance(layers, Iterable):
            raise ValueError(
                f"layers must be a list of layers, e.g. [Dense(784, 10)]; got {layers!r}"
            )
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ValueError(
                    f"layer {i} must be a Layer (Dense, Dropout or Standardize), got {layer!r}"
                )
            if isinstance(layer, Standardize) and i > 0:
                raise ValueError(
                    f"layer {i}, {layer!r}, must be the first layer: it standardizes the "
                    "network's inputs"
                )
        dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        if not dense:
            raise ValueError("a Network needs at least one Dense layer")
        _check_unshared(self.layers)
        for below, above in zip(dense, dense[1:]):
            if below.n_out != above.n_in:
                raise ValueError(
                    f"layer widths do not chain: {below!r} gives {below.n_out} outputs but the "
                    f"next layer {above!r} expects n_in={above.n_in}"
                )
        width = None
        for i, layer in enumerate(self.layers):  # a Dropout's n_units, when given, must fit too
            n_in, n_out = getattr(layer, "n_in", None), getattr(layer, "n_out", None)
            if width is not None and n_in is not None and n_in != width:
                raise ValueError(
                    f"layer widths do not chain: layer {i}, {layer!r}, expects {n_in} "
                    f"inputs but the layer below gives {width}"
                )
            width = n_out if n_out is not None else width
        # a Standardize layer's statistics are saved in the network's dtype: they must share it
        dtypes = {layer.dtype for layer in self.layers if isinstance(layer, (Dense, Standardize))}
        if len(dtypes) > 1:
            raise ValueError(f"all layers must share one dtype, got {sorted(map(str, dtypes))}")
        if not isinstance(self.layers[-1], Dense):
            raise ValueError(f"the last layer must be Dense, got {self.layers[-1]!r}")
        self.dtype: np.dtype = dense[0].dtype
        self.loss_function: Loss = get_loss(loss)
        fused = self.loss_function.fused_activation
        output = dense[-1].activation.name
        if fused is not None and output != fused:
            raise ValueError(
                f"loss {self.loss_function.name!r} is computed from the logits of a {fused} "
                f"output layer, but the output activation is {output!r}; "
                f"use activation={fused!r} on the last layer"
            )
        if self.loss_function.name == "cross_entropy" and dense[-1].n_out < 2:
            raise ValueError(
                "cross_entropy needs at least 2 outputs; for one output use "
                "binary_cross_entropy with a sigmoid output"
            )
        if output == "softmax" and dense[-1].n_out < 2:
            raise ValueError(
                "a softmax over one output is always 1, so the network cannot learn; for one "
                "output use a sigmoid (binary_cross_entropy) or identity (mse) output"
            )
        self.xp = get_namespace(device)
        self.parameter_vector, self.gradient_vector = _pack(dense, self.dtype, self.xp)
        # backward stops at the lowest layer with parameters: what is below it needs no gradient
        self._lowest = self.layers.index(dense[0])
        self._claim_layers()
        self._clear_workspaces()

    def _claim_layers(self) -> None:
        owner = weakref.ref(self)
        for layer in self.layers:
            layer._owner = owner

    @classmethod
    def from_sizes(
        cls,
        sizes: Sequence[int],
        hidden: str | Sequence[str] = "relu",
        output: str | None = None,
        loss: str | Loss = "cross_entropy",
        init: str | None = None,
        seed: int | np.random.Generator | None = 0,
        dtype=np.float32,
        dropout: float = 0.0,
        device="cpu",
        standardize=None,
    ) -> Network:
        """A network from layer widths, e.g. ``[784, 100, 10]``: one Dense layer per pair.

        ``hidden`` is one activation for every hidden layer, or one per hidden layer.
        ``output`` defaults to what the loss expects (softmax for cross_entropy, sigmoid for
        sse and binary_cross_entropy, identity for mse). ``seed`` fixes every weight.
        ``dropout`` puts a :class:`~chainrule.layers.Dropout` after each hidden layer.
        ``device`` is where it lives (see :meth:`to`); the weights do not depend on it.
        ``standardize``, the training inputs (n_examples, sizes[0]), puts a
        :class:`~chainrule.layers.Standardize` layer first, with their mean and standard
        deviation: the network then standardizes whatever it is given (a ``Standardize``
        layer there gives its statistics).
        """
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
            raise ValueError(f"sizes must be a list of layer widths, e.g. [784, 10]; got {sizes!r}")
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output width, got {sizes}")
        loss_fn = get_loss(loss)
        n_hidden = len(sizes) - 2
        if hidden is None or isinstance(hidden, (str, dict, Activation)):
            get_activation(hidden)  # a misspelt name is an error even with no hidden layer
            hidden_list = [hidden] * n_hidden
        else:
            hidden_list = list(hidden)
        if len(hidden_list) != n_hidden:
            raise ValueError(
                f"got {len(hidden_list)} hidden activations for {n_hidden} hidden layers"
            )
        if output is None:
            output = loss_fn.fused_activation or _DEFAULT_OUTPUT.get(loss_fn.name, "identity")
        rng = as_generator(seed)
        layers: list[Layer] = []
        if isinstance(standardize, (bool, np.bool_)) or (
            isinstance(standardize, tuple)  # (mean, std), as Standardize.statistics gives them
            and len(standardize) == 2
            and all(isinstance(a, np.ndarray) and a.ndim == 1 for a in standardize)
        ):
            raise ValueError(
                "standardize takes the training inputs (n_examples, sizes[0]) or a Standardize "
                f"layer, got {type(standardize).__name__}; for statistics (mean, std) give "
                "Standardize(mean, std)"
            )
        if isinstance(standardize, Standardize):
            layers.append(Standardize(standardize.mean, standardize.std, dtype=dtype))
        elif standardize is not None:
            layers.append(Standardize.from_data(standardize, dtype=dtype))
        if layers:
            if layers[0].n_in != sizes[0]:
                raise ValueError(
                    f"standardize has {layers[0].n_in} features but sizes[0] is {sizes[0]}"
                )
        activations = hidden_list + [output]
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            layers.append(Dense(n_in, n_out, activations[i], init=init, rng=rng, dtype=dtype))
            if dropout and i < n_hidden:
                layers.append(Dropout(dropout, n_out, rng=rng.spawn(1)[0], dtype=dtype))
        return cls(layers, loss=loss_fn, device=device)

    # -- device ------------------------------------------------------------------------------

    def to(self, device, array_device=None) -> Network:
        """Move the network to ``device`` in place and return it.

        ``device`` is ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy: ``pip install "chainrule[gpu]"``;
        without it, or without a visible GPU, a :class:`~chainrule.backend.DeviceError` says
        so). It may also be an array-API module such as ``array_api_strict``, with
        ``array_device`` one of its devices (the tests use this). The parameters and gradients
        move as two vectors; an optimizer's state follows its parameters on its next step.
        """
        xp = get_namespace(device, array_device)
        if xp is self.xp:
            return self
        self.xp = xp
        self.parameter_vector, self.gradient_vector = _pack(self.dense_layers, self.dtype, xp)
        self._clear_workspaces()
        return self

    def __getstate__(self) -> dict:
        # For pickle (scikit-learn's clone and joblib): modules do not pickle, and the layers'
        # views of the two vectors would come back as copies. __setstate__ rebuilds both.
        state = dict(self.__dict__)
        del state["xp"], state["parameter_vector"], state["gradient_vector"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        dense = self.dense_layers
        self._lowest = self.layers.index(dense[0])  # (not in pickles of older versions)
        self.xp = dense[0].xp
        self.parameter_vector, self.gradient_vector = _pack(dense, self.dtype, self.xp)
        self._claim_layers()

    @property
    def device(self) -> str:
        """``"cpu"``, ``"gpu"``, or ``"<library>:<device>"`` for another array-API library."""
        return device_name(self.xp)

    def _clear_workspaces(self) -> None:
        for layer in self.layers:
            if isinstance(layer, (Dropout, Standardize)):
                layer._workspaces.clear()

    def _on_device(self, array: np.ndarray):
        """A NumPy array on the network's device (no copy on the CPU)."""
        return asarray(self.xp, array)

    # -- structure -----------------------------------------------------------------------

    @property
    def dense_layers(self) -> list[Dense]:
        """The Dense layers, in order (the ones with parameters)."""
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    @property
    def n_in(self) -> int:
        return self.dense_layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def sizes(self) -> list[int]:
        dense = self.dense_layers
        return [dense[0].n_in] + [layer.n_out for layer in dense]

    def parameters(self) -> list[np.ndarray]:
        """Every parameter array (weights, biases of each Dense layer, in order).

        They are views of one vector, :attr:`parameter_vector` (and the gradients of
        :attr:`gradient_vector`), so an update of the whole network can be a few operations
        on two long vectors instead of a few per array.
        """
        return [p for layer in self.layers for p in layer.parameters()]

    def parameter_gradients(self) -> list[np.ndarray]:
        """The gradient arrays matching :meth:`parameters`, as left by the last backward pass."""
        return [g for layer in self.layers for g in layer.gradients()]

    @property
    def n_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    def config(self) -> dict:
        """A JSON-able description of the architecture and loss."""
        return {
            "layers": [layer.config() for layer in self.layers],
            "loss": self.loss_function.name,
            "dtype": str(self.dtype),
        }

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{inner}], loss={self.loss_function.name!r})"

    # -- the math --------------------------------------------------------------------------

    def forward(self, x) -> np.ndarray:
        """The network's output for ``x`` of shape (batch, n_in): shape (batch, n_out).

        The output is after the output activation (probabilities for softmax). Returns a new
        array (the layers' own buffers are reused by the next call).
        """
        return to_numpy(self._forward(self._on_device(self.check_inputs(x))), copy=True)

    def predict_proba(self, x, batch_size: int = 2048) -> np.ndarray:
        """Like :meth:`forward`, computed ``batch_size`` rows at a time to bound memory."""
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        x = self.check_inputs(x)
        with np.errstate(over="ignore", invalid="ignore"):  # said below, in words
            out = np.concatenate(
                [
                    to_numpy(self._forward(self._on_device(x[i : i + batch_size])), copy=True)
                    for i in range(0, len(x), batch_size)
                ]
                or [np.empty((0, self.n_out), self.dtype)]
            )
        if not np.isfinite(out).all():
            raise ValueError(self._why_not_finite(x, out))
        return out

    def _why_not_finite(self, x: np.ndarray, out: np.ndarray) -> str:
        """Why some outputs are NaN or inf although the inputs are finite numbers."""
        bad = ~np.isfinite(out).all(axis=1)
        row = int(np.argmax(bad))
        if not all(np.isfinite(to_numpy(p)).all() for p in self.parameters()):
            return (
                "the network's outputs are not finite: its weights hold NaN or inf (a diverged "
                "run?)"
            )
        largest = float(np.abs(x[row]).max())
        return (
            f"the network's outputs are not finite for {int(bad.sum())} of {len(x)} rows (first: "
            f"row {row}, inputs up to {largest:.3g}): too large for {self.dtype.name} arithmetic "
            "through this network; give inputs scaled as in training (numbers of order 1, or "
            "raw ones for a network with a Standardize first layer)"
        )

    def predict(self, x, batch_size: int = 2048) -> np.ndarray:
        """Class labels, shape (batch,): the argmax of the outputs (for one output,
        1 where it is >= 0.5). A regression network's outputs themselves come from
        :meth:`forward`, or :meth:`predict_proba` for many rows."""
        out = self.predict_proba(x, batch_size)
        if self.n_out == 1:
            return (out[:, 0] >= 0.5).astype(np.int64)
        return out.argmax(axis=1)

    def loss(self, x, y, sample_weight=None) -> float:
        """The mean over the batch of the per-example loss, a float; with ``sample_weight``
        (shape (batch,), numbers >= 0) the weighted mean ``sum_n w_n E_n / sum_n w_n``."""
        x = self._check_nonempty(self.check_inputs(x))
        target = self.encode_targets(y, len(x))
        self._forward(self._on_device(x))
        if sample_weight is None:
            return self._loss_value(self._on_device(target))
        factors = self._factors(sample_weight, len(x))
        return self._weighted_loss_value(self._on_device(target), factors)

    def gradients(self, x, y, sample_weight=None) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(dE/dweights, dE/dbiases), ...]``, one pair per Dense layer, shaped like the
        parameters: the gradients of ``self.loss(x, y, sample_weight)`` (the batch mean, or
        the weighted mean)."""
        x = self._check_nonempty(self.check_inputs(x))
        target = self.encode_targets(y, len(x))
        self._forward(self._on_device(x))
        self._backward(self._on_device(target), factors=self._factors(sample_weight, len(x)))
        return [
            (to_numpy(layer.dweights, copy=True), to_numpy(layer.dbiases, copy=True))
            for layer in self.dense_layers
        ]

    def input_gradient(self, x, y, sample_weight=None) -> np.ndarray:
        """``dE/dx``, the gradient of ``self.loss(x, y, sample_weight)`` (the batch mean, or
        the weighted mean) with respect to the inputs ``x``: shape (batch, n_in), row ``n``
        example ``n``'s own gradient divided by the batch size (times ``w_n`` over the mean
        weight). The chain rule carried through every layer (a
        :class:`~chainrule.layers.Standardize` first layer divides by ``std``) down to the
        input, one step past where :meth:`gradients` stops (training never needs it)."""
        x = self._check_nonempty(self.check_inputs(x))
        target = self.encode_targets(y, len(x))
        self._forward(self._on_device(x))
        factors = self._factors(sample_weight, len(x))
        _, grad = self._backward(self._on_device(target), to_input=True, factors=factors)
        return to_numpy(grad, copy=True)

    def _factors(self, sample_weight, batch: int):
        """:func:`row_weights` of a checked ``sample_weight``, in the network's dtype and on
        its device (None for None)."""
        if sample_weight is None:
            return None
        factors = row_weights(check_sample_weight(sample_weight, batch))
        return self._on_device(factors.astype(self.dtype, copy=False))

    def train_step(
        self,
        x: np.ndarray,
        target: np.ndarray,
        want_loss: bool = True,
        grad_scale: float = 1.0,
        factors: np.ndarray | None = None,
    ):
        """Forward and backward on one batch with dropout on; leaves the gradients in each
        layer's ``dweights``/``dbiases``. Returns the batch loss (or None if not wanted).

        ``grad_scale`` multiplies every gradient (an optimizer may ask for ``lr * g`` to save
        itself a pass over the parameters). Every gradient is linear in the output layer's
        delta, so scaling that one (batch, n_out) array scales them all.

        ``factors`` (batch,), optional, weighs the examples: the loss becomes the mean of
        ``factors[n] * E_n``, and example ``n``'s row of the output delta is multiplied by
        ``factors[n]``. :func:`row_weights` turns sample weights into factors whose mean is
        1, which makes that the weighted mean.

        No checks: ``x`` must already be a (batch, n_in) array of the network's dtype and
        ``target`` come from :meth:`encode_targets`, both on the network's device. The
        training loop uses this.
        """
        self._forward(x, training=True)
        return self._backward(target, grad_scale, want_loss, factors=factors)

    def _forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def _loss_value(self, target: np.ndarray, precise: bool = False) -> float:
        """The loss of the last forward pass. A fused loss takes the logits, and the
        probabilities too (a faster ``-log p``) unless ``precise`` asks for the form that keeps
        a small loss's relative precision (finite differences need it)."""
        last = self.layers[-1]
        if self.loss_function.fused_activation:
            probs = None if precise else last.out
            return self.loss_function.value(last.net, target, probs=probs)
        return self.loss_function.value(last.out, target)

    def _weighted_loss_value(self, target: np.ndarray, factors: np.ndarray) -> float:
        """The loss of the last forward pass with example ``n`` counted ``factors[n]`` times:
        ``mean_n(factors[n] * E_n)``."""
        last, loss = self.layers[-1], self.loss_function
        if loss.fused_activation:
            each = loss.per_example(last.net, target, probs=last.out)
        else:
            each = loss.per_example(last.out, target)
        return float(namespace(each).vdot(factors, each)) / factors.shape[0]

    def _backward(
        self,
        target: np.ndarray,
        grad_scale: float = 1.0,
        want_loss: bool = False,
        to_input: bool = False,
        factors: np.ndarray | None = None,
    ):
        """The chain rule from the loss down to the lowest layer with parameters (after a
        forward pass); returns the loss if ``want_loss`` (computed along with the output
        delta), or ``(loss, dE/dx)`` if ``to_input``: down to the network's input.
        ``factors`` weigh the examples (:meth:`train_step`)."""
        last, loss = self.layers[-1], self.loss_function
        first, lowest = len(self.layers) - 1, 0 if to_input else self._lowest
        weighted = value = None
        if factors is not None:  # E = mean(factors * E_n): each row of the delta times its factor
            weighted = factors[:, None]
            if want_loss:  # the weighted loss here; value_and_delta skips the unweighted one
                value, want_loss = self._weighted_loss_value(target, factors), False
        if loss.fused_activation:  # delta = dE/dnet, written into last.delta
            unweighted, delta = loss.value_and_delta(
                last.net,
                target,
                probs=last.out,
                delta=last.delta,
                scale=grad_scale,
                want_value=want_loss,
            )
            if weighted is not None:
                delta *= weighted
            grad = last.backward_delta(delta, input_grad=to_input or first > lowest)
        else:  # dE/dout, then the output layer applies ds/dnet
            unweighted, dE_dout = loss.value_and_delta(
                last.out, target, scale=grad_scale, want_value=want_loss
            )
            if weighted is not None:
                dE_dout *= weighted
            grad = last.backward(dE_dout, to_input or first > lowest)
        if factors is None:
            value = unweighted
        for i in range(first - 1, lowest - 1, -1):
            grad = self.layers[i].backward(grad, input_grad=to_input or i > lowest)
        return (value, grad) if to_input else value

    # -- input checks -------------------------------------------------------------------------

    def check_inputs(self, x) -> np.ndarray:
        """``x`` as a (batch, n_in) array of the network's dtype, or a ValueError saying why."""
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"inputs must be a numeric array, got {type(x).__name__}") from exc
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"inputs must be numeric, got dtype {arr.dtype}{_which_cells(x, arr)}")
        if arr.ndim != 2 or arr.shape[1] != self.n_in:
            hint = " (for one example use x[None, :])" if arr.shape == (self.n_in,) else ""
            raise ValueError(
                f"inputs must have shape (batch, {self.n_in}), got shape {arr.shape}{hint}"
            )
        given = arr
        with np.errstate(over="ignore"):  # too large for float32: an error below, no warning
            arr = np.ascontiguousarray(arr, dtype=self.dtype)
        # Any NaN or inf entry makes the sum NaN or inf, so a finite sum (one pass, no temporary
        # array the size of the data, unlike np.isfinite(arr)) proves every entry finite. A sum
        # can also overflow from finite entries: then min and max decide exactly.
        with np.errstate(over="ignore", invalid="ignore"):
            total = arr.sum() if arr.size else 0.0
        if not np.isfinite(total) and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            bad = np.argwhere(~np.isfinite(arr))[0]
            what = _what_is_not_finite(given[tuple(bad)], self.dtype)
            raise ValueError(f"inputs contain {what} (first at row {bad[0]}, column {bad[1]})")
        return arr

    @staticmethod
    def _check_nonempty(x: np.ndarray) -> np.ndarray:
        if not len(x):
            raise ValueError("the loss of an empty batch is undefined: the inputs have 0 rows")
        return x

    def encode_targets(self, y, batch: int | None = None) -> np.ndarray:
        """Targets in the form the loss takes, or a ValueError saying what was expected.

        Accepts integer class labels of shape (batch,) in ``[0, n_out)`` (``{0, 1}`` for one
        output) or float targets of shape (batch, n_out) (shape (batch,) for one output).
        Labels become one-hot rows, except for cross_entropy, which takes them as they are.
        """
        arr = np.asarray(y)
        n_out = self.n_out
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"targets must be numeric, got dtype {arr.dtype}")
        if batch is not None and (arr.ndim == 0 or len(arr) != batch):
            raise ValueError(
                f"targets must have {batch} rows to match the inputs, got shape {arr.shape}"
            )
        if arr.dtype.kind in "biu":
            if arr.ndim == 1:
                if arr.dtype.kind == "b":  # True/False: classes 1 and 0
                    arr = arr.astype(np.intp)
                n_classes = 2 if n_out == 1 else n_out
                if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
                    bad = arr[(arr < 0) | (arr >= n_classes)][0]
                    regression = ""
                    if self.loss_function.name in ("mse", "sse"):  # counts, prices, ...?
                        regression = (
                            "; for regression targets give floats of shape (n, n_out), "
                            "e.g. y.astype(np.float32).reshape(-1, 1)"
                        )
                    raise ValueError(
                        f"class labels must be in [0, {n_classes - 1}] for a network with "
                        f"{n_out} output(s), got label {bad}{regression}"
                    )
                if self.loss_function.name == "cross_entropy":
                    return arr.astype(np.intp, copy=False)
                if n_out == 1:
                    return arr.astype(self.dtype)[:, None]
                onehot = np.zeros((len(arr), n_out), self.dtype)
                onehot[np.arange(len(arr)), arr] = 1
                return onehot
            arr = arr.astype(self.dtype)
        if arr.ndim == 1 and n_out == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != n_out:
            dtype = np.asarray(y).dtype
            column = dtype.kind in "biu" and arr.shape[1:] == (1,)
            hint = " (class labels as a column: give y.ravel())" if column else ""
            if arr.ndim == 1 and dtype.kind == "f":  # labels that became floats
                finite = np.isfinite(arr)
                if not finite.all():
                    row = int(np.argmin(finite))
                    hint = f" (row {row} is {arr[row]}: a missing label? drop rows without one)"
                elif np.all(arr == np.round(arr)):
                    hint = " (class labels as floats: give y.astype(int))"
            raise ValueError(
                f"targets must be integer class labels of shape (batch,) or floats of shape "
                f"(batch, {n_out}), got {dtype} of shape {arr.shape}{hint}"
            )
        given = arr
        with np.errstate(over="ignore"):  # too large for float32: an error below, no warning
            arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if not np.isfinite(arr).all():
            bad = tuple(np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"targets contain {_what_is_not_finite(given[bad], self.dtype)}")
        name = self.loss_function.name
        if arr.size and name in ("cross_entropy", "binary_cross_entropy"):  # probabilities
            low, high = float(arr.min()), float(arr.max())
            if low < 0 or (name == "binary_cross_entropy" and high > 1):
                bounds = "in [0, 1]" if name == "binary_cross_entropy" else ">= 0"
                raise ValueError(
                    f"{name} targets are probabilities and must be {bounds}, got values from "
                    f"{low:g} to {high:g}"
                )
            if name == "cross_entropy" and arr.ndim == 2 and arr.shape[1] > 1:
                empty = np.flatnonzero(~arr.any(axis=1))  # a one-hot row of an unknown class?
                if empty.size:
                    raise ValueError(
                        f"cross_entropy targets: row {int(empty[0])} is all zeros ({empty.size} "
                        "such rows), a label of no class, which would count for nothing; give "
                        "each example its class (one-hot rows or integer labels)"
                    )
        return arr

    # -- copies ---------------------------------------------------------------------------------

    def astype(self, dtype) -> Network:
        """A copy of the network with every parameter in ``dtype`` (float32 or float64), on
        the same device."""
        dtype = _float_dtype(dtype)
        layers: list[Layer] = []
        for layer in self.layers:
            if isinstance(layer, Dense):
                copy = Dense(
                    layer.n_in,
                    layer.n_out,
                    deepcopy(layer.activation),  # the object itself: a subclass stays one
                    init="zeros",
                    dtype=dtype,
                )
                copy.init = layer.init
                copy.weights = layer.weights
                copy.biases = layer.biases
            elif isinstance(layer, Dropout):
                copy = Dropout(layer.rate, layer.n_in, rng=deepcopy(layer.rng), dtype=dtype)
            elif isinstance(layer, Standardize):
                copy = Standardize(layer.mean, layer.std, dtype=dtype)
            else:
                raise ValueError(f"cannot copy layer {layer!r}")
            layers.append(copy)
        return type(self)(layers, loss=deepcopy(self.loss_function), device=self.xp)

    def copy(self) -> Network:
        """An independent copy (same dtype, same weights, same device)."""
        return self.astype(self.dtype)


def _which_cells(x, arr: np.ndarray) -> str:
    """For inputs ``x`` (as an array, ``arr``) that are not numbers: the columns of a pandas
    DataFrame that are not, by name, or the first cell of a 2-D object array that is not;
    empty where there is nothing more to say."""
    dtypes = getattr(x, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items"):  # a DataFrame: its column dtypes
        bad = [str(k) for k, dtype in dtypes.items() if getattr(dtype, "kind", "O") not in "biuf"]
        if bad:
            more = ", ..." if len(bad) > 5 else ""
            return f" (columns not numeric: {', '.join(bad[:5])}{more})"
    if arr.dtype.kind in "US":
        return (
            " (text: numbers written as strings convert with x.astype(float); words are "
            "categories, to encode as numbers)"
        )
    if arr.dtype.kind != "O" or arr.ndim != 2:
        return ""
    for j in range(arr.shape[1]):  # the first column that does not convert (a C loop each)
        try:
            missing = np.flatnonzero(np.isnan(arr[:, j].astype(np.float64)))  # None -> nan
        except (TypeError, ValueError):
            for i, value in enumerate(arr[:, j]):
                try:
                    float(value)
                except (TypeError, ValueError):
                    return f" (first at [{i}, {j}]: {value!r})"
        else:
            if missing.size:
                i = int(missing[0])
                return f" (first at [{i}, {j}]: {arr[i, j]!r})"
    return " (every cell converts: give x.astype(float))"


def _what_is_not_finite(value, dtype) -> str:
    """What a non-finite entry was before the cast to ``dtype``: NaN or inf, or too large."""
    if np.isfinite(value):
        return f"a value too large for {np.dtype(dtype)} ({value:g})"
    return "NaN or inf"


def _check_unshared(layers: list[Layer]) -> None:
    """A ValueError if a layer is listed twice or belongs to another (live) network: a layer's
    parameters are views of its network's vectors, and its buffers hold one forward pass."""
    seen: set[int] = set()
    for i, layer in enumerate(layers):
        if id(layer) in seen:
            raise ValueError(
                f"layer {i}, {layer!r}, is listed twice: every position needs its own layer "
                "object (a layer keeps the inputs of its last forward pass for backward)"
            )
        seen.add(id(layer))
        owner = layer._owner() if getattr(layer, "_owner", None) is not None else None
        if owner is not None:
            raise ValueError(
                f"layer {i}, {layer!r}, already belongs to another network (its parameters are "
                "views of that network's parameter vector, which its optimizer updates); "
                "build new layers, or take copies: other_net.copy().layers"
            )


def _pack(dense: list[Dense], dtype, xp) -> tuple[np.ndarray, np.ndarray]:
    """One parameter vector and one gradient vector on ``xp``'s device, holding every Dense
    layer's arrays in the order of :meth:`Network.parameters`; each layer keeps views of them.
    The parameters' values are kept; the gradients start at zero."""
    values = [to_numpy(p).reshape(-1) for layer in dense for p in layer.parameters()]
    try:
        params = asarray(xp, np.concatenate(values).astype(dtype, copy=False))
        grads = xp.zeros(params.shape[0], dtype)
    except MemoryError:  # NumPy's message names an array shape, not the network
        n = sum(len(v) for v in values)
        raise MemoryError(
            f"a network of {n:,} parameters ({', '.join(repr(d) for d in dense)}) needs "
            f"{memory_size(2 * n * np.dtype(dtype).itemsize)} for them and their gradients, "
            "more memory than this machine can give; use fewer or narrower layers"
        ) from None
    start = 0
    for layer in dense:
        n_w, n_b = layer.n_in * layer.n_out, layer.n_out
        w, b = slice(start, start + n_w), slice(start + n_w, start + n_w + n_b)
        shape = (layer.n_in, layer.n_out)
        layer._use_storage(
            xp.reshape(params[w], shape), params[b], xp.reshape(grads[w], shape), grads[b]
        )
        start += n_w + n_b
    return params, grads


def check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """``sample_weight`` as a float64 array of shape (n,), or a ValueError saying what is wrong
    with it: numbers >= 0, finite, one per example, not all zero."""
    try:
        w = np.asarray(sample_weight)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight must be an array of numbers, got {exc}") from None
    if w.dtype.kind == "O":  # a list or Series of numbers with a gap: name the first
        for i, v in enumerate(w.reshape(-1)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
                raise ValueError(f"sample_weight must be numbers, got {v!r} at row {i}")
        w = w.astype(np.float64)
    if w.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numbers, got dtype {w.dtype}")
    if w.shape != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},), one weight per example, got shape {w.shape}"
        )
    w = w.astype(np.float64)
    if not np.isfinite(w).all():
        bad = int(np.argmin(np.isfinite(w)))
        raise ValueError(f"sample_weight must be finite, got {w[bad]} at row {bad}")
    if n and w.min() < 0:
        bad = int(np.argmin(w))
        raise ValueError(f"sample_weight must be >= 0, got {w[bad]:g} at row {bad}")
    if n and not w.any():
        raise ValueError("sample_weight is zero for every example")
    # only ratios matter: scaled by a power of 2 (exactly) to a largest weight in [0.5, 1),
    # so that sums of them do not overflow (1e307 each) nor their reciprocals (subnormal ones)
    return np.ldexp(w, -np.frexp(w.max())[1]) if n else w


def row_weights(sample_weight: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The factors that make a batch's mean loss its weighted mean: ``w * batch / sum(w)``,
    whose mean is 1, so ``mean_n(factor_n * E_n) = sum_n w_n E_n / sum_n w_n`` (zeros for a
    batch whose weights are all zero: it counts for nothing). Written into ``out`` if given."""
    weight = float(sample_weight.sum())
    scale = len(sample_weight) / weight if weight > 0 else 0.0
    return np.multiply(sample_weight, scale, out=out)
