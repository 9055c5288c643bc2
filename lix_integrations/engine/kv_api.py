"""``engine.kv``: blocking and awaitable access to the key-value tier (collections of JSON dicts).

Both classes run the same flows of :class:`~lix_integrations.tiers.kv.KvTier`, one through the blocking driver and
one through the awaiting driver, so the sync and async paths of a framework key-value store cannot drift apart.
Store failures raise :class:`~lix_integrations.errors.BackendError` (no failing open: this tier holds data, not
a cache of it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..tiers.kv import DEFAULT_BATCH_SIZE as _DEFAULT_BATCH
from ..tiers.kv import KvStats

if TYPE_CHECKING:
    from .core import EngineCore

__all__ = ["AsyncKvAPI", "KvAPI"]


class KvAPI:
    """Blocking key-value operations on named collections.

    Collection names may hold any characters (``docstore/data``); collections never see each other's keys.
    Values are dicts that JSON can hold; they come back as equal dicts (JSON types: tuples become lists).
    """

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    def get(self, key: str, collection: str) -> dict[str, Any] | None:
        return self._core.run(self._core.kv.get(collection, key))

    def get_many(self, keys: Sequence[str], collection: str) -> list[dict[str, Any] | None]:
        return self._core.run(self._core.kv.get_many(collection, keys))

    def get_all(self, collection: str) -> dict[str, dict[str, Any]]:
        return self._core.run(self._core.kv.get_all(collection))

    def keys(self, collection: str) -> list[str]:
        return self._core.run(self._core.kv.keys(collection))

    def put(self, key: str, value: dict[str, Any], collection: str) -> None:
        self._core.run(self._core.kv.put(collection, key, value))

    def put_many(
        self,
        pairs: Iterable[tuple[str, dict[str, Any]]],
        collection: str,
        *,
        batch_size: int = _DEFAULT_BATCH,
    ) -> None:
        """Store pairs with one write round trip per ``batch_size`` records."""
        self._core.run(self._core.kv.put_many(collection, pairs, batch_size=batch_size))

    def delete(self, key: str, collection: str) -> bool:
        """Delete one key; ``True`` if it existed."""
        return self._core.run(self._core.kv.delete(collection, key))

    def delete_many(self, keys: Sequence[str], collection: str) -> int:
        return self._core.run(self._core.kv.delete_many(collection, keys))

    def clear(self, collection: str) -> int:
        """Delete a whole collection; returns how many records it held."""
        return self._core.run(self._core.kv.clear(collection))

    def stats(self) -> KvStats:
        return self._core.kv.counters.snapshot()


class AsyncKvAPI:
    """Awaitable key-value operations; the same operations as :class:`KvAPI`, never blocking the event loop."""

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    async def get(self, key: str, collection: str) -> dict[str, Any] | None:
        return await self._core.arun(self._core.kv.get(collection, key))

    async def get_many(self, keys: Sequence[str], collection: str) -> list[dict[str, Any] | None]:
        return await self._core.arun(self._core.kv.get_many(collection, keys))

    async def get_all(self, collection: str) -> dict[str, dict[str, Any]]:
        return await self._core.arun(self._core.kv.get_all(collection))

    async def keys(self, collection: str) -> list[str]:
        return await self._core.arun(self._core.kv.keys(collection))

    async def put(self, key: str, value: dict[str, Any], collection: str) -> None:
        await self._core.arun(self._core.kv.put(collection, key, value))

    async def put_many(
        self,
        pairs: Iterable[tuple[str, dict[str, Any]]],
        collection: str,
        *,
        batch_size: int = _DEFAULT_BATCH,
    ) -> None:
        await self._core.arun(self._core.kv.put_many(collection, pairs, batch_size=batch_size))

    async def delete(self, key: str, collection: str) -> bool:
        return await self._core.arun(self._core.kv.delete(collection, key))

    async def delete_many(self, keys: Sequence[str], collection: str) -> int:
        return await self._core.arun(self._core.kv.delete_many(collection, keys))

    async def clear(self, collection: str) -> int:
        return await self._core.arun(self._core.kv.clear(collection))

    def stats(self) -> KvStats:
        return self._core.kv.counters.snapshot()
