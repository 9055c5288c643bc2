"""The SQLite backend's vector search: per-partition indexes kept in step with the file and with other processes.

SQLite is the truth: every insert and delete of a semantic entry also appends a row to ``semantic_log`` in the same
transaction. A process keeps, per partition it searched, an index in memory, and applies other processes' log rows
when ``PRAGMA data_version`` says someone else committed (one pragma per search otherwise).

Small partitions (under `PERSIST_MIN` entries) are read from SQLite on their first search and scanned exactly.
A large one lives in an IVF file beside the database (`ivf_file`): a process maps it and replays the log rows
written after the file's stamp, so a fresh process serves its first lookup of 100k entries in milliseconds, with
no graph to build. What changed since the file was written sits in memory: added vectors in an exact-scanned tail,
deleted ids in a set the search leaves out. When they grow past a fraction of the file, the writer that notices
writes a new file (merging them in) and renames it into place.

Crashes. The file is only ever a snapshot of committed state at its stamp (a log seq and that row's content), so a
process that committed to SQLite and died before writing a file leaves an older file whose stamp the next process
replays forward from: repaired by reading only the log's tail. A file whose stamp row is gone (the log was pruned
past it, or the database was replaced) or that is damaged, of another store or dimension, is not used: the
partition is rebuilt from SQLite and a new file written. A file is never served from beyond what the log confirms.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .ivf_file import IvfArrays, IvfFile, Stamp, build_arrays, open_ivf, write_ivf
from .ivf_merge import MergedRows
from .ivf_partition import LargePartition
from .ivf_rewrites import Rewrites
from .vector_index import VectorIndex

__all__ = ["PERSIST_MIN", "LargePartition", "SQLiteVectors"]

logger = logging.getLogger(__name__)

#: Entries from which a partition gets an index file. Below it an exact scan (about 0.1 ms at 4k x 384) costs less
#: than reading the partition from SQLite on a process's first search (about 20 ms at 4k) is worth avoiding.
PERSIST_MIN = 4_096
_EXACT_ONLY = (
    2**62
)  # the in-memory index of a small partition never builds a graph: it becomes a file instead
_LOG_KEEP = 200_000
_LOG_PRUNE_EVERY = 5_000
_MAX_IN_PARAMS = 500
_SETTLE_MIN = 256  # changes since its file that make ``close`` write a partition's file


Index = VectorIndex | LargePartition


class SQLiteVectors:
    """Indexes of the partitions this process searched, the change log, and the index files.

    Not thread-safe: the backend holds its lock around every call.
    """

    def __init__(self, conn: sqlite3.Connection, path: str, store_id: str) -> None:
        self._conn = conn
        # Absolute: a relative store path named from wherever the process has moved since would put the files
        # (and look for them) beside no store.
        self._dir = None if path == ":memory:" else Path(path + ".lix-index").absolute()
        self._store_id = store_id
        self._indexes: dict[tuple[str, str], Index] = {}
        self._stale: set[tuple[str, str]] = set()
        # Entries this process added to partitions it does not hold, and the vector size: a writer that never
        # searches a partition still keeps its file fresh, so no reader replays a long log tail.
        self._unseen: dict[tuple[str, str], int] = {}
        self._to_load: dict[tuple[str, str], int] = {}
        self._last_seq = self._max_seq()
        self._data_version = self._pragma_data_version()
        self._own_seqs: set[int] = set()
        self._log_writes = 0
        self._rewrites = Rewrites(self._write_file)

    def _max_seq(self) -> int:
        return int(self._conn.execute("SELECT max(seq) FROM semantic_log").fetchone()[0] or 0)

    def _pragma_data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _file(self, namespace: str, partition: str) -> Path | None:
        if self._dir is None:
            return None
        name = hashlib.sha256(f"{namespace}\0{partition}".encode()).hexdigest()[:40]
        return self._dir / f"{name}.ivf"

    # -- the change log (inside the writer's transaction) ----------------------------------------------------

    def log(self, conn: sqlite3.Connection, namespace: str, changes: Sequence[tuple[str, int, int]]) -> None:
        """Record ``(partition, entry_id, added)`` changes; the seqs are consecutive as the write lock is held."""
        if not changes:
            return
        sql = "INSERT INTO semantic_log (namespace, partition, entry_id, added) VALUES (?, ?, ?, ?)"
        rows = [(namespace, partition, entry_id, added) for partition, entry_id, added in changes]
        if len(rows) == 1:
            last = int(conn.execute(sql, rows[0]).lastrowid or 0)
        else:
            conn.executemany(sql, rows)
            last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        self._own_seqs.update(range(last - len(changes) + 1, last + 1))
        self._log_writes += len(changes)
        if self._log_writes >= _LOG_PRUNE_EVERY:
            self._log_writes = 0
            conn.execute(
                "DELETE FROM semantic_log WHERE seq <= (SELECT max(seq) FROM semantic_log) - ?", (_LOG_KEEP,)
            )

    # -- this process's changes --------------------------------------------------------------------------------

    def added(self, namespace: str, partition: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Entries added to a partition (one call for a batch: one cell assignment, one copy into the tail)."""
        key = (namespace, partition)
        index = self._indexes.get(key)
        if index is not None:
            index.add(ids, np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1))
            self._note(namespace, partition, index)
        elif self._dir is not None:
            count = self._unseen[key] = self._unseen.get(key, 0) + len(ids)
            if count >= PERSIST_MIN:
                self._to_load[key] = int(np.asarray(vectors).shape[-1])

    def removed(self, namespace: str, partition: str, entry_ids: Sequence[int]) -> None:
        index = self._indexes.get((namespace, partition))
        if index is not None:
            index.remove(entry_ids)
            self._note(namespace, partition, index)

    def _note(self, namespace: str, partition: str, index: Index) -> None:
        if isinstance(index, LargePartition) and not index.stale(PERSIST_MIN):
            return
        if isinstance(index, VectorIndex) and index.size() < PERSIST_MIN:
            return
        self._stale.add((namespace, partition))

    # -- other processes' changes ------------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Apply other processes' committed changes to the partitions this process holds."""
        version = self._pragma_data_version()
        if version == self._data_version:
            # Nobody else committed: every log row after _last_seq is ours and already applied.
            if self._own_seqs:
                self._last_seq = max(self._last_seq, max(self._own_seqs))
                self._own_seqs.clear()
            return
        self._data_version = version
        rows = self._conn.execute(
            "SELECT seq, namespace, partition, entry_id, added FROM semantic_log WHERE seq > ? ORDER BY seq",
            (self._last_seq,),
        ).fetchall()
        if not rows:
            return
        if rows[0][0] > self._last_seq + 1 and self._indexes:  # rows we never saw were pruned: reload lazily
            logger.info("change log was pruned past this process; reloading vector indexes")
            self.clear()
        else:
            mine = self._own_seqs
            self._apply([row[1:] for row in rows if row[0] not in mine])
        self._own_seqs.clear()
        self._last_seq = rows[-1][0]

    def _apply(self, rows: Sequence[tuple[str, str, int, int]]) -> None:
        """Replay ``(namespace, partition, entry_id, added)`` log rows onto the indexes held (idempotent)."""
        additions: dict[int, tuple[str, str]] = {}
        for namespace, partition, entry_id, added in rows:
            if (namespace, partition) not in self._indexes:
                continue
            if added:
                additions[entry_id] = (namespace, partition)
            else:
                additions.pop(entry_id, None)
                self.removed(namespace, partition, [entry_id])
        ids = list(additions)
        by_partition: dict[tuple[str, str], tuple[list[int], list[np.ndarray]]] = {}
        for start in range(0, len(ids), _MAX_IN_PARAMS):
            chunk = ids[start : start + _MAX_IN_PARAMS]
            for entry_id, blob in self._conn.execute(
                f"SELECT id, vector FROM semantic_entries WHERE id IN ({','.join('?' * len(chunk))}) "
                "AND vector IS NOT NULL",
                chunk,
            ):
                found_ids, vectors = by_partition.setdefault(additions[entry_id], ([], []))
                found_ids.append(entry_id)
                vectors.append(np.frombuffer(blob, dtype=np.float32))
        for (namespace, partition), (found_ids, vectors) in by_partition.items():
            self.added(namespace, partition, found_ids, np.stack(vectors))

    # -- search ------------------------------------------------------------------------------------------------

    def search(self, namespace: str, partition: str, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        self._rewrites.adopt(self._indexes)
        self.catch_up()
        index = self._indexes.get((namespace, partition))
        if index is None:
            index = self._load(namespace, partition, int(np.asarray(vector).shape[-1]))
        return index.search(vector, k)

    def _load(self, namespace: str, partition: str, dim: int) -> Index:
        """The partition's index: its file replayed forward when the log confirms the file's stamp, otherwise
        rebuilt from SQLite (and a file written when the partition is large)."""
        key = (namespace, partition)
        path = self._file(namespace, partition)
        mapped = None if path is None else open_ivf(path, dim, self._store_id)
        if mapped is not None and self._confirmed(mapped.stamp):
            index: Index = LargePartition(mapped, dim)
            self._indexes[key] = index
            replay = self._conn.execute(
                "SELECT namespace, partition, entry_id, added FROM semantic_log "
                "WHERE seq > ? AND namespace = ? AND partition = ? ORDER BY seq",
                (mapped.stamp.seq, namespace, partition),
            ).fetchall()
            self._apply(replay)
            return index
        if mapped is not None:
            logger.warning("vector index %s is older than the change log keeps; rebuilding it", path)
            mapped.close()
        self._conn.execute("BEGIN")  # one read snapshot: the stamp and the rows agree
        try:
            stamp = self._current_stamp()
            rows = self._conn.execute(
                "SELECT id, vector FROM semantic_entries WHERE namespace = ? AND partition = ? "
                "AND vector IS NOT NULL",
                (namespace, partition),
            ).fetchall()
        finally:
            self._conn.execute("COMMIT")
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        vecs = (
            np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), dim)
            if rows
            else np.empty((0, dim), dtype=np.float32)
        )
        if len(rows) >= PERSIST_MIN:
            index = LargePartition(IvfFile(build_arrays(ids, vecs), stamp), dim)
            self._save(key, index.base.arrays, stamp)
        else:
            index = VectorIndex(dim, exact_threshold=_EXACT_ONLY)
            if len(rows):
                index.add(ids.tolist(), vecs)
        self._indexes[key] = index
        return index

    def _confirmed(self, stamp: Stamp) -> bool:
        """Whether the log still holds the file's stamp row as the file recorded it (so it holds every change
        since: the log is pruned from its start)."""
        if stamp.seq == 0:
            first = self._conn.execute("SELECT min(seq) FROM semantic_log").fetchone()[0]
            return first is None or int(first) == 1
        row = self._conn.execute(
            "SELECT entry_id, added FROM semantic_log WHERE seq = ?", (stamp.seq,)
        ).fetchone()
        return row is not None and (int(row[0]), int(row[1])) == (stamp.entry_id, stamp.added)

    def _current_stamp(self) -> Stamp:
        row = self._conn.execute(
            "SELECT seq, entry_id, added FROM semantic_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return Stamp(0, 0, 0) if row is None else Stamp(int(row[0]), int(row[1]), int(row[2]))

    # -- index files -------------------------------------------------------------------------------------------

    def settle(self) -> None:
        """At close: partitions whose changes since their file a fresh process would replay get a new file, so
        the next process opening a store that was closed (not crashed) replays nothing."""
        self._rewrites.adopt(self._indexes, wait=True)
        for key, index in self._indexes.items():
            if isinstance(index, LargePartition) and index.changed() > _SETTLE_MIN:
                self._stale.add(key)
        self.maintain()
        self._rewrites.adopt(self._indexes, wait=True)

    def maintain(self) -> None:
        """After a write: give partitions that changed enough a new file (a small one that grew, a large one whose
        tail or deletions outgrew their share; those merge on a worker, `ivf_rewrites`). The stamp is the log row
        every held index reflects."""
        self._rewrites.adopt(self._indexes)
        if self._to_load:
            to_load, self._to_load = self._to_load, {}
            self.catch_up()
            for (namespace, partition), dim in to_load.items():
                self._unseen.pop((namespace, partition), None)
                if (namespace, partition) not in self._indexes:
                    self._note(namespace, partition, self._load(namespace, partition, dim))
        if not self._stale:
            return
        # A partition whose new file is still being written is left alone (its next change after the adoption
        # marks it again if still stale): no catch-up and no log read for it on every write meanwhile.
        stale = {key for key in self._stale if not self._rewrites.running(key)}
        self._stale = set()
        if not stale:
            return
        self.catch_up()  # every held index now reflects the log up to _last_seq
        row = self._conn.execute(
            "SELECT entry_id, added FROM semantic_log WHERE seq = ?", (self._last_seq,)
        ).fetchone()
        stamp = Stamp(self._last_seq, int(row[0]), int(row[1])) if row is not None else None
        for key in stale:
            index = self._indexes.get(key)
            if index is None:
                continue
            if isinstance(index, LargePartition):
                self._rewrites.start(key, index, stamp)
            else:  # a small partition that grew: its first file (a few thousand rows, written here)
                ids, vecs = index.items()
                self._indexes[key] = LargePartition(
                    self._write_file(key, build_arrays(ids, vecs), stamp, index.dim), index.dim
                )

    def _write_file(
        self, key: tuple[str, str], arrays: IvfArrays | MergedRows, stamp: Stamp | None, dim: int
    ) -> IvfFile:
        """Write ``arrays`` as the partition's file (unless ``stamp`` is None) and map it. Runs on the rewrite
        worker too: it touches only the file system and this object's fixed settings."""
        if stamp is not None and self._save(key, arrays, stamp):
            path = self._file(*key)
            # Mapped rather than held: the pages are the OS's file cache, shared with other processes.
            mapped = open_ivf(path, dim, self._store_id) if path is not None else None
            if mapped is not None and mapped.stamp == stamp:
                return mapped
            if mapped is not None:  # another process renamed its own file over ours meanwhile: keep ours
                mapped.close()
        if isinstance(arrays, MergedRows):  # the rows in memory, as the file would have held them
            arrays = arrays.materialized()
        assert isinstance(arrays, IvfArrays)
        return IvfFile(arrays, stamp or Stamp(0, 0, 0))

    def _save(self, key: tuple[str, str], arrays: IvfArrays | MergedRows, stamp: Stamp) -> bool:
        path = self._file(*key)
        if path is None:
            return False
        try:
            path.parent.mkdir(exist_ok=True)
            write_ivf(path, arrays, stamp, self._store_id)
        except OSError as exc:  # the index still works from memory; the next process rebuilds it
            logger.warning("could not write vector index %s: %s", path, exc)
            return False
        return True

    def close(self) -> None:
        """Wait for the rewrite worker and drop every index."""
        self._rewrites.shutdown()
        self.clear()

    def clear(self) -> None:
        self._rewrites.forget()
        for index in self._indexes.values():
            if isinstance(index, LargePartition):
                index.base.close()
        self._indexes.clear()
        self._stale.clear()
        self._unseen.clear()
        self._to_load.clear()
