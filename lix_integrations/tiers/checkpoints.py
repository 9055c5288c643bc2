"""The checkpoint tier: LangGraph-style checkpoints of agent threads, stored without O(N^2) growth.

The engine never sees a framework object: an adapter hands this tier typed bytes (``Typed``, as LangGraph's
serializer produces them) and gets typed bytes back. What the tier decides is where they go, how long they stay
and what a deleted thread refuses.

Layout. Every record of one thread lives in one key-value table, ``lg/<thread_id>``: on Redis that is one hash
slot (``{k/<namespace>/lg%2F<thread_id>}``), so a thread's operations are single scripts on one Cluster node and
never ``CROSSSLOT``. Keys inside the table (components escaped, see :func:`_part`)::

    c<ns><inverted checkpoint id>   the checkpoint (no channel values), metadata, parent, channel versions
    b<ns><channel><version>         one channel value per version, written once: the value, or a list manifest
    i<ns><channel><item digest>     one item of a list value (a chat message), stored once per thread
    w<ns><checkpoint><task><idx>    one pending write
    t  tombstone of a deleted thread     e  expiry (ttl)     g  generation (changes when items may be gone)

Why items. A chat agent's ``messages`` channel is a list that grows by a few messages per step, and LangGraph
hands a saver the whole list at every step. Savers that store it whole (``SqliteSaver`` stores every checkpoint
with every value) grow with the square of the turns: 150 MB for one long run was reported. Here a list value is
a manifest of 8-byte item digests, and each item is stored once, so a 100-turn thread stores each message once
plus 8 bytes per message per version. Checkpoint records are listed newest first by a key scan: the id is
inverted character by character (:func:`invert_id`) so ascending key order is descending id order.

Tombstones. ``delete_thread`` first writes a tombstone (expiring after ``tombstone_grace``) and then deletes the
rest. A late write is one that continues the deleted history: a ``put`` whose parent checkpoint is gone, or a
``put_writes`` to a checkpoint that is gone. Each write stores its records and, in the same round trip, reads the
tombstone and the checkpoint it continues; a late one then deletes what it wrote. Every interleaving of the two
steps of each side ends with the old history deleted: either the delete ran after the write, or the write saw
the tombstone (LangGraph issue 7206: late writes of a cancelled run revived deleted threads). A new history on
the same thread id (a put without parent) is not late, so "clear the conversation, keep the thread id" works.

Retention. ``keep_last`` keeps the newest checkpoints of each namespace (checked on every put, one key scan);
values and items no kept checkpoint references are collected every ``keep_last`` puts and by ``prune``. ``ttl``
expires a thread that many seconds after its last put (or read, with ``refresh_on_read``): reads treat it as
gone at once; ``sweep_expired`` (``lix checkpoints prune --expired``) frees its storage.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, SerializationError
from ..kernel.clock import Clock
from ..kernel.flows import Flow
from ..kernel.ops import Gather, KvDelete, KvDeleteWhere, KvGet, KvItem, KvPut, KvScan
from .checkpoint_records import (
    DIGEST,
    EXPIRY,
    GENERATION,
    SEP,
    TOMBSTONE,
    BlobValue,
    ListValue,
    NewCheckpoint,
    StoredCheckpoint,
    StoredWrite,
    ThreadInfo,
    Typed,
    bkey,
    ckey,
    cprefix,
    decode_item,
    encode_blob,
    encode_item,
    encode_record,
    ikey,
    item_digest,
    key_part,
    pack,
    parse_record,
    parse_write,
    thread_table,
    uninvert_id,
    unpack,
    unpart,
    validate_name,
    wkey,
    wprefix,
    writes_order,
)

__all__ = [
    "BlobValue",
    "CheckpointConfig",
    "CheckpointTier",
    "ListValue",
    "NewCheckpoint",
    "StoredCheckpoint",
    "StoredWrite",
    "ThreadInfo",
    "Typed",
]

logger = logging.getLogger(__name__)

THREADS_TABLE = "lg-index/threads"
RUNS_TABLE = "lg-index/runs"
_PAGE = 256


def _seconds(name: str, value: object, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or math.isinf(value):
        raise ConfigError(f"checkpoints {name} must be a non-negative number of seconds, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class CheckpointConfig:
    """Retention of checkpointed threads.

    ``ttl`` (seconds, ``None``: keep): a thread expires this long after its last put; ``refresh_on_read`` also
    counts reads as activity. ``keep_last``: newest checkpoints kept per thread namespace (``None``: all).
    ``tombstone_grace`` (seconds): how long a deleted thread refuses late writes; ``0`` disables tombstones.
    """

    ttl: float | None = None
    refresh_on_read: bool = False
    keep_last: int | None = None
    tombstone_grace: float = 600.0

    def __post_init__(self) -> None:
        _seconds("ttl", self.ttl, allow_none=True)
        if self.ttl is not None and self.ttl <= 0:
            raise ConfigError(f"checkpoints ttl must be positive or None, got {self.ttl!r}")
        _seconds("tombstone_grace", self.tombstone_grace, allow_none=False)
        keep = self.keep_last
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise ConfigError(f"checkpoints keep_last must be a positive integer or None, got {keep!r}")
        if not isinstance(self.refresh_on_read, bool):
            raise ConfigError(f"checkpoints refresh_on_read must be a bool, got {self.refresh_on_read!r}")


# -- values the adapter exchanges with the tier ---------------------------------------------------------------


class _Known:
    """Which item digests this process has stored per thread (so a put writes only new messages), the thread's
    generation when it learned them, and puts since the last collection. Bounded; losing it costs only a
    rewrite of items already stored."""

    def __init__(self, max_threads: int = 512) -> None:
        self._lock = threading.Lock()
        self._max = max_threads
        self._threads: OrderedDict[str, tuple[str | None, set[bytes], int]] = OrderedDict()

    def get(self, table: str) -> tuple[str | None, set[bytes], int]:
        with self._lock:
            entry = self._threads.get(table)
            if entry is None:
                return None, set(), 0
            self._threads.move_to_end(table)
            return entry[0], set(entry[1]), entry[2]

    def set(self, table: str, generation: str | None, digests: Iterable[bytes], puts: int) -> None:
        with self._lock:
            self._threads[table] = (generation, set(digests), puts)
            self._threads.move_to_end(table)
            while len(self._threads) > self._max:
                self._threads.popitem(last=False)

    def forget(self, table: str) -> None:
        with self._lock:
            self._threads.pop(table, None)


class _Items:
    """List items this process wrote or read, by thread table and item key, up to ``max_bytes`` (LRU).

    An item key is its content digest, so what it names never changes: a read takes items from here and asks
    the store only for the others (a 100-turn thread re-reads ~300 messages, 450 KB, at every turn otherwise).
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._lock = threading.Lock()
        self._max = max_bytes
        self._size = 0
        self._items: OrderedDict[tuple[str, str], Typed] = OrderedDict()

    def get(self, table: str, keys: Iterable[str]) -> dict[str, Typed]:
        found: dict[str, Typed] = {}
        with self._lock:
            for key in keys:
                item = self._items.get((table, key))
                if item is not None:
                    self._items.move_to_end((table, key))
                    found[key] = item
        return found

    def forget(self, table: str) -> None:
        """Drop a deleted thread's items (rare: a scan of the cache)."""
        with self._lock:
            for key in [k for k in self._items if k[0] == table]:
                self._size -= len(self._items.pop(key).data)

    def add(self, table: str, items: Iterable[tuple[str, Typed]]) -> None:
        with self._lock:
            for key, item in items:
                if (table, key) in self._items:
                    continue
                self._items[(table, key)] = item
                self._size += len(item.data)
            while self._size > self._max and self._items:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped.data)


@dataclass
class _Stats:
    puts: int = 0
    items_written: int = 0
    items_reused: int = 0
    refused_late_writes: int = 0
    collections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


# -- the tier -------------------------------------------------------------------------------------------------


class CheckpointTier:
    """Policy of checkpoint storage; every public method returns a flow for the engine's drivers to run."""

    def __init__(self, config: CheckpointConfig, namespace: str, clock: Clock) -> None:
        if not isinstance(config, CheckpointConfig):
            raise ConfigError(f"checkpoints must be a CheckpointConfig, got {type(config).__name__}")
        self.config = config
        self._ns = namespace
        self._clock = clock
        self._known = _Known()
        self._items = _Items()
        # item digests by the identity of the Typed the adapter's serializer memo hands back for a message it
        # already serialized (the same object at every put); the Typed is held, so its id stays its own
        self._digests: dict[int, tuple[Typed, bytes]] = {}
        self.stats = _Stats()

    def _digest(self, item: Typed) -> bytes:
        entry = self._digests.get(id(item))
        if entry is not None and entry[0] is item:
            return entry[1]
        digest = item_digest(item)
        if len(self._digests) >= 20_000:
            self._digests.clear()
        self._digests[id(item)] = (item, digest)
        return digest

    # -- writing ---------------------------------------------------------------------------------------------

    def put(self, cp: NewCheckpoint) -> Flow[bool]:
        """Store a checkpoint. Returns ``False`` when the thread was deleted meanwhile (nothing is kept)."""
        table = thread_table(cp.thread_id)
        validate_name("checkpoint_ns", cp.ns, allow_empty=True)
        record_key = ckey(cp.ns, cp.checkpoint_id)
        generation, known, puts = self._known.get(table)
        items: list[KvItem] = [KvItem(record_key, encode_record(cp))]
        new_digests: set[bytes] = set()
        pending_items: dict[bytes, tuple[str, Typed]] = {}
        for channel, (token, value) in cp.blobs.items():
            raw, list_items = encode_blob(value, self._digest)
            items.append(KvItem(bkey(cp.ns, validate_name("channel", channel), token), raw))
            for digest, item in list_items:
                pending_items[digest] = (channel, item)
        fresh = 0
        for digest, (channel, item) in pending_items.items():
            if digest in known:
                continue
            items.append(KvItem(ikey(cp.ns, channel, digest), encode_item(item)))
            new_digests.add(digest)
            fresh += 1
        now = self._clock.now()
        if self.config.ttl is not None:
            items.append(KvItem(EXPIRY, str(now + self.config.ttl).encode()))
        checks = (TOMBSTONE, GENERATION) + (() if cp.parent_id is None else (ckey(cp.ns, cp.parent_id),))
        _, (tomb, gen, *parent) = yield Gather(
            (KvPut(self._ns, table, tuple(items), now), KvGet(self._ns, table, checks, now, touch=False))
        )
        if tomb is not None and parent and parent[0] is None:
            yield from self._undo(table, [item.key for item in items], cp.thread_id)
            return False
        stored_gen = None if gen is None else gen.decode()
        stale = generation is not None and stored_gen != generation
        if stored_gen is None:  # a new thread, or one deleted (by any process) since this process last wrote
            stored_gen = secrets.token_hex(8)
            yield KvPut(self._ns, table, (KvItem(GENERATION, stored_gen.encode()),), now)
        if stale and len(pending_items) > fresh:
            # Items this process believed stored may have been collected or deleted meanwhile: write them again.
            again = tuple(
                KvItem(ikey(cp.ns, ch, d), encode_item(it)) for d, (ch, it) in pending_items.items()
            )
            yield KvPut(self._ns, table, again, now)
            known = set()
            fresh = len(pending_items)
        if generation is None or stored_gen != generation:
            yield from self._index(cp.thread_id, cp.run_id, now)
        elif cp.run_id is not None:
            yield KvPut(
                self._ns, RUNS_TABLE, (KvItem(f"{key_part(cp.run_id)}{SEP}{cp.thread_id}", b""),), now
            )
        self._items.add(
            table, ((ikey(cp.ns, ch, d), it) for d, (ch, it) in pending_items.items() if d not in known)
        )
        self.stats.add(puts=1, items_written=fresh, items_reused=len(pending_items) - fresh)
        puts += 1
        keep = self.config.keep_last
        self._known.set(table, stored_gen, known | set(pending_items), puts)
        if keep is not None:
            yield from self._trim(table, cp.ns, keep)
            if puts % keep == 0:
                yield from self.collect(cp.thread_id)
        return True

    def _index(self, thread_id: str, run_id: str | None, now: float) -> Flow[None]:
        expires = None if self.config.ttl is None else now + self.config.ttl
        entry = json.dumps({"t": now, "e": expires}).encode()
        ops: list[Any] = [KvPut(self._ns, THREADS_TABLE, (KvItem(thread_id, entry),), now)]
        if run_id is not None:
            ops.append(
                KvPut(self._ns, RUNS_TABLE, (KvItem(f"{key_part(run_id)}{SEP}{thread_id}", b""),), now)
            )
        yield Gather(tuple(ops))

    def _undo(self, table: str, keys: Sequence[str], thread_id: str) -> Flow[None]:
        """A late write to a deleted thread: delete what it wrote (the tombstone stays)."""
        yield KvDelete(self._ns, table, tuple(k for k in keys if k not in (TOMBSTONE, GENERATION)))
        self._known.forget(table)
        self.stats.add(refused_late_writes=1)
        logger.warning(
            "refused a write to deleted thread %r (tombstone within its grace period)", thread_id[:80]
        )

    def put_writes(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        writes: Sequence[tuple[str, Typed, int]],
        task_id: str,
        task_path: str,
    ) -> Flow[bool]:
        """Store pending writes (channel, value, idx). A write with idx >= 0 already stored is kept as it was;
        special writes (negative idx: errors, interrupts) replace theirs, as LangGraph's savers do."""
        table = thread_table(thread_id)
        validate_name("checkpoint_ns", ns, allow_empty=True)
        validate_name("checkpoint_id", checkpoint_id)
        validate_name("task_id", task_id)
        if not writes:
            return True
        now = self._clock.now()
        keyed = [(wkey(ns, checkpoint_id, task_id, idx), ch, v, idx) for ch, v, idx in writes]
        positive = tuple(k for k, _, _, idx in keyed if idx >= 0)
        present: list[bytes | None] = []
        if positive:
            present = yield KvGet(self._ns, table, positive, now, touch=False)
        exists = {k for k, raw in zip(positive, present) if raw is not None}
        items = tuple(
            KvItem(
                key,
                pack(
                    task_id.encode(),
                    ch.encode(),
                    v.type.encode(),
                    v.data,
                    task_path.encode(),
                    str(idx).encode(),
                ),
            )
            for key, ch, v, idx in keyed
            if key not in exists
        )
        if not items:
            return True
        checks = (TOMBSTONE, ckey(ns, checkpoint_id))
        _, (tomb, record) = yield Gather(
            (KvPut(self._ns, table, items, now), KvGet(self._ns, table, checks, now, touch=False))
        )
        if tomb is not None and record is None:
            yield from self._undo(table, [item.key for item in items], thread_id)
            return False
        return True

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, thread_id: str, ns: str, checkpoint_id: str | None) -> Flow[StoredCheckpoint | None]:
        """One checkpoint (the newest of ``ns`` when ``checkpoint_id`` is ``None``): three round trips, the
        thread's expiry read with the channel values."""
        table = thread_table(thread_id)
        validate_name("checkpoint_ns", ns, allow_empty=True)
        now = self._clock.now()
        if checkpoint_id is not None:
            if (
                not isinstance(checkpoint_id, str)
                or not checkpoint_id.isascii()
                or not checkpoint_id.isprintable()
            ):
                return None
            key = ckey(ns, checkpoint_id)
            (raw,) = yield KvGet(self._ns, table, (key,), now, touch=False)
            pairs = [] if raw is None else [(key, raw)]
        else:
            page = yield KvScan(self._ns, table, now, prefix=cprefix(ns), limit=1)
            pairs = [(k, v) for k, v in page if k.startswith(cprefix(ns))]
        if not pairs:
            return None
        found, expiry = yield from self._hydrate(thread_id, table, [(key_part(ns), pairs[0][0], pairs[0][1])])
        if self._expired(expiry, now):
            return None
        yield from self._refresh(thread_id, table, now)
        return found[0]

    def history(
        self,
        thread_id: str,
        ns: str | None,
        *,
        before: str | None = None,
        limit: int | None = None,
        keep: Any = None,
    ) -> Flow[list[StoredCheckpoint]]:
        """Checkpoints of a thread, newest first per namespace (every namespace when ``ns`` is ``None``).

        ``before``: only ids below it. ``keep``: a predicate on the metadata (``Typed``), applied before ``limit``.
        """
        table = thread_table(thread_id)
        if ns is not None:
            validate_name("checkpoint_ns", ns, allow_empty=True)
        now = self._clock.now()
        (expiry,) = yield KvGet(self._ns, table, (EXPIRY,), now, touch=False)
        if self._expired(expiry, now):
            return []
        prefix = cprefix(ns)
        out: list[StoredCheckpoint] = []
        after: str | None = None
        while limit is None or len(out) < limit:
            page: list[tuple[str, bytes]] = yield KvScan(
                self._ns, table, now, prefix=prefix, limit=_PAGE, after=after
            )
            chosen: list[tuple[str, str, bytes]] = []
            for key, raw in page:
                if not key.startswith(prefix):
                    continue
                _, ns_part, inv = key.split(SEP, 2)
                cid = uninvert_id(inv)
                if before is not None and cid >= before:
                    continue
                if keep is not None and not keep(parse_record(raw, repr(key)).metadata):
                    continue
                chosen.append((ns_part, key, raw))
                if limit is not None and len(out) + len(chosen) >= limit:
                    break
            if chosen:
                hydrated, _ = yield from self._hydrate(thread_id, table, chosen)
                out.extend(hydrated)
            if len(page) < _PAGE:
                break
            after = page[-1][0]
        if out:
            yield from self._refresh(thread_id, table, now)
        return out

    def _expired(self, raw: bytes | None, now: float) -> bool:
        if raw is None:
            return False
        try:
            return float(raw) <= now
        except ValueError:
            raise SerializationError("stored thread expiry is corrupt") from None

    def _refresh(self, thread_id: str, table: str, now: float) -> Flow[None]:
        if self.config.ttl is not None and self.config.refresh_on_read:
            yield KvPut(self._ns, table, (KvItem(EXPIRY, str(now + self.config.ttl).encode()),), now)
            yield from self._index(thread_id, None, now)

    def _hydrate(
        self, thread_id: str, table: str, chosen: Sequence[tuple[str, str, bytes]]
    ) -> Flow[tuple[list[StoredCheckpoint], bytes | None]]:
        """Records (ns part, key, raw) with their values, items and writes, and the thread's stored expiry: two
        round trips for any number of records."""
        now = self._clock.now()
        records = []
        for ns_part, key, raw in chosen:
            rec = parse_record(raw, repr(key))
            ns = unpart(ns_part)
            records.append((ns, rec))
        blob_keys = sorted({bkey(ns, ch, tok) for ns, rec in records for ch, tok in rec.versions.items()})
        ops: list[Any] = [KvGet(self._ns, table, (*blob_keys, EXPIRY), now, touch=False)]
        ops += [KvScan(self._ns, table, now, prefix=wprefix(ns, rec.checkpoint_id)) for ns, rec in records]
        results = yield Gather(tuple(ops))
        *blob_values, expiry = results[0]
        blobs = dict(zip(blob_keys, blob_values))
        write_pages = results[1:]
        item_keys: set[str] = set()
        decoded: dict[str, Typed | None | list[bytes]] = {}
        for blob_key, raw in blobs.items():
            if raw is None:
                continue
            parts = unpack(raw, repr(blob_key))
            kind = parts[0] if parts else b""
            if kind == b"e":
                decoded[blob_key] = None
            elif kind == b"v" and len(parts) == 3:
                decoded[blob_key] = Typed(parts[1].decode(), parts[2])
            elif kind == b"l" and len(parts) == 2 and len(parts[1]) % DIGEST == 0:
                digests = [parts[1][i : i + DIGEST] for i in range(0, len(parts[1]), DIGEST)]
                decoded[blob_key] = digests
                _, ns_part, ch_part, _ = blob_key.split(SEP, 3)
                item_keys.update(f"i{SEP}{ns_part}{SEP}{ch_part}{SEP}{d.hex()}" for d in digests)
            else:
                raise SerializationError(f"stored channel value {blob_key!r} is corrupt or was tampered with")
        items = self._items.get(table, item_keys)
        if len(items) < len(item_keys):
            ordered = tuple(sorted(item_keys.difference(items)))
            raws: list[bytes | None] = yield KvGet(self._ns, table, ordered, now, touch=False)
            for ikey, item_raw in zip(ordered, raws):
                if item_raw is None:
                    continue
                item = decode_item(item_raw, ikey)
                if item_digest(item) != bytes.fromhex(ikey.rsplit(SEP, 1)[1]):
                    raise SerializationError(
                        f"stored list item {ikey!r} does not match its digest (tampered)"
                    )
                items[ikey] = item
            self._items.add(table, ((k, items[k]) for k in ordered if k in items))
        out = []
        for (ns, rec), page in zip(records, write_pages):
            values: dict[str, Typed | list[Typed]] = {}
            for ch, tok in rec.versions.items():
                blob_key = bkey(ns, ch, tok)
                value = decoded.get(blob_key)
                if value is None:
                    continue
                if isinstance(value, list):
                    prefix = f"i{SEP}{key_part(ns)}{SEP}{key_part(ch)}{SEP}"
                    listed = []
                    for d in value:
                        found = items.get(prefix + d.hex())
                        if found is None:
                            raise SerializationError(
                                f"thread {thread_id[:80]!r}: an item of channel {ch!r} is missing from the store"
                            )
                        listed.append(found)
                    values[ch] = listed
                else:
                    values[ch] = value
            writes = [parse_write(k, raw) for k, raw in page]
            writes.sort(key=writes_order)
            out.append(
                StoredCheckpoint(
                    thread_id=thread_id,
                    ns=ns,
                    checkpoint_id=rec.checkpoint_id,
                    parent_id=rec.parent_id,
                    checkpoint=rec.checkpoint,
                    metadata=rec.metadata,
                    values=values,
                    writes=writes,
                    run_id=rec.run_id,
                )
            )
        return out, expiry

    # -- deleting and retention ------------------------------------------------------------------------------

    def delete_thread(self, thread_id: str) -> Flow[None]:
        """Tombstone first, then everything else: a racing late write cannot bring the thread back."""
        table = thread_table(thread_id)
        now = self._clock.now()
        self._known.forget(table)
        self._items.forget(table)
        grace = self.config.tombstone_grace
        if grace > 0:
            yield KvPut(self._ns, table, (KvItem(TOMBSTONE, b"1", expires_at=now + grace),), now)
        ops = tuple(
            KvDeleteWhere(self._ns, table, prefix=p) for p in ("c" + SEP, "b" + SEP, "i" + SEP, "w" + SEP)
        )
        yield Gather(
            (
                *ops,
                KvDelete(self._ns, table, (EXPIRY, GENERATION)),
                KvDelete(self._ns, THREADS_TABLE, (thread_id,)),
            )
        )

    def delete_checkpoints(self, thread_id: str, doomed: Sequence[tuple[str, str]]) -> Flow[int]:
        """Delete checkpoints (ns, id) with their writes, then collect what nothing references any more."""
        if not doomed:
            return 0
        table = thread_table(thread_id)
        ops: list[Any] = [KvDelete(self._ns, table, tuple(ckey(ns, cid) for ns, cid in doomed))]
        ops += [KvDeleteWhere(self._ns, table, prefix=wprefix(ns, cid)) for ns, cid in doomed]
        yield Gather(tuple(ops))
        yield from self.collect(thread_id)
        return len(doomed)

    def prune(self, thread_id: str, keep_latest: int | None) -> Flow[int]:
        """Keep the newest ``keep_latest`` checkpoints of each namespace (``None``: delete every checkpoint)."""
        table = thread_table(thread_id)
        heads = yield from self._record_keys(table, None)
        doomed: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for ns, cid in heads:
            seen[ns] = seen.get(ns, 0) + 1
            if keep_latest is None or seen[ns] > keep_latest:
                doomed.append((ns, cid))
        return (yield from self.delete_checkpoints(thread_id, doomed))

    def _trim(self, table: str, ns: str, keep: int) -> Flow[None]:
        """keep_last on a put: drop the records (and writes) beyond the newest ``keep`` of the namespace."""
        now = self._clock.now()
        page = yield KvScan(self._ns, table, now, prefix=cprefix(ns), keys_only=True)
        extra = [k for k, _ in page if k.startswith(cprefix(ns))][keep:]
        if not extra:
            return
        doomed = [uninvert_id(k.split(SEP, 2)[2]) for k in extra]
        ops: list[Any] = [KvDelete(self._ns, table, tuple(extra))]
        ops += [KvDeleteWhere(self._ns, table, prefix=wprefix(ns, cid)) for cid in doomed]
        yield Gather(tuple(ops))

    def _record_keys(self, table: str, ns: str | None) -> Flow[list[tuple[str, str]]]:
        """(ns, checkpoint id) of every record, newest first per namespace."""
        now = self._clock.now()
        out: list[tuple[str, str]] = []
        after: str | None = None
        prefix = cprefix(ns)
        while True:
            page = yield KvScan(self._ns, table, now, prefix=prefix, keys_only=True, limit=1000, after=after)
            for key, _ in page:
                if key.startswith(prefix):
                    _, ns_part, inv = key.split(SEP, 2)
                    out.append((unpart(ns_part), uninvert_id(inv)))
            if len(page) < 1000:
                return out
            after = page[-1][0]

    def collect(self, thread_id: str) -> Flow[int]:
        """Delete channel values and items no stored checkpoint references. Returns how many went.

        The generation changes first, so a process that believes items are stored writes them again.
        """
        table = thread_table(thread_id)
        now = self._clock.now()
        yield KvPut(self._ns, table, (KvItem(GENERATION, secrets.token_hex(8).encode()),), now)
        self._known.forget(table)
        referenced: set[str] = set()
        after: str | None = None
        while True:
            page = yield KvScan(self._ns, table, now, prefix="c" + SEP, limit=_PAGE, after=after)
            for key, raw in page:
                rec = parse_record(raw, repr(key))
                ns = unpart(key.split(SEP, 2)[1])
                referenced.update(bkey(ns, ch, tok) for ch, tok in rec.versions.items())
            if len(page) < _PAGE:
                break
            after = page[-1][0]
        blob_keys = yield from self._keys(table, "b" + SEP)
        item_keys = yield from self._keys(table, "i" + SEP)
        live = [k for k in blob_keys if k in referenced]
        dead = [k for k in blob_keys if k not in referenced]
        wanted_items: set[str] = set()
        for start in range(0, len(live), _PAGE):
            chunk = tuple(live[start : start + _PAGE])
            raws = yield KvGet(self._ns, table, chunk, now, touch=False)
            for blob_key, raw in zip(chunk, raws):
                if raw is None:
                    continue
                parts = unpack(raw, repr(blob_key))
                if parts[0] == b"l":
                    _, ns_part, ch_part, _ = blob_key.split(SEP, 3)
                    wanted_items.update(
                        f"i{SEP}{ns_part}{SEP}{ch_part}{SEP}{parts[1][i : i + DIGEST].hex()}"
                        for i in range(0, len(parts[1]), DIGEST)
                    )
        dead += [k for k in item_keys if k not in wanted_items]
        removed = 0
        for start in range(0, len(dead), 1000):
            removed += yield KvDelete(self._ns, table, tuple(dead[start : start + 1000]))
        self.stats.add(collections=1)
        return removed

    def _keys(self, table: str, prefix: str) -> Flow[list[str]]:
        now = self._clock.now()
        out: list[str] = []
        after: str | None = None
        while True:
            page = yield KvScan(self._ns, table, now, prefix=prefix, keys_only=True, limit=1000, after=after)
            out.extend(k for k, _ in page if k.startswith(prefix))
            if len(page) < 1000:
                return out
            after = page[-1][0]

    def copy_thread(self, source: str, target: str) -> Flow[int]:
        """Copy every record of ``source`` into ``target`` (checkpoints, values, items, writes). Returns records."""
        src, dst = thread_table(source), thread_table(target)
        now = self._clock.now()
        copied = 0
        runs: set[str] = set()
        after: str | None = None
        while True:
            page: list[tuple[str, bytes]] = yield KvScan(self._ns, src, now, limit=_PAGE, after=after)
            batch = tuple(KvItem(k, v) for k, v in page if k[:1] in "cbiw" and k[1:2] == SEP)
            for key, raw in page:
                if key.startswith("c" + SEP):
                    run = parse_record(raw, repr(key)).run_id
                    if run:
                        runs.add(run)
            if batch:
                _, (tomb,) = yield Gather(
                    (KvPut(self._ns, dst, batch, now), KvGet(self._ns, dst, (TOMBSTONE,), now, touch=False))
                )
                if tomb is not None:
                    yield from self._undo(dst, [i.key for i in batch], target)
                    return 0
                copied += len(batch)
            if len(page) < _PAGE:
                break
            after = page[-1][0]
        if copied:
            items = [KvItem(GENERATION, secrets.token_hex(8).encode())]
            if self.config.ttl is not None:
                items.append(KvItem(EXPIRY, str(now + self.config.ttl).encode()))
            yield KvPut(self._ns, dst, tuple(items), now)
            self._known.forget(dst)
            yield from self._index(target, None, now)
            if runs:
                run_items = tuple(KvItem(f"{key_part(r)}{SEP}{target}", b"") for r in sorted(runs))
                yield KvPut(self._ns, RUNS_TABLE, run_items, now)
        return copied

    def delete_for_runs(self, run_ids: Sequence[str]) -> Flow[int]:
        """Delete the checkpoints (and writes) whose metadata names one of ``run_ids``, in every thread."""
        now = self._clock.now()
        wanted = {validate_name("run_id", r) for r in run_ids}
        removed = 0
        for run_id in sorted(wanted):
            prefix = f"{key_part(run_id)}{SEP}"
            page = yield KvScan(self._ns, RUNS_TABLE, now, prefix=prefix, keys_only=True)
            threads = [k[len(prefix) :] for k, _ in page if k.startswith(prefix)]
            for thread_id in threads:
                table = thread_table(thread_id)
                doomed: list[tuple[str, str]] = []
                after: str | None = None
                while True:
                    recs = yield KvScan(self._ns, table, now, prefix="c" + SEP, limit=_PAGE, after=after)
                    for key, raw in recs:
                        rec = parse_record(raw, repr(key))
                        if rec.run_id in wanted:
                            doomed.append((unpart(key.split(SEP, 2)[1]), rec.checkpoint_id))
                    if len(recs) < _PAGE:
                        break
                    after = recs[-1][0]
                removed += yield from self.delete_checkpoints(thread_id, doomed)
            yield KvDelete(self._ns, RUNS_TABLE, tuple(k for k, _ in page))
        return removed

    # -- threads ---------------------------------------------------------------------------------------------

    def threads(self, *, after: str | None = None, limit: int = 1000) -> Flow[list[ThreadInfo]]:
        """Threads in the index, sorted by id (a page); expired ones included with their expiry."""
        now = self._clock.now()
        page = yield KvScan(self._ns, THREADS_TABLE, now, limit=limit, after=after)
        out = []
        for key, raw in page:
            try:
                entry = json.loads(raw)
                out.append(
                    ThreadInfo(key, float(entry["t"]), None if entry["e"] is None else float(entry["e"]))
                )
            except (ValueError, KeyError, TypeError):
                raise SerializationError(f"thread index entry {key[:80]!r} is corrupt") from None
        return out

    def count(self, thread_id: str) -> Flow[int]:
        heads = yield from self._record_keys(thread_table(thread_id), None)
        return len(heads)

    def sweep_expired(self) -> Flow[int]:
        """Delete every thread whose ttl ran out (no tombstone: nothing is racing an expiry). Returns threads."""
        now = self._clock.now()
        swept = 0
        after: str | None = None
        while True:
            page = yield from self.threads(after=after)
            for info in page:
                if info.expires_at is None or info.expires_at > now:
                    continue
                table = thread_table(info.thread_id)
                (raw,) = yield KvGet(self._ns, table, (EXPIRY,), now, touch=False)
                if raw is not None and not self._expired(raw, now):
                    continue  # refreshed by a read in another process after the index entry was written
                self._known.forget(table)
                self._items.forget(table)
                yield KvDeleteWhere(self._ns, table)
                yield KvDelete(self._ns, THREADS_TABLE, (info.thread_id,))
                swept += 1
            if len(page) < 1000:
                return swept
            after = page[-1].thread_id
