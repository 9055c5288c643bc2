"""``engine.node_cache``: blocking and awaitable access to the node-cache tier (LangGraph's ``BaseCache``).

Each operation is written once (see `views`) over the flows of
`NodeCacheTier`. A node cache only saves work, so store failures follow
the engine's ``fail_open`` setting (default on): a lookup becomes a miss and a write is dropped, logged once per
outage. Bad input (a NUL in a label, a negative TTL) always raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..kernel.flows import Flow
from ..tiers.namespaced import Path
from ..tiers.node_cache import FullKey, NodeCacheStats
from .views import Awaiting, Blocking, View, runs_cache

__all__ = ["DEFAULT_CACHE", "AsyncNodeCacheAPI", "NodeCacheAPI"]

DEFAULT_CACHE = "langgraph"


class _NodeCache(View):
    """Node-cache operations; ``cache`` names one cache of the engine (caches never share entries)."""

    @runs_cache(dict)
    def get(self, keys: Sequence[FullKey], *, cache: str = DEFAULT_CACHE) -> Flow[dict[FullKey, bytes]]:
        return self._core.node_cache.get(cache, keys)

    @runs_cache(lambda: None)
    def set(
        self, entries: Mapping[FullKey, tuple[bytes, float | None]], *, cache: str = DEFAULT_CACHE
    ) -> Flow[None]:
        """Store ``{(namespace, key): (value bytes, ttl seconds or None)}``."""
        return self._core.node_cache.set(cache, entries)

    @runs_cache(int)
    def clear(self, namespaces: Sequence[Path] | None = None, *, cache: str = DEFAULT_CACHE) -> Flow[int]:
        """Delete the given namespaces' entries (each exactly), or every entry of the cache."""
        return self._core.node_cache.clear(cache, namespaces)

    def stats(self) -> NodeCacheStats:
        return self._core.node_cache.counters.snapshot()  # type: ignore[no-any-return]


class NodeCacheAPI(_NodeCache, Blocking):
    """Blocking node-cache operations."""


class AsyncNodeCacheAPI(_NodeCache, Awaiting):
    """Awaitable node-cache operations; the same operations as `NodeCacheAPI`."""
