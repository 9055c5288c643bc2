"""Storage operations: the vocabulary tiers speak and backends execute.

A tier never calls a backend. It yields these small frozen objects from a flow (see :mod:`.flows`) and receives
each result back; a backend only knows how to carry one out. That keeps policy (keys, TTL, what counts as a hit)
in the tiers and I/O in the backends, and lets one flow run both sync and async.

The result type of each operation is written in its docstring and in ``RESULT`` for readers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CountEntries",
    "DeleteIds",
    "DeleteMatching",
    "Embed",
    "EmbedBatch",
    "EnsureSettings",
    "EvictOverflow",
    "ExactGet",
    "Op",
    "PurgeExpired",
    "SemanticRecord",
    "KvDelete",
    "KvDeleteWhere",
    "KvEvict",
    "KvGet",
    "KvItem",
    "KvPurgeExpired",
    "KvPut",
    "KvScan",
    "KvUsage",
    "Touch",
    "Upsert",
    "VectorSearch",
]

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class SemanticRecord:
    """One cached LLM answer as stored.

    ``id`` is assigned by the backend (0 before insertion). ``vector`` is unit-length float32, so the dot product
    is the cosine. ``payload`` is opaque to the engine: adapters serialize their framework's objects into it.
    """

    exact_key: str
    partition: str
    scope: str
    llm_key: str
    prompt: str
    vector: Vector | None
    payload: str
    created_at: float
    expires_at: float | None
    accessed_at: float
    id: int = 0


class Op:
    """Base of all storage operations (a marker, so drivers can type-check what a flow yields)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Embed(Op):
    """Embed one text with the engine's embedder. Result: unit-length ``Vector``.

    Handled by the engine's driver, not by a backend, so a flow can skip the embedding entirely (exact hits).
    """

    text: str


@dataclass(frozen=True, slots=True)
class EnsureSettings(Op):
    """Store each setting not stored yet, atomically. Result: ``dict[str, str]`` of all settings now stored.

    The caller compares the result with what it asked for, so two processes racing to create a store agree.
    """

    namespace: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExactGet(Op):
    """Fetch the record with this exact key, expired or not. Result: ``SemanticRecord | None``."""

    namespace: str
    exact_key: str


@dataclass(frozen=True, slots=True)
class VectorSearch(Op):
    """The ``k`` nearest records in one partition. Result: ``list[tuple[SemanticRecord, float]]``.

    Pairs are (record, cosine) sorted by decreasing cosine; expired records are included (the tier decides).
    """

    namespace: str
    partition: str
    vector: Vector
    k: int


@dataclass(frozen=True, slots=True)
class Upsert(Op):
    """Insert a record, replacing one with the same exact key. Result: ``int`` (the record's id)."""

    namespace: str
    record: SemanticRecord


@dataclass(frozen=True, slots=True)
class Touch(Op):
    """Mark records as used at ``now`` for least-recently-used eviction. Result: ``None``.

    Backends may defer these writes (they only order evictions), so a hit costs no synchronous write.
    """

    namespace: str
    ids: tuple[int, ...]
    now: float


@dataclass(frozen=True, slots=True)
class DeleteIds(Op):
    """Delete records by id. Result: ``int`` (how many existed)."""

    namespace: str
    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DeleteMatching(Op):
    """Delete every record of a namespace matching all given filters (``None`` = any). Result: ``int``."""

    namespace: str
    scope: str | None = None
    llm_key: str | None = None


@dataclass(frozen=True, slots=True)
class EvictOverflow(Op):
    """Delete least-recently-used records until at most ``max_entries`` remain. Result: ``int`` evicted."""

    namespace: str
    max_entries: int


@dataclass(frozen=True, slots=True)
class PurgeExpired(Op):
    """Delete records whose ``expires_at`` is at or before ``now``. Result: ``int`` purged."""

    namespace: str
    now: float


@dataclass(frozen=True, slots=True)
class CountEntries(Op):
    """Count a namespace's records (expired ones included until purged). Result: ``int``."""

    namespace: str


# -- key-value records (embedding, tool and framework key-value tiers) ----------------------------------------
#
# A KV record lives in (namespace, table, key). ``table`` separates tiers and collections inside a namespace.
# Values are bytes: each tier chooses its own encoding (float32 for vectors, JSON for tool results).


@dataclass(frozen=True, slots=True)
class KvItem:
    """One value to store; ``tags`` let a tier delete related records together (tool invalidation)."""

    key: str
    value: bytes
    expires_at: float | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KvGet(Op):
    """Values of ``keys`` in order, ``None`` for missing or expired ones. Result: ``list[bytes | None]``.

    With ``touch`` the records count as used at ``now`` for least-recently-used eviction (writes may be deferred).
    """

    namespace: str
    table: str
    keys: tuple[str, ...]
    now: float
    touch: bool = True


@dataclass(frozen=True, slots=True)
class KvPut(Op):
    """Insert or replace records in one round trip / transaction. Result: ``None``."""

    namespace: str
    table: str
    items: tuple[KvItem, ...]
    now: float


@dataclass(frozen=True, slots=True)
class KvDelete(Op):
    """Delete records by key. Result: ``int`` (how many existed, expired ones included)."""

    namespace: str
    table: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KvDeleteWhere(Op):
    """Delete records whose key starts with ``prefix`` and that carry every tag in ``tags``. Result: ``int``.

    ``prefix=""`` and no tags deletes the whole table.
    """

    namespace: str
    table: str
    prefix: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KvScan(Op):
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
class KvUsage(Op):
    """Record count and total value bytes of a table, expired records included. Result: ``tuple[int, int]``."""

    namespace: str
    table: str


@dataclass(frozen=True, slots=True)
class KvEvict(Op):
    """Delete least-recently-used records until the table fits both bounds (``None`` = unbounded).

    Result: ``int`` evicted.
    """

    namespace: str
    table: str
    max_entries: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class KvPurgeExpired(Op):
    """Delete records of a table (or every table, ``table=None``) expired at ``now``. Result: ``int``."""

    namespace: str
    table: str | None
    now: float


# -- embedding batches (embedding tier) -------------------------------------------------------------------------
#
# Like ``Embed``, handled by the engine's drivers rather than a backend: computing is not storage I/O. The tier
# passes the wrapped model's own batch functions, so the sync driver calls the sync one and the async driver
# awaits the async one (or runs the sync one in a worker thread), and the engine's embedder is only a default.


@dataclass(frozen=True, slots=True)
class EmbedBatch(Op):
    """Compute embeddings of ``texts`` with ``compute(list)`` / ``await acompute(list)``.

    Result: the model's raw output, one vector per text (the tier validates it).
    """

    texts: tuple[str, ...]
    compute: Callable[[list[str]], Any] | None
    acompute: Callable[[list[str]], Awaitable[Any]] | None
