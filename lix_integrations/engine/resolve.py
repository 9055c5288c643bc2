"""How every adapter turns its ``engine`` argument into a blocking and an awaitable view of one engine."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .engine import AsyncEngine, Engine

__all__ = ["resolve_engines"]


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
