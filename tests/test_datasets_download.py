"""download(): mirrors, verification, fallback and atomicity, against local servers only.

Every server here listens on 127.0.0.1 on a port the OS picks; nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import importlib.resources
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.datasets import (
    DATASETS,
    DatasetError,
    DownloadError,
    IdxFile,
    download,
    load_fashion_mnist,
    read_idx,
    write_idx,
)

NAMES = [f.name for f in DATASETS["fashion-mnist"].files]  # train images, labels, test ...


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """A private cache; no proxy, so requests to 127.0.0.1 go straight there."""
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Register a small fake Fashion-MNIST; return its .gz files by name and its arrays."""
    rng = np.random.default_rng(3)
    files, arrays, specs = {}, {}, []
    source = tmp_path / "source"
    source.mkdir()
    for name in NAMES:
        n = 6 if name.startswith("train") else 4
        shape = (n, 28, 28) if "images" in name else (n,)
        array = rng.integers(0, 256 if "images" in name else 10, size=shape, dtype=np.uint8)
        write_idx(source / f"{name}.gz", array)
        files[f"{name}.gz"] = (source / f"{name}.gz").read_bytes()
        plain = gzip.decompress(files[f"{name}.gz"])
        arrays[name] = array
        specs.append(IdxFile(name, shape, hashlib.sha256(plain).hexdigest()))
    spec = dataclasses.replace(
        DATASETS["fashion-mnist"],
        splits={"train": (specs[0], specs[1]), "test": (specs[2], specs[3])},
        mirrors=("http://127.0.0.1:9/unused/",),
        system_dirs=(),
    )
    monkeypatch.setitem(DATASETS, "fashion-mnist", spec)
    return files, arrays


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the connection closes after each response

    def do_GET(self):  # noqa: N802 (the http.server API)
        server = self.server
        server.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        if server.mode == "404" or name not in server.files:
            self.send_error(404, "Not Found")
            return
        body = server.files[name]
        if server.mode == "corrupt":  # one flipped byte inside the deflate stream
            body = (
                body[: len(body) // 2]
                + bytes([body[len(body) // 2] ^ 0x55])
                + body[len(body) // 2 + 1 :]
            )
        elif server.mode == "wrong":  # a valid gzip of other contents
            body = gzip.compress(gzip.decompress(body)[:-1] + b"\xff")
        elif server.mode == "html":  # a lapsed domain, parked
            body = b"<!DOCTYPE html><html><body>This domain is for sale</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if server.mode == "truncate":  # promise more than is sent, then close
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """serve(mode, files) -> base URL of an HTTP server on 127.0.0.1; stopped after the test."""
    servers = []

    def start(mode: str, files: dict[str, bytes]) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.mode, server.files, server.requests = mode, files, []
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        start.servers[mode] = server
        return f"http://127.0.0.1:{server.server_address[1]}/data/"

    start.servers = {}
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held, stop = [], threading.Event()

    def accept():
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_download_from_a_good_mirror(fake, serve, tmp_path, monkeypatch):
    files, arrays = fake
    url = serve("good", files)
    seen = []
    target = download(
        "fashion-mnist", tmp_path / "d", mirrors=[url], progress=lambda *a: seen.append(a)
    )
    assert target == tmp_path / "d"
    assert files_in(target) == sorted(files)  # and no temporary file left over
    for name, body in files.items():
        assert (target / name).read_bytes() == body
        calls = [c for c in seen if c[0] == name]
        assert calls[0] == (name, 0, len(body)) and calls[-1] == (name, len(body), len(body))
        assert [c[1] for c in calls] == sorted(c[1] for c in calls)
    monkeypatch.setenv("CHAINRULE_DATA", str(target))
    images, labels = load_fashion_mnist("test", dtype=np.uint8, flatten=False)
    np.testing.assert_array_equal(images, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(labels, arrays["t10k-labels-idx1-ubyte"])


def test_default_directory_is_where_the_loader_looks(fake, serve):
    files, arrays = fake
    target = download("fashion-mnist", mirrors=[serve("good", files)])
    assert target.parent.name == "cache" and target.name == "fashion-mnist"
    _, labels = load_fashion_mnist("train")
    np.testing.assert_array_equal(labels, arrays["train-labels-idx1-ubyte"])


def test_files_already_there_are_not_fetched_again(fake, serve, tmp_path):
    files, _ = fake
    url = serve("good", files)
    download("fashion-mnist", tmp_path / "d", mirrors=[url])
    assert len(serve.servers["good"].requests) == 4
    download("fashion-mnist", tmp_path / "d", mirrors=[url])
    assert len(serve.servers["good"].requests) == 4  # all there and valid: nothing fetched
    bad = tmp_path / "d" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(b"half a download")
    download("fashion-mnist", tmp_path / "d", mirrors=[url])
    assert serve.servers["good"].requests[4:] == ["/data/t10k-labels-idx1-ubyte.gz"]
    assert bad.read_bytes() == files[bad.name]  # the bad file was replaced


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("404", "HTTP 404 Not Found"),
        ("corrupt", "downloaded data: gzip error"),
        ("wrong", "downloaded data: SHA-256 mismatch"),
        ("html", "downloaded data: bad magic number"),
        ("truncate", "truncated response: received"),
    ],
)
def test_a_bad_mirror_fails_cleanly(fake, serve, tmp_path, mode, reason):
    files, _ = fake
    url = serve(mode, files)
    seen = []
    with pytest.raises(DownloadError) as info:
        download("fashion-mnist", tmp_path / "d", mirrors=[url], progress=lambda *a: seen.append(a))
    first = url + "train-images-idx3-ubyte.gz"
    assert info.value.failures == [(first, info.value.failures[0][1])]
    assert reason in info.value.failures[0][1]
    assert f"{first}: {reason}" in str(info.value)
    assert isinstance(info.value, DatasetError) and isinstance(info.value, ValueError)
    assert files_in(tmp_path / "d") == []  # no partial file, no temporary file
    if mode == "truncate":
        assert seen and seen[-1][1] < seen[-1][2]  # bytes did arrive, then stopped short


def test_a_silent_mirror_times_out(fake, silent_server, tmp_path):
    start = time.monotonic()
    with pytest.raises(DownloadError, match="timed out") as info:
        download("fashion-mnist", tmp_path / "d", mirrors=[silent_server], timeout=0.5)
    assert time.monotonic() - start < 5
    assert len(info.value.failures) == 1
    assert files_in(tmp_path / "d") == []


def test_falls_back_to_the_next_mirror(fake, serve, tmp_path):
    files, _ = fake
    mirrors = [serve("html", files), serve("404", files), serve("wrong", files)]
    mirrors.append(serve("good", files))
    target = download("fashion-mnist", tmp_path / "d", mirrors=mirrors, timeout=5)
    assert files_in(target) == sorted(files)
    for name, body in files.items():
        assert (target / name).read_bytes() == body
    for mode in ("html", "404", "wrong", "good"):
        assert len(serve.servers[mode].requests) == 4  # every file tried on every bad mirror


def test_every_mirror_listed_when_all_fail(fake, serve, silent_server, tmp_path):
    files, _ = fake
    mirrors = [serve("404", files), silent_server, serve("truncate", files)]
    with pytest.raises(DownloadError) as info:
        download("fashion-mnist", tmp_path / "d", mirrors=mirrors, timeout=0.5)
    reasons = [why for _, why in info.value.failures]
    assert [url for url, _ in info.value.failures] == [
        m + "train-images-idx3-ubyte.gz" for m in mirrors
    ]
    assert "HTTP 404" in reasons[0] and "timed out" in reasons[1] and "truncated" in reasons[2]
    message = str(info.value)
    assert "fashion-mnist file train-images-idx3-ubyte.gz" in message
    assert all(m in message for m in mirrors)


def test_unreachable_mirror(fake, tmp_path):
    """A port nothing listens on: connection refused, reported as such."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(DownloadError, match="cannot connect"):
        download("fashion-mnist", tmp_path / "d", mirrors=[f"http://127.0.0.1:{port}"], timeout=2)


def test_real_mnist_files_with_the_real_checksums(serve, tmp_path):
    bundled = importlib.resources.files("chainrule.datasets").joinpath("mnist")
    files = {
        f"{f.name}.gz": bundled.joinpath(f"{f.name}.gz").read_bytes()
        for f in DATASETS["mnist"].files
    }
    target = download("mnist", tmp_path, mirrors=[serve("good", files)])
    assert files_in(target) == sorted(files)
    labels = read_idx(target / "t10k-labels-idx1-ubyte.gz")
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_rejects_a_wrong_file(serve, tmp_path):
    bundled = importlib.resources.files("chainrule.datasets").joinpath("mnist")
    labels = bundled.joinpath("train-labels-idx1-ubyte.gz").read_bytes()
    files = {"train-images-idx3-ubyte.gz": labels}  # a valid IDX file, but not this one
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        download("mnist", tmp_path, mirrors=[serve("good", files)])
    assert files_in(tmp_path) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="valid names: fashion-mnist, mnist"):
        download("imagenet", tmp_path)
    with pytest.raises(ValueError, match="no mirrors"):
        download("mnist", tmp_path, mirrors=[])


def test_default_mirrors_are_the_published_ones():
    assert DATASETS["mnist"].mirrors == (
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    )
    assert DATASETS["fashion-mnist"].mirrors == (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    )
