"""The IDX file format of the MNIST page: a strict reader and an atomic writer.

An IDX file is a 4-byte magic number ``00 00 TT ND`` (``TT`` the element type, ``ND`` the number
of dimensions, 1 to 255), then ``ND`` big-endian 32-bit sizes, then the elements in row-major
(C) order, big-endian. Element types::

    0x08 unsigned byte   uint8        0x0C int       int32 (big-endian on disk)
    0x09 signed byte     int8         0x0D float     float32
    0x0B short           int16        0x0E double    float64

Files may be gzip-compressed; the reader detects gzip by its magic bytes ``1f 8b``, whatever the
file name. The reader trusts nothing in the header: the declared data size is checked against
the file size before anything is allocated (plain files), or the gzip stream is read with a
bounded read of at most ``declared + 1`` bytes (so neither a lying header nor a zip bomb can make
it allocate more than the data that is really there). Every problem is a
:class:`~chainrule.datasets.DatasetError` naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from chainrule.datasets._files import atomic_write
from chainrule.datasets.errors import DatasetError

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

#: IDX element type code -> the on-disk (big-endian) NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes per read while the size is not yet trusted
_MAX_DIM = 2**32 - 1


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def read_idx(source: str | os.PathLike[str] | BinaryIO, *, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed, into a native-endian array.

    Parameters
    ----------
    source : a path, or a binary file object open for reading (read from its current position).
    sha256 : optional hex SHA-256 that the *decompressed* file bytes (header and data) must have.

    Returns
    -------
    ndarray of the header's shape ``(d1, ..., dn)``, ``1 <= n <= 255``, and of the element
    type's dtype (uint8, int8, int16, int32, float32 or float64), native byte order, writable.

    Raises
    ------
    DatasetError
        Bad magic number or element type, no dimensions, data shorter or longer than the header
        declares (truncated file, trailing bytes), a gzip error (bad CRC, truncated stream,
        garbage), or a SHA-256 mismatch. The message names the file and the problem.
    OSError
        The path cannot be opened (for example ``FileNotFoundError``).
    """
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        with open(name, "rb") as f:
            return _read_stream(f, name, sha256)
    name = getattr(source, "name", None)
    return _read_stream(source, name if isinstance(name, str) else "<file object>", sha256)


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None
) -> None:
    """Write ``array`` to ``path`` as an IDX file, atomically.

    Parameters
    ----------
    path : where to write; the file appears complete or not at all (temporary file in the same
        directory, fsync, ``os.replace``).
    array : array-like of any shape with 1 to 255 dimensions, each at most ``2**32 - 1``, and
        dtype uint8, int8, int16, int32, float32 or float64 (any byte order; written big-endian).
    compress : gzip the file (level 6, no name or time in the gzip header, so the output is
        reproducible). ``None`` (default): compress when ``path`` ends with ``.gz``.

    Raises
    ------
    ValueError
        The dtype has no IDX element type, or the shape cannot be stored.
    """
    path = Path(path)
    arr = np.asarray(array)
    code = _idx_code(arr.dtype)
    if code is None:
        raise ValueError(
            f"cannot write {path}: dtype {arr.dtype} has no IDX element type; "
            "use uint8, int8, int16, int32, float32 or float64"
        )
    if not 1 <= arr.ndim <= 255:
        raise ValueError(f"cannot write {path}: IDX needs 1 to 255 dimensions, got ndim={arr.ndim}")
    if max(arr.shape) > _MAX_DIM:
        raise ValueError(f"cannot write {path}: a dimension exceeds 2**32 - 1, got {arr.shape}")
    header = bytes((0, 0, code, arr.ndim)) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).reshape(-1).view(np.uint8)
    if compress is None:
        compress = path.name.endswith(".gz")
    with atomic_write(path) as f:
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=6, mtime=0) as gz:
                gz.write(header)
                gz.write(memoryview(data))
        else:
            f.write(header)
            f.write(memoryview(data))


def _idx_code(dtype: np.dtype) -> int | None:
    """The IDX element type code for ``dtype`` (any byte order), or None."""
    if dtype.kind not in "uif" or dtype.fields is not None:
        return None
    big = dtype.newbyteorder(">")
    for code, idx_dtype in IDX_DTYPES.items():
        if big == idx_dtype:
            return code
    return None


def _read_stream(f: BinaryIO, name: str, sha256: str | None) -> np.ndarray:
    head = _read_upto(f, 2)
    if head == _GZIP_MAGIC:
        gz = gzip.GzipFile(fileobj=_Prefixed(head, f), mode="rb")  # type: ignore[arg-type]
        try:
            return _decode(gz, name, sha256, size=None)
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{name}: gzip error: {e}") from e
    size = _remaining(f)
    return _decode(_Prefixed(head, f), name, sha256, None if size is None else size + len(head))


def _decode(stream: _Readable, name: str, sha256: str | None, size: int | None) -> np.ndarray:
    """Parse header and data from ``stream``; ``size`` is the total byte count if known."""
    magic = _read_upto(stream, 4)
    if not magic:
        raise DatasetError(f"{name}: empty file, not an IDX file")
    if len(magic) < 4:
        raise DatasetError(
            f"{name}: truncated header: {len(magic)} bytes, an IDX file starts with a 4-byte "
            "magic number"
        )
    if magic[0] or magic[1]:
        raise DatasetError(
            f"{name}: bad magic number 0x{magic.hex()}: not an IDX file "
            "(its first two bytes must be zero)"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DatasetError(
            f"{name}: bad magic number 0x{magic.hex()}: unknown element type 0x{code:02X} "
            f"(valid: {valid})"
        )
    if ndim == 0:
        raise DatasetError(f"{name}: bad magic number 0x{magic.hex()}: zero dimensions")
    dims_raw = _read_upto(stream, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DatasetError(
            f"{name}: truncated header: {ndim} dimensions need {4 * ndim} bytes of sizes, "
            f"found {len(dims_raw)}"
        )
    dims = struct.unpack(f">{ndim}I", dims_raw)
    dtype = IDX_DTYPES[code]
    declared = math.prod(dims) * dtype.itemsize
    shape = "x".join(map(str, dims))
    what = f"the header declares {shape} {_TYPE_NAMES[code]} elements = {declared} data bytes"
    if size is not None and size - len(magic) - len(dims_raw) != declared:
        found = size - len(magic) - len(dims_raw)
        problem = "truncated file" if found < declared else "trailing bytes after the data"
        raise DatasetError(f"{name}: {problem}: {what}, the file has {found}")
    payload = _read_bounded(stream, declared + 1)
    if len(payload) < declared:
        raise DatasetError(f"{name}: truncated data: {what}, found only {len(payload)}")
    if len(payload) > declared:
        raise DatasetError(f"{name}: trailing bytes after the data: {what}, there are more")
    if sha256 is not None:
        digest = hashlib.sha256(magic)
        digest.update(dims_raw)
        digest.update(payload)
        if digest.hexdigest() != sha256.lower():
            raise DatasetError(
                f"{name}: SHA-256 mismatch of the decompressed bytes: expected {sha256.lower()}, "
                f"got {digest.hexdigest()} (corrupted or not the expected file)"
            )
    try:
        array = np.frombuffer(payload, dtype=dtype).reshape(dims)
    except ValueError as e:  # more dimensions than NumPy supports (32 or 64)
        raise DatasetError(f"{name}: {ndim} dimensions: {e}") from None
    return array.astype(dtype.newbyteorder("="), copy=False)


def _read_upto(stream: _Readable, n: int) -> bytes:
    """Read ``n`` bytes, fewer only at end of file (short reads are retried)."""
    data = stream.read(n)
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            break
        data += more
    return data


def _read_bounded(stream: _Readable, limit: int) -> bytearray:
    """Read at most ``limit`` bytes; memory grows with the data read, not with ``limit``."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = stream.read(min(_CHUNK, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _remaining(f: BinaryIO) -> int | None:
    """Bytes from the current position to the end of ``f``, or None if it cannot seek."""
    try:
        if not f.seekable():
            return None
        pos = f.tell()
        end = f.seek(0, os.SEEK_END)
        f.seek(pos)
    except (OSError, AttributeError, ValueError):
        return None
    return end - pos


class _Prefixed:
    """A read-only stream: ``prefix`` (bytes already read from ``raw``), then the rest of it."""

    def __init__(self, prefix: bytes, raw: _Readable) -> None:
        self._prefix = prefix
        self._raw = raw

    def read(self, size: int = -1, /) -> bytes:
        if not self._prefix:
            return self._raw.read(size)
        prefix, self._prefix = self._prefix, b""
        if size is None or size < 0:
            return prefix + self._raw.read()
        if size <= len(prefix):
            self._prefix = prefix[size:]
            return prefix[:size]
        return prefix + self._raw.read(size - len(prefix))
