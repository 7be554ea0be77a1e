"""Layers: ``forward`` and ``backward`` side by side, in whole-batch matrix form.

A :class:`Dense` layer is the notes' layer, for a batch of examples at once::

    net = in . w + b          (batch, n_in) @ (n_in, n_out) + (n_out,)  ->  (batch, n_out)
    out = s(net)              the activation, elementwise (or softmax over each row)

and its backward pass is the notes' chain of terms, one batch at a time::

    delta   = dE/dnet = dE/dout * ds/dnet                       (batch, n_out)
    dE/dw   = in^T . delta    = sum over n of np.outer(in^(n), delta^(n))       (n_in, n_out)
    dE/db   = sum over the batch of delta        (dnet/db = 1)                  (n_out,)
    dE/din  = delta . w^T     (dnet/din = w: what the layer below receives)     (batch, n_in)

where ``in^(n)`` and ``delta^(n)`` are row n, example n (docs/math.md (F7); there, as in the
notes, a subscript ``in_x`` names layer x). ``dE/din`` is the notes' ``dE/ds`` of the layer
below. The loss already divides ``delta`` by the batch size, so these sums are the *means* of
the per-example gradients.

Where the inputs and outputs are kept (the notes' "push io storage up to net class"): each layer
keeps *references* to what its own backward needs, its input ``x`` and its output ``out``
(plus ``net`` for the output layer of a fused loss). The input of one layer is the very array
the layer below returned, so nothing is stored twice and nothing is copied (an input of another
dtype, or a list, is converted to the layer's dtype first: a copy). The arrays live in a
small per-batch-size workspace owned by the layer and are reused from step to step, so training
allocates no new arrays once the first batch has run. Consequence: an array returned by
``forward`` is overwritten by the next ``forward`` of the same batch size;
:meth:`chainrule.Network.forward` returns a copy for that reason.

The products go to BLAS through ``xp.dot``, which costs ~0.4 us less a call than ``matmul`` (a
tenth of a step at a batch of 10), except ``in^T . delta``: for a transposed first factor
``matmul`` makes the faster BLAS call (82 against 92 us at a batch of 32 on 784-256).

The array functions come from ``self.xp``, the module of the layer's parameters (``numpy``, or
``cupy`` once the network has moved to a GPU; see :mod:`chainrule.backend`).
"""

from __future__ import annotations

import numpy as np

from chainrule.activations import Activation, Identity, get_activation
from chainrule.backend import _is_cupy, asarray, namespace, to_numpy
from chainrule.initializers import default_init, init_weights

__all__ = ["Layer", "Dense", "Dropout", "Standardize", "as_generator"]

_MAX_WORKSPACES = 3
_BACKWARD_FIRST = "{!r}: backward needs a forward pass first (it uses that pass's input and output)"


def _batch_input(layer: Layer, x) -> np.ndarray:
    """``x`` (already an array) if it is a (batch, layer.n_in) batch, else a ValueError that
    names the shape expected and the one given."""
    if x.ndim != 2 or x.shape[1] != layer.n_in:
        hint = " (for one example use x[None, :])" if x.shape == (layer.n_in,) else ""
        raise ValueError(
            f"{layer!r} takes inputs of shape (batch, {layer.n_in}), got shape {x.shape}{hint}"
        )
    return x


def as_generator(rng: int | np.random.Generator | None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a Generator (returned as is) or ``None``.

    ``None`` draws fresh entropy from the OS: pass a seed for reproducible results.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(
        f"the seed (rng) must be an integer >= 0, a numpy Generator or None, got {rng!r}"
    )


class Layer:
    """The interface every layer has.

    ``forward(x, training)`` returns the layer's output for a batch ``x``; ``backward(grad_out,
    input_grad)`` takes ``dE/dout`` and returns ``dE/dx`` (or ``None`` when ``input_grad`` is
    false: the first layer's input gradient is never needed). ``parameters()`` and
    ``gradients()`` list arrays in the same order; the optimizers update the former in place
    from the latter.
    """

    n_in: int
    n_out: int
    # The network this layer belongs to (a weak reference, set by Network): a layer's arrays
    # are views of one network's vectors, so it cannot be in two networks, or twice in one.
    _owner = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def parameters(self) -> list[np.ndarray]:
        return []

    def gradients(self) -> list[np.ndarray]:
        return []

    def config(self) -> dict:
        raise NotImplementedError


class _Workspace:
    """The arrays one batch size needs, allocated once and reused."""

    def __init__(self, xp, batch: int, n_in: int, n_out: int, dtype, share_out: bool):
        self.net = xp.empty((batch, n_out), dtype)
        self.out = self.net if share_out else xp.empty((batch, n_out), dtype)
        self.delta = xp.empty((batch, n_out), dtype)
        self.grad_in = xp.empty((batch, n_in), dtype)
        self.ones = xp.ones(batch, dtype)  # sum over the batch = 1^T . delta


class Dense(Layer):
    """A fully connected layer: ``out = activation(x @ weights + biases)``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    activation : str, dict or Activation
        ``"identity"`` (default), ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"leaky_relu"``,
        ``"softmax"``.
    init : str, optional
        Weight initialization (see :mod:`chainrule.initializers`); default He for the ReLU
        family, Glorot otherwise.
    rng : int, numpy.random.Generator or None
        Source of the initial weights.
    dtype : float32 (default) or float64
        The dtype of the parameters and of every array the layer computes.

    Attributes
    ----------
    weights : ndarray of shape (n_in, n_out)
    biases : ndarray of shape (n_out,)
    dweights, dbiases : ndarrays shaped like the parameters
        ``dE/dw`` and ``dE/db`` from the last ``backward``.
    x, net, out : ndarrays
        The last ``forward``'s input (batch, n_in), ``net`` and ``out`` (batch, n_out).
    xp : module
        Where the array functions come from: the module of the parameters (``numpy`` until a
        :class:`~chainrule.network.Network` moves the layer to another device).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str | dict | Activation | None = "identity",
        init: str | None = None,
        rng: int | np.random.Generator | None = None,
        dtype=np.float32,
    ):
        for label, value in (("n_in", n_in), ("n_out", n_out)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Dense {label} must be a positive integer, got {label}={value!r}")
        self.dtype = _float_dtype(dtype)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.activation = get_activation(activation)
        self.init = init or default_init(self.activation.name)
        if self.n_in * self.n_out * 8 > np.iinfo(np.intp).max:  # beyond any address space
            raise self._too_large()
        try:
            self._weights = init_weights(
                self.init, self.n_in, self.n_out, as_generator(rng), self.dtype
            )
            self._biases = np.zeros(self.n_out, self.dtype)
            self.dweights = np.zeros_like(self._weights)
            self.dbiases = np.zeros_like(self._biases)
        except MemoryError:  # NumPy's message names an array shape, not the layer
            raise self._too_large() from None
        self.xp = np
        self._workspaces: dict[int, _Workspace] = {}
        self._ws: _Workspace | None = None
        self.x: np.ndarray | None = None

    def _too_large(self) -> MemoryError:
        n = self.n_in * self.n_out
        return MemoryError(
            f"Dense({self.n_in}, {self.n_out}) has {n:,} weights: "
            f"{memory_size(n * self.dtype.itemsize)} as {self.dtype.name}, and as much again "
            "for their gradients, more memory than this machine can give; use fewer units"
        )

    # Parameters stay in the same arrays (optimizers hold them; a Network moves them when it is
    # built or moved to a device, see _use_storage), so assigning to .weights copies the new
    # values in, after checking the shape (from NumPy or from the layer's own device).
    @property
    def weights(self) -> np.ndarray:
        return self._weights

    @weights.setter
    def weights(self, value) -> None:
        self._weights[...] = self.xp.asarray(
            _checked(value, self._weights.shape, self.dtype, "weights")
        )

    @property
    def biases(self) -> np.ndarray:
        return self._biases

    @biases.setter
    def biases(self, value) -> None:
        self._biases[...] = self.xp.asarray(
            _checked(value, self._biases.shape, self.dtype, "biases")
        )

    def _use_storage(self, weights, biases, dweights, dbiases) -> None:
        """Keep the parameters and their gradients in the given arrays from now on.

        :class:`~chainrule.network.Network` calls this when it is built or moved to another
        device, with views of one parameter vector and one gradient vector (already holding
        the values), so an optimizer can update every parameter of the network with a few
        whole-vector operations. The workspaces of the old arrays' module are dropped.
        """
        self._weights, self._biases = weights, biases
        self.dweights, self.dbiases = dweights, dbiases
        self.xp = namespace(weights)
        self._workspaces.clear()
        self._ws = None
        self.x = None

    def __getstate__(self) -> dict:
        # For pickle: the module and the workspaces are rebuilt from the parameters.
        state = dict(self.__dict__)
        del state["xp"]
        state.pop("_owner", None)  # the unpickled network claims its layers again
        state.update(_workspaces={}, _ws=None, x=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.xp = namespace(self._weights)

    @property
    def net(self) -> np.ndarray | None:
        return None if self._ws is None else self._ws.net

    @property
    def out(self) -> np.ndarray | None:
        return None if self._ws is None else self._ws.out

    @property
    def delta(self) -> np.ndarray | None:
        """The buffer ``backward`` writes ``delta = dE/dnet`` into (batch, n_out)."""
        return None if self._ws is None else self._ws.delta

    def _workspace(self, batch: int) -> _Workspace:
        ws = self._workspaces.get(batch)
        if ws is None:
            if len(self._workspaces) >= _MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            share = isinstance(self.activation, Identity)
            ws = _Workspace(self.xp, batch, self.n_in, self.n_out, self.dtype, share)
            self._workspaces[batch] = ws
        return ws

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``out = s(x @ w + b)`` for ``x`` of shape (batch, n_in); returns (batch, n_out).

        ``x`` of another dtype (float64 from ``np.random.rand``, integers, a list) is converted
        to the layer's dtype first (a :class:`~chainrule.network.Network` checks and converts
        its inputs once, so that its layers get the right dtype). The array returned is the
        layer's own buffer, overwritten by its next forward of the same batch size: copy it to
        keep it."""
        if not hasattr(x, "dtype") or x.dtype != self._weights.dtype or x.ndim != 2:
            x = self._input(x)  # (the weights' dtype: self.dtype in the weights' library)
        ws = self._workspace(x.shape[0])
        self.xp.dot(x, self._weights, out=ws.net)  # net = in . w
        ws.net += self._biases  #                 + b
        if ws.out is not ws.net:
            out = self.activation.forward(ws.net, out=ws.out)  # out = s(net)
            if out is not ws.out:  # an activation that returned a new array instead
                self.xp.copyto(ws.out, out)
        self.x, self._ws = x, ws
        return ws.out

    def _input(self, x) -> np.ndarray:
        """``x`` as a (batch, n_in) array of the layer's dtype, or a ValueError saying why."""
        return _batch_input(self, self.xp.asarray(x, dtype=self.dtype))

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """From ``dE/dout`` (batch, n_out): set ``dweights``, ``dbiases``; return ``dE/dx``
        (batch, n_in), or None when ``input_grad`` is false.

        The notes' ``dE/dw = dE/ds * ds/dnet * dnet/dw`` for this layer: ``grad_out`` is
        ``dE/ds`` (from the loss, or the ``dE/din`` of the layer above); the activation's
        backward multiplies it by ``ds/dnet``, giving ``delta``; then :meth:`backward_delta`
        applies ``dnet/dw = in``, ``dnet/db = 1`` and ``dnet/ds = w``, a line each.
        """
        ws = self._ws
        if ws is None:
            raise RuntimeError(_BACKWARD_FIRST.format(self))
        # delta = dE/dnet = dE/ds * ds/dnet (for the sigmoid: grad_out * out (1 - out))
        delta = self.activation.backward(ws.out, grad_out, delta=ws.delta)
        return self.backward_delta(delta, input_grad)

    def backward_delta(self, delta: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """From ``delta = dE/dnet`` (batch, n_out): set ``dweights``, ``dbiases``; return ``dE/dx``
        (batch, n_in), or None when ``input_grad`` is false.

        The last factor of the notes' chain, ``dnet/dw``, ``dnet/db`` or ``dnet/ds``, one line
        each below. Used directly by fused losses, whose delta already includes the activation.
        """
        if self.x is None:
            raise RuntimeError(_BACKWARD_FIRST.format(self))
        xp = self.xp
        # dE/dw = delta * dnet/dw with dnet/dw = in: in^T . delta, the sum over the batch of
        # np.outer(in^(n), delta^(n)) (matmul, not dot: the faster BLAS call for a transposed
        # factor)
        xp.matmul(self.x.T, delta, out=self.dweights)
        # dE/db = sum over the batch of delta (dnet/db = 1) = delta.sum(axis=0), written as the
        # product 1^T . delta with a vector of ones: one BLAS call, faster than a column sum.
        xp.dot(self._ws.ones, delta, out=self.dbiases)
        if not input_grad:
            return None
        # dE/din = delta * dnet/ds with dnet/ds = w: delta . w^T, the dE/ds of the layer below
        return xp.dot(delta, self._weights.T, out=self._ws.grad_in)

    def parameters(self) -> list[np.ndarray]:
        return [self._weights, self._biases]

    def gradients(self) -> list[np.ndarray]:
        return [self.dweights, self.dbiases]

    def config(self) -> dict:
        return {
            "type": "dense",
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": self.activation.config(),
            "init": self.init,
        }

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r})"


class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability ``rate`` and scale the
    survivors by ``1 / (1 - rate)``, so the expected output equals the input; at evaluation,
    the identity.

    ::

        mask = (u >= rate) / (1 - rate),   u ~ Uniform[0, 1) drawn per entry from ``rng``
        out  = x * mask                     (batch, n_units)
        dE/dx = dE/dout * mask

    ``backward`` multiplies ``dE/dout`` by the same mask. ``rng`` draws the masks (its state is
    part of a checkpoint, so a resumed run draws the same masks), on the host, so a network
    draws the same masks on any device. In data-parallel training, ``share = (rows, first)``
    makes each process draw the numbers of the whole global batch of ``rows`` rows and keep its
    own, from ``first`` on: the masks one process would draw. Like :class:`Dense`, the arrays
    (mask, output, input gradient) live in a per-batch-size workspace reused from step to step;
    the output of one ``forward`` is overwritten by the next.
    """

    share: tuple[int, int] | None = None  # (global batch rows, this process's first row)

    def __init__(self, rate: float, n_units: int | None = None, rng=None, dtype=np.float32):
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got rate={rate}")
        self.rate = float(rate)
        self.n_in = self.n_out = n_units
        self.rng = as_generator(rng)
        self.dtype = _float_dtype(dtype)
        self.mask: np.ndarray | None = None
        self._workspaces: dict[tuple, tuple[np.ndarray, ...]] = {}
        self._ws: tuple[np.ndarray, ...] | None = None

    def __getstate__(self) -> dict:
        # For pickle: the workspaces (keyed by module) are rebuilt on the next forward.
        state = {**self.__dict__, "_workspaces": {}, "_ws": None, "mask": None}
        state.pop("_owner", None)  # the unpickled network claims its layers again
        return state

    def _workspace(self, xp, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        ws = self._workspaces.get((xp, shape))
        if ws is None:
            if len(self._workspaces) >= _MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            # u (on the host), kept (bool), mask, out, grad_in
            ws = (
                np.empty(shape, self.dtype),
                xp.empty(shape, bool),
                xp.empty(shape, self.dtype),
                xp.empty(shape, self.dtype),
                xp.empty(shape, self.dtype),
            )
            self._workspaces[(xp, shape)] = ws
        return ws

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0:
            self.mask = None
            return x
        xp = namespace(x)
        ws = self._ws = self._workspace(xp, x.shape)
        u, kept, mask, out, _ = ws
        if self.share is None:
            self.rng.random(dtype=self.dtype, out=u)  # u ~ U[0, 1), drawn on the host
        else:  # data-parallel: the global batch's numbers, this process's rows of them
            rows, first = self.share
            u[...] = self.rng.random((rows, u.shape[1]), dtype=self.dtype)[first : first + len(u)]
        xp.greater_equal(xp.asarray(u), self.rate, out=kept)  # keep where u >= rate
        xp.multiply(kept, 1 / (1 - self.rate), out=mask)  # mask = keep / (1 - p)
        self.mask = mask
        return xp.multiply(x, mask, out=out)  # out = x * mask

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dE/dx = dE/dout * mask`` (the identity after an evaluation-mode forward)."""
        if not input_grad:
            return None
        if self.mask is None:
            return grad_out
        return namespace(grad_out).multiply(grad_out, self.mask, out=self._ws[4])

    def config(self) -> dict:
        return {"type": "dropout", "rate": self.rate, "n_units": self.n_in}

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"


class Standardize(Layer):
    """Standardized inputs, feature by feature, with statistics fixed from training data::

        out   = (x - mean) / std          (batch, n_units); mean, std of shape (n_units,)
        dE/dx = dE/dout / std             (dout/dx = 1 / std, one feature at a time)

    Networks learn best from inputs of order 1; features such as incomes, years or sensor
    counts make gradient descent slow or make it diverge. Put this layer first, built from the
    training inputs with :meth:`from_data`, and the network standardizes every input it is
    given (training, prediction, evaluation, a saved model), always with the same statistics.
    It has no parameters: training does not change ``mean`` and ``std``.

    Parameters
    ----------
    mean, std : array-like of shape (n_units,)
        Finite; ``std`` > 0 (see :meth:`from_data` for features that never vary). Kept as
        read-only arrays ``mean``, ``std`` and ``inv_std`` (``1 / std``, which the layer
        multiplies by) of ``dtype``.
    dtype : float32 (default) or float64
        The dtype of ``mean``, ``std`` and the output, as for :class:`Dense`.
    """

    def __init__(self, mean, std, dtype=np.float32):
        self.dtype = _float_dtype(dtype)
        mean, std = _real_array(mean, "mean"), _real_array(std, "std")
        if mean.ndim != 1 or mean.shape != std.shape or mean.size == 0:
            raise ValueError(
                "Standardize needs mean and std of one shape (n_units,), got shapes "
                f"{mean.shape} and {std.shape}"
            )
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise ValueError("Standardize mean and std must be finite (no NaN or inf)")
        if (std <= 0).any():
            bad = int(np.argmax(std <= 0))
            raise ValueError(
                f"Standardize std must be > 0, got {std[bad]:g} for feature {bad} "
                "(Standardize.from_data gives a feature that never varies std 1)"
            )
        with np.errstate(over="ignore", divide="ignore"):
            self.mean = mean.astype(self.dtype)
            self.std = std.astype(self.dtype)
            self.inv_std = (1 / self.std.astype(np.float64)).astype(self.dtype)  # as loaded
        arrays = (self.mean, self.std, self.inv_std)
        if not all(np.isfinite(a).all() and a.dtype == self.dtype for a in arrays):
            raise ValueError(f"Standardize mean, std or 1 / std is too large for {self.dtype}")
        for a in arrays:  # fixed statistics: the layer's buffers hold copies on each device
            a.flags.writeable = False
        self.n_in = self.n_out = int(mean.size)
        self._workspaces: dict[tuple, tuple] = {}
        self._ws: tuple | None = None

    @classmethod
    def from_data(cls, x, dtype=np.float32, subset=None) -> Standardize:
        """The layer for inputs like ``x`` (n_examples, n_units): the mean and the standard
        deviation of each column (:meth:`statistics`; of the rows ``x[subset]`` only, when
        given). A column that never varies (std 0) gets std 1, so it is only centred (as
        scikit-learn's ``StandardScaler`` does)."""
        mean, std = cls.statistics(x, subset=subset)
        std[std == 0] = 1.0
        return cls(mean, std, dtype=dtype)

    @staticmethod
    def statistics(x, rows: int = 4096, subset=None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` of each column of ``x`` (n_examples, n_units), float64 arrays;
        of the rows ``x[subset]`` only when ``subset`` (row numbers) is given, e.g. the
        training part of ``fit``'s ``validation_split``
        (:func:`chainrule.training.validation_rows`).

        Computed without a float64 copy of ``x`` (60,000 MNIST images as uint8 would need
        376 MB), nor a copy of ``x[subset]``: the sums are taken ``rows`` rows at a time. A
        column that never varies has std exactly 0, also in float64 data where the rounding of
        the mean leaves ~1e-17 (told apart as scikit-learn's ``StandardScaler`` does: std at
        most ``n * eps * |mean|``).
        """
        try:
            x = np.asarray(to_numpy(x))
        except (TypeError, ValueError):
            raise ValueError(
                f"Standardize.from_data needs a numeric array, got {type(x).__name__} that is "
                "not one (rows of different lengths?)"
            ) from None
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(
                f"Standardize.from_data needs x of shape (n_examples, n_units), got {x.shape}"
            )
        if x.dtype.kind not in "biuf":
            raise ValueError(f"Standardize.from_data needs numbers, got dtype {x.dtype}")
        if subset is None:
            n = len(x)
            mean = x.mean(axis=0, dtype=np.float64)  # NumPy buffers the conversion
        else:
            subset = _row_numbers(subset, len(x))
            n = len(subset)
            mean = sum(block.sum(axis=0, dtype=np.float64) for block in _blocks(x, subset, rows))
            mean /= n
        if not np.isfinite(mean).all():
            raise ValueError("Standardize.from_data: x contains NaN or inf")
        squares = np.zeros_like(mean)
        chunk = np.empty((min(n, rows), x.shape[1]))  # the one float64 block
        for block in _blocks(x, subset, rows):
            deviations = np.subtract(block, mean, out=chunk[: len(block)])
            with np.errstate(over="ignore"):  # an overflow is an error below
                deviations *= deviations
            squares += deviations.sum(axis=0)
        std = np.sqrt(squares / n)
        if not np.isfinite(std).all():  # deviations beyond ~1e154: their squares overflow
            bad = int(np.argmax(~np.isfinite(std)))
            raise ValueError(
                f"Standardize.from_data: the spread of column {bad} is too large to compute "
                "in float64 (values beyond about 1e154); rescale that feature first"
            )
        std[std <= n * np.finfo(np.float64).eps * np.abs(mean)] = 0.0
        return mean, std

    def __getstate__(self) -> dict:
        state = {**self.__dict__, "_workspaces": {}, "_ws": None}
        state.pop("_owner", None)  # the unpickled network claims its layers again
        return state

    def _workspace(self, xp, shape: tuple[int, ...]) -> tuple:
        ws = self._workspaces.get((xp, shape))
        if ws is None:
            if len(self._workspaces) >= _MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            # mean and 1 / std on the device of x, then the output and the input gradient
            ws = (
                asarray(xp, self.mean),
                asarray(xp, self.inv_std),
                xp.empty(shape, self.dtype),
                xp.empty(shape, self.dtype),
            )
            self._workspaces[(xp, shape)] = ws
        return ws

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``out = (x - mean) / std`` for ``x`` of shape (batch, n_units)."""
        x = self._input(x)  # a (batch, n_units) array; lists, float64, integers converted
        xp = namespace(x)
        ws = self._ws = self._workspace(xp, x.shape)
        mean, inv_std, out, _ = ws
        xp.subtract(x, mean, out=out)  # x - mean
        out *= inv_std  #                  / std
        return out

    def _input(self, x):
        """``x`` as a (batch, n_units) array, or a ValueError saying why. A list or a NumPy
        array of another dtype becomes a NumPy array of the layer's dtype; a device array is
        the network's business (it converts its inputs once)."""
        if isinstance(x, np.ndarray):
            if x.dtype != self.dtype:
                x = x.astype(self.dtype)
        elif not (_is_cupy(x) or hasattr(x, "__array_namespace__")):  # a list, a DataFrame
            x = np.asarray(x, dtype=self.dtype)
        return _batch_input(self, x)

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dE/dx = dE/dout / std`` (None when ``input_grad`` is false: nothing to learn)."""
        if not input_grad:
            return None
        if self._ws is None:
            raise RuntimeError(_BACKWARD_FIRST.format(self))
        _, inv_std, _, grad_in = self._ws
        return namespace(grad_out).multiply(grad_out, inv_std, out=grad_in)

    def config(self) -> dict:
        """The type and width; ``mean`` and ``std`` are arrays (a model file stores them as
        arrays, beside the weights)."""
        return {"type": "standardize", "n_units": self.n_in}

    def __repr__(self) -> str:
        return f"Standardize(n_units={self.n_in})"


def _row_numbers(subset, n: int) -> np.ndarray:
    """``subset`` checked as row numbers of an array of ``n`` rows."""
    subset = np.asarray(subset)
    if subset.ndim != 1 or subset.size == 0 or subset.dtype.kind not in "iu":
        raise ValueError(
            f"Standardize.from_data: subset must be row numbers, got {subset.dtype} of shape "
            f"{subset.shape}"
        )
    if subset.min() < -n or subset.max() >= n:
        raise ValueError(
            f"Standardize.from_data: subset holds row numbers beyond the {n} rows of x"
        )
    return subset


def _blocks(x: np.ndarray, subset: np.ndarray | None, rows: int):
    """The rows ``x[subset]`` (all of ``x`` for None), ``rows`` at a time: never a copy of
    them all."""
    n = len(x) if subset is None else len(subset)
    for start in range(0, n, rows):
        part = slice(start, start + rows)
        yield x[part] if subset is None else x[subset[part]]


def _real_array(value, label: str) -> np.ndarray:
    """``value`` (a list, NumPy or device array, a pandas Series) as a float64 NumPy array of
    real numbers, or a ValueError naming ``label`` (not NumPy's own message)."""
    try:
        array = to_numpy(value)
    except (TypeError, ValueError):  # ragged lists
        array = None
    if array is None:
        what = f"{type(value).__name__} that is not an array of numbers"
    elif array.dtype.kind not in "biuf":
        what = f"dtype {array.dtype}"
    else:
        return array.astype(np.float64)
    raise ValueError(f"Standardize {label} must be real numbers, got {what}")


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _checked(value, shape: tuple[int, ...], dtype, label: str) -> np.ndarray:
    """``value`` (NumPy, a device array, a list) as a NumPy array of ``dtype``, checked to have
    ``shape`` and finite entries."""
    value = to_numpy(value)
    if value.shape != shape:
        raise ValueError(f"{label} must have shape {shape}, got {value.shape}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{label} contain NaN or inf")
    return value.astype(dtype, copy=False)


def memory_size(n_bytes: int) -> str:
    """``n_bytes`` in the unit a person reads: ``'7.3 TiB'``, ``'512.0 MiB'``, ``'96 bytes'``."""
    size, unit = float(n_bytes), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, larger
    return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
