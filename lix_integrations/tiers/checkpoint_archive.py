"""The compressed archive of a thread's old checkpoints, in the thread's own table.

With ``hot_window=W`` a namespace of a thread keeps its newest W checkpoints as plain records; once it holds 2W,
the older ones (with their pending writes and the channel values they reference) move into one chunk record,
compressed with the session archive's codec (zstd with the shipped dictionary, `lix_integrations.archive`):

    a<ns><inverted newest id><inverted oldest id><count>   a chunk: the moved records under their own keys

A chunk lives where the thread lives (one hash slot on a Cluster, one SQLite file, any process can read it), is
re-hydrated by ``get``/``history`` (a read of a moved checkpoint costs one more round trip and a decompression,
cached by the chunk's bytes), and holds every channel value its checkpoints reference, so it stays readable
whatever happens to the hot values; the list items (messages) it names stay in the hot item table, which the
collection keeps for it. Consecutive checkpoints repeat each other (a manifest is the previous one plus a few
digests), so a chunk compresses them to a few percent.

Deleted threads stay deleted: a chunk is written with `KvPutIf` on the
thread's generation record, which ``delete_thread`` removes (after its tombstone, before anything else), so an
archiver that read the records before a delete cannot store them after it.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, cast

from ..archive.codec import Codec, compress, decompress
from ..errors import SerializationError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet
from ..kernel.flows import Flow
from ..kernel.ops import Gather, KvDelete, KvGet, KvItem, KvPutIf, KvScan
from .checkpoint_records import (
    GENERATION,
    SEP,
    Record,
    StoredCheckpoint,
    Typed,
    bkey,
    cprefix,
    decode_blob,
    invert_id,
    key_part,
    pack,
    parse_record,
    uninvert_id,
    unpack,
    unpart,
)
from .checkpoint_state import (
    CheckpointStats,
    ItemCache,
    ListMemo,
    ManifestCache,
    Newest,
    Threads,
)

if TYPE_CHECKING:
    from .checkpoints import CheckpointConfig

__all__ = ["ArchiveFlows", "ChunkRef", "ChunkCache", "decode_chunk", "encode_chunk"]

logger = logging.getLogger("lix_integrations.tiers.checkpoints")

_CODEC = Codec.ZSTD_DICT_V1


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """A chunk as its key describes it: namespace, id range (newest, oldest) and how many checkpoints."""

    key: str
    ns: str
    newest: str
    oldest: str
    count: int

    def covers(self, checkpoint_id: str) -> bool:
        return self.oldest <= checkpoint_id <= self.newest


def aprefix(ns: str | None) -> str:
    return f"a{SEP}" if ns is None else f"a{SEP}{key_part(ns)}{SEP}"


def chunk_key(ns: str, newest: str, oldest: str, count: int) -> str:
    return f"{aprefix(ns)}{invert_id(newest)}{SEP}{invert_id(oldest)}{SEP}{count}"


@lru_cache(
    maxsize=1024
)  # every newest read parses the thread's newest chunk key (ids uninverted by character)
def parse_chunk_key(key: str) -> ChunkRef:
    try:
        _, ns_part, newest, oldest, count = key.split(SEP)
        return ChunkRef(key, unpart(ns_part), uninvert_id(newest), uninvert_id(oldest), int(count))
    except ValueError:
        raise SerializationError(f"stored checkpoint chunk key {key!r} is corrupt") from None


def encode_chunk(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """Records under their hot keys, packed and compressed: codec number, raw size, payload."""
    raw = pack(*(part for key, value in entries for part in (key.encode(), value)))
    return pack(b"z", str(int(_CODEC)).encode(), str(len(raw)).encode(), compress(_CODEC, raw))


def decode_chunk(raw: bytes, where: str) -> dict[str, bytes]:
    parts = unpack(raw, where)
    try:
        if len(parts) != 4 or parts[0] != b"z":
            raise ValueError("not a chunk")
        inner = unpack(decompress(Codec(int(parts[1])), parts[3], int(parts[2])), where)
        if len(inner) % 2:
            raise ValueError("odd number of parts")
        return {inner[i].decode(): inner[i + 1] for i in range(0, len(inner), 2)}
    except SerializationError:
        raise
    except Exception as exc:  # zstd errors, a codec number this version does not know, bad UTF-8
        raise SerializationError(
            f"stored checkpoint chunk {where} is corrupt or was tampered with: {exc}"
        ) from None


class ChunkCache:
    """Decoded chunks by (table, key), reused while the stored bytes are equal (LRU, bounded by entries)."""

    def __init__(self, max_entries: int = 64) -> None:
        self._lock = threading.Lock()
        self._max = max_entries
        self._chunks: OrderedDict[tuple[str, str], tuple[bytes, dict[str, bytes]]] = OrderedDict()

    def decode(self, table: str, key: str, raw: bytes) -> dict[str, bytes]:
        with self._lock:
            entry = self._chunks.get((table, key))
            if entry is not None and entry[0] == raw:
                self._chunks.move_to_end((table, key))
                return entry[1]
        entries = decode_chunk(raw, repr(key))
        with self._lock:
            self._chunks[(table, key)] = (raw, entries)
            while len(self._chunks) > self._max:
                self._chunks.popitem(last=False)
        return entries

    def forget(self, table: str) -> None:
        with self._lock:
            for key in [k for k in self._chunks if k[0] == table]:
                del self._chunks[key]


class ArchiveFlows:
    """Reading, writing and rewriting a thread's chunks (the base of the checkpoint tier's classes)."""

    config: CheckpointConfig
    counters: CounterSet[CheckpointStats]
    _ns: str
    _clock: Clock
    _threads: Threads
    _items: ItemCache
    _manifests: ManifestCache
    _lists: ListMemo
    _chunks: ChunkCache
    _newest: Newest
    #: the tier's (ReadFlows._hydrate): records (ns, key, record) with their values and writes, and the expiry
    _hydrate: Callable[
        [str, str, Sequence[tuple[str, str, Record]], dict[str, bytes] | None],
        Flow[tuple[list[StoredCheckpoint], bytes | None]],
    ]

    def _init_state(self) -> None:
        """What this process remembers of threads, shared by every flow of the tier (see `checkpoint_state`)."""
        self._threads = Threads()
        self._items = ItemCache()
        self._manifests = ManifestCache()
        self._lists = ListMemo()
        self._chunks = ChunkCache()
        self._newest = Newest()

    def _forget(self, table: str) -> None:
        """Drop what this process remembers of a thread (deleted, or its items may be gone)."""
        self._threads.forget(table)
        self._items.forget(table)
        self._manifests.forget(table)
        self._lists.forget(table)
        self._chunks.forget(table)
        self._newest.forget(table)

    # -- reading ---------------------------------------------------------------------------------------------

    def _chunk_refs(self, table: str, ns: str | None) -> Flow[list[ChunkRef]]:
        """The thread's chunks (of ``ns``, or all), newest first per namespace: one key scan."""
        page = yield KvScan(self._ns, table, self._clock.now(), prefix=aprefix(ns), keys_only=True)
        return [parse_chunk_key(key) for key, _ in page if key.startswith(aprefix(ns))]

    def _load_chunks(self, table: str, refs: Sequence[ChunkRef]) -> Flow[dict[str, bytes]]:
        """The records of ``refs`` merged (a key in two chunks, from two archivers racing, holds the same)."""
        if not refs:
            return {}
        raws = yield KvGet(self._ns, table, tuple(r.key for r in refs), self._clock.now(), touch=False)
        merged: dict[str, bytes] = {}
        for ref, raw in zip(refs, raws):
            if raw is not None:
                merged.update(self._chunks.decode(table, ref.key, raw))
        return merged

    def _archived(
        self, table: str, ns: str, checkpoint_id: str
    ) -> Flow[tuple[str, bytes, dict[str, bytes]] | None]:
        """A checkpoint moved to a chunk: (its record key, record, the chunk's records), or ``None``."""
        refs = yield from self._chunk_refs(table, ns)
        entries = yield from self._load_chunks(table, [r for r in refs if r.covers(checkpoint_id)])
        key = f"{cprefix(ns)}{invert_id(checkpoint_id)}"
        return None if key not in entries else (key, entries[key], entries)

    def _merged_history(
        self,
        thread_id: str,
        table: str,
        ns: str | None,
        refs: Sequence[ChunkRef],
        before: str | None,
        limit: int | None,
        keep: Callable[[Typed], bool] | None,
    ) -> Flow[list[StoredCheckpoint]]:
        """``history`` of a thread with chunks: its hot records and its chunks merged in key order (newest first
        per namespace); a chunk is read only when the listing reaches its newest checkpoint."""
        now = self._clock.now()
        prefix = cprefix(ns)
        heap: list[tuple[str, int, int, object]] = []
        after: str | None = None
        while True:
            page = yield KvScan(self._ns, table, now, prefix=prefix, limit=1000, after=after)
            heap += [(k, 1, 0, raw) for k, raw in page if k.startswith(prefix)]
            if len(page) < 1000:
                break
            after = page[-1][0]
        heap += [(cprefix(r.ns) + invert_id(r.newest), 0, i, r) for i, r in enumerate(refs)]
        heapq.heapify(heap)
        seen: set[str] = set()
        chosen: list[tuple[str, str, Record]] = []
        entries: dict[str, bytes] = {}
        while heap and (limit is None or len(chosen) < limit):
            key, kind, _, payload = heapq.heappop(heap)
            if isinstance(payload, ChunkRef):
                if before is None or payload.oldest < before:
                    loaded = yield from self._load_chunks(table, [payload])
                    entries.update(loaded)
                    for k, raw in chunk_records(loaded):
                        heapq.heappush(heap, (k, 1, 0, raw))
                continue
            raw = cast(bytes, payload)
            if key in seen or (before is not None and uninvert_id(key.split(SEP, 2)[2]) >= before):
                continue
            seen.add(key)
            rec = parse_record(raw, key)
            if keep is not None and not keep(rec.metadata):
                continue
            chosen.append((unpart(key.split(SEP, 2)[1]), key, rec))
        if not chosen:
            return []
        hydrated, _ = yield from self._hydrate(thread_id, table, chosen, entries)
        return hydrated

    # -- writing ---------------------------------------------------------------------------------------------

    def _unarchive(self, table: str, ns: str, keys: Sequence[str], generation: str) -> Flow[int]:
        """Write hot again the values ``keys`` that only a chunk holds. A fork of an archived checkpoint names
        values of its parent's chunk, and the chunk may go (prune, keep_last, delete_for_runs) while the fork
        stays: a hot checkpoint's values are then hot, like those the archiver keeps for the newest ones. On the
        thread's generation (as a chunk is written), so a thread deleted meanwhile is not written back."""
        if not keys:
            return 0
        now = self._clock.now()
        raws = yield KvGet(self._ns, table, tuple(keys), now, touch=False)
        missing = [k for k, raw in zip(keys, raws) if raw is None]
        if not missing:
            return 0
        refs = yield from self._chunk_refs(table, ns)
        entries = yield from self._load_chunks(table, refs)
        found = tuple(KvItem(k, entries[k]) for k in missing if k in entries)
        if found:
            yield KvPutIf(self._ns, table, found, now, GENERATION, generation.encode())
        return len(found)

    def _archive(self, table: str, ns: str) -> Flow[int]:
        """Move the checkpoints of ``ns`` beyond the newest ``hot_window`` into a chunk once there are twice as
        many. Returns how many moved (0 when not due, or when the thread changed meanwhile: tried again later)."""
        window = self.config.hot_window
        if window is None:
            return 0
        now = self._clock.now()
        page = yield KvScan(self._ns, table, now, prefix=cprefix(ns), keys_only=True)
        keys = [k for k, _ in page if k.startswith(cprefix(ns))]
        if len(keys) < 2 * window:
            return 0
        kept, moved = keys[:window], keys[window:]
        wprefix_ns = f"w{SEP}{key_part(ns)}{SEP}"
        gen, records, writes = yield Gather(
            (
                KvGet(self._ns, table, (GENERATION,), now, touch=False),
                KvGet(self._ns, table, tuple(keys), now, touch=False),
                KvScan(self._ns, table, now, prefix=wprefix_ns),
            )
        )
        if gen[0] is None:
            return 0
        by_key = {k: raw for k, raw in zip(keys, records) if raw is not None}
        hot_blobs = {bkey(ns, ch, tok) for k in kept if k in by_key for ch, tok in _versions(by_key[k], k)}
        moved_ids: dict[str, str] = {}
        blob_keys: set[str] = set()
        for k in moved:
            if k in by_key:
                rec = parse_record(by_key[k], repr(k))
                moved_ids[key_part(rec.checkpoint_id)] = k
                blob_keys.update(bkey(ns, ch, tok) for ch, tok in rec.versions.items())
        moved_writes = [(k, raw) for k, raw in writes if k.split(SEP, 3)[2] in moved_ids]
        ordered_blobs = tuple(sorted(blob_keys))
        blob_raws = yield KvGet(self._ns, table, ordered_blobs, now, touch=False)
        if any(
            raw is None for raw in blob_raws
        ):  # values a fork took from an older chunk: this one holds them too
            older = yield from self._load_chunks(table, (yield from self._chunk_refs(table, ns)))
            blob_raws = [older.get(k) if raw is None else raw for k, raw in zip(ordered_blobs, blob_raws)]
        entries = [(k, by_key[k]) for k in moved if k in by_key] + moved_writes
        entries += [(k, raw) for k, raw in zip(ordered_blobs, blob_raws) if raw is not None]
        ids = sorted(uninvert_id(k.split(SEP, 2)[2]) for k in moved if k in by_key)
        if not ids:
            return 0
        key = chunk_key(ns, ids[-1], ids[0], len(ids))
        written = yield KvPutIf(
            self._ns, table, (KvItem(key, encode_chunk(entries)),), now, GENERATION, gen[0]
        )
        if not written:
            return 0
        doomed = [k for k in moved if k in by_key] + [k for k, _ in moved_writes]
        doomed += [k for k in ordered_blobs if k not in hot_blobs]
        yield KvDelete(self._ns, table, tuple(doomed))
        self.counters.add("archived", len(ids))
        return len(ids)

    def _drop_archived(self, table: str, refs: Sequence[ChunkRef], doomed: set[tuple[str, str]]) -> Flow[int]:
        """Remove checkpoints (ns, id) from the chunks ``refs``: a chunk left empty is deleted, another one is
        written again without them (on the thread's generation, as the archiver writes). Returns how many went."""
        now = self._clock.now()
        touched = [r for r in refs if any(ns == r.ns and r.covers(cid) for ns, cid in doomed)]
        if not touched:
            return 0
        gen_raw, raws = yield Gather(
            (
                KvGet(self._ns, table, (GENERATION,), now, touch=False),
                KvGet(self._ns, table, tuple(r.key for r in touched), now, touch=False),
            )
        )
        removed, gone = 0, []
        for ref, raw in zip(touched, raws):
            if raw is None:
                continue
            entries = self._chunks.decode(table, ref.key, raw)
            drop = {cprefix(ref.ns) + invert_id(cid) for ns, cid in doomed if ns == ref.ns}
            drop_ids = {key_part(cid) for ns, cid in doomed if ns == ref.ns}
            left = {
                k: v
                for k, v in entries.items()
                if k not in drop and not (k.startswith("w") and k.split(SEP, 3)[2] in drop_ids)
            }
            count = sum(1 for k in left if k.startswith("c"))
            if count == len([k for k in entries if k.startswith("c")]):
                continue
            removed += len([k for k in entries if k.startswith("c")]) - count
            gone.append(ref.key)
            if count and gen_raw[0] is not None:
                ids = sorted(uninvert_id(k.split(SEP, 2)[2]) for k in left if k.startswith("c"))
                new_key = chunk_key(ref.ns, ids[-1], ids[0], count)
                item = KvItem(new_key, encode_chunk(sorted(left.items())))
                yield KvPutIf(self._ns, table, (item,), now, GENERATION, gen_raw[0])
                if new_key == ref.key:
                    gone.pop()
        if gone:
            yield KvDelete(self._ns, table, tuple(gone))
        return removed


def _versions(raw: bytes, key: str) -> Iterable[tuple[str, str]]:
    return parse_record(raw, repr(key)).versions.items()


def chunk_records(entries: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """The checkpoint records of decoded chunks, by key (newest first within a namespace)."""
    return sorted((k, v) for k, v in entries.items() if k.startswith("c"))


def chunk_manifest_items(entries: dict[str, bytes]) -> set[str]:
    """Item keys the list values of decoded chunks name (the collection keeps them)."""
    wanted: set[str] = set()
    for key, raw in entries.items():
        if key.startswith("b"):
            value = decode_blob(key, raw)
            if isinstance(value, list):
                wanted.update(value)
    return wanted


def records_by_run(entries: dict[str, bytes], wanted: set[str]) -> list[tuple[str, str]]:
    """(ns, id) of the chunk records whose run is in ``wanted``."""
    out = []
    for key, raw in chunk_records(entries):
        rec = parse_record(raw, repr(key))
        if rec.run_id in wanted:
            out.append((unpart(key.split(SEP, 2)[1]), rec.checkpoint_id))
    return out
