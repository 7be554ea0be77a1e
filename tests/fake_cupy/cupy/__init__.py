"""A stand-in for CuPy on machines without a GPU: NumPy under CuPy's name.

Its arrays are a NumPy subclass whose type says it comes from ``cupy`` (as
``cupy.get_array_module`` and :func:`chainrule.backend.namespace` look it up), with CuPy's
``get()`` to copy back to the host, and ``cuda.runtime.getDeviceCount()`` reports one device.
Every function is NumPy's, its array results given the stand-in type. The tests put this folder
on the path to run chainrule's ``device="gpu"`` code (dispatch, moves, ``get()``, the command
line's ``--device gpu``) without a GPU; it proves nothing about CuPy's own kernels.
"""

import types as _types

import numpy as _np


class ndarray(_np.ndarray):  # noqa: N801 (CuPy's name)
    """A NumPy array that says it is a CuPy array."""

    def get(self):
        """A NumPy copy on the host, as ``cupy.ndarray.get``."""
        return _np.array(self)


ndarray.__module__ = "cupy"

__version__ = "0+stand-in"

cuda = _types.SimpleNamespace(
    runtime=_types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda index: {"name": b"stand-in CuPy (NumPy on the CPU)"},
    )
)


def _on_device(value):
    if type(value) is _np.ndarray:
        return value.view(ndarray)
    return value


def _wrap(function):
    def call(*args, **kwargs):
        return _on_device(function(*args, **kwargs))

    call.__name__ = getattr(function, "__name__", "function")
    return call


def asnumpy(array):
    return _np.array(array)


def __getattr__(name):
    value = getattr(_np, name)
    if callable(value) and not isinstance(value, type):
        return _wrap(value)
    return value
