"""``engine.node_cache``: blocking and awaitable access to the node-cache tier (LangGraph's ``BaseCache``).

Both views run the same flows of :class:`~lix_integrations.tiers.node_cache.NodeCacheTier`. A node cache only
saves work, so store failures follow the engine's ``fail_open`` setting (default on): a lookup becomes a miss and a
write is dropped, logged once per outage. Bad input (a NUL in a label, a negative TTL) always raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..tiers.namespaced import Path
from ..tiers.node_cache import FullKey, NodeCacheStats

if TYPE_CHECKING:
    from .core import EngineCore

__all__ = ["DEFAULT_CACHE", "AsyncNodeCacheAPI", "NodeCacheAPI"]

DEFAULT_CACHE = "langgraph"


class NodeCacheAPI:
    """Blocking node-cache operations; ``cache`` names one cache of the engine (caches never share entries)."""

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    def get(self, keys: Sequence[FullKey], *, cache: str = DEFAULT_CACHE) -> dict[FullKey, bytes]:
        return self._core.run_cache(self._core.node_cache.get(cache, keys), {})

    def set(
        self, entries: Mapping[FullKey, tuple[bytes, float | None]], *, cache: str = DEFAULT_CACHE
    ) -> None:
        """Store ``{(namespace, key): (value bytes, ttl seconds or None)}``."""
        self._core.run_cache(self._core.node_cache.set(cache, entries), None)

    def clear(self, namespaces: Sequence[Path] | None = None, *, cache: str = DEFAULT_CACHE) -> int:
        """Delete the given namespaces' entries (each exactly), or every entry of the cache."""
        return self._core.run_cache(self._core.node_cache.clear(cache, namespaces), 0)

    def stats(self) -> NodeCacheStats:
        return self._core.node_cache.counters.snapshot()


class AsyncNodeCacheAPI:
    """Awaitable node-cache operations; the same operations as :class:`NodeCacheAPI`."""

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    async def get(self, keys: Sequence[FullKey], *, cache: str = DEFAULT_CACHE) -> dict[FullKey, bytes]:
        return await self._core.arun_cache(self._core.node_cache.get(cache, keys), {})

    async def set(
        self, entries: Mapping[FullKey, tuple[bytes, float | None]], *, cache: str = DEFAULT_CACHE
    ) -> None:
        await self._core.arun_cache(self._core.node_cache.set(cache, entries), None)

    async def clear(self, namespaces: Sequence[Path] | None = None, *, cache: str = DEFAULT_CACHE) -> int:
        return await self._core.arun_cache(self._core.node_cache.clear(cache, namespaces), 0)

    def stats(self) -> NodeCacheStats:
        return self._core.node_cache.counters.snapshot()
