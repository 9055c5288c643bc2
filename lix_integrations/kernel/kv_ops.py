"""Storage ops of key-value records (the embedding, tool, node-cache, checkpoint and framework key-value tiers).

A KV record lives in (namespace, table, key). ``table`` separates tiers and collections inside a namespace.
Values are bytes: each tier chooses its own encoding (float32 for vectors, JSON for tool results).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .op import NamespaceOp, Op, R

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
class KvOp(NamespaceOp[R]):
    """Base of the ops on one table of key-value records: ``(namespace, table)`` addresses them. Never sent."""

    table: str


@dataclass(frozen=True, slots=True)
class KvGet(KvOp[list[bytes | None]]):
    """Values of ``keys`` in order, ``None`` for missing or expired ones. Result: ``list[bytes | None]``.

    With ``touch`` the records count as used at ``now`` for least-recently-used eviction (writes may be deferred).
    """

    keys: tuple[str, ...]
    now: float
    touch: bool = True


@dataclass(frozen=True, slots=True)
class KvWrite(KvOp[R]):
    """Base of the ops that insert or replace ``items`` in one round trip / transaction, written at ``now``.
    Never sent itself."""

    items: tuple[KvItem, ...]
    now: float


@dataclass(frozen=True, slots=True)
class KvPut(KvWrite[None]):
    """Insert or replace records. Result: ``None``."""


@dataclass(frozen=True, slots=True)
class KvPutIf(KvWrite[bool]):
    """Store ``items`` (as `KvPut`) only if record ``key`` of the table is live and holds ``value``, checked
    and written atomically. Result: ``bool`` (written).

    A write of data derived from what a flow read earlier (a thread's archive of its old checkpoints) must not
    land after the records it came from were deleted: a deletion first changes or removes ``key``.
    """

    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class KvDelete(KvOp[int]):
    """Delete records by key. Result: ``int`` (how many existed, expired ones included)."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KvDeleteWhere(KvOp[int]):
    """Delete records whose key starts with ``prefix`` and that carry every tag in ``tags``. Result: ``int``.

    ``prefix=""`` and no tags deletes the whole table.
    """

    prefix: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KvScan(KvOp[list[tuple[str, bytes]]]):
    """Live records whose key starts with ``prefix``, sorted by key. Result: ``list[tuple[str, bytes]]``.

    ``keys_only`` returns ``b""`` as every value, to list without transferring values. ``limit`` bounds the page;
    ``after`` continues after that key.
    """

    now: float
    prefix: str = ""
    keys_only: bool = False
    limit: int | None = None
    after: str | None = None


@dataclass(frozen=True, slots=True)
class KvExpire(KvOp[int]):
    """Set the ``expires_at`` of live records (``None``: never) without rewriting their values.

    ``items`` are (key, expires_at) pairs. Missing records and records expired at ``now`` are left alone, so a
    refresh never revives what already expired, and it cannot overwrite a value written since it was read
    (which a read-then-put refresh would). Result: ``int`` records changed.
    """

    items: tuple[tuple[str, float | None], ...]
    now: float


@dataclass(frozen=True, slots=True)
class KvUsage(KvOp[tuple[int, int]]):
    """Record count and total value bytes of a table, expired records included. Result: ``tuple[int, int]``."""


@dataclass(frozen=True, slots=True)
class KvEvict(KvOp[int]):
    """Delete least-recently-used records until the table fits both bounds (``None`` = unbounded).

    Result: ``int`` evicted.
    """

    max_entries: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class KvPurgeExpired(NamespaceOp[int]):
    """Delete records of a table (or every table, ``table=None``) expired at ``now``. Result: ``int``."""

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
