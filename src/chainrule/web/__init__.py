"""The "draw a digit" web page: draw on a canvas, watch the network classify it.

>>> from chainrule import web
>>> web.serve("runs/2024-01-01-120000/model.npz")  # doctest: +SKIP

:func:`serve` runs the page on http://127.0.0.1:8000 (blocking); :func:`create_app` makes the
app for a network, to run under any ASGI server or a test client; :func:`model_info` collects
what the page shows about a model from its file and run directory. docs/web.md documents the
JSON API. Needs ``pip install 'chainrule[web]'``: the names load on first use, so importing this
package works without it and the first use says what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from chainrule.web.app import MAX_BODY_BYTES, create_app, model_info, serve

__all__ = ["MAX_BODY_BYTES", "create_app", "model_info", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from chainrule.web import app

        return getattr(app, name)
    raise AttributeError(f"module 'chainrule.web' has no attribute {name!r}")
