"""Storage ops of the semantic tier: records of cached LLM answers, their lookup, upkeep and listing, and the
leases that coalesce misses across processes. Each op names its result type (``Op[...]``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .op import Op, Vector

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
    "Upserted",
    "VectorSearch",
]


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


@dataclass(frozen=True, slots=True)
class EnsureSettings(Op[dict[str, str]]):
    """Store each setting not stored yet, atomically. Result: ``dict[str, str]`` of all settings now stored.

    The caller compares the result with what it asked for, so two processes racing to create a store agree.
    ``replace`` holds settings stored whatever was there (an applied calibration's threshold).
    """

    namespace: str
    values: dict[str, str] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExactGet(Op[SemanticRecord | None]):
    """Fetch the record with this exact key, expired or not. Result: ``SemanticRecord | None``."""

    namespace: str
    exact_key: str


@dataclass(frozen=True, slots=True)
class VectorSearch(Op[list[tuple[SemanticRecord, float]]]):
    """The ``k`` nearest records in one partition. Result: ``list[tuple[SemanticRecord, float]]``.

    Pairs are (record, cosine) sorted by decreasing cosine; expired records are included (the tier decides).
    """

    namespace: str
    partition: str
    vector: Vector
    k: int


@dataclass(frozen=True, slots=True)
class ExactOrSearch(Op[tuple[SemanticRecord | None, list[tuple[SemanticRecord, float]]]]):
    """The record stored under ``exact_key`` if there is one, else a `VectorSearch` of the partition.

    Result: ``(record, [])`` or ``(None, [(record, similarity), ...])``. A lookup whose vector is at hand before
    the exact check sends both steps together: one round trip on Redis instead of two.
    """

    namespace: str
    exact_key: str
    partition: str
    vector: Vector
    k: int


@dataclass(frozen=True, slots=True)
class Upsert(Op[int]):
    """Insert a record, replacing one with the same exact key. Result: ``int`` (the record's id).

    A backend that evicts other records to make room (Redis plain mode's ``partition_limit``) returns an
    `Upserted`, an ``int`` that also carries how many, so the tier can count them.
    """

    namespace: str
    record: SemanticRecord


class Upserted(int):
    """The id an `Upsert` gave its record, with ``evicted``: records the backend removed to make room."""

    evicted: int

    def __new__(cls, entry_id: int, evicted: int = 0) -> Upserted:
        made = super().__new__(cls, entry_id)
        made.evicted = evicted
        return made


@dataclass(frozen=True, slots=True)
class Touch(Op[None]):
    """Mark records as used at ``now`` for least-recently-used eviction. Result: ``None``.

    Backends may defer these writes (they only order evictions), so a hit costs no synchronous write.
    """

    namespace: str
    ids: tuple[int, ...]
    now: float


@dataclass(frozen=True, slots=True)
class DeleteIds(Op[int]):
    """Delete records by id. Result: ``int`` (how many existed)."""

    namespace: str
    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DeleteMatching(Op[int]):
    """Delete every record of a namespace matching all given filters (``None`` = any). Result: ``int``."""

    namespace: str
    scope: str | None = None
    llm_key: str | None = None


@dataclass(frozen=True, slots=True)
class EvictOverflow(Op[int]):
    """Delete least-recently-used records until at most ``max_entries`` remain. Result: ``int`` evicted."""

    namespace: str
    max_entries: int


@dataclass(frozen=True, slots=True)
class PurgeExpired(Op[int]):
    """Delete records whose ``expires_at`` is at or before ``now``. Result: ``int`` purged."""

    namespace: str
    now: float


@dataclass(frozen=True, slots=True)
class CountEntries(Op[int]):
    """Count a namespace's records (expired ones included until purged). Result: ``int``."""

    namespace: str


# -- semantic record listing (``lix inspect``) ------------------------------------------------------------------
#
# Read-only and paged, for tools that show what a cache holds. Lookups never use it.


@dataclass(frozen=True, slots=True)
class ScanEntries(Op[list[SemanticRecord]]):
    """Semantic records of a namespace in ascending id order, without vectors. Result: ``list[SemanticRecord]``.

    ``scope`` matches that scope and the scopes nested in it (like `DeleteMatching`); ``llm_key`` one
    model's settings. ``after_id`` continues a page; at most ``limit`` records. Expired records are included
    (a listing shows what is stored; the caller marks them). Records come back with ``vector=None``.
    """

    namespace: str
    scope: str | None = None
    llm_key: str | None = None
    after_id: int = 0
    limit: int = 100


# -- miss coalescing (see `lix_integrations.tiers.coalesce`) ----------------------------------------------
#
# A lease marks a miss some process is filling, so other processes wait for its answer instead of calling the
# LLM too. Its expiry runs on the store's own clock (Redis PX, the wall clock of a SQLite file's users), never the
# engine's injectable one: it bounds how long a crashed process can delay the others in real time.


@dataclass(frozen=True, slots=True)
class LeaseAcquire(Op[bool]):
    """Take lease ``key`` for ``ttl`` seconds unless another token holds a live one. Result: ``bool``."""

    namespace: str
    key: str
    token: str
    ttl: float


@dataclass(frozen=True, slots=True)
class LeaseRelease(Op[bool]):
    """Give lease ``key`` back if ``token`` still holds it. Result: ``bool`` (it did)."""

    namespace: str
    key: str
    token: str


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
