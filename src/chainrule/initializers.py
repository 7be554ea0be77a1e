"""Weight initialization: draws scaled so that signals keep their size through the layers.

A unit of a layer sums ``n_in`` products ``in_i * w_i``. With independent weights of variance
``v`` and inputs of unit variance, ``net`` has variance ``n_in * v``; to keep it near 1 the
weights get variance ``~ 1 / n_in``, i.e. a scale ``~ 1 / sqrt(n_in)`` (docs/math.md):

- ``he`` (ReLU family): normal with variance ``2 / n_in`` (ReLU zeroes half the signal);
- ``glorot`` (sigmoid, tanh, softmax, identity): uniform on ``±sqrt(6 / (n_in + n_out))``,
  variance ``2 / (n_in + n_out)``, balancing the forward and the backward pass;
- ``lecun``: normal with variance ``1 / n_in``;
- ``he_uniform``, ``glorot_normal``: the other shape of the same variances;
- ``zeros``: all zero (useful only for tests and single-layer models).

Every draw comes from the ``numpy.random.Generator`` passed in, so a seed fixes the weights.
Biases start at zero.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INITIALIZERS", "default_init", "init_weights"]


def _he(rng, n_in, n_out):
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))


def _he_uniform(rng, n_in, n_out):
    limit = np.sqrt(6.0 / n_in)
    return rng.uniform(-limit, limit, size=(n_in, n_out))


def _glorot(rng, n_in, n_out):
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out))


def _glorot_normal(rng, n_in, n_out):
    return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=(n_in, n_out))


def _lecun(rng, n_in, n_out):
    return rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_in, n_out))


def _zeros(rng, n_in, n_out):
    return np.zeros((n_in, n_out))


INITIALIZERS = {
    "he": _he,
    "he_uniform": _he_uniform,
    "glorot": _glorot,
    "glorot_normal": _glorot_normal,
    "lecun": _lecun,
    "zeros": _zeros,
}
"""Name -> function ``(rng, n_in, n_out) -> float64 array of shape (n_in, n_out)``."""

_ALIASES = {"xavier": "glorot", "he_normal": "he", "glorot_uniform": "glorot", "kaiming": "he"}


def default_init(activation_name: str) -> str:
    """He for the ReLU family, Glorot for everything else."""
    return "he" if activation_name in ("relu", "leaky_relu") else "glorot"


def init_weights(
    name: str, n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float32
) -> np.ndarray:
    """Draw a weight matrix of shape ``(n_in, n_out)`` with the named scheme, in ``dtype``."""
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in INITIALIZERS:
        raise ValueError(f"unknown init {name!r}; valid names: {', '.join(sorted(INITIALIZERS))}")
    return INITIALIZERS[key](rng, n_in, n_out).astype(dtype)
