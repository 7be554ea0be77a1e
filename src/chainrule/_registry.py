"""Name tables: one lookup for activations, losses, optimizers and schedules.

A spec is a name (``"relu"``), a config dict (``{"name": "leaky_relu", "slope": 0.2}``) or an
instance (handled by the caller). An unknown name raises ``ValueError`` listing the valid ones.
"""

from __future__ import annotations

import inspect

__all__ = ["build"]


def build(
    kind: str,
    spec,
    table: dict,
    aliases: dict | None = None,
    instance_name: str = "",
    **settings,
):
    """An instance of ``table[name]`` built from a name or config dict plus ``settings``."""
    if isinstance(spec, dict):
        options = dict(spec)
        name = options.pop("name", None)
    elif isinstance(spec, str):
        name, options = spec, {}
    else:
        article = "an" if instance_name[:1] in "AEIOU" else "a"
        raise ValueError(
            f"{kind} must be a name, a config dict or {article} {instance_name}, "
            f"got {type(spec).__name__}"
        )
    key = str(name).lower().replace("-", "_")
    key = (aliases or {}).get(key, key)
    if key not in table:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(sorted(table))}")
    options.update(settings)
    try:
        return table[key](**options)
    except TypeError as exc:
        known = inspect.signature(table[key]).parameters
        unknown = [k for k in options if k not in known]
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in known.values()):
            raise ValueError(
                f"{kind} {key!r} has no setting {', '.join(map(repr, unknown))}; its settings: "
                f"{', '.join(known) or 'none'}"
            ) from None
        raise ValueError(f"bad settings for {kind} {key!r}: {options} ({exc})") from exc
