"""How every adapter turns its ``engine`` argument into a blocking and an awaitable view of one engine."""

from __future__ import annotations

import warnings
from typing import Any

from ..errors import ConfigError
from .engine import AsyncEngine, Engine

__all__ = ["embedding_space", "resolve_engines"]


def resolve_engines(
    engine: Engine | AsyncEngine | str | None, options: dict[str, Any]
) -> tuple[Engine, AsyncEngine]:
    """An engine to share, a URL (with options for the engine built from it), or ``None`` (default store)."""
    if isinstance(engine, (Engine, AsyncEngine)):
        if options:
            raise ConfigError(
                f"engine options ({', '.join(sorted(options))}) cannot be applied to an existing engine; "
                "pass them to Engine(...) instead"
            )
        return (engine, engine.aio) if isinstance(engine, Engine) else (engine.sync, engine)
    if engine is None or isinstance(engine, str):
        sync = Engine(engine, **options)
        return sync, sync.aio
    raise ConfigError(
        f"engine must be an Engine, an AsyncEngine, a URL string or None, got {type(engine).__name__}"
    )


def embedding_space(
    owner: str, engine: Engine | AsyncEngine | str | None, space: object, options: dict[str, Any]
) -> str:
    """The embedding space of an embedding adapter; ``namespace=`` in ``options`` is the engine's, as elsewhere.

    These adapters once took ``namespace=`` as the embedding *space* while the engine stayed in its own
    namespace. ``namespace=`` is now an engine option like on every adapter; given with an engine instance
    (which has its namespace already) it keeps its old meaning for now, with a ``DeprecationWarning``.
    """
    if "namespace" in options and isinstance(engine, (Engine, AsyncEngine)):
        legacy = options.pop("namespace")
        warnings.warn(
            f"{owner}(namespace=...) with an engine instance sets the embedding space; "
            f"pass space={legacy!r} instead (namespace= is the engine's namespace, set on Engine(...))",
            DeprecationWarning,
            stacklevel=3,
        )
        if space == "":
            space = legacy
    if not isinstance(space, str):
        raise ConfigError(f"space must be a string, got {space!r}")
    return space
