"""A stand-in for CuPy on machines without a GPU: NumPy behind CuPy's rules about the host.

Its arrays (:class:`ndarray`, whose type says it comes from ``cupy``, as
``cupy.get_array_module`` and :func:`chainrule.backend.namespace` look it up) keep their
values in a private NumPy array, the "device memory", and follow CuPy where it differs from
NumPy about moving data between the host and the device:

- a NumPy array is never taken where a device array is expected: in a function of this module,
  an operator, ``out=``, an index or an assignment it raises ``TypeError: Unsupported type``
  (CuPy's message); Python and NumPy scalars are fine;
- a device array never turns into a NumPy array by itself: ``numpy.asarray(a)``, or a NumPy
  function that would need it, raises ``TypeError`` (CuPy's ``__array__``); ``a.get()`` and
  ``cupy.asnumpy(a)`` copy to the host, and ``cupy.asarray(host)``/``cupy.array(host)`` and
  ``a.set(host)`` copy to the device;
- reductions return 0-d device arrays, not scalars (``float(a)``, ``bool(a)``, ``a.item()``
  read them);
- NumPy functions called on device arrays (``numpy.sum(a)``) work on the device, as through
  CuPy's ``__array_function__`` and ``__array_ufunc__``.

``cuda.runtime.getDeviceCount()`` reports one device. The tests put this folder on the path
to run chainrule's ``device="gpu"`` code (dispatch, moves, ``get()``, the command line's
``--device gpu``) without a GPU, where a host array slipping into device code, or a device
array into host code, fails as it would on a GPU. It proves nothing about CuPy's own kernels.
"""

import operator as _operator
import types as _types

import numpy as _np

__version__ = "0+stand-in"

cuda = _types.SimpleNamespace(
    runtime=_types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda index: {"name": b"stand-in CuPy (NumPy on the CPU)"},
    )
)


def _unsupported(value):
    return TypeError(f"Unsupported type {type(value)}")


def _unwrap(value):
    """Device arrays -> their NumPy memory; NumPy arrays refused; containers walked."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, _np.ndarray):
        raise _unsupported(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value):
    """NumPy results -> device arrays (scalars from reductions become 0-d arrays)."""
    if isinstance(value, _np.ndarray):
        return ndarray(value)
    if isinstance(value, _np.generic):
        return ndarray(_np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _call(function, args, kwargs):
    out = kwargs.get("out")
    result = function(*_unwrap(args), **_unwrap(kwargs))
    if isinstance(out, ndarray) and result is out._a:
        return out
    return _wrap(result)


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, flags):
        self.c_contiguous = flags.c_contiguous
        self.f_contiguous = flags.f_contiguous
        self.owndata = flags.owndata


class ndarray:  # noqa: N801 (CuPy's name)
    """A device array: values in a private NumPy array, reached only by CuPy's rules."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, memory):
        if not isinstance(memory, _np.ndarray):
            raise TypeError("stand-in cupy.ndarray wraps a NumPy array; use cupy.asarray")
        self._a = memory

    # -- to and from the host -------------------------------------------------------------

    def get(self):
        """A NumPy copy on the host, as ``cupy.ndarray.get``."""
        return _np.array(self._a)

    def set(self, host):
        """Copy the NumPy array ``host`` into this array, as ``cupy.ndarray.set``."""
        if not isinstance(host, _np.ndarray) or host.shape != self._a.shape:
            raise ValueError("set() takes a NumPy array of the same shape")
        self._a[...] = host

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly."
        )

    def __reduce__(self):
        return (asarray, (self.get(),))

    # -- NumPy's protocols: NumPy functions on device arrays stay on the device -------------

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _call(func, args, kwargs)

    # -- attributes -------------------------------------------------------------------------

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a.flags))
    T = property(lambda self: ndarray(self._a.T))

    @property
    def base(self):
        return None if self._a.base is None else ndarray(_np.asarray(self._a.base))

    def __getattr__(self, name):
        attribute = getattr(self._a, name)  # methods: astype, reshape, argmax, sum, fill, ...
        if not callable(attribute):
            raise AttributeError(name)

        def method(*args, **kwargs):
            return _call(attribute, args, kwargs)

        return method

    # -- indexing and Python's protocols ----------------------------------------------------

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        if isinstance(value, (list, tuple)):
            raise _unsupported(value)
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return _operator.index(self._a.item())

    def __format__(self, spec):
        return format(self._a.item(), spec) if self._a.ndim == 0 else format(str(self), spec)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)


def _binary(op):
    def forward(self, other):
        return _wrap(op(self._a, _unwrap(other)))

    def reflected(self, other):
        return _wrap(op(_unwrap(other), self._a))

    return forward, reflected


def _inplace(op):
    def method(self, other):
        op(self._a, _unwrap(other))
        return self

    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"):  # fmt: skip
    _op = getattr(_operator, _name if _name not in ("and", "or") else _name + "_")
    _forward, _reflected = _binary(_op)
    setattr(ndarray, f"__{_name}__", _forward)
    setattr(ndarray, f"__r{_name}__", _reflected)
    setattr(ndarray, f"__i{_name}__", _inplace(getattr(_operator, f"i{_name}")))
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(ndarray, f"__{_name}__", _binary(getattr(_operator, _name))[0])
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", (lambda op: lambda self: _wrap(op(self._a)))(
        getattr(_operator, _name)))  # fmt: skip

ndarray.__module__ = "cupy"


# -- the module's functions -----------------------------------------------------------------


def asarray(a, dtype=None, order=None):
    """To the device: a copy of a host array (or the device array itself)."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return ndarray(_np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(a, dtype=None, copy=True, order="K"):
    """To the device, always a copy."""
    host = a._a if isinstance(a, ndarray) else a
    return ndarray(_np.array(host, dtype=dtype, order=order, copy=True))


def asnumpy(a):
    """To the host: a copy of a device array (a host array as it is)."""
    return a.get() if isinstance(a, ndarray) else _np.asarray(a)


def get_array_module(*args):
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


# NumPy's public names that CuPy 13 (the oldest the gpu extra allows) lacks: from
# sorted(n for n in dir(numpy) if not n.startswith('_') and not hasattr(cupy, n)) with
# cupy-cuda12x 13.6.0 and NumPy 2.4.6 (no GPU needed to list them)
_NOT_IN_CUPY_13 = {
    "False_",
    "ScalarType",
    "True_",
    "acos",
    "acosh",
    "apply_over_axes",
    "asin",
    "asinh",
    "asmatrix",
    "astype",
    "atan",
    "atan2",
    "atanh",
    "bitwise_count",
    "bitwise_invert",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "block",
    "bmat",
    "bool",
    "busday_count",
    "busday_offset",
    "busdaycalendar",
    "bytes_",
    "char",
    "character",
    "clongdouble",
    "complex256",
    "concat",
    "core",
    "ctypeslib",
    "cumulative_prod",
    "cumulative_sum",
    "datetime64",
    "datetime_as_string",
    "datetime_data",
    "dtypes",
    "einsum_path",
    "emath",
    "errstate",
    "f2py",
    "flexible",
    "float128",
    "frompyfunc",
    "fromregex",
    "geomspace",
    "get_include",
    "getbufsize",
    "geterr",
    "geterrcall",
    "histogram_bin_edges",
    "info",
    "insert",
    "is_busday",
    "isdtype",
    "isnat",
    "little_endian",
    "long",
    "longdouble",
    "ma",
    "matrix",
    "matrix_transpose",
    "matvec",
    "memmap",
    "nanpercentile",
    "nanquantile",
    "ndenumerate",
    "nditer",
    "nested_iters",
    "object_",
    "permute_dims",
    "polyder",
    "polydiv",
    "polyint",
    "pow",
    "put_along_axis",
    "rec",
    "recarray",
    "record",
    "sctypeDict",
    "setbufsize",
    "seterr",
    "seterrcall",
    "show_runtime",
    "spacing",
    "str_",
    "strings",
    "test",
    "timedelta64",
    "trapezoid",
    "typecodes",
    "ulong",
    "unique_all",
    "unique_counts",
    "unique_inverse",
    "unique_values",
    "unstack",
    "vecdot",
    "vecmat",
    "void",
}


def __getattr__(name):
    if name in _NOT_IN_CUPY_13:
        raise AttributeError(f"module 'cupy' has no attribute {name!r} (not in CuPy 13)")
    value = getattr(_np, name)
    if callable(value) and not isinstance(value, type):

        def function(*args, **kwargs):
            return _call(value, args, kwargs)

        function.__name__ = name
        return function
    return value
