"""``LixNodeCache``: LangGraph's node cache (``graph.compile(cache=...)``) on the lix engine.

A node with a ``CachePolicy`` runs once per distinct input; later invocations (in this process or, with a SQLite
or Redis URL, any other) take its writes from the cache. The adapter only translates: LangGraph's serializer turns
the node's writes into bytes and back, and `NodeCacheAPI` stores,
expires (the policy's ``ttl``, on the engine's clock) and clears them.

Serialization never unpickles: the default serializer is LangGraph's ``JsonPlusSerializer`` without the pickle
fallback and with strict msgpack (only LangGraph's allow-listed types, LangChain messages among them, are
revived; a type outside the allow-list is refused, see `_serde`). An entry the serializer cannot read back
(written by another serializer, tampered with, or naming a type outside the allow-list) is a miss, logged, never
an error and never executed.

Namespaces may contain ``:`` (LangGraph's node identifiers do, e.g. ``module:function``), unlike LangGraph's
Redis cache, which splits keys on it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.cache.base import BaseCache, FullKey, Namespace, ValueT
from langgraph.checkpoint.serde.base import SerializerProtocol

from ..engine.engine import AsyncEngine, Engine
from ..engine.node_cache_api import DEFAULT_CACHE
from ..engine.resolve import resolve_engines
from ..errors import SerializationError
from ._serde import strict_serializer

__all__ = ["LixNodeCache"]

logger = logging.getLogger(__name__)

_SEP = b"\x00"
_REFUSED = frozenset({"pickle"})


class LixNodeCache(BaseCache[ValueT]):
    """LangGraph ``BaseCache`` kept in a lix engine.

    ``engine`` is an `Engine` / `AsyncEngine` to share, a URL
    (``memory://``, ``sqlite:///path``, ``redis://...``, ``valkey://...``, ``redis+cluster://...``) or ``None``
    for the embedded default store; ``engine_options`` configure an engine built from a URL. ``name`` separates
    caches sharing one engine. ``serde`` replaces the serializer (its typed output must not be pickle).
    """

    def __init__(
        self,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        name: str = DEFAULT_CACHE,
        serde: SerializerProtocol | None = None,
        **engine_options: Any,
    ) -> None:
        super().__init__(serde=serde or strict_serializer())
        self._engine, self._aengine = resolve_engines(engine, engine_options)
        self._owns_engine = not isinstance(engine, (Engine, AsyncEngine))
        self._name = name

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- translation ---------------------------------------------------------------------------------------

    def _encode(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> dict[FullKey, tuple[bytes, Any]]:
        out: dict[FullKey, tuple[bytes, Any]] = {}
        for (namespace, key), (value, ttl) in pairs.items():
            kind, data = self.serde.dumps_typed(value)
            if kind in _REFUSED or "\x00" in kind:
                raise SerializationError(
                    f"the node cache refuses to store {kind!r} data (it would be unpickled)"
                )
            out[(tuple(namespace), key)] = (kind.encode("utf-8") + _SEP + data, ttl)
        return out

    def _decode(self, found: dict[FullKey, bytes]) -> dict[FullKey, ValueT]:
        values: dict[FullKey, ValueT] = {}
        for full, raw in found.items():
            kind, sep, data = raw.partition(_SEP)
            name = kind.decode("utf-8", errors="replace")
            if not sep or name in _REFUSED:
                logger.warning(
                    "node cache entry %r is not readable safely (%r); treating it as a miss", full, name
                )
                continue
            try:
                values[full] = self.serde.loads_typed((name, data))
            except Exception as exc:  # a cache entry we cannot read is a miss, never an error for the graph
                logger.warning(
                    "node cache entry %r could not be decoded (%s); treating it as a miss", full, exc
                )
        return values

    # -- BaseCache -----------------------------------------------------------------------------------------

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        return self._decode(self._engine.node_cache.get(keys, cache=self._name))

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        return self._decode(await self._aengine.node_cache.get(keys, cache=self._name))

    def set(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        self._engine.node_cache.set(self._encode(pairs), cache=self._name)

    async def aset(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        await self._aengine.node_cache.set(self._encode(pairs), cache=self._name)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        self._engine.node_cache.clear(namespaces, cache=self._name)

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        await self._aengine.node_cache.clear(namespaces, cache=self._name)

    def close(self) -> None:
        """Close the engine this cache built (an engine passed in belongs to its owner)."""
        if self._owns_engine:
            self._engine.close()
