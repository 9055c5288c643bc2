"""Deleting and retention of checkpointed threads: the maintenance half of the checkpoint tier.

`RetentionFlows` holds the flows that remove or copy whole sets of records (``delete_thread`` with its
tombstone, ``prune``, ``keep_last`` trimming, the collection of values nothing references, ``copy_thread``,
``delete_for_runs``, the ttl sweep) and the thread index they keep. The hot path (``put`` in `checkpoints`,
``get`` and ``history`` in `checkpoint_reads`) inherits these; all share the process-local state of
`checkpoint_state`, which every flow here forgets for a thread it deletes.

``keep_last`` keeps the newest checkpoints of each namespace (checked on every put, one key scan; with an archive,
the chunks hold what the newest leave room for); values and items no kept checkpoint references are collected
every ``keep_last`` puts and by ``prune``. ``ttl`` expires a thread that many seconds after its last put (or read,
with ``refresh_on_read``): reads treat it as gone at once; ``sweep_expired`` (``lix checkpoints prune
--expired``) frees its storage.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import SerializationError
from ..kernel.flows import Flow
from ..kernel.ops import Gather, KvDelete, KvDeleteWhere, KvGet, KvItem, KvPut, KvScan
from .checkpoint_archive import ArchiveFlows, aprefix, chunk_manifest_items, chunk_records, records_by_run
from .checkpoint_records import (
    EXPIRY,
    GENERATION,
    SEP,
    TOMBSTONE,
    ThreadInfo,
    bkey,
    ckey,
    cprefix,
    decode_blob,
    key_part,
    parse_record,
    thread_table,
    uninvert_id,
    unpart,
    validate_name,
    wprefix,
)

if TYPE_CHECKING:
    pass

__all__ = ["PAGE", "RUNS_TABLE", "THREADS_TABLE", "RetentionFlows"]

logger = logging.getLogger("lix_integrations.tiers.checkpoints")

THREADS_TABLE = "lg-index/threads"
RUNS_TABLE = "lg-index/runs"
PAGE = 256


class RetentionFlows(ArchiveFlows):
    """The checkpoint tier's deleting, copying and retention flows (mixed into its tier class)."""

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
        self._threads.forget(table)
        self.counters.add("refused_late_writes")
        logger.warning(
            "refused a write to deleted thread %r (tombstone within its grace period)", thread_id[:80]
        )

    def _expired(self, raw: bytes | None, now: float) -> bool:
        if raw is None:
            return False
        try:
            return float(raw) <= now
        except ValueError:
            raise SerializationError("stored thread expiry is corrupt") from None

    # -- deleting and retention ------------------------------------------------------------------------------

    def delete_thread(self, thread_id: str) -> Flow[None]:
        """Tombstone first, then everything else: a racing late write cannot bring the thread back."""
        table = thread_table(thread_id)
        now = self._clock.now()
        self._forget(table)
        grace = self.config.tombstone_grace
        if grace > 0:
            yield KvPut(self._ns, table, (KvItem(TOMBSTONE, b"1", expires_at=now + grace),), now)
        # The generation goes before the records: an archiver writes its chunk only while it is there.
        yield KvDelete(self._ns, table, (GENERATION, EXPIRY))
        ops = tuple(KvDeleteWhere(self._ns, table, prefix=p + SEP) for p in "cbiwa")
        yield Gather((*ops, KvDelete(self._ns, THREADS_TABLE, (thread_id,))))

    def delete_checkpoints(self, thread_id: str, doomed: Sequence[tuple[str, str]]) -> Flow[int]:
        """Delete checkpoints (ns, id), hot or archived, with their writes, then collect what nothing references
        any more."""
        if not doomed:
            return 0
        table = thread_table(thread_id)
        ops: list[Any] = [KvDelete(self._ns, table, tuple(ckey(ns, cid) for ns, cid in doomed))]
        ops += [KvDeleteWhere(self._ns, table, prefix=wprefix(ns, cid)) for ns, cid in doomed]
        yield Gather(tuple(ops))
        refs = yield from self._chunk_refs(table, None)
        yield from self._drop_archived(table, refs, set(doomed))
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

    def _trim_archive(self, table: str, ns: str, keep: int) -> Flow[None]:
        """keep_last with an archive: the chunks hold what the newest ``keep`` leave room for."""
        now = self._clock.now()
        refs = yield from self._chunk_refs(table, ns)
        if not refs:
            return
        page = yield KvScan(self._ns, table, now, prefix=cprefix(ns), keys_only=True)
        room = keep - sum(1 for k, _ in page if k.startswith(cprefix(ns)))
        whole, partial = [], []
        for ref in refs:
            if room <= 0:
                whole.append(ref.key)
            elif ref.count > room:
                partial.append((ref, room))
            room -= ref.count
        if whole:
            yield KvDelete(self._ns, table, tuple(whole))
        for ref, room_left in partial:
            entries = yield from self._load_chunks(table, [ref])
            extra = [(ns, uninvert_id(k.split(SEP, 2)[2])) for k, _ in chunk_records(entries)][room_left:]
            yield from self._drop_archived(table, [ref], set(extra))

    def _record_keys(self, table: str, ns: str | None) -> Flow[list[tuple[str, str]]]:
        """(ns, checkpoint id) of every record, hot or archived, newest first per namespace."""
        now = self._clock.now()
        refs = yield from self._chunk_refs(table, ns)
        entries = yield from self._load_chunks(table, refs)
        keys = {k for k, _ in chunk_records(entries)}
        after: str | None = None
        prefix = cprefix(ns)
        while True:
            page = yield KvScan(self._ns, table, now, prefix=prefix, keys_only=True, limit=1000, after=after)
            keys.update(key for key, _ in page if key.startswith(prefix))
            if len(page) < 1000:
                break
            after = page[-1][0]
        out: list[tuple[str, str]] = []
        for key in sorted(keys):
            _, ns_part, inv = key.split(SEP, 2)
            out.append((unpart(ns_part), uninvert_id(inv)))
        return out

    def collect(self, thread_id: str) -> Flow[int]:
        """Delete channel values and items no stored checkpoint references. Returns how many went.

        The generation changes first, so a process that believes items are stored writes them again.
        """
        table = thread_table(thread_id)
        now = self._clock.now()
        yield KvPut(self._ns, table, (KvItem(GENERATION, secrets.token_hex(8).encode()),), now)
        self._threads.forget(table)
        referenced: set[str] = set()
        after: str | None = None
        while True:
            page = yield KvScan(self._ns, table, now, prefix="c" + SEP, limit=PAGE, after=after)
            for key, raw in page:
                rec = parse_record(raw, repr(key))
                ns = unpart(key.split(SEP, 2)[1])
                referenced.update(bkey(ns, ch, tok) for ch, tok in rec.versions.items())
            if len(page) < PAGE:
                break
            after = page[-1][0]
        blob_keys = yield from self._keys(table, "b" + SEP)
        item_keys = yield from self._keys(table, "i" + SEP)
        live = [k for k in blob_keys if k in referenced]
        dead = [k for k in blob_keys if k not in referenced]
        wanted_items: set[str] = set()
        for start in range(0, len(live), PAGE):
            chunk = tuple(live[start : start + PAGE])
            raws = yield KvGet(self._ns, table, chunk, now, touch=False)
            for blob_key, raw in zip(chunk, raws):
                if raw is None:
                    continue
                value = decode_blob(blob_key, raw)
                if isinstance(value, list):
                    wanted_items.update(value)
        refs = yield from self._chunk_refs(table, None)
        wanted_items |= chunk_manifest_items((yield from self._load_chunks(table, refs)))
        dead += [k for k in item_keys if k not in wanted_items]
        removed = 0
        for start in range(0, len(dead), 1000):
            removed += yield KvDelete(self._ns, table, tuple(dead[start : start + 1000]))
        self.counters.add("collections")
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
            page: list[tuple[str, bytes]] = yield KvScan(self._ns, src, now, limit=PAGE, after=after)
            batch = tuple(KvItem(k, v) for k, v in page if k[:1] in "cbiwa" and k[1:2] == SEP)
            for key, raw in page:
                records = [(key, raw)] if key.startswith("c" + SEP) else []
                if key.startswith(aprefix(None)):
                    records = chunk_records(self._chunks.decode(src, key, raw))
                runs.update(r for r in (parse_record(v, repr(k)).run_id for k, v in records) if r)
            if batch:
                _, (tomb,) = yield Gather(
                    (KvPut(self._ns, dst, batch, now), KvGet(self._ns, dst, (TOMBSTONE,), now, touch=False))
                )
                if tomb is not None:
                    yield from self._undo(dst, [i.key for i in batch], target)
                    return 0
                copied += len(batch)
            if len(page) < PAGE:
                break
            after = page[-1][0]
        if copied:
            items = [KvItem(GENERATION, secrets.token_hex(8).encode())]
            if self.config.ttl is not None:
                items.append(KvItem(EXPIRY, str(now + self.config.ttl).encode()))
            yield KvPut(self._ns, dst, tuple(items), now)
            self._threads.forget(dst)
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
                    recs = yield KvScan(self._ns, table, now, prefix="c" + SEP, limit=PAGE, after=after)
                    for key, raw in recs:
                        rec = parse_record(raw, repr(key))
                        if rec.run_id in wanted:
                            doomed.append((unpart(key.split(SEP, 2)[1]), rec.checkpoint_id))
                    if len(recs) < PAGE:
                        break
                    after = recs[-1][0]
                refs = yield from self._chunk_refs(table, None)
                doomed += records_by_run((yield from self._load_chunks(table, refs)), wanted)
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
                self._forget(table)
                yield KvDeleteWhere(self._ns, table)
                yield KvDelete(self._ns, THREADS_TABLE, (info.thread_id,))
                swept += 1
            if len(page) < 1000:
                return swept
            after = page[-1].thread_id
