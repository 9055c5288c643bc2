"""Storage ops of append-only lists (the session tier).

One list per (namespace, key): items are opaque bytes, each with a sequence number the BACKEND assigns
atomically and that only grows while the list exists (lix-open-cache took ids from the clock and lost 23-32%
of messages added back to back). Every op is small and self-contained so a Redis backend can run each one
as a single MULTI/EXEC or Lua script. ``base_seq`` and ``archived_through`` let the session tier keep a list
consistent with its cold archive on disk without a distributed transaction:
  * ``archived_through`` is the highest seq ever trimmed (trimmed items must already be in the archive), so
    an archive that ends before it is known to be truncated;
  * ``base_seq`` is the first seq of the current history: ``ListReplace`` moves it past every old item, so
    archived copies of replaced items are void even if deleting the archive file did not happen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .op import NamespaceOp, Op, R, bind_methods, set_init, slot_setters

__all__ = [
    "LIST_METHODS",
    "EvictionPolicy",
    "ListAppend",
    "ListAppended",
    "ListDelete",
    "ListDeleteSeqs",
    "ListExpire",
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
    "StoreEviction",
    "list_handlers",
]


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
class ListOp(NamespaceOp[R]):
    """Base of the ops on one list: ``(namespace, key)`` addresses it. Never sent itself."""

    key: str


@dataclass(frozen=True, slots=True)
class ListWrite(ListOp[ListAppended]):
    """Base of the ops that give ``values`` new seqs as one atomic step. Result: `ListAppended`.

    Seqs are consecutive, at ``min_seq`` or later, and never reused while the list exists; ``updated_at``
    becomes ``now``. Never sent itself.
    """

    values: tuple[bytes, ...]
    now: float
    min_seq: int = 1


@dataclass(frozen=True, slots=True)
class ListAppend(ListWrite):
    """Append ``values`` in order (`ListWrite`): their seqs start at ``max(next_seq, min_seq)``.

    A missing list is created when ``create`` is true (with ``archived_through`` as given, and ``next_seq`` past
    any item the store still holds under that key); otherwise nothing is stored and the result says ``missing``,
    so the caller can learn what the list's history was before seqs are given.
    """

    create: bool = True
    archived_through: int = 0


# Made on every chat append: set through their slots (see `set_init`).
def _append_init() -> Callable[..., None]:
    namespace_, key_, values_, now_, min_seq_, create_, archived_through_ = slot_setters(ListAppend)

    def __init__(
        self: ListAppend,
        namespace: str,
        key: str,
        values: tuple[bytes, ...],
        now: float,
        min_seq: int = 1,
        create: bool = True,
        archived_through: int = 0,
    ) -> None:
        namespace_(self, namespace)
        key_(self, key)
        values_(self, values)
        now_(self, now)
        min_seq_(self, min_seq)
        create_(self, create)
        archived_through_(self, archived_through)

    return __init__


def _appended_init() -> Callable[..., None]:
    seqs_, length_, missing_, created_, recovered_, version_, previous_ = slot_setters(ListAppended)

    def __init__(
        self: ListAppended,
        seqs: tuple[int, ...],
        length: int,
        missing: bool = False,
        created: bool = False,
        recovered: int = 0,
        version: str = "",
        previous: str = "",
    ) -> None:
        seqs_(self, seqs)
        length_(self, length)
        missing_(self, missing)
        created_(self, created)
        recovered_(self, recovered)
        version_(self, version)
        previous_(self, previous)

    return __init__


set_init(ListAppend, _append_init())
set_init(ListAppended, _appended_init())


@dataclass(frozen=True, slots=True)
class ListRange(ListOp[list[tuple[int, bytes | None]]]):
    """Items in seq order. Result: ``list[tuple[int, bytes | None]]``.

    A value is ``None`` when the store still lists the seq but lost its value (Redis evicted or deleted the key
    holding the values on its own); embedded stores never return ``None``.

    ``after_seq`` skips items with seq <= it; ``limit`` keeps the first ``limit`` of the rest; ``last_n``
    keeps the last ``last_n`` of the rest (applied after ``after_seq``, before ``limit``).
    """

    after_seq: int | None = None
    limit: int | None = None
    last_n: int | None = None


@dataclass(frozen=True, slots=True)
class ListSnapshotted:
    """Result of `ListSnapshot`. ``items`` is ``None`` when the list is unchanged since ``known``: the
    caller's status and items still hold (``status`` is then ``None``). ``status`` is ``None`` too when the
    list does not exist (``items`` are then what the store still holds under its key)."""

    status: ListStatus | None
    version: str
    items: list[tuple[int, bytes | None]] | None


@dataclass(frozen=True, slots=True)
class ListSnapshot(ListOp[ListSnapshotted]):
    """A list's status and every item, in one step. Result: `ListSnapshotted`.

    ``known`` is a version stamp from an earlier snapshot or append of this list: when the list is unchanged
    since, the result carries no items (the caller still holds them). A backend that keeps no stamps always
    returns the items, with an empty ``version``.
    """

    known: str = ""


@dataclass(frozen=True, slots=True)
class ListRestore(ListOp[int]):
    """Put back ``items`` (seq, value) that were archived, e.g. to re-hydrate a hot window. Result: ``int`` added.

    Items whose seq is held already or is below ``base_seq`` are skipped; ``next_seq`` grows past the largest
    seq given; ``updated_at`` becomes ``now``. A missing list is left missing (result 0): only an append that
    knows the list's history creates it.
    """

    items: tuple[tuple[int, bytes], ...]
    now: float


@dataclass(frozen=True, slots=True)
class ListTrimThrough(ListOp[int]):
    """Drop items with seq <= ``seq`` (they were archived); ``archived_through`` grows to ``seq``.

    Result: ``int`` dropped. ``updated_at`` is unchanged (archiving is not activity). No-op on a missing list.
    """

    seq: int


@dataclass(frozen=True, slots=True)
class ListDeleteSeqs(ListOp[int]):
    """Drop the items with these seqs (order of the others unchanged). Result: ``int`` dropped."""

    seqs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ListReplace(ListWrite):
    """Replace every item by ``values`` (`ListWrite`).

    New seqs continue after every seq ever given; ``base_seq`` becomes the first of them (or the next seq when
    ``values`` is empty), so anything stored elsewhere under older seqs no longer belongs to the list.
    """


@dataclass(frozen=True, slots=True)
class ListDelete(ListOp[int]):
    """Forget a list entirely (items, seq counter, status). Result: ``int`` items dropped."""


@dataclass(frozen=True, slots=True)
class ListExpire(ListOp[None]):
    """Let the store drop the list on its own ``ttl`` seconds from now, if it can (Redis: ``PEXPIRE`` on the
    list's keys). Result: ``None``. Stores that cannot (memory, SQLite) do nothing: the session tier checks a
    session's TTL against its clock on every call (`lix_integrations.tiers.session_ttl`)."""

    ttl: float


@dataclass(frozen=True, slots=True)
class ListInfo(ListOp[ListStatus | None]):
    """The status of one list. Result: `ListStatus` or ``None`` if the list does not exist."""


@dataclass(frozen=True, slots=True)
class ListKeys(NamespaceOp[list[str]]):
    """Keys of existing lists starting with ``prefix``, sorted, at most ``limit``, after key ``after``.

    Result: ``list[str]``. A page at a time, never every key of the store at once.
    """

    prefix: str = ""
    limit: int = 1000
    after: str | None = None


@dataclass(frozen=True, slots=True)
class ListIdle(NamespaceOp[list[str]]):
    """Keys of lists that hold items and were last updated before ``older_than``. Result: ``list[str]``.

    Oldest first, at most ``limit``.
    """

    older_than: float
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class EvictionPolicy:
    policy: str | None
    maxmemory: int | None


@dataclass(frozen=True, slots=True)
class StoreEviction(Op[EvictionPolicy]):
    """How the store may drop keys on its own when full. Result: `EvictionPolicy`.

    Embedded stores never evict (``"noeviction"``, like Redis's default); Redis reports its ``maxmemory-policy``
    and ``maxmemory`` (``None`` each when the server refuses ``CONFIG GET``, as managed services may).
    """


#: The method of a backend's list store that carries out each list op (`list_handlers`). `ListSnapshot`,
#: `ListExpire` and `StoreEviction` are not here: `Backend` answers them for a store without version stamps,
#: expiry or eviction (the embedded ones), and Redis registers its own.
LIST_METHODS: Mapping[type[Op], str] = {
    ListAppend: "append",
    ListRange: "range",
    ListRestore: "restore",
    ListTrimThrough: "trim_through",
    ListDeleteSeqs: "delete_seqs",
    ListReplace: "replace",
    ListDelete: "delete",
    ListInfo: "info",
    ListKeys: "keys",
    ListIdle: "idle",
}


def list_handlers(store: object) -> dict[type[Op], Callable[[Any], Any]]:
    """The handler table of a backend's list store: ``store.append`` for `ListAppend`, and so on (`LIST_METHODS`)."""
    return bind_methods(store, LIST_METHODS)
