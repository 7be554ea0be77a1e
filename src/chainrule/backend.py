"""Where a network's arrays live: NumPy on the CPU, CuPy on a GPU, or any array-API library.

The math of chainrule (activations, losses, layers, optimizers) is written once. It takes its
array functions from the module of the arrays it is given, with NumPy's names and NumPy's
``out=`` argument for writing into reused buffers::

    xp = namespace(out)                          # numpy, cupy, or an ArrayAPIAdapter
    xp.multiply(grad_out, slope, out=delta)      # dE/dnet = dE/dout * ds/dnet

There is no ``if gpu:`` anywhere in the math:

- NumPy arrays give the ``numpy`` module itself, and CuPy arrays the ``cupy`` module (what
  ``cupy.get_array_module`` gives): both have every function the math uses, ``out=`` included,
  so on the CPU the seam costs one type check per call and nothing else;
- arrays of any other library that follows the Python array API standard (found through the
  standard's ``__array_namespace__``; ``array_api_compat`` wraps the same lookup) get an
  :class:`ArrayAPIAdapter`: it gives the standard's functions NumPy's ``out=`` by computing
  the result and copying it into ``out``, maps NumPy dtypes to the library's, and adds NumPy's
  ``copy``, ``copyto`` and ``vdot``. The gather and the scatter of the cross-entropy
  (:func:`at_labels`, :func:`subtract_at_labels`) are fancy indexing in NumPy and CuPy, and
  ``take_along_axis`` and a mask elsewhere.

The tests run the math on ``array-api-strict`` arrays on a non-CPU device, which refuse every
NumPy call, so a NumPy-only call cannot hide in the math.

:func:`get_namespace` turns a device name into a module, for ``Network(..., device=...)`` and
``Network.to(...)``: ``"cpu"`` is NumPy, ``"gpu"`` (or ``"cuda"``) is CuPy, the optional extra
``pip install "chainrule[gpu]"``. Data crosses between the host and the device only at the
edges: a training batch moves once per step (:func:`asarray`), results come back as NumPy
arrays (:func:`to_numpy`).
"""

from __future__ import annotations

import functools
import types
from typing import Any

import numpy as np

__all__ = [
    "ArrayAPIAdapter",
    "DeviceError",
    "asarray",
    "at_labels",
    "constant",
    "copy_into",
    "device_name",
    "get_namespace",
    "is_numpy",
    "namespace",
    "smallest",
    "subtract_at_labels",
    "total",
    "to_numpy",
]


class DeviceError(ValueError):
    """A device that cannot be used here (no CuPy, no GPU, an unknown name)."""


# -- from arrays to their module -------------------------------------------------------------


def namespace(array) -> Any:
    """The module the math takes its functions from for ``array``: ``numpy`` for NumPy arrays,
    ``cupy`` for CuPy arrays, an :class:`ArrayAPIAdapter` for other array-API arrays."""
    if type(array) is np.ndarray:  # the fast path: one check
        return np
    return _namespace_of(array)


def _is_cupy(array) -> bool:
    """Whether ``array`` is a CuPy array (by its type's module, as ``cupy.get_array_module``
    tells, without importing CuPy)."""
    return type(array).__module__.split(".")[0] == "cupy"


def _namespace_of(array) -> Any:
    if _is_cupy(array):
        import cupy

        return cupy
    if isinstance(array, (np.ndarray, np.generic)):
        return np
    get = getattr(array, "__array_namespace__", None)
    if get is None:
        raise TypeError(f"expected an array, got {type(array).__name__}")
    return _adapter(get(), array.device)


@functools.lru_cache(maxsize=16)
def _adapter(module, device) -> ArrayAPIAdapter:
    return ArrayAPIAdapter(module, device)


def is_numpy(xp) -> bool:
    """Whether ``xp`` (from :func:`namespace`) is NumPy itself."""
    return xp is np


# -- from device names to modules --------------------------------------------------------------


def get_namespace(device="cpu", array_device=None) -> Any:
    """The module for a device: ``"cpu"`` -> ``numpy``; ``"gpu"``/``"cuda"`` -> ``cupy``.

    ``device`` may also be an array-API module (e.g. ``array_api_strict``), with
    ``array_device`` one of that library's devices (default: its default device); the result
    is then an :class:`ArrayAPIAdapter`. Raises :class:`DeviceError` with what to do when the
    device cannot be used (CuPy not installed, no GPU visible).
    """
    if isinstance(device, ArrayAPIAdapter):
        return device
    if isinstance(device, types.ModuleType):
        if device is np:
            return np
        if device.__name__.split(".")[0] == "cupy":
            return _cupy()
        if not hasattr(device, "__array_api_version__"):
            raise DeviceError(f"{device.__name__} is not an array-API module")
        if array_device is None:
            array_device = device.__array_namespace_info__().default_device()
        return _adapter(device, array_device)
    name = str(device).lower()
    if name == "cpu":
        return np
    if name in ("gpu", "cuda"):
        return _cupy()
    raise DeviceError(f"unknown device {device!r}; use 'cpu' or 'gpu'")


def _cupy():
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError(
            "device='gpu' needs CuPy, which is not installed: pip install 'chainrule[gpu]' "
            "(CuPy for CUDA 12; see https://docs.cupy.dev for other CUDA versions)"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken: CuPy raises its own types
        raise DeviceError(f"device='gpu': CuPy cannot reach a CUDA GPU ({exc})") from exc
    if count < 1:
        raise DeviceError("device='gpu': CuPy sees no CUDA GPU on this machine")
    return cupy


def device_name(xp) -> str:
    """``"cpu"``, ``"gpu"``, or ``"<library>:<device>"`` for an adapter."""
    if xp is np:
        return "cpu"
    if isinstance(xp, ArrayAPIAdapter):
        return f"{xp.module.__name__}:{xp.device}"
    return "gpu"


# -- moving data --------------------------------------------------------------------------------


def asarray(xp, array: np.ndarray):
    """``array`` (NumPy) on ``xp``'s device: no copy for NumPy, one transfer otherwise."""
    if xp is np:
        return array
    return xp.asarray(array)


def to_numpy(array, copy: bool = False) -> np.ndarray:
    """A NumPy array with the values of ``array``: the array itself if it is a NumPy array
    (a copy if ``copy``), else a copy on the host. Lists and scalars go through ``np.asarray``.
    """
    if type(array) is np.ndarray:
        return array.copy() if copy else array
    if _is_cupy(array):
        return array.get()
    if isinstance(array, np.ndarray):  # a subclass
        return np.array(array) if copy else np.asarray(array)
    if hasattr(array, "__array_namespace__") and not isinstance(array, np.generic):
        return np.from_dlpack(array, device="cpu", copy=True)
    return np.asarray(array)


# -- the adapter --------------------------------------------------------------------------------


class ArrayAPIAdapter:
    """NumPy's calling conventions on top of an array-API namespace.

    Every name the standard defines is passed through to the namespace. On top of it:

    - elementwise functions and ``matmul`` take ``out=``: the result is computed as the
      standard does, then copied into ``out`` (``out[...] = result``), so a caller that reuses
      buffers keeps working (without the speed the buffers buy with NumPy);
    - boolean arrays in arithmetic count as 0 and 1 of the other operand's dtype (NumPy's
      rule, which ``mask * x`` relies on);
    - creation functions and ``astype`` accept NumPy dtypes and create arrays on the
      adapter's device;
    - ``copy(x)``, ``copyto(dst, src)``, ``dot(a, b)`` (of 1-D and 2-D arrays) and ``vdot(a, b)``
      as in NumPy.
    """

    _ELEMENTWISE = (
        "add",
        "subtract",
        "multiply",
        "divide",
        "maximum",
        "greater",
        "greater_equal",
        "tanh",
        "exp",
        "log",
        "log1p",
        "sqrt",
        "abs",
        "negative",
        "matmul",
    )

    def __init__(self, module, device):
        self.module = module
        self.device = device
        for name in self._ELEMENTWISE:
            setattr(self, name, self._with_out(getattr(module, name)))

    def __getattr__(self, name):  # everything else: the standard's own function
        return getattr(self.module, name)

    def __repr__(self) -> str:
        return f"ArrayAPIAdapter({self.module.__name__}, device={self.device!r})"

    def dtype(self, dtype):
        """The library's dtype for a NumPy dtype (its own dtypes pass through)."""
        if dtype is None or not isinstance(dtype, (np.dtype, type)):
            return dtype
        return getattr(self.module, np.dtype(dtype).name)

    def _with_out(self, function):
        module = self.module

        def call(*args, out=None, **kwargs):
            args = _numeric(module, args)
            result = function(*args, **kwargs)
            if out is None:
                return result
            out[...] = module.astype(result, out.dtype) if result.dtype != out.dtype else result
            return out

        call.__name__ = function.__name__
        return call

    # creation, with NumPy dtypes and this device
    def empty(self, shape, dtype=None):
        return self.module.empty(shape, dtype=self.dtype(dtype), device=self.device)

    def zeros(self, shape, dtype=None):
        return self.module.zeros(shape, dtype=self.dtype(dtype), device=self.device)

    def ones(self, shape, dtype=None):
        return self.module.ones(shape, dtype=self.dtype(dtype), device=self.device)

    def full(self, shape, fill_value, dtype=None):
        return self.module.full(shape, fill_value, dtype=self.dtype(dtype), device=self.device)

    def asarray(self, obj, dtype=None):
        if isinstance(obj, np.ndarray) and not obj.flags.c_contiguous:
            obj = np.ascontiguousarray(obj)
        return self.module.asarray(obj, dtype=self.dtype(dtype), device=self.device)

    def astype(self, x, dtype, copy=True):
        return self.module.astype(x, self.dtype(dtype), copy=copy)

    def dot(self, a, b, out=None):
        """NumPy's ``dot`` for the 1-D and 2-D arrays the layers multiply: ``matmul``."""
        return self.matmul(a, b, out=out)

    def vdot(self, a, b):
        """The dot product of the flattened arrays (real ones), as NumPy's ``vdot``."""
        return self.module.sum(a * b)

    def copy(self, x):
        return self.module.asarray(x, copy=True)

    def copyto(self, dst, src) -> None:
        dst[...] = src

    def subtract_at_labels(self, array, labels, value) -> None:
        """See :func:`subtract_at_labels`: as a mask, since the standard has no scatter."""
        columns = self.module.arange(array.shape[1], device=self.device)
        hit = labels[:, None] == columns  # (batch, n_out), true at [i, labels[i]]
        array[...] = self.module.where(hit, array - value, array)


@functools.lru_cache(maxsize=32)  # the few numbers, and ReLU's zeros per batch shape
def constant(xp, value: float, dtype, shape: tuple[int, ...] = ()):
    """An ``xp`` array of ``shape`` (default 0-d) and ``dtype`` filled with ``value``: made once
    per module, value, dtype and shape, and never written to (read-only where the module can
    say so).

    The numbers of the elementwise math come this way (``out *= constant(xp, 0.5, out.dtype)``
    rather than ``out *= 0.5``): NumPy combines an array with a Python float through NEP 50's
    promotion of "weak" scalars, ~0.3 us a call, about what multiplying a (10, 30) float32 array
    costs, and a 0-d array of the array's own dtype skips that; the results are the same. And
    ReLU compares against a whole array of zeros: NumPy's loop over two arrays is ~3x faster
    than over an array and a number.
    """
    if isinstance(dtype, np.dtype) and dtype.kind != "f" and not shape:
        return value  # integers (an activation called on them): NumPy promotes them to floats
    array = xp.full(shape, value, dtype=dtype)
    if isinstance(array, np.ndarray):  # NumPy can say so; CuPy and others cannot
        array.flags.writeable = False
    return array


def at_labels(array, labels):
    """``array[i, labels[i]]`` for every row ``i``: shape (batch,) (a gather).

    NumPy and CuPy index with ``(arange(batch), labels)``; elsewhere ``take_along_axis``.
    """
    xp = namespace(array)
    if isinstance(xp, ArrayAPIAdapter):
        return xp.take_along_axis(array, labels[:, None], axis=1)[:, 0]
    return array[xp.arange(array.shape[0]), labels]


def total(array) -> float:
    """The sum of every entry of ``array``, as a Python float (``float(xp.sum(array))``).

    On NumPy through the ufunc, ``np.add.reduce``, the same summation: ``np.sum``'s Python
    wrapper costs more than the sum itself for the small arrays of a training step (~2 us).
    """
    if type(array) is np.ndarray:
        return float(np.add.reduce(array, axis=None))
    return float(namespace(array).sum(array))


def smallest(array) -> float:
    """The smallest entry of ``array``, as a Python float (``float(xp.min(array))``; on NumPy
    through ``np.minimum.reduce``, as :func:`total`)."""
    if type(array) is np.ndarray:
        return float(np.minimum.reduce(array, axis=None))
    return float(namespace(array).min(array))


def subtract_at_labels(array, labels, value: float) -> None:
    """``array[i, labels[i]] -= value`` for every row ``i``, in place (a scatter).

    ``array`` has shape (batch, n), ``labels`` integers of shape (batch,). NumPy and CuPy do
    it with one fancy-indexed update; the array API standard has no scatter, so an
    :class:`ArrayAPIAdapter` uses a mask.
    """
    xp = namespace(array)
    if isinstance(xp, ArrayAPIAdapter):
        xp.subtract_at_labels(array, labels, value)
    else:
        array[xp.arange(array.shape[0]), labels] -= value


def _numeric(module, args):
    """Boolean array arguments as 0/1 of the first float argument's dtype (NumPy's rule)."""
    if not any(getattr(a, "dtype", None) == module.bool for a in args):
        return args
    dtype = next(
        (a.dtype for a in args if getattr(a, "dtype", module.bool) != module.bool),
        module.float64,
    )
    return tuple(
        module.astype(a, dtype) if getattr(a, "dtype", None) == module.bool else a for a in args
    )


def copy_into(dst, src) -> None:
    """``dst[...] = src`` in place, where ``src`` may live on the host or on ``dst``'s device."""
    xp = namespace(dst)
    if namespace(src) is not xp:
        src = asarray(xp, to_numpy(src))
    xp.copyto(dst, src)
