"""Storage ops of the semantic tier: records of cached LLM answers, their lookup, upkeep and listing, and the
leases that coalesce misses across processes. Each op names its result type (``Op[...]``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .op import NamespaceOp, Op, R, Vector

__all__ = [
    "SEMANTIC_METHODS",
    "CountEntries",
    "DeleteIds",
    "DeleteMatching",
    "EnsureSettings",
    "EvictOverflow",
    "ExactGet",
    "ExactOrSearch",
    "LeaseAcquire",
    "LeaseRelease",
    "PurgeExpired",
    "ScanEntries",
    "SemanticRecord",
    "Touch",
    "Upsert",
    "UpsertMany",
    "Upserted",
    "VectorSearch",
]


@dataclass(slots=True)
class SemanticRecord:
    """One cached LLM answer as stored.

    ``id`` is assigned by the backend (0 before insertion). ``vector`` is unit-length float32, so the dot product
    is the cosine. ``payload`` is opaque to the engine: adapters serialize their framework's objects into it.

    Read-only by convention (change one with ``dataclasses.replace``), but not a frozen dataclass: a frozen one
    sets each of its 11 fields through ``object.__setattr__``, 1.1 us per record against 0.2, and 3.4 us of a
    warm Redis lookup's Python after its round trip (2026-12-04, timeit and timestamps in the lookup at 10k,
    benchmarks/redis.py's set-up). Its ndarray field already made it unhashable.
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


@dataclass(frozen=True, slots=True)
class EnsureSettings(NamespaceOp[dict[str, str]]):
    """Store each setting not stored yet, atomically. Result: ``dict[str, str]`` of all settings now stored.

    The caller compares the result with what it asked for, so two processes racing to create a store agree.
    ``replace`` holds settings stored whatever was there (an applied calibration's threshold).
    """

    values: dict[str, str] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExactGet(NamespaceOp[SemanticRecord | None]):
    """Fetch the record with this exact key, expired or not. Result: ``SemanticRecord | None``."""

    exact_key: str


@dataclass(frozen=True, slots=True)
class VectorSearch(NamespaceOp[list[tuple[SemanticRecord, float]]]):
    """The ``k`` nearest records in one partition. Result: ``list[tuple[SemanticRecord, float]]``.

    Pairs are (record, cosine) sorted by decreasing cosine; expired records are included (the tier decides).
    """

    partition: str
    vector: Vector
    k: int


@dataclass(frozen=True, slots=True)
class ExactOrSearch(NamespaceOp[tuple[SemanticRecord | None, list[tuple[SemanticRecord, float]]]]):
    """The record stored under ``exact_key`` if there is one, else a `VectorSearch` of the partition.

    Result: ``(record, [])`` or ``(None, [(record, similarity), ...])``. A lookup whose vector is at hand before
    the exact check sends both steps together: one round trip on Redis instead of two.
    """

    exact_key: str
    partition: str
    vector: Vector
    k: int


@dataclass(frozen=True, slots=True)
class Upsert(NamespaceOp[int]):
    """Insert a record, replacing one with the same exact key. Result: ``int`` (the record's id).

    A backend that evicts other records to make room (Redis plain mode's ``partition_limit``) returns an
    `Upserted`, an ``int`` that also carries how many, so the tier can count them.
    """

    record: SemanticRecord


@dataclass(frozen=True, slots=True)
class UpsertMany(NamespaceOp[list[int]]):
    """`Upsert` for several records of a namespace, in order (a later record of an exact key replaces an earlier
    one, as consecutive upserts would). Result: an id per record (`Upserted` where the backend evicts).

    A backend runs it as a `Gather` of upserts unless it has a cheaper way: Redis stores a batch with one script
    call instead of one per record."""

    records: tuple[SemanticRecord, ...]


class Upserted(int):
    """The id an `Upsert` gave its record, with ``evicted``: records the backend removed to make room."""

    evicted: int

    def __new__(cls, entry_id: int, evicted: int = 0) -> Upserted:
        made = super().__new__(cls, entry_id)
        made.evicted = evicted
        return made


@dataclass(frozen=True, slots=True)
class ByIds(NamespaceOp[R]):
    """Base of the ops on records named by the ids the backend gave them (`Upsert`). Never sent itself."""

    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Touch(ByIds[None]):
    """Mark records as used at ``now`` for least-recently-used eviction. Result: ``None``.

    Backends may defer these writes (they only order evictions), so a hit costs no synchronous write.
    """

    now: float


@dataclass(frozen=True, slots=True)
class DeleteIds(ByIds[int]):
    """Delete records by id. Result: ``int`` (how many existed)."""


@dataclass(frozen=True, slots=True)
class Matching(NamespaceOp[R]):
    """Base of the ops on the records of a namespace matching every given filter (``None`` = any): ``scope``
    matches that scope and the scopes nested in it, ``llm_key`` one model's settings. Never sent itself."""

    scope: str | None = None
    llm_key: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteMatching(Matching[int]):
    """Delete every record of a namespace matching the filters (`Matching`). Result: ``int``."""


@dataclass(frozen=True, slots=True)
class EvictOverflow(NamespaceOp[int]):
    """Delete least-recently-used records until at most ``max_entries`` remain. Result: ``int`` evicted."""

    max_entries: int


@dataclass(frozen=True, slots=True)
class PurgeExpired(NamespaceOp[int]):
    """Delete records whose ``expires_at`` is at or before ``now``. Result: ``int`` purged."""

    now: float


@dataclass(frozen=True, slots=True)
class CountEntries(NamespaceOp[int]):
    """Count a namespace's records (expired ones included until purged). Result: ``int``."""


# -- semantic record listing (``lix inspect``) ------------------------------------------------------------------
#
# Read-only and paged, for tools that show what a cache holds. Lookups never use it.


@dataclass(frozen=True, slots=True)
class ScanEntries(Matching[list[SemanticRecord]]):
    """Semantic records of a namespace matching the filters (`Matching`), in ascending id order, without
    vectors. Result: ``list[SemanticRecord]``.

    ``after_id`` continues a page; at most ``limit`` records. Expired records are included (a listing shows
    what is stored; the caller marks them). Records come back with ``vector=None``.
    """

    after_id: int = 0
    limit: int = 100


# -- miss coalescing (see `lix_integrations.tiers.coalesce`) ----------------------------------------------
#
# A lease marks a miss some process is filling, so other processes wait for its answer instead of calling the
# LLM too. Its expiry runs on the store's own clock (Redis PX, the wall clock of a SQLite file's users), never the
# engine's injectable one: it bounds how long a crashed process can delay the others in real time.


@dataclass(frozen=True, slots=True)
class Lease(NamespaceOp[bool]):
    """Base of the lease ops: lease ``key`` of a namespace, as held by ``token`` (one per filling process).
    Result: ``bool``. Never sent itself."""

    key: str
    token: str


@dataclass(frozen=True, slots=True)
class LeaseAcquire(Lease):
    """Take lease ``key`` for ``ttl`` seconds unless another token holds a live one. Result: ``bool``."""

    ttl: float


@dataclass(frozen=True, slots=True)
class LeaseRelease(Lease):
    """Give lease ``key`` back if ``token`` still holds it. Result: ``bool`` (it did)."""


#: The method of a backend that carries out each semantic-record op (`bind_methods`; memory and
#: SQLite bind their private ``_exact_get`` and so on with ``prefix="_"``). `ExactOrSearch` is
#: not here: `Backend` runs its two steps one after the other, and a store with round trips registers its own.
SEMANTIC_METHODS: Mapping[type[Op], str] = {
    EnsureSettings: "ensure_settings",
    ExactGet: "exact_get",
    VectorSearch: "vector_search",
    Upsert: "upsert",
    Touch: "touch",
    DeleteIds: "delete_ids",
    DeleteMatching: "delete_matching",
    EvictOverflow: "evict_overflow",
    PurgeExpired: "purge_expired",
    CountEntries: "count",
    ScanEntries: "scan_entries",
}
