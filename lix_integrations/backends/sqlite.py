"""The embedded default backend: one SQLite file in WAL mode, shared safely by threads and processes.

Vector search lives in `sqlite_vectors`: small partitions are scanned in memory, large ones are mapped from
an index file beside the database, and a change log written in the same transactions as the entries keeps every
process's view in step with the file. Reads never write: what a lookup would write (access times, deferred cache
fills, the delete of an expired entry) is held for the next write transaction.

Async callers go through one explicit ``asyncio.to_thread`` per operation: SQLite is blocking at heart and must
never run on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from ..errors import BackendError
from ..kernel import forks, semantic_ops
from ..kernel.op import bind_methods
from ..kernel.ops import Deferred, Gather, Op, SemanticRecord
from . import sqlite_forks
from .base import Backend, gather_each
from .leases import LEASE_SCHEMA, SQLiteLeases
from .sqlite_checkpoints import Checkpoints
from .sqlite_chunks import InChunks
from .sqlite_errors import describe_open_error
from .sqlite_inserts import insert_entries
from .sqlite_kv import KV_SCHEMA, SQLiteKv
from .sqlite_lists import LISTS_SCHEMA, SQLiteLists
from .sqlite_prompt_vectors import VECTOR_KEY_SCHEMA, PromptVectorRefs, ref
from .sqlite_semantic_rows import RECORD_COLUMNS, SEMANTIC_SCHEMA, record_of
from .sqlite_tx import Transactions
from .sqlite_url import path_from_url
from .sqlite_vectors import SQLiteVectors

__all__ = ["SQLiteBackend"]

_T = TypeVar("_T")
logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_BUSY_TIMEOUT_S = 10.0
_WAL_CHECKPOINT_PAGES = 40_000
_WAL_KEEP_BYTES = 64 * 1024 * 1024
_CACHE_KIB = 16 * 1024
_MAX_IN_PARAMS = 500


class SQLiteBackend(Backend):
    """SQLite storage; every method is safe to call from any thread of any process sharing the file."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.url = f"sqlite:///{path}"
        self.shared = path != ":memory:"
        #: The file as named at open, wherever the process moves since: a relative path named another file from
        #: another directory, to a forked child reopening it after a ``chdir`` and to the checkpoint thread.
        # Joined, not normalized: ``link/../x.db`` is ``x.db`` beside the link's target, as SQLite opens it. An
        # absolute path is kept as it is (no ``getcwd``, which fails once the working directory was deleted).
        self.path = os.path.join(os.getcwd(), path) if self.shared and not os.path.isabs(path) else path
        self._address = f"sqlite:///{os.path.realpath(self.path)}" if self.shared else None
        with sqlite_forks.OPENING:
            self._open()

    def _open(self) -> None:
        """Connect, and make everything that holds the connection: at start, and in a forked child
        (`sqlite_forks`)."""
        self._lock = threading.RLock()
        path = self.path
        try:
            self._conn = sqlite3.connect(
                path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise BackendError(describe_open_error(path, exc)) from exc
        self._kv: SQLiteKv | None = None
        self._tx = Transactions(
            self._conn,
            path,
            int(_BUSY_TIMEOUT_S * 1000),
            run=lambda op: Backend.execute(self, op),
            kv_touches=lambda: self._kv is not None and self._kv.has_touches(),
            flush_kv_touches=self._flush_kv_touches,
        )
        try:
            self._initialize()
        except sqlite3.Error as exc:
            message = describe_open_error(path, exc)  # before closing: the probe needs the same fd pressure
            self._conn.close()
            raise BackendError(message) from exc
        self._vectors = SQLiteVectors(self._conn, path, self._stored_meta("store_id") or "")
        self._closed = False
        self._checkpoints = Checkpoints(self._conn, path, self._lock) if self.shared else None
        self._kv = kv = SQLiteKv(self._conn, self._write, hold_touches=True)
        self._handlers.update(
            {
                Deferred: lambda op: self._tx.hold(op.op),
                Gather: self._gather,
                **bind_methods(self, semantic_ops.SEMANTIC_METHODS, prefix="_"),
                **PromptVectorRefs(self._conn, self._write).wrap(kv.handlers()),
                **SQLiteLists(self._conn, self._write).handlers(),
                **SQLiteLeases(self._conn, self._write).handlers(),
            }
        )
        sqlite_forks.register(self)
        self._pid = os.getpid()  # last: until now a child's other threads wait in _leave_parents

    # -- forks (see `sqlite_forks`) --------------------------------------------------------------------------

    def hold_for_fork(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.hold_for_fork()  # first, and let go of: a writer takes the lock, then the thread's
        try:
            self._lock.acquire()
        except BaseException:
            if self._checkpoints is not None:
                self._checkpoints.release_after_fork(False)
            raise

    def release_after_fork(self, child: bool) -> None:
        try:
            if child and self.shared and self._pid != os.getpid():  # not one a hook's operation opened here
                # The parent's: closed before anything opens the file (twice is fine: a garbage collection in the
                # fork's hooks may have closed this store already).
                no_checkpoint = getattr(sqlite3, "SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE", None)
                if no_checkpoint is not None and hasattr(self._conn, "setconfig"):  # Python 3.12+
                    self._conn.setconfig(no_checkpoint, True)
                self._conn.close()
        finally:
            self._lock.release()
            if self._checkpoints is not None:
                self._checkpoints.release_after_fork(child)

    def _leave_parents(self, closing: bool = False) -> bool:
        """The first operation in a forked child: the store opened anew (a private in-memory one is the child's
        own copy, held still over the fork like the others). ``closing``: a child closing a store it never used
        (its connection, the parent's, was closed at the fork); True then when nothing is left to close."""
        with sqlite_forks.OPENING:
            # The process's own id: a garbage collection may close an engine inside the fork's hooks, before the
            # one that renews `forks.pid` has run.
            if self._pid == os.getpid():
                return False
            if self.shared and closing:
                self._closed = True
                sqlite_forks.unregister(self)
                return True
            if self.shared and not self._closed:
                self._open()
            else:
                self._pid = os.getpid()
            return False

    @property
    def store_address(self) -> str | None:
        return self._address

    @classmethod
    def from_url(cls, url: str) -> SQLiteBackend:
        return cls(path_from_url(url))

    # -- set-up ----------------------------------------------------------------------------------------------

    def _initialize(self) -> None:
        conn = self._conn
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # A checkpoint every ~10,000 WAL pages (~40 MB), not SQLite's 1,000: a batch of 500 semantic inserts dirties
        # ~1,200 pages (random exact-key and vector-key index leaves), so the default checkpointed, with its two
        # fsyncs, after every batch. Bare inserts of this schema into 100k rows: 9.7k -> 16.6k/s batched, 4.0k ->
        # 5.7k/s one per transaction (2026-12-04, the bare sqlite3 floor of benchmarks/sqlite_scale.py). The WAL
        # file is cut back to 64 MB after a checkpoint so it does not keep its largest size. Those checkpoints now
        # run on a thread of their own (`sqlite_checkpoints`, ~10,000 pages apart); a commit makes one only if
        # that thread fell 40,000 pages behind.
        conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={_WAL_KEEP_BYTES}")
        # A 16 MiB page cache (SQLite's is 2): inserts land on random leaves of the exact-key and vector-key indexes
        # (~20 MB at 100k entries), which mostly had to be read back from the OS. update_many into 100k: 128 -> 116
        # us of the writer's CPU per insert (2026-12-04, three alternated runs of 20,000 into a copy of
        # benchmarks/sqlite_scale.py's 100k store). It fills only as pages are read.
        conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        conn.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
        schema = SEMANTIC_SCHEMA + VECTOR_KEY_SCHEMA + KV_SCHEMA + LISTS_SCHEMA + LEASE_SCHEMA
        schema_digest = hashlib.sha256((schema + "|store_id").encode()).hexdigest()[:16]
        if self._stored_meta("schema_digest") == schema_digest:
            # Every table is there already: opening a store reads, so it never waits for another writer.
            self._check_schema_version(self._stored_meta("schema_version"))
            return
        with self._write():
            columns = {row[1] for row in conn.execute("PRAGMA table_info(semantic_entries)")}
            if (
                columns and "vector_key" not in columns
            ):  # a store written before prompt vectors were stored once
                conn.execute("ALTER TABLE semantic_entries ADD COLUMN vector_key TEXT")
            for statement in schema.split(";"):
                if statement.strip():
                    conn.execute(statement)
            stored = self._stored_meta("schema_version")
            if stored is None:
                conn.execute("INSERT INTO lix_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._check_schema_version(stored or str(SCHEMA_VERSION))
            # Names this store in its vector index files, so a file copied from another store is never used.
            conn.execute("INSERT OR IGNORE INTO lix_meta VALUES ('store_id', ?)", (uuid.uuid4().hex,))
            conn.execute("INSERT OR REPLACE INTO lix_meta VALUES ('schema_digest', ?)", (schema_digest,))

    def _stored_meta(self, key: str) -> str | None:
        try:
            row = self._conn.execute("SELECT value FROM lix_meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return None if row is None else str(row[0])

    def _check_schema_version(self, stored: str | None) -> None:
        if stored != str(SCHEMA_VERSION):
            raise BackendError(
                f"SQLite store {self.path!r} has schema version {stored}, this version of lix-integrations "
                f"reads version {SCHEMA_VERSION}"
            )

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._tx.write()

    # -- execution -------------------------------------------------------------------------------------------

    def execute(self, op: Op) -> Any:
        if self._pid != forks.pid:
            self._leave_parents()
        with self._lock:
            if self._closed:
                raise BackendError(f"SQLite store {self.path!r} is closed")
            try:
                result = super().execute(op)
                if not self._tx.depth:
                    self._vectors.maintain()  # index files for partitions that changed enough (after the commit)
                    if self._checkpoints is not None:
                        self._checkpoints.wrote()
                return result
            except sqlite3.Error as exc:
                raise BackendError(
                    f"SQLite store {self.path!r} failed during {type(op).__name__}: {exc}"
                ) from exc

    async def aexecute(self, op: Op) -> Any:
        return await asyncio.to_thread(self.execute, op)

    def close(self) -> None:
        # The process's own id, not forks.pid: see _leave_parents.
        if self._pid != os.getpid() and self._leave_parents(closing=True):
            return
        if self._checkpoints is not None:
            self._checkpoints.close()  # first, without the lock: its thread may be waiting for it
        with self._lock:
            if self._closed:
                return
            try:
                with self._write():
                    pass  # writes what reads held back
                self._vectors.settle()  # and index files a fresh process would otherwise bring up to date
            except (sqlite3.Error, OSError):
                logger.warning("could not write recent changes to %s at close", self.path, exc_info=True)
            self._closed = True
            self._vectors.close()
            self._conn.close()
            sqlite_forks.unregister(self)  # under the lock: a fork holds a store until it is closed

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    # -- settings --------------------------------------------------------------------------------------------

    def _ensure_settings(self, op: semantic_ops.EnsureSettings) -> dict[str, str]:
        # Read first: only a store that lacks a setting is written, so opening a store takes no write lock.
        rows = self._conn.execute(
            "SELECT field, value FROM lix_settings WHERE namespace = ?", (op.namespace,)
        )
        stored = {field: value for field, value in rows}
        if all(k in stored for k in op.values) and all(stored.get(k) == v for k, v in op.replace.items()):
            return stored
        with self._write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO lix_settings (namespace, field, value) VALUES (?, ?, ?)",
                [(op.namespace, k, v) for k, v in op.values.items()],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO lix_settings (namespace, field, value) VALUES (?, ?, ?)",
                [(op.namespace, k, v) for k, v in op.replace.items()],
            )
            rows = conn.execute("SELECT field, value FROM lix_settings WHERE namespace = ?", (op.namespace,))
            return {field: value for field, value in rows}

    # -- counts ----------------------------------------------------------------------------------------------

    def _adjust_count(self, conn: sqlite3.Connection, namespace: str, delta: int) -> None:
        if delta:
            conn.execute(
                "INSERT INTO semantic_counts (namespace, n) VALUES (?, ?) "
                "ON CONFLICT (namespace) DO UPDATE SET n = n + excluded.n",
                (namespace, delta),
            )

    # -- reads -----------------------------------------------------------------------------------------------

    def _with_pending_touch(self, namespace: str, record: SemanticRecord) -> SemanticRecord:
        touched = self._tx.touched(namespace, record.id) or 0.0
        return replace(record, accessed_at=touched) if touched > record.accessed_at else record

    def _exact_get(self, op: semantic_ops.ExactGet) -> SemanticRecord | None:
        row = self._conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM semantic_entries WHERE namespace = ? AND exact_key = ?",
            (op.namespace, op.exact_key),
        ).fetchone()
        return None if row is None else self._with_pending_touch(op.namespace, record_of(row))

    def _vector_search(self, op: semantic_ops.VectorSearch) -> list[tuple[SemanticRecord, float]]:
        hits = self._vectors.search(op.namespace, op.partition, op.vector, op.k)
        if not hits:
            return []
        marks = ",".join("?" * len(hits))
        rows = self._conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM semantic_entries WHERE id IN ({marks})", [i for i, _ in hits]
        ).fetchall()
        by_id = {row[0]: record_of(row) for row in rows}
        return [(self._with_pending_touch(op.namespace, by_id[i]), s) for i, s in hits if i in by_id]

    def _count(self, op: semantic_ops.CountEntries) -> int:
        row = self._conn.execute(
            "SELECT n FROM semantic_counts WHERE namespace = ?", (op.namespace,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def _scan_entries(self, op: semantic_ops.ScanEntries) -> list[SemanticRecord]:
        where, params = ["namespace = ?", "id > ?"], [op.namespace, op.after_id]
        if op.scope is not None:
            prefix = op.scope + "/"
            where.append("(scope = ? OR substr(scope, 1, ?) = ?)")
            params += [op.scope, len(prefix), prefix]
        if op.llm_key is not None:
            where.append("llm_key = ?")
            params.append(op.llm_key)
        columns = RECORD_COLUMNS.replace("vector", "NULL")
        rows = self._conn.execute(
            f"SELECT {columns} FROM semantic_entries WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            [*params, op.limit],
        ).fetchall()
        return [self._with_pending_touch(op.namespace, record_of(row)) for row in rows]

    # -- writes ----------------------------------------------------------------------------------------------

    def _delete_rows(self, conn: sqlite3.Connection, namespace: str, rows: Sequence[tuple[int, str]]) -> int:
        """Delete (id, partition) rows inside an open transaction, logging and unindexing them."""
        if not rows:
            return 0
        ids = [entry_id for entry_id, _ in rows]
        InChunks(
            conn, "DELETE FROM semantic_entries WHERE id IN ({marks})", (), ids, size=_MAX_IN_PARAMS
        ).run()
        self._vectors.log(conn, namespace, [(partition, entry_id, 0) for entry_id, partition in rows])
        self._adjust_count(conn, namespace, -len(rows))
        self._forget_rows(namespace, rows)
        return len(rows)

    def _forget_rows(self, namespace: str, rows: Sequence[tuple[int, str]]) -> None:
        for entry_id, partition in rows:
            self._tx.forget(namespace, entry_id)
            self._vectors.removed(namespace, partition, [entry_id])

    def _upsert(self, op: semantic_ops.Upsert) -> int:
        return self._upsert_many(op.namespace, [op.record])[0]

    def _gather(self, op: Gather) -> list[Any]:
        """Upserts of one namespace sent together are one transaction (``update_many``); anything else runs as
        every backend runs a Gather."""
        upserts = [sub for sub in op.ops if isinstance(sub, semantic_ops.Upsert)]
        if upserts and len(upserts) == len(op.ops) and len({sub.namespace for sub in upserts}) == 1:
            return list(self._upsert_many(upserts[0].namespace, [sub.record for sub in upserts]))
        return gather_each(self.execute, op)

    def _upsert_many(self, namespace: str, records: Sequence[SemanticRecord]) -> list[int]:
        """Insert records in one transaction, each replacing the entry stored under its exact key.

        Four statements however many records (a delete, an insert, the log, the count; a single new key skips the
        delete, `sqlite_inserts`) plus the transaction: the ids are consecutive because the write lock is held from
        ``BEGIN IMMEDIATE`` on. A prompt vector the embedding tier was about to store as well is stored once, in
        the entry (`sqlite_prompt_vectors`).
        Within the batch the last record of an exact key wins, as consecutive calls would.
        """
        last = {rec.exact_key: i for i, rec in enumerate(records)}
        kept = [records[i] for i in sorted(last.values())] if len(last) < len(records) else list(records)
        blobs = [
            None if rec.vector is None else np.ascontiguousarray(rec.vector, dtype=np.float32).tobytes()
            for rec in kept
        ]
        claimed = self._tx.claim({blob for blob in blobs if blob is not None})
        rows = [
            (
                namespace,
                rec.exact_key,
                rec.partition,
                rec.scope,
                rec.llm_key,
                rec.prompt,
                blob,
                None if blob is None or blob not in claimed else ref(*claimed[blob]),
                rec.payload,
                rec.created_at,
                rec.expires_at,
                rec.accessed_at,
            )
            for rec, blob in zip(kept, blobs, strict=True)
        ]
        keys = [rec.exact_key for rec in kept]
        with self._write() as conn:
            first, old = insert_entries(conn, namespace, rows, keys)
            ids = list(range(first, first + len(rows)))
            self._forget_rows(namespace, old)
            changes = [(p, i, 0) for i, p in old] + [(rec.partition, i, 1) for rec, i in zip(kept, ids)]
            self._vectors.log(conn, namespace, changes)
            self._adjust_count(conn, namespace, len(rows) - len(old))
        by_partition: dict[str, list[int]] = {}
        for n, rec in enumerate(kept):
            if rec.vector is not None:
                by_partition.setdefault(rec.partition, []).append(n)
        for partition, picked in by_partition.items():
            vectors = np.stack([np.asarray(kept[n].vector, dtype=np.float32) for n in picked])
            self._vectors.added(namespace, partition, [ids[n] for n in picked], vectors)
        by_key = dict(zip(keys, ids))
        return [by_key[rec.exact_key] for rec in records]

    def _flush_kv_touches(self) -> None:
        None if self._kv is None else self._kv.flush_touches(force=True)

    def _touch(self, op: semantic_ops.Touch) -> None:
        self._tx.touch(op.namespace, op.ids, op.now)

    def _delete_ids(self, op: semantic_ops.DeleteIds) -> int:
        ids = list(op.ids)
        with self._write() as conn:
            sql = "SELECT id, partition FROM semantic_entries WHERE namespace = ? AND id IN ({marks})"
            rows: list[tuple[int, str]] = InChunks(conn, sql, [op.namespace], ids, size=_MAX_IN_PARAMS).rows()
            return self._delete_rows(conn, op.namespace, rows)

    def _delete_matching(self, op: semantic_ops.DeleteMatching) -> int:
        where, params = ["namespace = ?"], [op.namespace]
        if op.scope is not None:
            prefix = op.scope + "/"
            where.append("(scope = ? OR substr(scope, 1, ?) = ?)")
            params += [op.scope, len(prefix), prefix]  # type: ignore[list-item]
        if op.llm_key is not None:
            where.append("llm_key = ?")
            params.append(op.llm_key)
        with self._write() as conn:
            rows = conn.execute(
                f"SELECT id, partition FROM semantic_entries WHERE {' AND '.join(where)}", params
            )
            return self._delete_rows(conn, op.namespace, rows.fetchall())

    def _evict_overflow(self, op: semantic_ops.EvictOverflow) -> int:
        if self._count(semantic_ops.CountEntries(op.namespace)) <= op.max_entries:
            return 0
        with self._write() as conn:  # writes the held access times first
            row = conn.execute(
                "SELECT n FROM semantic_counts WHERE namespace = ?", (op.namespace,)
            ).fetchone()
            excess = (0 if row is None else int(row[0])) - op.max_entries
            if excess <= 0:
                return 0
            rows = conn.execute(
                "SELECT id, partition FROM semantic_entries WHERE namespace = ? ORDER BY accessed_at, id LIMIT ?",
                (op.namespace, excess),
            ).fetchall()
            return self._delete_rows(conn, op.namespace, rows)

    def _purge_expired(self, op: semantic_ops.PurgeExpired) -> int:
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, partition FROM semantic_entries WHERE namespace = ? AND expires_at IS NOT NULL "
                "AND expires_at <= ?",
                (op.namespace, op.now),
            ).fetchall()
            return self._delete_rows(conn, op.namespace, rows)
