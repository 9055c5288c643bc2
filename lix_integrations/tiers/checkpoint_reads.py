"""Reading checkpoints back: ``get`` (one checkpoint, the newest by default) and ``history`` (``list``).

A read assembles a checkpoint from its record, the channel values its versions name (list values through their
manifest and the thread's items) and its pending writes; checkpoints moved to the archive come from their chunk.

Why the newest read is one round trip. An agent reads its thread's newest checkpoint at the start of every turn,
and that checkpoint is almost always the one this process wrote (or read) last: the tier remembers it per thread
namespace (`Newest`) and sends the reads of its values and writes together with the scan that finds the newest
record. They are used only when the scan returns that very record (same key, same bytes); otherwise the values
are read in a second round trip as before. With the record parsed once and the newest chunk key's parse
cached, the tier's part of a warm read of a 40-turn thread on SQLite went from ~112 to ~79 us (2026-12-04, a
/tmp micro-benchmark, same machine and load, old and new code back to back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import SerializationError
from ..kernel.flows import Flow
from ..kernel.ops import Gather, KvGet, KvItem, KvPut, KvScan
from .checkpoint_archive import aprefix, chunk_records, parse_chunk_key
from .checkpoint_records import (
    EXPIRY,
    SEP,
    Record,
    StoredCheckpoint,
    Typed,
    bkey,
    ckey,
    cprefix,
    decode_blob,
    invert_id,
    parse_record,
    parse_write,
    thread_table,
    uninvert_id,
    unpart,
    validate_name,
    verified_item,
    wprefix,
    writes_order,
)
from .checkpoint_retention import PAGE, RetentionFlows
from .checkpoint_state import Newest

__all__ = ["ReadFlows"]

#: A record to read back: its namespace, its key and the record parsed.
_Chosen = tuple[str, str, Record]


class ReadFlows(RetentionFlows):
    """The checkpoint tier's reading flows (mixed into its tier class)."""

    _newest: Newest

    def get(self, thread_id: str, ns: str, checkpoint_id: str | None) -> Flow[StoredCheckpoint | None]:
        """One checkpoint (the newest of ``ns`` when ``checkpoint_id`` is ``None``): one round trip when it is
        the one this process wrote or read last, two otherwise; the thread's expiry is read with the values."""
        table = thread_table(thread_id)
        validate_name("checkpoint_ns", ns, allow_empty=True)
        now = self._clock.now()
        guess = self._newest.get(table, ns)
        entries: dict[str, bytes] | None = None
        if checkpoint_id is not None:
            if (
                not isinstance(checkpoint_id, str)
                or not checkpoint_id.isascii()
                or not checkpoint_id.isprintable()
            ):
                return None
            key = ckey(ns, checkpoint_id)
            if guess is not None and guess.key != key:
                guess = None
            first: list[Any] = [KvGet(self._ns, table, (key,), now, touch=False)]
            reads = [] if guess is None else self._reads(table, [(ns, key, guess.record)], guess.blob_keys)
            results = yield Gather((*first, *reads))
            (raw,) = results[0]
            pairs = [] if raw is None else [(key, raw)]
            if raw is None:
                archived = yield from self._archived(table, ns, checkpoint_id)
                if archived is not None:
                    pairs, entries = [archived[:2]], archived[2]
        else:
            first = [
                KvScan(self._ns, table, now, prefix=cprefix(ns), limit=1),
                KvScan(self._ns, table, now, prefix=aprefix(ns), keys_only=True, limit=1),
            ]
            reads = (
                [] if guess is None else self._reads(table, [(ns, guess.key, guess.record)], guess.blob_keys)
            )
            results = yield Gather((*first, *reads))
            page, newest_chunk = results[0], results[1]
            pairs = [(k, v) for k, v in page if k.startswith(cprefix(ns))]
            chunks = [parse_chunk_key(k) for k, _ in newest_chunk if k.startswith(aprefix(ns))]
            if chunks and (not pairs or pairs[0][0] > cprefix(ns) + invert_id(chunks[0].newest)):
                entries = yield from self._load_chunks(table, chunks)  # a chunk holds the newest (rare)
                pairs = chunk_records(entries)[:1]
        if not pairs:
            return None
        key, raw = pairs[0]
        if guess is not None and entries is None and key == guess.key and raw == guess.raw:
            chosen = [(ns, key, guess.record)]
            done = results[len(first) :]
            found, expiry = yield from self._assemble(thread_id, table, chosen, done, guess.blob_keys)
        else:
            chosen = [(ns, key, parse_record(raw, key))]
            found, expiry = yield from self._hydrate(thread_id, table, chosen, entries)
            if entries is None and checkpoint_id is None:
                self._newest.set(table, ns, key, raw, chosen[0][2], blob_keys(chosen))
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
            chosen: list[_Chosen] = []
            for key, raw in page:
                if not key.startswith(prefix):
                    continue
                _, ns_part, inv = key.split(SEP, 2)
                cid = uninvert_id(inv)
                if before is not None and cid >= before:
                    continue
                rec = parse_record(raw, key)
                if keep is not None and not keep(rec.metadata):
                    continue
                chosen.append((unpart(ns_part), key, rec))
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

    def _reads(self, table: str, chosen: Sequence[_Chosen], hot_keys: Sequence[str]) -> list[Any]:
        """The reads of what ``chosen`` records need: their values stored hot (``hot_keys``) with the thread's
        expiry, and the pending writes of each (as `_assemble` expects their results)."""
        now = self._clock.now()
        ops: list[Any] = [KvGet(self._ns, table, (*hot_keys, EXPIRY), now, touch=False)]
        ops += [KvScan(self._ns, table, now, prefix=wprefix(ns, rec.checkpoint_id)) for ns, _, rec in chosen]
        return ops

    def _hydrate(
        self,
        thread_id: str,
        table: str,
        chosen: Sequence[_Chosen],
        archived: dict[str, bytes] | None = None,
    ) -> Flow[tuple[list[StoredCheckpoint], bytes | None]]:
        """Records (ns, key, record) with their values, items and writes, and the thread's stored expiry: one
        round trip for any number of records, and a second only for items this process does not hold.
        ``archived``: the records of the chunks the chosen ones came from (values and writes are taken there
        first; writes stored after a checkpoint was archived are still hot)."""
        keys = blob_keys(chosen)
        hot_keys = keys if not archived else [k for k in keys if k not in archived]
        results = yield Gather(tuple(self._reads(table, chosen, hot_keys)))
        return (yield from self._assemble(thread_id, table, chosen, results, hot_keys, archived))

    def _assemble(
        self,
        thread_id: str,
        table: str,
        chosen: Sequence[_Chosen],
        results: Sequence[Any],
        hot_keys: Sequence[str],
        archived: dict[str, bytes] | None = None,
    ) -> Flow[tuple[list[StoredCheckpoint], bytes | None]]:
        """`_hydrate` once the results of `_reads` (of ``hot_keys``) are in."""
        archived = archived or {}
        *blob_values, expiry = results[0]
        blobs: dict[str, bytes | None] = dict(zip(hot_keys, blob_values))
        if archived:
            blobs.update((k, archived[k]) for k in blob_keys(chosen) if k in archived)
        if None in blob_values:  # a fork of an archived checkpoint stored before its values were copied out
            refs = yield from self._chunk_refs(table, None)
            more = yield from self._load_chunks(table, refs)
            blobs.update((k, more[k]) for k, v in list(blobs.items()) if v is None and k in more)
        values = yield from self._values(table, blobs)
        archived_writes: dict[str, dict[str, bytes]] = {}
        for k, v in archived.items():
            if k.startswith("w"):
                archived_writes.setdefault(k.rsplit(SEP, 2)[0] + SEP, {})[k] = v
        out = []
        for (ns, _, rec), page in zip(chosen, results[1:]):
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
            value = decode_blob(blob_key, raw)
            if isinstance(value, list):
                manifests[blob_key] = value
            else:
                decoded[blob_key] = value
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
                items[item_key] = verified_item(item_key, item_raw)
            self._items.add(table, ((k, items[k]) for k in ordered if k in items))
        for blob_key, keys in manifests.items():
            if all(k in items for k in keys):
                resolved = tuple(items[k] for k in keys)
                self._manifests.add(table, blob_key, blobs[blob_key] or b"", resolved)
                decoded[blob_key] = resolved
            else:
                decoded[blob_key] = [None]
        return decoded


def blob_keys(chosen: Sequence[_Chosen]) -> list[str]:
    """The keys of the values ``chosen`` records name, sorted."""
    if len(chosen) == 1:
        ns, _, rec = chosen[0]
        return sorted(bkey(ns, ch, tok) for ch, tok in rec.versions.items())
    return sorted({bkey(ns, ch, tok) for ns, _, rec in chosen for ch, tok in rec.versions.items()})
