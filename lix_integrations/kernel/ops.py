"""Storage operations: the vocabulary tiers speak and backends execute.

A tier never calls a backend. It yields these small frozen objects from a flow (see `flows`) and receives
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
    "Deferred",
    "DeleteIds",
    "DeleteMatching",
    "Embed",
    "EmbedBatch",
    "EmbedMany",
    "LoadModel",
    "EnsureSettings",
    "EvictOverflow",
    "ExactGet",
    "ExactOrSearch",
    "Gather",
    "Op",
    "PurgeExpired",
    "ScanEntries",
    "SemanticRecord",
    "EvictionPolicy",
    "StoreEviction",
    "WithPromptVector",
    "LeaseAcquire",
    "LeaseRelease",
    "Sleep",
    "WaitFlight",
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
    "ListAppend",
    "ListAppended",
    "ListDelete",
    "ListDeleteSeqs",
    "ListIdle",
    "ListInfo",
    "ListKeys",
    "ListRange",
    "ListReplace",
    "ListRestore",
    "ListSnapshot",
    "ListSnapshotted",
    "ListStatus",
    "ListTrimThrough",
    "Touch",
    "Upsert",
    "Upserted",
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
    ``use_store=False`` keeps the vector in memory only: for an embedder cheaper than a store round trip.
    """

    text: str
    use_store: bool = True


@dataclass(frozen=True, slots=True)
class EmbedMany(Op):
    """`Embed` for several texts at once: one read of the store and one model call for those it lacks.
    Result: ``list[Vector]``, in order. Handled by the engine's driver (``update_many``)."""

    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WithPromptVector(Op):
    """Run ``op`` and, in the same round trip where the store can, load ``text``'s stored prompt vector.

    Handled by the engine's driver. A lookup must check the exact key before embedding (an exact hit needs no
    embedding), yet on a networked store each step is a round trip: this lets the exact check and the read of
    an already stored prompt vector share one, so the ``Embed`` that may follow needs no I/O. Result: ``op``'s.
    """

    op: Op
    text: str


@dataclass(frozen=True, slots=True)
class Gather(Op):
    """Independent storage operations a backend may send together. Result: their results, in order.

    On Redis they share one pipelined round trip, which costs more than the work of most operations. Every
    operation runs; the first failure is raised afterwards.
    """

    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class Deferred(Op):
    """A write nobody waits for (a cache fill that only saves work later). Result: ``None``.

    A backend may hold it and send it with its next command, so it costs no round trip of its own; its
    failure is then logged, not raised. Embedded backends simply run it.
    """

    op: Op


@dataclass(frozen=True, slots=True)
class Verify(Op):
    """Score a lookup's candidates with the semantic tier's verifier: ``compute()``. Result: one score each.

    Handled by the engine's driver, not by a backend. ``blocking`` (a user's callable, which may call a model)
    makes the async driver run it in a worker thread; the bundled head is cheaper than that hop and runs inline.
    """

    compute: Callable[[], list[float]]
    blocking: bool


@dataclass(frozen=True, slots=True)
class EnsureSettings(Op):
    """Store each setting not stored yet, atomically. Result: ``dict[str, str]`` of all settings now stored.

    The caller compares the result with what it asked for, so two processes racing to create a store agree.
    ``replace`` holds settings stored whatever was there (an applied calibration's threshold).
    """

    namespace: str
    values: dict[str, str] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)


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
class ExactOrSearch(Op):
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
class Upsert(Op):
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


# -- miss coalescing (see `lix_integrations.tiers.coalesce`) ----------------------------------------------
#
# A lease marks a miss some process is filling, so other processes wait for its answer instead of calling the
# LLM too. Its expiry runs on the store's own clock (Redis PX, the wall clock of a SQLite file's users), never the
# engine's injectable one: it bounds how long a crashed process can delay the others in real time.


@dataclass(frozen=True, slots=True)
class LeaseAcquire(Op):
    """Take lease ``key`` for ``ttl`` seconds unless another token holds a live one. Result: ``bool``."""

    namespace: str
    key: str
    token: str
    ttl: float


@dataclass(frozen=True, slots=True)
class LeaseRelease(Op):
    """Give lease ``key`` back if ``token`` still holds it. Result: ``bool`` (it did)."""

    namespace: str
    key: str
    token: str


@dataclass(frozen=True, slots=True)
class WaitFlight(Op):
    """Wait up to ``timeout`` seconds for an in-process flight to finish. Result: ``bool`` (it finished).

    Handled by the engine's drivers (a blocking wait on a thread, an await on a task), not by a backend.
    """

    flight: Any
    timeout: float


@dataclass(frozen=True, slots=True)
class Sleep(Op):
    """Pause ``seconds`` (``time.sleep`` / ``asyncio.sleep``). Result: ``None``. Handled by the drivers."""

    seconds: float


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
class KvPutIf(Op):
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
class KvExpire(Op):
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


@dataclass(frozen=True, slots=True)
class LoadModel(Op):
    """Load an embedding model before its first batch, so its load time is not counted as computing.

    ``load()`` blocks (the async driver runs it in a worker thread) and returns the seconds it spent loading
    (``0.0`` when the model was already loaded). Result: those seconds.
    """

    load: Callable[[], float]


# -- append-only lists (session tier) -------------------------------------------------------------------------
#
# One list per (namespace, key): items are opaque bytes, each with a sequence number the BACKEND assigns
# atomically and that only grows while the list exists (lix-open-cache took ids from the clock and lost 23-32%
# of messages added back to back). Every op is small and self-contained so a Redis backend can run each one
# as a single MULTI/EXEC or Lua script. ``base_seq`` and ``archived_through`` let the session tier keep a list
# consistent with its cold archive on disk without a distributed transaction:
#   * ``archived_through`` is the highest seq ever trimmed (trimmed items must already be in the archive), so
#     an archive that ends before it is known to be truncated;
#   * ``base_seq`` is the first seq of the current history: ``ListReplace`` moves it past every old item, so
#     archived copies of replaced items are void even if deleting the archive file did not happen.


@dataclass(frozen=True, slots=True)
class ListStatus:
    """What a list holds, without its items.

    ``first_seq``/``last_seq`` are ``None`` when no item is held. ``next_seq`` is the seq the next append gets.
    """

    length: int
    first_seq: int | None
    last_seq: int | None
    next_seq: int
    updated_at: float
    base_seq: int
    archived_through: int


@dataclass(frozen=True, slots=True)
class ListAppended:
    """Result of `ListAppend`: the seqs given to the values, in order, and the list length after.

    ``missing``: the list did not exist and the append asked not to create it; nothing was stored. ``created``:
    this append created the list. ``recovered``: items the store still held for a list whose status it had lost
    (a Redis key evicted or deleted on its own); the new status continues after them instead of reusing seqs.
    """

    seqs: tuple[int, ...]
    length: int
    missing: bool = False
    created: bool = False
    recovered: int = 0
    #: The list's version stamp after this append and the one it replaced (see `ListSnapshot`); empty
    #: on backends that keep none. Not part of equality: what the list holds is.
    version: str = field(default="", compare=False)
    previous: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class ListAppend(Op):
    """Append ``values`` in order as one atomic step. Result: `ListAppended`.

    Seqs are consecutive, start at ``max(next_seq, min_seq)`` and are never reused while the list exists.
    ``updated_at`` becomes ``now``. A missing list is created when ``create`` is true (with ``archived_through``
    as given, and ``next_seq`` past any item the store still holds under that key); otherwise nothing is stored
    and the result says ``missing``, so the caller can learn what the list's history was before seqs are given.
    """

    namespace: str
    key: str
    values: tuple[bytes, ...]
    now: float
    min_seq: int = 1
    create: bool = True
    archived_through: int = 0


@dataclass(frozen=True, slots=True)
class ListRange(Op):
    """Items in seq order. Result: ``list[tuple[int, bytes | None]]``.

    A value is ``None`` when the store still lists the seq but lost its value (Redis evicted or deleted the key
    holding the values on its own); embedded stores never return ``None``.

    ``after_seq`` skips items with seq <= it; ``limit`` keeps the first ``limit`` of the rest; ``last_n``
    keeps the last ``last_n`` of the rest (applied after ``after_seq``, before ``limit``).
    """

    namespace: str
    key: str
    after_seq: int | None = None
    limit: int | None = None
    last_n: int | None = None


@dataclass(frozen=True, slots=True)
class ListSnapshot(Op):
    """A list's status and every item, in one step. Result: `ListSnapshotted`.

    ``known`` is a version stamp from an earlier snapshot or append of this list: when the list is unchanged
    since, the result carries no items (the caller still holds them). A backend that keeps no stamps always
    returns the items, with an empty ``version``.
    """

    namespace: str
    key: str
    known: str = ""


@dataclass(frozen=True, slots=True)
class ListSnapshotted:
    """Result of `ListSnapshot`. ``items`` is ``None`` when the list is unchanged since ``known``: the
    caller's status and items still hold (``status`` is then ``None``). ``status`` is ``None`` too when the
    list does not exist (``items`` are then what the store still holds under its key)."""

    status: ListStatus | None
    version: str
    items: list[tuple[int, bytes | None]] | None


@dataclass(frozen=True, slots=True)
class ListRestore(Op):
    """Put back ``items`` (seq, value) that were archived, e.g. to re-hydrate a hot window. Result: ``int`` added.

    Items whose seq is held already or is below ``base_seq`` are skipped; ``next_seq`` grows past the largest
    seq given; ``updated_at`` becomes ``now``. A missing list is left missing (result 0): only an append that
    knows the list's history creates it.
    """

    namespace: str
    key: str
    items: tuple[tuple[int, bytes], ...]
    now: float


@dataclass(frozen=True, slots=True)
class ListTrimThrough(Op):
    """Drop items with seq <= ``seq`` (they were archived); ``archived_through`` grows to ``seq``.

    Result: ``int`` dropped. ``updated_at`` is unchanged (archiving is not activity). No-op on a missing list.
    """

    namespace: str
    key: str
    seq: int


@dataclass(frozen=True, slots=True)
class ListDeleteSeqs(Op):
    """Drop the items with these seqs (order of the others unchanged). Result: ``int`` dropped."""

    namespace: str
    key: str
    seqs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ListReplace(Op):
    """Replace every item by ``values`` atomically. Result: `ListAppended`.

    New seqs continue after every seq ever given, and at ``min_seq`` or later; ``base_seq`` becomes the first
    of them (or the next seq when ``values`` is empty), so anything stored elsewhere under older seqs no longer
    belongs to the list.
    """

    namespace: str
    key: str
    values: tuple[bytes, ...]
    now: float
    min_seq: int = 1


@dataclass(frozen=True, slots=True)
class ListDelete(Op):
    """Forget a list entirely (items, seq counter, status). Result: ``int`` items dropped."""

    namespace: str
    key: str


@dataclass(frozen=True, slots=True)
class ListExpire(Op):
    """Let the store drop the list on its own ``ttl`` seconds from now, if it can (Redis: ``PEXPIRE`` on the
    list's keys). Result: ``None``. Stores that cannot (memory, SQLite) do nothing: the session tier checks a
    session's TTL against its clock on every call (`lix_integrations.tiers.session_ttl`)."""

    namespace: str
    key: str
    ttl: float


@dataclass(frozen=True, slots=True)
class ListInfo(Op):
    """The status of one list. Result: `ListStatus` or ``None`` if the list does not exist."""

    namespace: str
    key: str


@dataclass(frozen=True, slots=True)
class ListKeys(Op):
    """Keys of existing lists starting with ``prefix``, sorted, at most ``limit``, after key ``after``.

    Result: ``list[str]``. A page at a time, never every key of the store at once.
    """

    namespace: str
    prefix: str = ""
    limit: int = 1000
    after: str | None = None


@dataclass(frozen=True, slots=True)
class ListIdle(Op):
    """Keys of lists that hold items and were last updated before ``older_than``. Result: ``list[str]``.

    Oldest first, at most ``limit``.
    """

    namespace: str
    older_than: float
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class StoreEviction(Op):
    """How the store may drop keys on its own when full. Result: `EvictionPolicy`.

    Embedded stores never evict (``"noeviction"``, like Redis's default); Redis reports its ``maxmemory-policy``
    and ``maxmemory`` (``None`` each when the server refuses ``CONFIG GET``, as managed services may).
    """


@dataclass(frozen=True, slots=True)
class EvictionPolicy:
    policy: str | None
    maxmemory: int | None


# -- semantic record listing (``lix inspect``) ------------------------------------------------------------------
#
# Read-only and paged, for tools that show what a cache holds. Lookups never use it.


@dataclass(frozen=True, slots=True)
class ScanEntries(Op):
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
