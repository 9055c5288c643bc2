"""The checkpoint tier: LangGraph-style checkpoints of agent threads, stored without O(N^2) growth.

The engine never sees a framework object: an adapter hands this tier typed bytes (``Typed``, as LangGraph's
serializer produces them) and gets typed bytes back. What the tier decides is where they go, how long they stay
and what a deleted thread refuses.

Layout. Every record of one thread lives in one key-value table, ``lg/<thread_id>``: on Redis that is one hash
slot (``{k/<namespace>/lg%2F<thread_id>}``), so a thread's operations are single scripts on one Cluster node and
never ``CROSSSLOT``. Keys inside the table (components escaped, see `key_part`):

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
inverted character by character (`invert_id`) so ascending key order is descending id order.

Tombstones. ``delete_thread`` first writes a tombstone (expiring after ``tombstone_grace``) and then deletes the
rest. A late write is one that continues the deleted history: a ``put`` whose parent checkpoint is gone, or a
``put_writes`` to a checkpoint that is gone. Each write stores its records and, in the same round trip, reads the
tombstone and the checkpoint it continues; a late one then deletes what it wrote. Every interleaving of the two
steps of each side ends with the old history deleted: either the delete ran after the write, or the write saw
the tombstone (LangGraph issue 7206: late writes of a cancelled run revived deleted threads). A new history on
the same thread id (a put without parent) is not late, so "clear the conversation, keep the thread id" works.

Retention (`checkpoint_retention`) and the archive of old checkpoints (`checkpoint_archive`, key
``a<ns>...``) are flows of their own; what this process remembers to make a put cost what is new is in
`checkpoint_state`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, SerializationError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet
from ..kernel.flows import Flow
from ..kernel.ops import Gather, KvGet, KvItem, KvPut, KvScan
from .checkpoint_archive import ChunkCache, aprefix, chunk_records, parse_chunk_key
from .checkpoint_records import (
    DIGEST,
    EXPIRY,
    GENERATION,
    SEP,
    TOMBSTONE,
    CheckpointConfig,
    NewCheckpoint,
    StoredCheckpoint,
    Typed,
    bkey,
    ckey,
    cprefix,
    decode_item,
    encode_item,
    encode_record,
    ikey,
    invert_id,
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
from .checkpoint_retention import PAGE, RUNS_TABLE, THREADS_TABLE, RetentionFlows
from .checkpoint_state import (
    CheckpointStats,
    DigestMemo,
    ItemCache,
    ListMemo,
    ManifestCache,
    Threads,
    split_manifest,
)

#: The record types (`NewCheckpoint`, `StoredCheckpoint` ...) are imported from `checkpoint_records`.
__all__ = ["THREADS_TABLE", "CheckpointConfig", "CheckpointTier"]


class CheckpointTier(RetentionFlows):
    """Policy of checkpoint storage; every public method returns a flow for the engine's drivers to run."""

    def __init__(
        self, config: CheckpointConfig, namespace: str, clock: Clock, counters: CounterSet[CheckpointStats]
    ) -> None:
        if not isinstance(config, CheckpointConfig):
            raise ConfigError(f"checkpoints must be a CheckpointConfig, got {type(config).__name__}")
        self.config = config
        self._ns = namespace
        self._clock = clock
        self._threads = Threads()
        self._items = ItemCache()
        self._manifests = ManifestCache()
        self._lists = ListMemo()
        self._chunks = ChunkCache()
        self._digest = DigestMemo()
        self.counters = counters

    @property
    def stats(self) -> CheckpointStats:
        """A snapshot of the counters (shared by every checkpoint tier of the engine)."""
        return self.counters.snapshot()

    # -- writing ---------------------------------------------------------------------------------------------

    def put(self, cp: NewCheckpoint) -> Flow[bool]:
        """Store a checkpoint. Returns ``False`` when the thread was deleted meanwhile (nothing is kept).

        One write (the record, its new values and the items no earlier put of this process stored) and, in the
        same round trip, one read (tombstone, generation, parent). Work in Python is per new item: a list value
        is digested only past the prefix it shares with the previous list of its channel.
        """
        table = thread_table(cp.thread_id)
        validate_name("checkpoint_ns", cp.ns, allow_empty=True)
        state = self._threads.get(table)
        with self._threads.lock:
            generation, known = state.generation, state.known
        items: list[KvItem] = [KvItem(ckey(cp.ns, cp.checkpoint_id), encode_record(cp))]
        # list values: (channel, blob key, stored manifest, item digests, items)
        lists: list[tuple[str, str, bytes, list[bytes], tuple[Typed, ...]]] = []
        fresh: dict[bytes, tuple[str, Typed]] = {}
        for channel, (token, value) in cp.blobs.items():
            blob_key = bkey(cp.ns, validate_name("channel", channel), token)
            if value is None:
                items.append(KvItem(blob_key, pack(b"e")))
            elif isinstance(value, Typed):
                items.append(KvItem(blob_key, pack(b"v", value.type.encode(), value.data)))
            else:
                manifest, _ = self._lists.manifest((table, cp.ns, channel), value.items, self._digest)
                raw = pack(b"l", manifest)
                items.append(KvItem(blob_key, raw))
                digests = split_manifest(manifest)
                lists.append((channel, blob_key, raw, digests, value.items))
                for i, digest in enumerate(digests):
                    if digest not in known and digest not in fresh:
                        fresh[digest] = (channel, value.items[i])
        items += [KvItem(ikey(cp.ns, ch, d), encode_item(it)) for d, (ch, it) in fresh.items()]
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
        if stale:
            # Items this process believed stored may have been collected or deleted meanwhile: write them again.
            again = {d: (ch, it) for ch, _, _, ds, its in lists for d, it in zip(ds, its)}
            if again:
                rewrite = tuple(KvItem(ikey(cp.ns, c, d), encode_item(i)) for d, (c, i) in again.items())
                yield KvPut(self._ns, table, rewrite, now)
            fresh = again
        if parent and parent[0] is None:  # a fork of an archived checkpoint (or of one never stored)
            inherited = [bkey(cp.ns, ch, tok) for ch, tok in cp.versions.items() if ch not in cp.blobs]
            yield from self._unarchive(table, cp.ns, inherited, stored_gen)
        if generation is None or stored_gen != generation:
            yield from self._index(cp.thread_id, cp.run_id, now)
        elif cp.run_id is not None and cp.run_id not in state.runs:
            yield KvPut(
                self._ns, RUNS_TABLE, (KvItem(f"{key_part(cp.run_id)}{SEP}{cp.thread_id}", b""),), now
            )
        self._items.add(table, ((ikey(cp.ns, ch, d), it) for d, (ch, it) in fresh.items()))
        for _, blob_key, raw, _, list_items in lists:
            self._manifests.add(table, blob_key, raw, list_items)
        total = sum(len(ds) for _, _, _, ds, _ in lists)
        self.counters.update(puts=1, items_written=len(fresh), items_reused=total - len(fresh))
        with self._threads.lock:
            if stale or state.generation != stored_gen:
                state.known = set()
            state.generation = stored_gen
            for _, _, _, digests, _ in lists:
                state.known.update(digests)
            if cp.run_id is not None:
                state.runs.add(cp.run_id)
            state.puts += 1
            puts = state.puts
        keep, window = self.config.keep_last, self.config.hot_window
        if keep is not None:
            yield from self._trim(table, cp.ns, keep)
            if window is not None and window < keep:
                yield from self._trim_archive(table, cp.ns, keep)
            if puts % keep == 0:
                yield from self.collect(cp.thread_id)
        if window is not None and (keep is None or window < keep) and puts % window == 0:
            yield from self._archive(table, cp.ns)
        return True

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
            archived = yield from self._archived(table, ns, checkpoint_id)
            if archived is None:
                yield from self._undo(table, [item.key for item in items], thread_id)
                return False
        return True

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, thread_id: str, ns: str, checkpoint_id: str | None) -> Flow[StoredCheckpoint | None]:
        """One checkpoint (the newest of ``ns`` when ``checkpoint_id`` is ``None``): two round trips, the
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
            entries: dict[str, bytes] | None = None
            if raw is None:
                archived = yield from self._archived(table, ns, checkpoint_id)
                if archived is not None:
                    pairs, entries = [archived[:2]], archived[2]
        else:
            page, newest_chunk = yield Gather(
                (
                    KvScan(self._ns, table, now, prefix=cprefix(ns), limit=1),
                    KvScan(self._ns, table, now, prefix=aprefix(ns), keys_only=True, limit=1),
                )
            )
            pairs = [(k, v) for k, v in page if k.startswith(cprefix(ns))]
            entries = None
            chunks = [parse_chunk_key(k) for k, _ in newest_chunk if k.startswith(aprefix(ns))]
            if chunks and (not pairs or pairs[0][0] > cprefix(ns) + invert_id(chunks[0].newest)):
                entries = yield from self._load_chunks(table, chunks)  # a chunk holds the newest (rare)
                pairs = chunk_records(entries)[:1]
        if not pairs:
            return None
        found, expiry = yield from self._hydrate(
            thread_id, table, [(key_part(ns), pairs[0][0], pairs[0][1])], entries
        )
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
        (expiry,), chunks = yield Gather(
            (
                KvGet(self._ns, table, (EXPIRY,), now, touch=False),
                KvScan(self._ns, table, now, prefix=aprefix(ns), keys_only=True),
            )
        )
        if self._expired(expiry, now):
            return []
        refs = [parse_chunk_key(k) for k, _ in chunks if k.startswith(aprefix(ns))]
        if refs:
            out = yield from self._merged_history(thread_id, table, ns, refs, before, limit, keep)
            if out:
                yield from self._refresh(thread_id, table, now)
            return out
        prefix = cprefix(ns)
        out = []
        after: str | None = None
        while limit is None or len(out) < limit:
            page: list[tuple[str, bytes]] = yield KvScan(
                self._ns, table, now, prefix=prefix, limit=PAGE, after=after
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
            if len(page) < PAGE:
                break
            after = page[-1][0]
        if out:
            yield from self._refresh(thread_id, table, now)
        return out

    def _refresh(self, thread_id: str, table: str, now: float) -> Flow[None]:
        if self.config.ttl is not None and self.config.refresh_on_read:
            yield KvPut(self._ns, table, (KvItem(EXPIRY, str(now + self.config.ttl).encode()),), now)
            yield from self._index(thread_id, None, now)

    def _hydrate(
        self,
        thread_id: str,
        table: str,
        chosen: Sequence[tuple[str, str, bytes]],
        archived: dict[str, bytes] | None = None,
    ) -> Flow[tuple[list[StoredCheckpoint], bytes | None]]:
        """Records (ns part, key, raw) with their values, items and writes, and the thread's stored expiry: one
        round trip for any number of records, and a second only for items this process does not hold.
        ``archived``: the records of the chunks the chosen ones came from (values and writes are taken there
        first; writes stored after a checkpoint was archived are still hot)."""
        now = self._clock.now()
        records = []
        for ns_part, key, raw in chosen:
            rec = parse_record(raw, repr(key))
            ns = unpart(ns_part)
            records.append((ns, rec))
        blob_keys = sorted({bkey(ns, ch, tok) for ns, rec in records for ch, tok in rec.versions.items()})
        archived = archived or {}
        hot_keys = [k for k in blob_keys if k not in archived]
        ops: list[Any] = [KvGet(self._ns, table, (*hot_keys, EXPIRY), now, touch=False)]
        ops += [KvScan(self._ns, table, now, prefix=wprefix(ns, rec.checkpoint_id)) for ns, rec in records]
        results = yield Gather(tuple(ops))
        *blob_values, expiry = results[0]
        blobs: dict[str, bytes | None] = dict(zip(hot_keys, blob_values))
        blobs.update((k, archived[k]) for k in blob_keys if k in archived)
        if any(v is None for v in blobs.values()):  # a fork of an archived checkpoint names values of a chunk
            refs = yield from self._chunk_refs(table, None)
            more = yield from self._load_chunks(table, refs)
            blobs.update((k, more[k]) for k, v in list(blobs.items()) if v is None and k in more)
        values = yield from self._values(table, blobs)
        archived_writes: dict[str, dict[str, bytes]] = {}
        for k, v in archived.items():
            if k.startswith("w"):
                archived_writes.setdefault(k.rsplit(SEP, 2)[0] + SEP, {})[k] = v
        out = []
        for (ns, rec), page in zip(records, results[1:]):
            if archived_writes:
                page = sorted(
                    {**archived_writes.get(wprefix(ns, rec.checkpoint_id), {}), **dict(page)}.items()
                )
            found: dict[str, Typed | tuple[Typed, ...]] = {}
            for ch, tok in rec.versions.items():
                value = values.get(bkey(ns, ch, tok))
                if value is None:
                    continue
                if isinstance(value, list):
                    raise SerializationError(
                        f"thread {thread_id[:80]!r}: an item of channel {ch!r} is missing from the store"
                    )
                found[ch] = value
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
                    values=found,
                    writes=writes,
                    run_id=rec.run_id,
                )
            )
        return out, expiry

    def _values(
        self, table: str, blobs: dict[str, bytes | None]
    ) -> Flow[dict[str, Typed | tuple[Typed, ...] | list[None] | None]]:
        """Stored channel values decoded: a ``Typed``, a tuple of list items, ``None`` for an empty channel, or
        ``[None]`` for a list with an item missing. Manifests decoded before come from the manifest cache."""
        now = self._clock.now()
        decoded: dict[str, Typed | tuple[Typed, ...] | list[None] | None] = {}
        manifests: dict[str, list[str]] = {}
        for blob_key, raw in blobs.items():
            if raw is None:
                continue
            cached = self._manifests.get(table, blob_key, raw)
            if cached is not None:
                decoded[blob_key] = cached
                continue
            parts = unpack(raw, repr(blob_key))
            kind = parts[0] if parts else b""
            if kind == b"e":
                decoded[blob_key] = None
            elif kind == b"v" and len(parts) == 3:
                decoded[blob_key] = Typed(parts[1].decode(), parts[2])
            elif kind == b"l" and len(parts) == 2 and len(parts[1]) % DIGEST == 0:
                _, ns_part, ch_part, _ = blob_key.split(SEP, 3)
                head = f"i{SEP}{ns_part}{SEP}{ch_part}{SEP}"
                manifests[blob_key] = [head + d.hex() for d in split_manifest(parts[1])]
            else:
                raise SerializationError(f"stored channel value {blob_key!r} is corrupt or was tampered with")
        if not manifests:
            return decoded
        wanted = {k for keys in manifests.values() for k in keys}
        items = self._items.get(table, wanted)
        if len(items) < len(wanted):
            ordered = tuple(sorted(wanted.difference(items)))
            raws: list[bytes | None] = yield KvGet(self._ns, table, ordered, now, touch=False)
            for item_key, item_raw in zip(ordered, raws):
                if item_raw is None:
                    continue
                item = decode_item(item_raw, item_key)
                if item_digest(item) != bytes.fromhex(item_key.rsplit(SEP, 1)[1]):
                    raise SerializationError(
                        f"stored list item {item_key!r} does not match its digest (tampered)"
                    )
                items[item_key] = item
            self._items.add(table, ((k, items[k]) for k in ordered if k in items))
        for blob_key, keys in manifests.items():
            if all(k in items for k in keys):
                resolved = tuple(items[k] for k in keys)
                self._manifests.add(table, blob_key, blobs[blob_key] or b"", resolved)
                decoded[blob_key] = resolved
            else:
                decoded[blob_key] = [None]
        return decoded
