"""How every adapter turns its ``engine`` argument into a blocking and an awaitable view of one engine.

Adapters built from a URL (or from nothing: the embedded default store) share one engine per URL and options,
counted by reference. Each adapter holds a *lease* on it through its engine views: ``adapter.engine.close()``
gives the lease back, and so does the garbage collector when the adapter goes away (a finalizer). The last lease
returned closes the engine, its store and its archive lock files. Before this, every per-request
``LixChatMessageHistory(session_id)`` opened its own engine and never closed it: 200 requests leaked 200 file
descriptors, and at ``ulimit -n 256`` the 181st failed (issue 14, defect 4).
"""

from __future__ import annotations

import logging
import threading
import warnings
import weakref
from typing import Any

from ..config import default_store_url
from ..errors import ConfigError
from .core import EngineCore
from .engine import AsyncEngine, Engine

__all__ = ["EngineLease", "embedding_space", "resolve_engines", "shared_engine_count"]

logger = logging.getLogger(__name__)

# Reentrant: the garbage collector may run a lease's finalizer (which takes this lock) on a thread that already
# holds it, in the middle of opening an engine below; a plain Lock would deadlock that thread.
_lock = threading.RLock()
_shared: dict[tuple[Any, ...], _Entry] = {}


class _Entry:
    __slots__ = ("core", "key", "refs")

    def __init__(self, core: EngineCore, key: tuple[Any, ...] | None) -> None:
        self.core = core
        self.key = key
        self.refs = 0


def _drop(entry: _Entry) -> bool:
    """Count one lease out; whether it was the last (the entry is then no longer shared)."""
    with _lock:
        entry.refs -= 1
        last = entry.refs == 0
        if last and entry.key is not None and _shared.get(entry.key) is entry:
            del _shared[entry.key]
    return last


def _release(entry: _Entry) -> None:
    """Give back one lease; the last one closes the engine (runs at most once per lease, from any thread)."""
    if _drop(entry):
        try:
            entry.core.close()
        except Exception:  # a finalizer must not raise; the store is going away either way
            logger.warning("closing the engine of %s failed", entry.core.backend.url, exc_info=True)


class EngineLease:
    """One adapter's share of an engine built from a URL; returned by ``close()`` or when collected."""

    def __init__(self, entry: _Entry) -> None:
        """``entry.refs`` already counts this lease (taken under the lock where the entry was found)."""
        self._entry = entry
        self._finalizer = weakref.finalize(self, _release, entry)

    @property
    def released(self) -> bool:
        return not self._finalizer.alive

    def release(self) -> None:
        self._finalizer()  # idempotent: a finalizer runs at most once

    async def arelease(self) -> None:
        """``release`` from a coroutine: the last share closes the engine with ``aclose``, so the async clients
        of this event loop are closed there rather than dropped."""
        if self._finalizer.detach() is not None and _drop(self._entry):
            await self._entry.core.aclose()


def shared_engine_count() -> int:
    """Engines currently shared by adapters built from URLs (for tests and diagnostics)."""
    with _lock:
        return len(_shared)


def _share_key(url: str, options: dict[str, Any]) -> tuple[Any, ...] | None:
    """The key adapters share an engine under, or ``None`` when this one must get its own engine: a private
    in-memory store (``memory://`` without a name) is one store per engine, and options that cannot be
    compared (unhashable values) cannot prove two adapters asked for the same engine."""
    if url in ("memory://", "sqlite:///:memory:"):
        return None
    key = (url, tuple(sorted(options.items())))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _leased(url: str, options: dict[str, Any]) -> Engine:
    key = _share_key(url, options)
    with _lock:  # opening under the lock: two adapters of one URL must not both open it
        entry = _shared.get(key) if key is not None else None
        if entry is None or entry.core._closed:
            core = Engine(url, **options)._core
            entry = _Entry(core, key)
            if key is not None:
                _shared[key] = entry
        entry.refs += 1  # counted before anything else can allocate (and let a finalizer release it)
    return Engine._over(entry.core, EngineLease(entry))  # type: ignore[no-any-return]


def resolve_engines(
    engine: Engine | AsyncEngine | str | None, options: dict[str, Any]
) -> tuple[Engine, AsyncEngine]:
    """Every adapter's contract: ``engine=`` an engine to share, or ``url=`` (in ``options``, with the options of
    the engine built from it), or neither (the embedded default store).

    A URL string given as ``engine`` (positionally, as the adapters' first argument) still works for now, with a
    ``DeprecationWarning`` naming ``url=``: an argument that is sometimes an object and sometimes a string is how
    a typo'd URL ends up treated as an engine (issue 16)."""
    url = options.pop("url", None)
    if isinstance(engine, str):
        warnings.warn(
            f"passing a URL as engine ({_scheme(engine)}) is deprecated: pass url={_scheme(engine)!r} instead "
            "(engine= takes an Engine or AsyncEngine to share)",
            DeprecationWarning,
            stacklevel=3,
        )
        engine, url = (None, engine) if url is None else (engine, url)
    if url is not None and engine is not None:
        raise ConfigError("pass either engine= (an engine to share) or url= (a store to open), not both")
    if isinstance(engine, (Engine, AsyncEngine)):
        if options:
            raise ConfigError(
                f"engine options ({', '.join(sorted(options))}) cannot be applied to an existing engine; "
                "pass them to Engine(...) instead"
            )
        return (engine, engine.aio) if isinstance(engine, Engine) else (engine.sync, engine)
    if engine is None:
        if url is not None and not isinstance(url, str):
            raise ConfigError(f"url must be a string, got {type(url).__name__}")
        sync = _leased(url if url is not None else default_store_url(), options)
        return sync, sync.aio
    raise ConfigError(
        f"engine must be an Engine or an AsyncEngine, got {type(engine).__name__}; a store URL goes in url="
    )


def _scheme(url: str) -> str:
    """The URL's scheme only (``redis://...``): a URL may hold a password, never repeated in a warning."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://..." if sep else "..."


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
