"""Download a registered dataset from its public mirrors, verified and atomically.

Standard library only (``urllib``). The library prints nothing: progress goes to an optional
callback, failures to a :class:`~chainrule.datasets.DownloadError` that lists every mirror tried
and why it failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from chainrule.datasets._files import atomic_write, cache_dir
from chainrule.datasets.errors import DatasetError, DownloadError
from chainrule.datasets.idx import _read_stream
from chainrule.datasets.mnist import IdxFile, get_spec

if TYPE_CHECKING:
    import http.client

# urllib and http.client (with ssl and email) are imported by download() itself, not with
# chainrule: ~30 ms of every start of the command line

__all__ = ["download", "ProgressCallback"]

#: ``progress(filename, bytes_done, bytes_total_or_None)``, called as bytes arrive.
ProgressCallback = Callable[[str, int, int | None], None]

_CHUNK = 1 << 16


def download(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    mirrors: Iterable[str] | None = None,
    timeout: float = 30,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download the files of dataset ``name`` into ``data_dir``; return that directory.

    Each file (``train-images-idx3-ubyte.gz``, ...) is fetched from the first mirror that
    delivers it intact: an HTTP error, a timeout, a body shorter than its Content-Length, or
    data whose decompressed SHA-256 is not the published value (a lapsed mirror domain may
    answer 200 with an HTML page) counts as that mirror failing, and the next one is tried.
    The body is streamed to a temporary file in ``data_dir``, verified, then renamed into
    place, so an interrupted or bad download never leaves a file that looks complete. Files
    already present and valid (``.gz`` or plain) are not downloaded again.

    Parameters
    ----------
    name : a registered dataset, ``"mnist"`` or ``"fashion-mnist"``.
    data_dir : target directory, created if needed; default ``cache_dir() / name``, where
        :func:`~chainrule.datasets.load_fashion_mnist` looks.
    mirrors : base URLs to try in order (the file name is appended); default: the dataset's
        public mirrors.
    timeout : seconds to wait for a connection or for each read from the server.
    progress : optional ``progress(filename, bytes_done, bytes_total_or_None)`` called as bytes
        arrive (``bytes_total`` is the Content-Length, or None when the server sends none).

    Raises
    ------
    DownloadError
        Every mirror failed for some file; ``.failures`` holds the ``(url, reason)`` pairs.
    ValueError
        Unknown ``name`` (the message lists the valid names) or no mirrors.
    """
    import http.client
    import urllib.error

    spec = get_spec(name)
    target = Path(data_dir) if data_dir is not None else cache_dir() / spec.name
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    chosen = spec.mirrors if mirrors is None else mirrors
    bases = [m if m.endswith("/") else m + "/" for m in chosen]
    if not bases:
        raise ValueError(f"no mirrors to download {spec.name} from")
    target.mkdir(parents=True, exist_ok=True)
    for f in spec.files:
        if _present(target, f):
            continue
        filename = f"{f.name}.gz"
        failures: list[tuple[str, str]] = []
        for base in bases:
            url = base + filename
            try:
                _fetch(url, target / filename, f, timeout, progress)
                break
            except (OSError, http.client.HTTPException, ValueError, EOFError) as e:
                failures.append((url, _reason(e, timeout)))
                if isinstance(e, urllib.error.HTTPError):
                    e.close()
        else:
            lines = "\n".join(f"  {url}: {why}" for url, why in failures)
            raise DownloadError(
                f"could not download {spec.name} file {filename} into {target} from any "
                f"mirror:\n{lines}",
                failures,
            )
    return target


def _present(directory: Path, f: IdxFile) -> bool:
    """Whether a valid copy of ``f`` (``.gz`` or plain) is already in ``directory``."""
    for candidate in (directory / f"{f.name}.gz", directory / f.name):
        if candidate.is_file():
            try:
                with open(candidate, "rb") as fh:
                    _read_stream(fh, str(candidate), f.sha256)
                return True
            except (DatasetError, OSError):
                continue
    return False


def _fetch(
    url: str, dest: Path, f: IdxFile, timeout: float, progress: ProgressCallback | None
) -> None:
    """Stream ``url`` to a temporary file beside ``dest``, verify it, rename it to ``dest``."""
    import urllib.request

    limit = f.nbytes + f.nbytes // 64 + 4096  # gzip never grows data by more than this
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(dest) as out:
        total = _content_length(response)
        if total is not None and total > limit:
            raise DatasetError(f"Content-Length {total} is larger than the file can be ({limit})")
        done = 0
        if progress is not None:
            progress(dest.name, 0, total)
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            done += len(chunk)
            if done > limit:
                raise DatasetError(f"response is larger than the file can be ({limit} bytes)")
            out.write(chunk)
            if progress is not None:
                progress(dest.name, done, total)
        if total is not None and done != total:
            raise DatasetError(f"truncated response: received {done} of {total} bytes")
        out.flush()
        with open(out.name, "rb") as fh:
            _read_stream(fh, "downloaded data", f.sha256)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _reason(error: BaseException, timeout: float) -> str:
    """A one-line reason for a mirror failure."""
    import http.client
    import urllib.error

    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, TimeoutError):
            return f"cannot connect: {error.reason}"
        error = error.reason
    if isinstance(error, TimeoutError):
        return f"timed out (no answer within {timeout} s)"
    if isinstance(error, http.client.HTTPException):
        return f"broken HTTP response: {type(error).__name__}: {error}"
    return str(error) or type(error).__name__
