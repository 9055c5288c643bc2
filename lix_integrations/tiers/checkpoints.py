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

Reading (`checkpoint_reads`), retention (`checkpoint_retention`) and the archive of old checkpoints
(`checkpoint_archive`, key ``a<ns>...``) are flows of their own; what this process remembers to make a put cost
what is new (and a read of the newest checkpoint one round trip) is in `checkpoint_state`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from ..errors import ConfigError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet
from ..kernel.flows import Flow
from ..kernel.ops import Gather, KvGet, KvItem, KvPut
from .checkpoint_reads import ReadFlows
from .checkpoint_records import (
    EXPIRY,
    GENERATION,
    SEP,
    TOMBSTONE,
    CheckpointConfig,
    NewCheckpoint,
    Record,
    Typed,
    bkey,
    ckey,
    encode_item,
    encode_record,
    ikey,
    key_part,
    pack,
    thread_table,
    validate_name,
    wkey,
)
from .checkpoint_retention import RUNS_TABLE, THREADS_TABLE
from .checkpoint_state import (
    CheckpointStats,
    DigestMemo,
    split_manifest,
)

#: The record types (`NewCheckpoint`, `StoredCheckpoint` ...) are imported from `checkpoint_records`.
__all__ = ["THREADS_TABLE", "CheckpointConfig", "CheckpointTier"]


class CheckpointTier(ReadFlows):
    """Policy of checkpoint storage; every public method returns a flow for the engine's drivers to run."""

    def __init__(
        self, config: CheckpointConfig, namespace: str, clock: Clock, counters: CounterSet[CheckpointStats]
    ) -> None:
        if not isinstance(config, CheckpointConfig):
            raise ConfigError(f"checkpoints must be a CheckpointConfig, got {type(config).__name__}")
        self.config = config
        self._ns = namespace
        self._clock = clock
        self._init_state()
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
        record = KvItem(ckey(cp.ns, cp.checkpoint_id), encode_record(cp))
        items: list[KvItem] = [record]
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
        parsed = Record(
            cp.checkpoint_id, cp.parent_id, cp.checkpoint, cp.metadata, dict(cp.versions), cp.run_id
        )
        keys = sorted(bkey(cp.ns, ch, tok) for ch, tok in cp.versions.items())
        self._newest.set(
            table, cp.ns, record.key, record.value, parsed, keys
        )  # what the next get likely reads
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
