"""Finite-difference checks of the backpropagated gradients.

For a parameter ``p`` the central difference ``(E(p + h) - E(p - h)) / 2h`` approximates
``dE/dp`` with an error of order ``h**2``. :func:`gradcheck` computes it for every entry (or a
random sample of entries) of every parameter array, in float64 on a copy of the network, and
compares it with :meth:`Network.gradients`.

The error of an array is ``max |analytic - numeric| / max(max |analytic|, max |numeric|)``: the
worst entry, relative to the size of the array's gradient (so entries that are zero in both do
not divide by zero). In float64 a correct gradient gives about 1e-9 or less; a wrong one,
errors near 1.

A gradient can be too small for finite differences to check: ``E`` itself carries a rounding
error of a few ``1e-16 * |E|``, so the difference quotient carries one of about that divided by
``h`` (:func:`fd_noise`). The bottom layers of a deep sigmoid network (docs/math.md (F13)) have
gradients that small; an array whose largest difference is within that noise passes, and the
report says so.

Near a kink the check is meaningless: a ReLU unit whose ``net`` lies within a step of 0 (a dead
layer with zero biases puts it exactly at 0) has no slope there, and the central difference
averages the two sides. :func:`gradcheck` counts such units and its report says so.

Layers without parameters (Dropout, a :class:`~chainrule.layers.Standardize` first layer) have
nothing for :func:`gradcheck` to check, but their ``backward`` does hand the error down: the
network's own backward pass stops at the lowest Dense layer, so :func:`input_gradient` chains
every layer's ``backward`` down to ``dE/dx``, the gradient with respect to the network's input,
and :func:`numerical_input_gradient` gives its central differences.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from chainrule.backend import to_numpy
from chainrule.layers import as_generator
from chainrule.network import Network

__all__ = [
    "gradcheck",
    "GradcheckResult",
    "fd_noise",
    "input_gradient",
    "near_kink",
    "numerical_gradients",
    "numerical_input_gradient",
    "sample_entries",
]

# How many times the rounding of E (finfo(float64).eps * |E|) the difference quotient's noise is
# taken to be: correct gradients of deep and narrow networks stay below a tenth of it.
_NOISE_FACTOR = 32


def fd_noise(loss_value: float, eps: float) -> float:
    """The rounding noise of ``(E(p + h) - E(p - h)) / 2h`` at a loss ``E``, in float64.

    ``E`` is computed with a relative rounding error of a few ``1e-16``, and the difference
    quotient divides it by ``h``: an ``|analytic - numeric|`` below this says nothing. About
    ``7e-10 * |E|`` for ``h = 1e-5``.
    """
    return _NOISE_FACTOR * float(np.finfo(np.float64).eps) * abs(float(loss_value)) / eps


def near_kink(activation: str, net: np.ndarray, eps: float) -> int:
    """How many entries of a layer's ``net`` lie within ``10 * eps`` of a ReLU-family kink at
    0 (a finite-difference step moves a net by about ``eps`` times an input or weight), where
    E has no slope and finite differences cannot check a gradient; 0 for other activations."""
    if activation not in ("relu", "leaky_relu"):
        return 0
    return int(np.count_nonzero(np.abs(net) <= 10 * eps))


class GradcheckResult(Mapping):
    """Worst relative error per parameter array, keyed ``"layers[i].weights"``/``".biases"``.

    Behaves as a read-only dict of floats; :meth:`report` gives a readable table, and
    :attr:`max_error` the worst of all. An array passes when its relative error is at most
    ``tolerance``, or when its largest ``|analytic - numeric|`` (:attr:`differences`) is within
    :attr:`noise`, the rounding noise of the finite differences (:func:`fd_noise`): a gradient
    that small cannot be checked more closely. :attr:`kinks` counts the ReLU-family ``net``
    values (units x examples) within :attr:`kink_margin` of their kink at 0, where finite
    differences cannot check a gradient.
    """

    def __init__(
        self,
        errors: dict[str, float],
        checked: dict[str, int],
        tolerance: float,
        differences: dict[str, float] | None = None,
        noise: float = 0.0,
        kinks: int = 0,
        kink_margin: float = 0.0,
    ):
        self._errors = errors
        self.checked = checked
        self.tolerance = tolerance
        self.differences = differences if differences is not None else {}
        self.noise = noise
        self.kinks = kinks
        self.kink_margin = kink_margin

    def __getitem__(self, key: str) -> float:
        return self._errors[key]

    def __iter__(self):
        return iter(self._errors)

    def __len__(self) -> int:
        return len(self._errors)

    @property
    def max_error(self) -> float:
        return max(self._errors.values(), default=0.0)

    def passed(self, key: str) -> bool:
        """Whether one array passes: relative error within tolerance, or difference within
        the noise of the finite differences."""
        return self._errors[key] <= self.tolerance or self._below_noise(key)

    def _below_noise(self, key: str) -> bool:
        return key in self.differences and self.differences[key] <= self.noise

    @property
    def ok(self) -> bool:
        return all(self.passed(key) for key in self._errors)

    def report(self) -> str:
        """A table: parameter, entries checked, relative error, ok/FAIL."""
        width = max(len(k) for k in self._errors) if self._errors else 9
        lines = [f"{'parameter':<{width}}  {'checked':>7}  {'rel. error':>10}  result"]
        noisy = False
        for key, err in self._errors.items():
            if err <= self.tolerance:
                verdict = "ok"
            elif self._below_noise(key):
                verdict, noisy = "ok (noise)", True
            else:
                verdict = "FAIL"
            lines.append(f"{key:<{width}}  {self.checked[key]:>7}  {err:>10.2e}  {verdict}")
        lines.append(f"worst: {self.max_error:.2e} (tolerance {self.tolerance:.0e})")
        if noisy:
            lines.append(
                f"ok (noise): in those arrays every |analytic - numeric| is at most "
                f"{self.noise:.1e}, the rounding noise of the finite differences: the gradients "
                "are too small for them to check more closely"
            )
        if self.kinks and not self.ok:
            lines.append(
                f"note: {self.kinks} ReLU net value(s) (units x examples) lie within "
                f"{self.kink_margin:.0e} of the kink at net = 0, where E has no slope: finite "
                "differences cannot check the gradients through them, so a FAIL may come from "
                "there (try other inputs or seeds)"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"GradcheckResult({self._errors!r})"


def _check_settings(eps, max_entries) -> None:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < math.inf:
        raise ValueError(f"eps (the finite-difference step) must be a number > 0, got eps={eps!r}")
    if max_entries is not None and (
        isinstance(max_entries, bool)
        or not isinstance(max_entries, numbers.Integral)
        or max_entries < 1
    ):
        raise ValueError(
            f"max_entries must be a positive integer or None, got max_entries={max_entries!r}"
        )


def sample_entries(
    gradients: list[tuple[np.ndarray, np.ndarray]], max_entries: int | None, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Which entries of each gradient array to check: per Dense layer, the flat indices
    ``(idx_w, idx_b)``, sorted; all of them if ``max_entries`` is None or not smaller.

    A sample is drawn at random, three quarters from the entries where the analytic gradient
    is nonzero and the rest from those where it is zero (either part topped up from the other
    when it runs short). A uniform sample would mostly check zeros: in the first layer of an
    MNIST network every weight of a blank pixel has zero gradient, and equal zeros prove little.
    """
    rng = as_generator(seed)
    chosen = []
    for pair in gradients:
        picked = []
        for grad in pair:
            flat = np.asarray(grad).reshape(-1)
            if max_entries is None or flat.size <= max_entries:
                picked.append(np.arange(flat.size))
                continue
            nonzero, zero = np.flatnonzero(flat), np.flatnonzero(flat == 0)
            n_zero = min(len(zero), max_entries - min(len(nonzero), -(-3 * max_entries // 4)))
            n_nonzero = max_entries - n_zero
            idx = np.concatenate(
                [
                    rng.choice(nonzero, size=n_nonzero, replace=False),
                    rng.choice(zero, size=n_zero, replace=False),
                ]
            )
            picked.append(np.sort(idx))
        chosen.append(tuple(picked))
    return chosen


def numerical_gradients(
    net: Network,
    x,
    y,
    eps: float = 1e-5,
    max_entries: int | None = None,
    seed: int = 0,
    entries: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]:
    """Central-difference gradients of ``net.loss(x, y)`` in float64.

    Returns, per Dense layer, ``((num_dweights, num_dbiases), (idx_w, idx_b))`` where the
    ``idx`` arrays are the flat indices that were checked: ``entries`` if given (per Dense
    layer, as :func:`sample_entries` returns them), else all of them unless ``max_entries``
    limits each array to a uniform random sample. Unchecked entries of the numeric arrays
    are NaN.
    """
    _check_settings(eps, max_entries)
    net64 = net.astype(np.float64)
    x64 = net64.check_inputs(x)
    target = net64._on_device(net64.encode_targets(y, len(x64)))
    x64 = net64._on_device(x64)
    rng = as_generator(seed)

    def loss() -> float:
        net64._forward(x64)
        return net64._loss_value(target, precise=True)  # no cancellation: see losses.py

    result = []
    for k, layer in enumerate(net64.dense_layers):
        pair, chosen = [], []
        for j, param in enumerate((layer.weights, layer.biases)):
            flat = net64.xp.reshape(param, (-1,))  # a view: on the network's device
            idx = np.arange(flat.shape[0])
            if entries is not None:
                idx = np.asarray(entries[k][j], dtype=np.intp)
            elif max_entries is not None and idx.size > max_entries:
                idx = np.sort(rng.choice(idx.size, size=max_entries, replace=False))
            numeric = np.full(flat.shape[0], np.nan)
            for i in map(int, idx):
                saved = float(flat[i])
                flat[i] = saved + eps
                plus = loss()
                flat[i] = saved - eps
                minus = loss()
                flat[i] = saved
                numeric[i] = (plus - minus) / (2 * eps)
            pair.append(numeric.reshape(param.shape))
            chosen.append(idx)
        result.append((tuple(pair), tuple(chosen)))
    return result


def gradcheck(
    net: Network,
    x,
    y,
    eps: float = 1e-5,
    max_entries: int | None = None,
    tolerance: float = 1e-6,
    seed: int = 0,
) -> GradcheckResult:
    """Compare ``net.gradients(x, y)`` with central finite differences, in float64.

    Parameters
    ----------
    net : Network
        Checked on a float64 copy; ``net`` itself is not changed.
    x : array of shape (batch, n_in)
    y : targets as :meth:`Network.loss` takes them
    eps : float
        The finite-difference step ``h``.
    max_entries : int, optional
        Check at most this many randomly chosen entries per array (large layers), mostly
        where the gradient is nonzero (see :func:`sample_entries`).
    tolerance : float
        The relative error :attr:`GradcheckResult.ok` and the report call a pass (an array
        whose differences are all within the rounding noise of the finite differences,
        :func:`fd_noise`, passes too).

    Returns
    -------
    GradcheckResult
        ``{"layers[0].weights": err, "layers[0].biases": err, ...}``; prints nothing.
    """
    _check_settings(eps, max_entries)
    if not (isinstance(tolerance, numbers.Real) and tolerance > 0):
        raise ValueError(f"tolerance must be a number > 0, got tolerance={tolerance!r}")
    net64 = net.astype(np.float64)
    x = net64.check_inputs(x)  # a clear error for bad inputs, before any arithmetic
    analytic = net64.gradients(x, y)
    kinks = sum(
        near_kink(layer.activation.name, to_numpy(layer.net), eps) for layer in net64.dense_layers
    )
    noise = fd_noise(net64._loss_value(net64._on_device(net64.encode_targets(y)), True), eps)
    entries = sample_entries(analytic, max_entries, seed)
    numeric = numerical_gradients(net64, x, y, eps=eps, entries=entries)
    errors: dict[str, float] = {}
    differences: dict[str, float] = {}
    checked: dict[str, int] = {}
    positions = [i for i, layer in enumerate(net64.layers) if layer.parameters()]
    for i, grads, (nums, idxs) in zip(positions, analytic, numeric):
        for name, grad, num, idx in zip(("weights", "biases"), grads, nums, idxs):
            a = grad.reshape(-1)[idx]
            n = num.reshape(-1)[idx]
            scale = max(np.abs(a).max(initial=0.0), np.abs(n).max(initial=0.0))
            diff = np.abs(a - n).max(initial=0.0)
            key = f"layers[{i}].{name}"
            errors[key] = float(diff / scale) if scale > 0 else float(diff)
            differences[key] = float(diff)
            checked[key] = int(len(idx))
    return GradcheckResult(errors, checked, tolerance, differences, noise, kinks, 10 * eps)


def input_gradient(net: Network, x, y) -> np.ndarray:
    """``dE/dx`` of ``net.loss(x, y)`` in float64: shape (batch, n_in), like ``x``.

    :meth:`Network.input_gradient` on a float64 copy (``net`` is not changed): the chain rule
    through every layer's own ``backward``, down past the lowest Dense layer (where
    :meth:`Network.gradients` stops) and through whatever lies below it: for a
    :class:`~chainrule.layers.Standardize` first layer, ``dE/dx = dE/din / std``. Evaluation
    mode (Dropout is the identity).
    """
    return net.astype(np.float64).input_gradient(x, y)


def numerical_input_gradient(net: Network, x, y, eps: float = 1e-5) -> np.ndarray:
    """Central differences ``(E(x + h) - E(x - h)) / 2h`` of ``net.loss(x, y)`` for every
    entry of ``x`` (batch, n_in), in float64: what :func:`input_gradient` should equal."""
    _check_settings(eps, None)
    net64 = net.astype(np.float64)
    x64 = np.array(to_numpy(net64._check_nonempty(net64.check_inputs(x))), dtype=np.float64)
    target = net64._on_device(net64.encode_targets(y, len(x64)))

    def loss(rows: np.ndarray) -> float:
        net64._forward(net64._on_device(rows))
        return net64._loss_value(target, precise=True)

    numeric = np.empty_like(x64)
    for index in np.ndindex(x64.shape):
        saved = x64[index]
        x64[index] = saved + eps
        plus = loss(x64)
        x64[index] = saved - eps
        minus = loss(x64)
        x64[index] = saved
        numeric[index] = (plus - minus) / (2 * eps)
    return numeric
