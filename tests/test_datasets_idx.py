"""IDX reader and writer: round trips, the on-disk format, strictness, bounded memory."""

from __future__ import annotations

import gzip
import io
import os
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from chainrule.datasets import DatasetError, read_idx, write_idx

# IDX element type code -> native dtype of the decoded array.
CODES = {0x08: "u1", 0x09: "i1", 0x0B: "i2", 0x0C: "i4", 0x0D: "f4", 0x0E: "f8"}
SHAPES = [(5,), (3, 4), (2, 3, 2), (2, 1, 3, 2), (0, 3)]


def idx_bytes(array: np.ndarray) -> bytes:
    """A reference encoder, written from the format description, independent of write_idx."""
    code = {v: k for k, v in CODES.items()}[array.dtype.newbyteorder("=").str[1:]]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def sample(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Values that use the sign and the full width of the type."""
    values = np.arange(int(np.prod(shape)), dtype=np.float64) * 37 - 20
    if np.dtype(dtype).kind == "f":
        values = values / 7  # fractions that do not round trip through a narrower type
    else:
        info = np.iinfo(dtype)
        values = np.clip(values * 1013, info.min, info.max)
        if values.size:
            values[-1] = info.max
    return values.astype(dtype).reshape(shape)


def same(decoded: np.ndarray, expected: np.ndarray) -> bool:
    """Same shape, native dtype of the same type, and the same bits (NaN payloads included)."""
    return (
        decoded.shape == expected.shape
        and decoded.dtype == expected.dtype.newbyteorder("=")
        and decoded.tobytes() == expected.astype(decoded.dtype).tobytes()
    )


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", list(CODES.values()))
def test_round_trip_every_type_and_rank(tmp_path, dtype, shape, compress):
    array = sample(dtype, shape)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, array)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") is compress
    assert (gzip.decompress(raw) if compress else raw) == idx_bytes(array)
    decoded = read_idx(path)
    assert same(decoded, array)
    assert decoded.dtype.isnative and decoded.flags.writeable and decoded.flags.c_contiguous
    with open(path, "rb") as f:
        assert same(read_idx(f), array)


@pytest.mark.parametrize("ndim", [1, 8, 32])
def test_many_dimensions(tmp_path, ndim):
    shape = (2,) + (1,) * (ndim - 1)
    array = np.array([3, -4], dtype=np.int16).reshape(shape)
    write_idx(tmp_path / "a.idx", array)
    assert same(read_idx(tmp_path / "a.idx"), array)


def test_more_dimensions_than_numpy_holds(tmp_path):
    """IDX allows 255 dimensions, NumPy 32 or 64: a clear error, not a crash."""
    path = tmp_path / "a.idx"
    path.write_bytes(b"\x00\x00\x08\xff" + b"\x00\x00\x00\x01" * 255 + b"\x07")
    with pytest.raises(DatasetError, match="255 dimensions"):
        read_idx(path)


def test_byte_order_of_the_input_does_not_matter(tmp_path):
    little = np.array([1, -2, 70000], dtype="<i4")
    write_idx(tmp_path / "le.idx", little)
    write_idx(tmp_path / "be.idx", little.astype(">i4"))
    assert (tmp_path / "le.idx").read_bytes() == (tmp_path / "be.idx").read_bytes()
    assert (tmp_path / "le.idx").read_bytes()[
        8:
    ] == b"\x00\x00\x00\x01\xff\xff\xff\xfe\x00\x01\x11\x70"


def test_compress_argument_overrides_the_suffix(tmp_path):
    array = sample("u1", (4, 4))
    write_idx(tmp_path / "a.gz", array, compress=False)
    write_idx(tmp_path / "b.idx", array, compress=True)
    assert (tmp_path / "a.gz").read_bytes() == idx_bytes(array)
    assert (tmp_path / "b.idx").read_bytes()[:2] == b"\x1f\x8b"
    assert same(read_idx(tmp_path / "a.gz"), array)  # gzip is detected by magic, not by name
    assert same(read_idx(tmp_path / "b.idx"), array)


def test_gzip_output_is_reproducible(tmp_path):
    array = sample("f4", (3, 5))
    write_idx(tmp_path / "a.idx.gz", array)
    first = (tmp_path / "a.idx.gz").read_bytes()
    write_idx(tmp_path / "a.idx.gz", array)
    assert (tmp_path / "a.idx.gz").read_bytes() == first
    assert first[4:8] == b"\0\0\0\0"  # no modification time in the gzip header


@pytest.mark.parametrize(
    "array",
    [np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.float16), np.zeros(3, np.uint16)],
    ids=["int64", "bool", "float16", "uint16"],
)
def test_write_rejects_types_idx_cannot_hold(tmp_path, array):
    with pytest.raises(ValueError, match=f"dtype {array.dtype}"):
        write_idx(tmp_path / "a.idx", array)
    assert not list(tmp_path.iterdir())


def test_write_rejects_zero_dimensions(tmp_path):
    with pytest.raises(ValueError, match="ndim=0"):
        write_idx(tmp_path / "a.idx", np.uint8(3))


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "a.idx"
    write_idx(path, sample("u1", (3,)))
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        write_idx(path, sample("f8", (100, 100)))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.idx"]  # no temporary file left behind


class NonSeekable:
    """A pipe-like binary stream: read only, short reads."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 7) if size is not None and size >= 0 else -1)

    def seekable(self) -> bool:
        return False


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_reads_non_seekable_streams(compress):
    array = sample("i4", (3, 4))
    data = gzip.compress(idx_bytes(array)) if compress else idx_bytes(array)
    assert same(read_idx(NonSeekable(data)), array)
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(NonSeekable(idx_bytes(array)[:-1]))


def test_sha256_is_checked_on_the_decompressed_bytes(tmp_path):
    import hashlib

    array = sample("u1", (10, 3))
    digest = hashlib.sha256(idx_bytes(array)).hexdigest()
    write_idx(tmp_path / "a.gz", array)
    assert same(read_idx(tmp_path / "a.gz", sha256=digest), array)
    assert same(read_idx(tmp_path / "a.gz", sha256=digest.upper()), array)
    with pytest.raises(DatasetError, match="SHA-256 mismatch") as info:
        read_idx(tmp_path / "a.gz", sha256="0" * 64)
    assert str(tmp_path / "a.gz") in str(info.value)


GOOD = idx_bytes(np.arange(12, dtype=">i2").reshape(3, 4))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty file"),
        (GOOD[:3], "truncated header"),
        (b"\x00\x00\x0b\x02\x00\x00", "truncated header"),
        (b"\x01" + GOOD[1:], "bad magic number 0x010"),
        (b"PK\x03\x04" + GOOD[4:], "bad magic number"),
        (GOOD[:2] + b"\x0a" + GOOD[3:], "unknown element type 0x0A"),
        (GOOD[:3] + b"\x00" + GOOD[4:], "zero dimensions"),
        (GOOD[:-1], "truncated file: the header declares 3x4 short elements = 24 data bytes"),
        (GOOD + b"\x00", "trailing bytes after the data"),
        (GOOD[:4] + b"\x00\x00\x00\x02" + GOOD[8:], "trailing bytes"),
        (GOOD[:4] + b"\x00\x00\x00\x04" + GOOD[8:], "truncated file"),
        (GOOD[:4] + b"\xff\xff\xff\xff" * 2 + GOOD[12:], "truncated file"),
    ],
    ids=[
        "empty",
        "short-magic",
        "short-dims",
        "magic-nonzero",
        "zip-file",
        "unknown-type",
        "zero-dims",
        "cut-1",
        "extra-1",
        "dims-too-small",
        "dims-too-big",
        "dims-huge",
    ],
)
def test_malformed_files_name_the_file_and_the_problem(tmp_path, data, problem):
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(DatasetError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda g: g[:-1], "gzip error"),
        (lambda g: g[: len(g) // 2], "gzip error"),
        (lambda g: g[:2], "gzip error"),
        (lambda g: g[:-8] + bytes(4) + g[-4:], "CRC"),
        (lambda g: g[:-4] + b"\x99\x00\x00\x00", "gzip error"),
        (lambda g: g + b"garbage", "gzip error"),
        (lambda g: gzip.compress(GOOD[:-2]), "truncated data"),
        (lambda g: gzip.compress(GOOD + b"\x07"), "trailing bytes"),
        (lambda g: gzip.compress(b"<html>a parked domain</html>"), "bad magic number"),
    ],
    ids=[
        "cut-1",
        "cut-half",
        "magic-only",
        "bad-crc",
        "bad-length",
        "garbage-after",
        "short-data",
        "long-data",
        "html",
    ],
)
def test_gzip_problems(tmp_path, mangle, problem):
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(mangle(gzip.compress(GOOD)))
    with pytest.raises(DatasetError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_concatenated_gzip_members_are_one_stream(tmp_path):
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(GOOD[:10]) + gzip.compress(GOOD[10:]))
    assert same(read_idx(path), np.arange(12, dtype=">i2").reshape(3, 4))


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_lying_header_allocates_nothing_big(tmp_path):
    """Dims 2**32-1 x 2**32-1 of doubles (~10**20 bytes) over a few bytes of data."""
    liar = b"\x00\x00\x0e\x02" + b"\xff\xff\xff\xff" * 2 + bytes(64)
    (tmp_path / "liar.idx").write_bytes(liar)
    (tmp_path / "liar.idx.gz").write_bytes(gzip.compress(liar))
    assert _peak_bytes(lambda: read_idx(tmp_path / "liar.idx")) < 1 << 20
    assert _peak_bytes(lambda: read_idx(tmp_path / "liar.idx.gz")) < 4 << 20
    assert _peak_bytes(lambda: read_idx(NonSeekable(liar))) < 4 << 20


def test_a_gzip_bomb_is_read_only_as_far_as_declared(tmp_path):
    """10 declared bytes followed by 20 MB of zeros (20 kB compressed): stop after 11 bytes."""
    bomb = gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x0a" + bytes(20_000_000))
    (tmp_path / "bomb.gz").write_bytes(bomb)
    assert _peak_bytes(lambda: read_idx(tmp_path / "bomb.gz")) < 4 << 20


# --- property: corrupted files never decode to anything but the truth, nor raise anything else


@st.composite
def idx_arrays(draw):
    dtype = draw(st.sampled_from(list(CODES.values())))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4))
    return draw(hnp.arrays(np.dtype(dtype).newbyteorder(">"), shape))


def _mutate(data: bytes, draw) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["truncate", "corrupt", "corrupt", "append"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))], kind
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=8)), kind
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(out) - 1))
        out[i] ^= draw(st.integers(1, 255))
    return bytes(out), kind


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(array=idx_arrays(), compress=st.booleans(), data=st.data())
def test_corruption_raises_dataset_error_or_decodes_faithfully(array, compress, data):
    """Truncations of either form, and bytes appended to a plain file, always raise.

    A corrupted or extended gzip file raises or decodes to exactly the written array (the CRC and
    length in the trailer catch changes to the data; the header's time and OS bytes do not matter;
    gzip ignores zero padding). A plain IDX file has no checksum, so a corrupted one raises or
    decodes *faithfully*: the array written back gives exactly the corrupted bytes.
    """
    plain = idx_bytes(array)
    valid = gzip.compress(plain, mtime=0) if compress else plain
    mutated, kind = _mutate(valid, data.draw)
    try:
        decoded = read_idx(io.BytesIO(mutated))
    except DatasetError as e:
        assert "<file object>" in str(e)
        event(f"{kind}: DatasetError")
        return
    event(f"{kind}: decoded")
    assert kind == "corrupt" or (compress and kind == "append")
    if compress:
        assert same(decoded, array)
    else:
        assert idx_bytes(decoded) == mutated


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(array=idx_arrays(), compress=st.booleans())
def test_property_round_trip_through_files(tmp_path_factory, array, compress):
    path = Path(tmp_path_factory.mktemp("idx")) / ("a.gz" if compress else "a.idx")
    write_idx(path, array)
    assert same(read_idx(path), array)
