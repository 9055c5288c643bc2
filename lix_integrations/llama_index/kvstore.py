"""``LixKVStore``: LlamaIndex's ``BaseKVStore`` over the lix engine's key-value tier.

One class serves every LlamaIndex consumer of a key-value store: ``IngestionCache(cache=LixKVStore(...))``,
``KVDocumentStore``/``KVIndexStore`` (so a whole ``StorageContext`` lives in the engine's store), and
``BaseEmbedding.embeddings_cache``. The adapter only translates LlamaIndex's argument order into
`KvAPI` calls; collections, encoding and batching belong to the tier.

Notes for callers:

* ``put_all`` honours ``batch_size`` exactly: one write round trip (one transaction on SQLite) per batch, any size.
* ``get_all`` returns records sorted by key (``SimpleKVStore`` returns insertion order).
* The async methods await the engine's own async path; none of them runs the sync method on a thread.
* An empty store is still a store: LlamaIndex tests ``if not self.embeddings_cache``, so ``__bool__`` is True and
  there is no ``__len__``.
* Pickling (``IngestionPipeline(num_workers>1)`` sends the cache to spawned processes) carries the configuration
  only (URL, namespace, options), never data; the copy reopens the same store. A private ``memory://`` store
  exists in one engine only and cannot be shared, so pickling it raises `ConfigError`;
  ``memory://NAME`` pickles, but a *different process* opens its own empty store of that name. Use a SQLite URL
  to share a cache between worker processes. The copy uses the system clock and no embedder (key-value use
  needs none: it opens the store whatever model wrote its semantic entries).
"""

from __future__ import annotations

import logging
from typing import Any

from llama_index.core.storage.kvstore.types import DEFAULT_BATCH_SIZE, DEFAULT_COLLECTION, BaseKVStore

from ..engine.engine import AsyncEngine, Engine
from ..engine.public import KvStats
from ..engine.resolve import resolve_engines

__all__ = ["LixKVStore"]

logger = logging.getLogger(__name__)


class LixKVStore(BaseKVStore):
    """A LlamaIndex key-value store kept in a lix engine (``memory://``, ``sqlite:///path``, or the default store).

    ``engine`` is an `Engine` / `AsyncEngine` to share, a backend
    URL, or ``None`` for the embedded default store; ``engine_options`` (``namespace=``, ``kv=KvConfig(ttl=...)``,
    ``clock=`` ...) configure the engine built from a URL. Collections (``"docstore/data"`` and any other name) are
    kept apart; values must be dicts JSON can hold and come back as equal dicts.
    """

    def __init__(self, engine: Engine | AsyncEngine | str | None = None, **engine_options: Any) -> None:
        self._engine, self._aengine = resolve_engines(engine, engine_options)

    # -- sync ------------------------------------------------------------------------------------------------

    def put(self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION) -> None:
        self._engine.kv.put(key, val, collection)

    def put_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Store all pairs, one round trip per ``batch_size`` pairs; nothing is written if any pair is invalid."""
        self._engine.kv.put_many(kv_pairs, collection, batch_size=batch_size)

    def get(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        return self._engine.kv.get(key, collection)

    def get_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        return self._engine.kv.get_all(collection)

    def delete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        """Delete a key; ``True`` if it existed."""
        return self._engine.kv.delete(key, collection)

    # -- async -----------------------------------------------------------------------------------------------

    async def aput(self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION) -> None:
        await self._aengine.kv.put(key, val, collection)

    async def aput_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        await self._aengine.kv.put_many(kv_pairs, collection, batch_size=batch_size)

    async def aget(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        return await self._aengine.kv.get(key, collection)

    async def aget_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        return await self._aengine.kv.get_all(collection)

    async def adelete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        return await self._aengine.kv.delete(key, collection)

    # -- lix extras ------------------------------------------------------------------------------------------

    def clear(self, collection: str = DEFAULT_COLLECTION) -> int:
        """Delete a whole collection in one operation; returns how many records it held."""
        return self._engine.kv.clear(collection)

    async def aclear(self, collection: str = DEFAULT_COLLECTION) -> int:
        return await self._aengine.kv.clear(collection)

    def keys(self, collection: str = DEFAULT_COLLECTION) -> list[str]:
        """Keys of a collection, sorted, without reading the values."""
        return self._engine.kv.keys(collection)

    def stats(self) -> KvStats:
        return self._engine.kv.stats()

    @property
    def engine(self) -> Engine:
        """The engine behind this store, to share with other adapters (``.aio`` gives its awaitable view)."""
        return self._engine

    def __bool__(self) -> bool:
        # ``if not self.embeddings_cache`` means "no cache configured"; an empty store is still a store.
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(engine={self._engine!r})"

    # -- copying and pickling --------------------------------------------------------------------------------

    def __copy__(self) -> LixKVStore:
        return LixKVStore(self._engine)

    def __deepcopy__(self, memo: dict[int, Any]) -> LixKVStore:
        # A store is a handle on external data, like a database client: a copy uses the same store.
        return LixKVStore(self._engine)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "config": self._engine.spec().config
        }  # the default store resolved now; private memory:// refused

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._engine = Engine(config=state["config"])
        self._aengine = self._engine.aio
        logger.debug("LixKVStore reopened %s after unpickling", self._engine.url)
