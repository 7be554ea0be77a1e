"""Atomic file writes: a temporary file in the same directory, fsync, then rename.

A reader sees either the old file or the complete new one, never a partial write; if the
writer fails, the temporary file is removed and the old file is untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_writer", "atomic_write_bytes"]


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for writing; on success make it ``path`` at once.

    The temporary file lives in the target directory (so ``os.replace`` is a rename on one file
    system), is flushed and fsynced, then renamed over ``path``. If the ``with`` body raises,
    the temporary file is removed and ``path`` is left as it was: a reader never sees a
    half-written file under the final name. The file gets the usual ``0o666 & ~umask`` mode;
    its ``name`` attribute is the temporary path (to re-read what was written before it counts).
    """
    name = os.fspath(path)
    target = Path(path)
    if target.name in ("", "..") or name.endswith(("/", os.sep)):  # Path() drops a final "/"
        raise IsADirectoryError(f"cannot write {name!r}: it names a directory, not a file")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    if not target.parent.is_dir():  # else open() would name the temporary file
        raise FileNotFoundError(f"cannot write {target}: no directory {target.parent}")
    try:
        f = open(tmp, "xb")  # O_CREAT | O_EXCL; closed below, before the rename
    except OSError as exc:
        raise _naming(exc, target) from None
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # a full disk, no permission: say which file
            raise _naming(exc, target) from None
        raise
    _fsync_dir(target.parent)


def _naming(exc: OSError, target: Path) -> OSError:
    """The same kind of error, naming the file being written instead of its temporary file."""
    if exc.errno is None:
        return OSError(f"cannot write {target}: {exc}")
    return type(exc)(exc.errno, f"cannot write {target}: {exc.strerror}")


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable, where the platform allows it (best effort)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_writer(path) as fh:
        fh.write(data)
