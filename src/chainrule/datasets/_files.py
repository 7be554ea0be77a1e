"""File helpers shared by the datasets modules: the user cache directory and atomic writes."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["cache_dir", "atomic_write"]


def cache_dir() -> Path:
    """The user cache directory of chainrule (it may not exist yet).

    ``$CHAINRULE_CACHE`` if set and non-empty, else ``$XDG_CACHE_HOME/chainrule`` (if that is an
    absolute path, as the XDG spec asks), else ``~/.cache/chainrule``. Read on every call, so a
    test or a user can redirect it with the environment variable.
    """
    own = os.environ.get("CHAINRULE_CACHE")
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "chainrule"
    return Path.home() / ".cache" / "chainrule"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for writing; on success make it ``path`` at once.

    The temporary file lives in the target directory (so ``os.replace`` is a rename on one file
    system), is flushed and fsynced, then renamed over ``path``. If the ``with`` body raises,
    the temporary file is removed and ``path`` is left as it was: a reader never sees a
    half-written file under the final name. The file gets the usual ``0o666 & ~umask`` mode;
    its ``name`` attribute is the temporary path (to re-read what was written before it counts).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    f = open(tmp, "xb")  # O_CREAT | O_EXCL; closed below, before the rename
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


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
