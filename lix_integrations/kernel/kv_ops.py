"""Storage ops of key-value records (the embedding, tool, node-cache, checkpoint and framework key-value tiers).

A KV record lives in (namespace, table, key). ``table`` separates tiers and collections inside a namespace.
Values are bytes: each tier chooses its own encoding (float32 for vectors, JSON for tool results).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .op import Op

__all__ = [
    "KV_METHODS",
    "KvDelete",
    "KvDeleteWhere",
    "KvEvict",
    "KvExpire",
    "KvGet",
    "KvItem",
    "KvPurgeExpired",
    "KvPut",
    "KvPutIf",
    "KvScan",
    "KvUsage",
]


@dataclass(frozen=True, slots=True)
class KvItem:
    """One value to store; ``tags`` let a tier delete related records together (tool invalidation)."""

    key: str
    value: bytes
    expires_at: float | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KvGet(Op[list[bytes | None]]):
    """Values of ``keys`` in order, ``None`` for missing or expired ones. Result: ``list[bytes | None]``.

    With ``touch`` the records count as used at ``now`` for least-recently-used eviction (writes may be deferred).
    """

    namespace: str
    table: str
    keys: tuple[str, ...]
    now: float
    touch: bool = True


@dataclass(frozen=True, slots=True)
class KvPut(Op[None]):
    """Insert or replace records in one round trip / transaction. Result: ``None``."""

    namespace: str
    table: str
    items: tuple[KvItem, ...]
    now: float


@dataclass(frozen=True, slots=True)
class KvPutIf(Op[bool]):
    """Store ``items`` (as `KvPut`) only if record ``key`` of the table is live and holds ``value``, checked
    and written atomically. Result: ``bool`` (written).

    A write of data derived from what a flow read earlier (a thread's archive of its old checkpoints) must not
    land after the records it came from were deleted: a deletion first changes or removes ``key``.
    """

    namespace: str
    table: str
    items: tuple[KvItem, ...]
    now: float
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class KvDelete(Op[int]):
    """Delete records by key. Result: ``int`` (how many existed, expired ones included)."""

    namespace: str
    table: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KvDeleteWhere(Op[int]):
    """Delete records whose key starts with ``prefix`` and that carry every tag in ``tags``. Result: ``int``.

    ``prefix=""`` and no tags deletes the whole table.
    """

    namespace: str
    table: str
    prefix: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KvScan(Op[list[tuple[str, bytes]]]):
    """Live records whose key starts with ``prefix``, sorted by key. Result: ``list[tuple[str, bytes]]``.

    ``keys_only`` returns ``b""`` as every value, to list without transferring values. ``limit`` bounds the page;
    ``after`` continues after that key.
    """

    namespace: str
    table: str
    now: float
    prefix: str = ""
    keys_only: bool = False
    limit: int | None = None
    after: str | None = None


@dataclass(frozen=True, slots=True)
class KvExpire(Op[int]):
    """Set the ``expires_at`` of live records (``None``: never) without rewriting their values.

    ``items`` are (key, expires_at) pairs. Missing records and records expired at ``now`` are left alone, so a
    refresh never revives what already expired, and it cannot overwrite a value written since it was read
    (which a read-then-put refresh would). Result: ``int`` records changed.
    """

    namespace: str
    table: str
    items: tuple[tuple[str, float | None], ...]
    now: float


@dataclass(frozen=True, slots=True)
class KvUsage(Op[tuple[int, int]]):
    """Record count and total value bytes of a table, expired records included. Result: ``tuple[int, int]``."""

    namespace: str
    table: str


@dataclass(frozen=True, slots=True)
class KvEvict(Op[int]):
    """Delete least-recently-used records until the table fits both bounds (``None`` = unbounded).

    Result: ``int`` evicted.
    """

    namespace: str
    table: str
    max_entries: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class KvPurgeExpired(Op[int]):
    """Delete records of a table (or every table, ``table=None``) expired at ``now``. Result: ``int``."""

    namespace: str
    table: str | None
    now: float


#: The method of a backend's key-value store that carries out each KV op (`bind_methods`).
KV_METHODS: Mapping[type[Op], str] = {
    KvGet: "get",
    KvPut: "put",
    KvPutIf: "put_if",
    KvDelete: "delete",
    KvDeleteWhere: "delete_where",
    KvScan: "scan",
    KvUsage: "usage",
    KvEvict: "evict",
    KvExpire: "expire",
    KvPurgeExpired: "purge_expired",
}
