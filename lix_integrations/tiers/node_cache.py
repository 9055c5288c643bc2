"""The node-cache tier: results of graph nodes (LangGraph's ``BaseCache``) as KV records with a TTL each.

An entry is addressed by a namespace path and a key (LangGraph uses ``("__pregel_ns_writes", <node identifier>,
<node name>)`` and a hash of the node's input); `namespaced` turns both into one record key, so labels
may contain ``:`` and any other character but NUL, and one node's entries never meet another's.

Values are opaque bytes: the adapter serializes with its framework's serializer (never pickle) and the tier
only stores, expires and deletes. ``clear`` of a namespace removes that exact namespace's entries (what a graph's
``clear_cache(nodes)`` asks for), ``clear()`` of nothing removes the whole cache.

A cache only saves work, so its flows run with the engine's fail-open setting: an unreachable store makes misses
and dropped writes, logged once per outage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import InvalidInputError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet, Snapshot
from ..kernel.flows import Flow
from ..kernel.ops import KvDeleteWhere, KvGet, KvItem, KvPut
from .kv import validate_collection
from .namespaced import Path, encode_path, record_key, validate_path

__all__ = ["TABLE_PREFIX", "NodeCacheStats", "NodeCacheTier", "table_for"]

#: Prefix of the KV tables of node caches (one table per cache name).
TABLE_PREFIX = "nodecache:"

FullKey = tuple[Path, str]


def table_for(cache: str) -> str:
    return TABLE_PREFIX + validate_collection(cache)


def _check_ttl(ttl: object, key: FullKey) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or math.isinf(ttl):
        raise InvalidInputError(f"ttl for {key!r} must be a positive number of seconds or None, got {ttl!r}")
    return float(ttl)


@dataclass(frozen=True)
class NodeCacheStats(Snapshot):
    """A snapshot of the node cache's counters (this process only)."""

    lookups: int
    hits: int
    misses: int
    writes: int
    clears: int


class NodeCacheTier:
    """Policy of the node cache; every method returns a flow for the engine's drivers."""

    def __init__(self, namespace: str, clock: Clock, counters: CounterSet[NodeCacheStats]) -> None:
        self._namespace = namespace
        self._clock = clock
        self.counters = counters

    def get(self, cache: str, keys: Sequence[FullKey]) -> Flow[dict[FullKey, bytes]]:
        """The stored bytes of the live entries among ``keys`` (absent keys are misses), in one round trip."""
        table = table_for(cache)
        wanted = [(validate_path(path), key) for path, key in keys]
        if not wanted:
            return {}
        raws: list[bytes | None] = yield KvGet(
            self._namespace, table, tuple(record_key(p, k) for p, k in wanted), self._clock.now(), touch=False
        )
        found = {full: raw for full, raw in zip(wanted, raws) if raw is not None}
        self.counters.add("lookups", len(wanted))
        self.counters.add("hits", len(found))
        self.counters.add("misses", len(wanted) - len(found))
        return found

    def set(self, cache: str, entries: Mapping[FullKey, tuple[bytes, float | None]]) -> Flow[None]:
        """Store every entry (value bytes, TTL in seconds or ``None``) in one write; all are checked first."""
        table = table_for(cache)
        now = self._clock.now()
        items: list[KvItem] = []
        for (path, key), (value, ttl) in entries.items():
            full = (validate_path(path), key)
            seconds = _check_ttl(ttl, full)
            if not isinstance(value, (bytes, bytearray)):
                raise InvalidInputError(f"value for {full!r} must be bytes, got {type(value).__name__}")
            items.append(KvItem(record_key(*full), bytes(value), None if seconds is None else now + seconds))
        if items:
            yield KvPut(self._namespace, table, tuple(items), now)
            self.counters.add("writes", len(items))

    def clear(self, cache: str, namespaces: Sequence[Path] | None = None) -> Flow[int]:
        """Delete the entries of each given namespace (exactly that path), or of the whole cache."""
        table = table_for(cache)
        if namespaces is None:
            removed: int = yield KvDeleteWhere(self._namespace, table)
        else:
            prefixes = sorted({encode_path(validate_path(path)) + "|" for path in namespaces})
            removed = 0
            for prefix in prefixes:
                removed += yield KvDeleteWhere(self._namespace, table, prefix=prefix)
        self.counters.add("clears")
        return removed
