"""Bundled MNIST, the decoded cache, Fashion-MNIST lookup, and the dataset registry."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.resources
from pathlib import Path

import numpy as np
import pytest

import chainrule.datasets as ds
from chainrule.datasets import (
    DATASETS,
    DatasetError,
    IdxFile,
    cache_dir,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    write_idx,
)
from chainrule.datasets import mnist as mnist_module

# Published label counts of MNIST (digits 0-9), from the MNIST README.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
BUNDLED = importlib.resources.files("chainrule.datasets").joinpath("mnist")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache directory and no data directory."""
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    """Both splits, loaded once for the module (through a module-private cache)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHAINRULE_CACHE", str(tmp_path_factory.mktemp("cache")))
        loaded = {split: load_mnist(split) for split in ("train", "test")}
        loaded["train-uint8"] = load_mnist("train", dtype=np.uint8)  # from that cache
        return loaded


@pytest.fixture
def count_reads(monkeypatch):
    """Count the reads of source IDX files (a cache hit reads none)."""
    calls = []

    def counting_read_idx(source, **kwargs):
        calls.append(getattr(source, "name", source))
        return read_idx(source, **kwargs)

    monkeypatch.setattr(mnist_module, "read_idx", counting_read_idx)
    return calls


# --- bundled MNIST


@pytest.mark.parametrize(("split", "n"), [("train", 60000), ("test", 10000)])
def test_shapes_and_dtypes(mnist, split, n):
    images, labels = mnist[split]
    assert images.shape == (n, 784) and images.dtype == np.float32
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert images.flags.writeable and images.flags.c_contiguous


@pytest.mark.parametrize("split", ["train", "test"])
def test_pixels_are_in_the_unit_interval(mnist, split):
    images, _ = mnist[split]
    assert images.min() == 0.0 and images.max() == 1.0


@pytest.mark.parametrize(("split", "counts"), [("train", TRAIN_COUNTS), ("test", TEST_COUNTS)])
def test_published_label_counts(mnist, split, counts):
    _, labels = mnist[split]
    assert np.bincount(labels, minlength=10).tolist() == counts


def test_published_pixel_statistics(mnist):
    raw, labels = mnist["train-uint8"]
    np.testing.assert_array_equal(labels, mnist["train"][1])
    mean = raw.mean(dtype=np.float64) / 255
    square = sum(float(np.square(part, dtype=np.float64).sum()) for part in np.array_split(raw, 20))
    std = np.sqrt(square / raw.size / 255**2 - mean**2)
    assert mean == pytest.approx(0.1307, abs=5e-5)
    assert std == pytest.approx(0.3081, abs=5e-5)


def test_floats_are_the_bytes_over_255(mnist):
    raw, _ = mnist["train-uint8"]
    assert raw.shape == (60000, 784) and raw.dtype == np.uint8
    images, _ = mnist["train"]
    for rows in (slice(0, 100), slice(59900, 60000)):
        np.testing.assert_array_equal(images[rows], raw[rows].astype(np.float32) / 255)


def test_uint8_unflattened_and_float64_agree_with_the_default(mnist):
    images, labels = mnist["test"]
    raw, raw_labels = load_mnist("test", dtype=np.uint8, flatten=False)
    assert raw.shape == (10000, 28, 28) and raw.dtype == np.uint8
    np.testing.assert_array_equal(raw_labels, labels)
    np.testing.assert_array_equal(raw.reshape(10000, 784).astype(np.float32) / 255, images)
    wide, _ = load_mnist("test", dtype=np.float64)
    assert wide.dtype == np.float64
    np.testing.assert_array_equal(wide, raw.reshape(10000, 784) / 255.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="valid splits: train, test"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="dtype=int32"):
        load_mnist("test", dtype=np.int32)


def test_package_ships_the_four_files_with_the_published_checksums():
    for f in DATASETS["mnist"].files:
        resource = BUNDLED.joinpath(f"{f.name}.gz")
        assert resource.is_file(), f.name
        digest = hashlib.sha256(gzip.decompress(resource.read_bytes())).hexdigest()
        assert digest == f.sha256
        assert len(gzip.decompress(resource.read_bytes())) == f.nbytes


def test_package_ships_the_notice_with_checksums_counts_and_license():
    """The data's README travels with it: the credit its license asks for, and the same
    checksums and label counts the loader checks."""
    notice = BUNDLED.joinpath("README.md").read_text()
    assert "Creative Commons" in notice and "LeCun" in notice
    for f in DATASETS["mnist"].files:
        assert f"| {f.name}.gz |" in notice and f.sha256 in notice
    for split in ("train", "test"):
        counts = np.bincount(load_mnist(split)[1], minlength=10)
        assert f"Label counts, {split}: " + " ".join(map(str, counts)) in notice


def copy_bundled(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for f in DATASETS["mnist"].files:
        (directory / f"{f.name}.gz").write_bytes(BUNDLED.joinpath(f"{f.name}.gz").read_bytes())
    return directory


@pytest.mark.parametrize("cache", [False, True])
def test_a_corrupted_copy_is_rejected(tmp_path, monkeypatch, private_cache, cache):
    """One label changed, gzip still valid: only the SHA-256 of the contents can tell."""
    copy = copy_bundled(tmp_path / "copy")
    labels = read_idx(copy / "t10k-labels-idx1-ubyte.gz")
    labels[123] = (labels[123] + 1) % 10
    write_idx(copy / "t10k-labels-idx1-ubyte.gz", labels)
    monkeypatch.setattr(mnist_module, "_BUNDLED_DIR", copy)
    with pytest.raises(DatasetError, match="SHA-256 mismatch") as info:
        load_mnist("test", cache=cache)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)
    assert not list(private_cache.glob("mnist/t10k-labels*"))  # nothing bad was cached


# --- the decoded cache


def cache_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "mnist").iterdir())


def test_cache_hit_reads_no_source(mnist, private_cache, count_reads):
    first = load_mnist("test")
    assert len(count_reads) == 2  # images and labels, from the package
    assert cache_files(private_cache) == [
        "t10k-images-idx3-ubyte.0fa7898d509279e4.npy",
        "t10k-labels-idx1-ubyte.ff7bcfd416de3373.npy",
    ]
    second = load_mnist("test")
    assert len(count_reads) == 2  # nothing more read: both came from the cache
    for a, b, c in zip(first, second, mnist["test"]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)
    cached = np.load(private_cache / "mnist" / cache_files(private_cache)[0], allow_pickle=False)
    assert cached.shape == (10000, 28, 28) and cached.dtype == np.uint8


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "flipped-pixel": _flip_last_byte,
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:-100]),
    "extended": lambda p: p.write_bytes(p.read_bytes() + b"\0"),
    "empty": lambda p: p.write_bytes(b""),
    "not-npy": lambda p: p.write_bytes(b"hello"),
    "bad-header": lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{not a dict}    \n"),
    "wrong-shape": lambda p: np.save(p, np.zeros((10000, 784), np.uint8)),
    "wrong-dtype": lambda p: np.save(p, np.zeros((10000, 28, 28), np.int16)),
    "fortran-order": lambda p: np.save(p, np.asfortranarray(read_cached_images(p))),
    "directory": lambda p: (p.unlink(), p.mkdir()),
}


def read_cached_images(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_a_bad_cache_is_rebuilt(mnist, private_cache, count_reads, corrupt):
    load_mnist("test")
    images_cache = private_cache / "mnist" / "t10k-images-idx3-ubyte.0fa7898d509279e4.npy"
    CORRUPTIONS[corrupt](images_cache)
    count_reads.clear()
    images, labels = load_mnist("test")
    np.testing.assert_array_equal(images, mnist["test"][0])
    np.testing.assert_array_equal(labels, mnist["test"][1])
    assert [Path(n).name for n in count_reads] == ["t10k-images-idx3-ubyte.gz"]  # rebuilt
    if corrupt != "directory":  # a directory in the way cannot be replaced: just not cached
        count_reads.clear()
        load_mnist("test")
        assert count_reads == []  # the rebuilt cache is trusted again


def test_cache_false_writes_nothing(private_cache, count_reads):
    load_mnist("test", cache=False)
    load_mnist("test", cache=False)
    assert len(count_reads) == 4
    assert not private_cache.exists()


def test_an_unwritable_cache_is_skipped(tmp_path, monkeypatch, mnist):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("CHAINRULE_CACHE", str(blocker / "cache"))
    images, _ = load_mnist("test")
    np.testing.assert_array_equal(images, mnist["test"][0])
    assert blocker.read_text() == "not a directory"


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "own"
    monkeypatch.delenv("CHAINRULE_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "chainrule"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, per XDG
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "chainrule"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "chainrule"


# --- Fashion-MNIST (a small fake with its own checksums: the real one is not shipped)


def fake_splits(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        split: (
            rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, size=n, dtype=np.uint8),
        )
        for split, n in (("train", 12), ("test", 5))
    }


def idx_sha256(array: np.ndarray, tmp: Path) -> str:
    write_idx(tmp, array)
    return hashlib.sha256(tmp.read_bytes()).hexdigest()


@pytest.fixture
def fake_fashion(tmp_path, monkeypatch):
    """Register a small fake Fashion-MNIST; return its arrays and a writer of its files."""
    data = fake_splits(np.random.default_rng(7))
    real = DATASETS["fashion-mnist"]
    splits = {}
    for split, (real_images, real_labels) in real.splits.items():
        images, labels = data[split]
        splits[split] = (
            IdxFile(real_images.name, images.shape, idx_sha256(images, tmp_path / "i")),
            IdxFile(real_labels.name, labels.shape, idx_sha256(labels, tmp_path / "l")),
        )
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    spec = dataclasses.replace(real, splits=splits, system_dirs=(str(system),))
    monkeypatch.setitem(DATASETS, "fashion-mnist", spec)

    def write(directory: Path, gz: bool = True) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for split, files in splits.items():
            for f, array in zip(files, data[split]):
                write_idx(directory / (f"{f.name}.gz" if gz else f.name), array)
        return directory

    return data, write, system


def assert_fake_loads(data, split="train"):
    images, labels = load_fashion_mnist(split)
    expected_images, expected_labels = data[split]
    n = len(expected_labels)
    assert images.shape == (n, 784) and images.dtype == np.float32
    np.testing.assert_array_equal(images, expected_images.reshape(n, 784) / np.float32(255))
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, expected_labels)


def test_fashion_not_found_says_how_to_get_it(fake_fashion):
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist("train")
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "not found" in message
    assert "chainrule download fashion-mnist" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(fake_fashion[2]) in message  # the directories it looked in


def test_fashion_from_chainrule_data(fake_fashion, tmp_path, monkeypatch):
    data, write, _ = fake_fashion
    write(tmp_path / "data" / "fashion-mnist")
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "data"))
    assert_fake_loads(data, "train")
    assert_fake_loads(data, "test")


def test_fashion_directly_in_chainrule_data(fake_fashion, tmp_path, monkeypatch):
    data, write, _ = fake_fashion
    monkeypatch.setenv("CHAINRULE_DATA", str(write(tmp_path / "flat")))
    assert_fake_loads(data)


def test_fashion_from_the_cache_dir(fake_fashion, private_cache):
    data, write, _ = fake_fashion
    write(private_cache / "fashion-mnist")
    assert_fake_loads(data, "test")


def test_fashion_from_the_system_dir_uncompressed(fake_fashion):
    data, write, system = fake_fashion
    write(system, gz=False)
    assert_fake_loads(data)
    assert_fake_loads(data)  # second time from the decoded cache


def test_fashion_first_found_is_used_and_checked(fake_fashion, tmp_path, monkeypatch):
    """A corrupt copy earlier in the search order is reported, not skipped silently."""
    _, write, system = fake_fashion
    write(system)
    first = write(tmp_path / "data" / "fashion-mnist")
    _flip_last_byte_gz(first / "train-labels-idx1-ubyte.gz")
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "data"))
    with pytest.raises(DatasetError, match="SHA-256 mismatch") as info:
        load_fashion_mnist("train")
    assert str(first / "train-labels-idx1-ubyte.gz") in str(info.value)


def _flip_last_byte_gz(path: Path) -> None:
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[-1] ^= 0x01
    path.write_bytes(gzip.compress(bytes(data)))


def test_fashion_spec_is_the_published_one():
    spec = DATASETS["fashion-mnist"]
    assert spec.splits["train"][0].sha256 == (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    )
    assert [f.shape for f in spec.files] == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    assert "/usr/share/datasets/fashion-mnist" in spec.system_dirs


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_real_fashion_mnist_from_debian():
    images, labels = load_fashion_mnist("test")
    assert images.shape == (10000, 784) and images.dtype == np.float32
    assert np.bincount(labels).tolist() == [1000] * 10


# --- the registry


def test_load_dataset_by_name(mnist, fake_fashion, private_cache):
    images, labels = load_dataset("mnist", "test")
    np.testing.assert_array_equal(images, mnist["test"][0])
    np.testing.assert_array_equal(labels, mnist["test"][1])
    data, write, _ = fake_fashion
    write(private_cache / "fashion-mnist")
    images, labels = load_dataset("fashion-mnist", "test", dtype=np.uint8, flatten=False)
    np.testing.assert_array_equal(images, data["test"][0])


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(
        ValueError, match="unknown dataset 'cifar10'; valid names: fashion-mnist, mnist"
    ):
        load_dataset("cifar10")


def test_public_names():
    for name in ds.__all__:
        assert hasattr(ds, name), name
    assert issubclass(ds.DatasetError, ValueError)
    assert issubclass(ds.DownloadError, ds.DatasetError)
