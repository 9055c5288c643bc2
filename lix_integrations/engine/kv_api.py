"""``engine.kv``: blocking and awaitable access to the key-value tier (collections of JSON dicts).

Each operation is written once (see `views`): `KvAPI` runs the flows of
`KvTier` on the calling thread, `AsyncKvAPI` on the event loop, so the sync
and async paths of a framework key-value store cannot drift apart. Store failures raise
`BackendError` (no failing open: this tier holds data, not a cache of it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..kernel.flows import Flow
from ..tiers.kv import DEFAULT_BATCH_SIZE as _DEFAULT_BATCH
from ..tiers.kv import KvStats
from .views import Awaiting, Blocking, View, runs

__all__ = ["AsyncKvAPI", "KvAPI"]


class _Kv(View):
    """Key-value operations on named collections.

    Collection names may hold any characters (``docstore/data``); collections never see each other's keys.
    Values are dicts that JSON can hold; they come back as equal dicts (JSON types: tuples become lists).
    """

    @runs
    def get(self, key: str, collection: str) -> Flow[dict[str, Any] | None]:
        return self._core.kv.get(collection, key)

    @runs
    def get_many(self, keys: Sequence[str], collection: str) -> Flow[list[dict[str, Any] | None]]:
        return self._core.kv.get_many(collection, keys)

    @runs
    def get_all(self, collection: str) -> Flow[dict[str, dict[str, Any]]]:
        return self._core.kv.get_all(collection)

    @runs
    def keys(self, collection: str) -> Flow[list[str]]:
        return self._core.kv.keys(collection)

    @runs
    def put(self, key: str, value: dict[str, Any], collection: str) -> Flow[None]:
        return self._core.kv.put(collection, key, value)

    @runs
    def put_many(
        self,
        pairs: Iterable[tuple[str, dict[str, Any]]],
        collection: str,
        *,
        batch_size: int = _DEFAULT_BATCH,
    ) -> Flow[None]:
        """Store pairs with one write round trip per ``batch_size`` records."""
        return self._core.kv.put_many(collection, pairs, batch_size=batch_size)

    @runs
    def delete(self, key: str, collection: str) -> Flow[bool]:
        """Delete one key; ``True`` if it existed."""
        return self._core.kv.delete(collection, key)

    @runs
    def delete_many(self, keys: Sequence[str], collection: str) -> Flow[int]:
        return self._core.kv.delete_many(collection, keys)

    @runs
    def clear(self, collection: str) -> Flow[int]:
        """Delete a whole collection; returns how many records it held."""
        return self._core.kv.clear(collection)

    def stats(self) -> KvStats:
        return self._core.kv.counters.snapshot()  # type: ignore[no-any-return]


class KvAPI(_Kv, Blocking):
    """Blocking key-value operations: each runs to completion on the calling thread."""


class AsyncKvAPI(_Kv, Awaiting):
    """Awaitable key-value operations; the same operations as `KvAPI`, never blocking the event loop."""
