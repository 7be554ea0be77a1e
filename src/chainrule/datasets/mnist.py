"""MNIST (bundled) and Fashion-MNIST (found on disk), and the registry that names them.

Both datasets are four IDX files: images ``(N, 28, 28)`` uint8 and labels ``(N,)`` uint8, for
the ``"train"`` (N = 60000) and ``"test"`` (N = 10000) splits. Every file is checked against the
published SHA-256 of its *decompressed* bytes, so the gzip wrapper may differ from the mirrors'.

A decoded copy of each file is cached as a plain ``.npy`` under the user cache directory
(:func:`cache_dir`), named after the file and its SHA-256. A cached copy is trusted only after the
same check as the source: its ``.npy`` header must give the expected shape and dtype, its size
must match, and the SHA-256 of the IDX bytes rebuilt from it (header + data) must be the published
value. Anything else (stale, truncated, corrupted, not an ``.npy``) is rebuilt from the source.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import DTypeLike

from chainrule.datasets._files import atomic_write, cache_dir
from chainrule.datasets.errors import DatasetError
from chainrule.datasets.idx import read_idx

__all__ = [
    "IdxFile",
    "DatasetSpec",
    "DATASETS",
    "load_mnist",
    "load_fashion_mnist",
    "load_dataset",
]


class _Openable(Protocol):
    def open(self, mode: str = "rb") -> BinaryIO: ...


@dataclass(frozen=True)
class IdxFile:
    """One uint8 IDX file of a dataset.

    ``name`` is the file name without ``.gz`` (``"train-images-idx3-ubyte"``), ``shape`` the
    array shape, ``sha256`` the published hex SHA-256 of the uncompressed file.
    """

    name: str
    shape: tuple[int, ...]
    sha256: str

    def header(self) -> bytes:
        """The IDX header of this file: magic ``00 00 08 ndim`` and the big-endian sizes."""
        return bytes((0, 0, 0x08, len(self.shape))) + struct.pack(
            f">{len(self.shape)}I", *self.shape
        )

    @property
    def nbytes(self) -> int:
        """Size of the uncompressed file: header + one byte per element."""
        return len(self.header()) + math.prod(self.shape)


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is made of and where it comes from.

    ``splits`` maps a split name to its ``(images, labels)`` files. ``mirrors`` are base URLs
    for :func:`~chainrule.datasets.download`. ``bundled`` datasets are read from the package;
    the others are searched for (see :func:`load_fashion_mnist`), last in ``system_dirs``.
    """

    name: str
    title: str
    splits: Mapping[str, tuple[IdxFile, IdxFile]]
    mirrors: tuple[str, ...]
    bundled: bool = False
    system_dirs: tuple[str, ...] = ()
    get_hint: str = ""

    @property
    def files(self) -> list[IdxFile]:
        """All the files of the dataset, split by split, images before labels."""
        return [f for pair in self.splits.values() for f in pair]


def _mnist_like(
    train_images: str, train_labels: str, test_images: str, test_labels: str
) -> dict[str, tuple[IdxFile, IdxFile]]:
    return {
        "train": (
            IdxFile("train-images-idx3-ubyte", (60000, 28, 28), train_images),
            IdxFile("train-labels-idx1-ubyte", (60000,), train_labels),
        ),
        "test": (
            IdxFile("t10k-images-idx3-ubyte", (10000, 28, 28), test_images),
            IdxFile("t10k-labels-idx1-ubyte", (10000,), test_labels),
        ),
    }


#: The dataset registry: name -> :class:`DatasetSpec`. :func:`load_dataset` and
#: :func:`~chainrule.datasets.download` look names up here.
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        splits=_mnist_like(
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
        mirrors=(
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
        ),
        bundled=True,
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        splits=_mnist_like(
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        get_hint=(
            "get it with `chainrule download fashion-mnist` (in Python: "
            "chainrule.datasets.download('fashion-mnist')), or on Debian/Ubuntu with "
            "`apt-get install dataset-fashion-mnist`"
        ),
    ),
}

# The bundled MNIST files (package data); a module attribute so tests can point it elsewhere.
_BUNDLED_DIR: Any = importlib.resources.files(__package__).joinpath("mnist")


def load_mnist(
    split: str = "train",
    *,
    dtype: DTypeLike = np.float32,
    flatten: bool = True,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a split of MNIST from the copy shipped inside the package (no network).

    Parameters
    ----------
    split : ``"train"`` (60000 examples) or ``"test"`` (10000 examples).
    dtype : dtype of the images: a float dtype (default float32) gives pixels scaled to
        ``[0, 1]`` (``pixel / 255``); ``np.uint8`` gives the raw 0-255 values.
    flatten : images of shape ``(N, 784)`` (default) or ``(N, 28, 28)``.
    cache : use (and fill) the decoded cache under :func:`cache_dir`; the cached train split
        loads several times faster than decompressing. An unwritable cache directory is
        skipped silently.

    Returns
    -------
    images : ndarray of shape (N, 784) or (N, 28, 28), dtype ``dtype``.
    labels : ndarray of shape (N,), int64, the digits 0-9.

    Raises
    ------
    DatasetError
        A bundled file fails its SHA-256 check or is malformed.
    ValueError
        Unknown ``split`` or unsupported ``dtype``.
    """
    return _load(DATASETS["mnist"], split, dtype, flatten, cache)


def load_fashion_mnist(
    split: str = "train",
    *,
    dtype: DTypeLike = np.float32,
    flatten: bool = True,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a split of Fashion-MNIST from disk; same parameters and returns as :func:`load_mnist`.

    Each file (``train-images-idx3-ubyte``, ..., plain or ``.gz``) is looked up, in order, in
    ``$CHAINRULE_DATA/fashion-mnist/``, ``$CHAINRULE_DATA/``, the user cache directory
    ``cache_dir() / "fashion-mnist"`` (where :func:`~chainrule.datasets.download` puts it), and
    ``/usr/share/datasets/fashion-mnist/`` (Debian's ``dataset-fashion-mnist`` package). Labels are
    0-9: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.

    Raises
    ------
    DatasetError
        A file is not found (the message says how to get it), fails its SHA-256 check, or is
        malformed.
    """
    return _load(DATASETS["fashion-mnist"], split, dtype, flatten, cache)


def load_dataset(
    name: str,
    split: str = "train",
    *,
    dtype: DTypeLike = np.float32,
    flatten: bool = True,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a registered dataset by name (``"mnist"`` or ``"fashion-mnist"``), as the CLI does.

    Same parameters and returns as :func:`load_mnist`.

    Raises
    ------
    ValueError
        Unknown ``name``; the message lists the valid names.
    """
    return _load(get_spec(name), split, dtype, flatten, cache)


def get_spec(name: str) -> DatasetSpec:
    """The registered :class:`DatasetSpec` called ``name``; ValueError listing valid names."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}"
        ) from None


def _load(
    spec: DatasetSpec, split: str, dtype: DTypeLike, flatten: bool, cache: bool
) -> tuple[np.ndarray, np.ndarray]:
    if split not in spec.splits:
        raise ValueError(
            f"unknown split {split!r} for {spec.name}; valid splits: {', '.join(spec.splits)}"
        )
    out_dtype = np.dtype(dtype)
    if out_dtype != np.uint8 and out_dtype.kind != "f":
        raise ValueError(f"dtype must be a float dtype or uint8, got dtype={out_dtype}")
    images_file, labels_file = spec.splits[split]
    images = _load_file(spec, images_file, cache)
    labels = _load_file(spec, labels_file, cache)
    n = images.shape[0]
    if labels.shape != (n,):
        raise DatasetError(f"{spec.title} {split}: {n} images but labels of shape {labels.shape}")
    if flatten:
        images = images.reshape(n, -1)
    if out_dtype != np.uint8:
        scaled = np.empty(images.shape, dtype=out_dtype)
        np.divide(images, 255, out=scaled, dtype=out_dtype)
        images = scaled
    return images, labels.astype(np.int64)


def _load_file(spec: DatasetSpec, f: IdxFile, cache: bool) -> np.ndarray:
    """The verified uint8 array of ``f``: from the cache if valid there, else from the source."""
    cached = _cache_path(spec, f) if cache else None
    if cached is not None:
        array = _read_cache(cached, f)
        if array is not None:
            return array
    source = _locate(spec, f)
    try:
        fh = source.open("rb")
    except OSError as e:  # a bundled file missing from a broken install, or unreadable
        raise DatasetError(f"{source}: cannot read the {spec.title} file: {e}") from e
    with fh:
        array = read_idx(fh, sha256=f.sha256)
    if array.dtype != np.uint8 or array.shape != f.shape:
        raise DatasetError(
            f"{source}: expected uint8 of shape {f.shape}, got {array.dtype} of shape {array.shape}"
        )
    if cached is not None:
        _write_cache(cached, array)
    return array


def _locate(spec: DatasetSpec, f: IdxFile) -> _Openable:
    """Where the source file of ``f`` is (a path, or a package resource)."""
    if spec.bundled:
        return _BUNDLED_DIR.joinpath(f"{f.name}.gz")
    dirs = search_dirs(spec)
    for directory in dirs:
        for candidate in (directory / f"{f.name}.gz", directory / f.name):
            if candidate.is_file():
                return candidate
    looked = ", ".join(str(d) for d in dirs)
    hint = f"; {spec.get_hint}" if spec.get_hint else ""
    raise DatasetError(
        f"{spec.title} file {f.name} (or {f.name}.gz) not found; looked in: {looked}{hint}"
    )


def search_dirs(spec: DatasetSpec) -> list[Path]:
    """The directories searched, in order, for the files of a non-bundled dataset."""
    dirs = []
    data = os.environ.get("CHAINRULE_DATA")
    if data:
        root = Path(data).expanduser()
        dirs += [root / spec.name, root]
    dirs.append(cache_dir() / spec.name)
    dirs += [Path(d) for d in spec.system_dirs]
    return dirs


def _cache_path(spec: DatasetSpec, f: IdxFile) -> Path:
    return cache_dir() / spec.name / f"{f.name}.{f.sha256[:16]}.npy"


def _read_cache(path: Path, f: IdxFile) -> np.ndarray | None:
    """The cached array of ``f`` if ``path`` holds exactly it, else None (never raises)."""
    try:
        with open(path, "rb") as fh:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_2_0(fh)
            else:
                return None
            if shape != f.shape or fortran_order or dtype != np.uint8:
                return None
            n = math.prod(shape)
            if os.fstat(fh.fileno()).st_size != fh.tell() + n:
                return None
            array = np.empty(shape, dtype=np.uint8)
            view = memoryview(array.reshape(-1))
            done = 0
            while done < n:
                got = fh.readinto(view[done:])
                if not got:
                    return None
                done += got
    except Exception:  # whatever is wrong with a cache file, the answer is to rebuild it
        return None
    digest = hashlib.sha256(f.header())
    digest.update(memoryview(array.reshape(-1)))
    return array if digest.hexdigest() == f.sha256 else None


def _write_cache(path: Path, array: np.ndarray) -> None:
    """Save ``array`` as a plain ``.npy`` at ``path``, atomically; skip an unwritable cache."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as fh:
            npy_format.write_array(fh, array, allow_pickle=False)
