"""File helpers shared by the datasets modules: the user cache directory and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

# atomic writes live in chainrule._atomic, shared with model files, plots and exports
from chainrule._atomic import atomic_writer as atomic_write

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
