"""Append-only lists for the SQLite backend (the session tier's hot store).

Every write is one ``BEGIN IMMEDIATE`` transaction: the seq counter is read and advanced under SQLite's write lock,
so threads and processes appending to one list never get the same seq and each writer's order is kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

from ..kernel import list_ops
from ..kernel.op import Op
from .sqlite_chunks import InChunks
from .sqlite_tables import namespaced_table

__all__ = ["LISTS_SCHEMA", "SQLiteLists"]

#: The same text stores were created with (``lix_meta``'s schema digest hashes it), table forms from
#: `namespaced_table`.
LISTS_SCHEMA = (
    "\n"
    + namespaced_table(
        "list_meta",
        ("key TEXT",),
        "next_seq INTEGER NOT NULL",
        "length INTEGER NOT NULL",
        "updated_at REAL NOT NULL",
        "base_seq INTEGER NOT NULL",
        "archived_through INTEGER NOT NULL",
    )
    + "CREATE INDEX IF NOT EXISTS list_idle ON list_meta (namespace, updated_at) WHERE length > 0;\n"
    + namespaced_table("list_items", ("key TEXT", "seq INTEGER"), "value BLOB NOT NULL")
)

_CHUNK = 400
_META = "SELECT next_seq, length, updated_at, base_seq, archived_through FROM list_meta WHERE namespace = ? AND key = ?"


class _Meta(NamedTuple):
    """A list's ``list_meta`` row; a write saves ``meta._replace(...)`` with what it changed."""

    next_seq: int
    length: int
    updated_at: float
    base_seq: int
    archived_through: int


class SQLiteLists:
    """The list handlers; the owning backend holds its lock around every call and supplies transactions."""

    def __init__(
        self, conn: sqlite3.Connection, write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    ) -> None:
        self._conn = conn
        self._write = write  # the backend creates LISTS_SCHEMA with its own tables

    def handlers(self) -> dict[type[Op], Callable[[Any], Any]]:
        return list_ops.list_handlers(self)

    # -- helpers (inside an open transaction) ------------------------------------------------------------------

    @staticmethod
    def _meta(conn: sqlite3.Connection, namespace: str, key: str) -> _Meta | None:
        row = conn.execute(_META, (namespace, key)).fetchone()
        return (
            None if row is None else _Meta(int(row[0]), int(row[1]), float(row[2]), int(row[3]), int(row[4]))
        )

    @staticmethod
    def _length(conn: sqlite3.Connection, namespace: str, key: str) -> int:
        row = conn.execute(
            "SELECT count(*) FROM list_items WHERE namespace = ? AND key = ?", (namespace, key)
        ).fetchone()
        return int(row[0])

    @staticmethod
    def _save(conn: sqlite3.Connection, namespace: str, key: str, meta: _Meta) -> None:
        conn.execute(
            "INSERT INTO list_meta (namespace, key, next_seq, length, updated_at, base_seq, archived_through) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET next_seq = excluded.next_seq, "
            "length = excluded.length, updated_at = excluded.updated_at, base_seq = excluded.base_seq, "
            "archived_through = excluded.archived_through",
            (namespace, key, *meta),
        )

    # -- writes ----------------------------------------------------------------------------------------------

    def append(self, op: list_ops.ListAppend) -> list_ops.ListAppended:
        count = len(op.values)
        created, recovered = False, 0
        with self._write() as conn:
            # The hot path of every chat message is this statement plus one insert.
            row = conn.execute(
                "UPDATE list_meta SET next_seq = max(next_seq, ?) + ?, length = length + ?, updated_at = ? "
                "WHERE namespace = ? AND key = ? RETURNING next_seq, length",
                (op.min_seq, count, count, op.now, op.namespace, op.key),
            ).fetchone()
            if row is None:
                if not op.create:
                    return list_ops.ListAppended((), 0, missing=True)
                # Items left under a key whose status row is gone keep their seqs: new ones go after them.
                held, top = conn.execute(
                    "SELECT count(*), max(seq) FROM list_items WHERE namespace = ? AND key = ?",
                    (op.namespace, op.key),
                ).fetchone()
                created, recovered = True, int(held)
                start = max(1, op.min_seq, int(top or 0) + 1)
                row = (start + count, recovered + count)
                self._save(conn, op.namespace, op.key, _Meta(*row, op.now, 0, max(0, op.archived_through)))
            next_seq, length = int(row[0]), int(row[1])
            seqs = tuple(range(next_seq - count, next_seq))
            conn.executemany(
                "INSERT INTO list_items (namespace, key, seq, value) VALUES (?, ?, ?, ?)",
                [(op.namespace, op.key, seq, value) for seq, value in zip(seqs, op.values)],
            )
        return list_ops.ListAppended(seqs, length, created=created, recovered=recovered)

    def restore(self, op: list_ops.ListRestore) -> int:
        with self._write() as conn:
            meta = self._meta(conn, op.namespace, op.key)
            if meta is None:
                return 0
            wanted = [(op.namespace, op.key, seq, value) for seq, value in op.items if seq >= meta.base_seq]
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO list_items (namespace, key, seq, value) VALUES (?, ?, ?, ?)", wanted
            )
            added = conn.total_changes - before
            next_seq = max(meta.next_seq, max(seq for seq, _ in op.items) + 1) if op.items else meta.next_seq
            length = self._length(conn, op.namespace, op.key)
            self._save(
                conn, op.namespace, op.key, meta._replace(next_seq=next_seq, length=length, updated_at=op.now)
            )
        return added

    def trim_through(self, op: list_ops.ListTrimThrough) -> int:
        with self._write() as conn:
            meta = self._meta(conn, op.namespace, op.key)
            if meta is None:
                return 0
            removed = conn.execute(
                "DELETE FROM list_items WHERE namespace = ? AND key = ? AND seq <= ?",
                (op.namespace, op.key, op.seq),
            ).rowcount
            archived = max(meta.archived_through, op.seq)
            self._save(
                conn,
                op.namespace,
                op.key,
                meta._replace(length=meta.length - removed, archived_through=archived),
            )
        return int(removed)

    def delete_seqs(self, op: list_ops.ListDeleteSeqs) -> int:
        seqs = list(dict.fromkeys(op.seqs))
        with self._write() as conn:
            meta = self._meta(conn, op.namespace, op.key)
            if meta is None:
                return 0
            sql = "DELETE FROM list_items WHERE namespace = ? AND key = ? AND seq IN ({marks})"
            removed = InChunks(conn, sql, [op.namespace, op.key], seqs, size=_CHUNK).run()
            self._save(conn, op.namespace, op.key, meta._replace(length=meta.length - removed))
        return removed

    def replace(self, op: list_ops.ListReplace) -> list_ops.ListAppended:
        with self._write() as conn:
            meta = self._meta(conn, op.namespace, op.key)
            meta = meta if meta is not None else _Meta(1, 0, 0.0, 0, 0)
            next_seq = max(meta.next_seq, op.min_seq)
            conn.execute("DELETE FROM list_items WHERE namespace = ? AND key = ?", (op.namespace, op.key))
            seqs = tuple(range(next_seq, next_seq + len(op.values)))
            conn.executemany(
                "INSERT INTO list_items (namespace, key, seq, value) VALUES (?, ?, ?, ?)",
                [(op.namespace, op.key, seq, value) for seq, value in zip(seqs, op.values)],
            )
            self._save(
                conn,
                op.namespace,
                op.key,
                _Meta(next_seq + len(seqs), len(seqs), op.now, next_seq, meta.archived_through),
            )
        return list_ops.ListAppended(seqs, len(seqs))

    def delete(self, op: list_ops.ListDelete) -> int:
        with self._write() as conn:
            removed = conn.execute(
                "DELETE FROM list_items WHERE namespace = ? AND key = ?", (op.namespace, op.key)
            ).rowcount
            conn.execute("DELETE FROM list_meta WHERE namespace = ? AND key = ?", (op.namespace, op.key))
        return int(removed)

    # -- reads -----------------------------------------------------------------------------------------------

    def range(self, op: list_ops.ListRange) -> list[tuple[int, bytes]]:
        after = -1 if op.after_seq is None else op.after_seq
        if op.last_n is not None:
            rows = self._conn.execute(
                "SELECT seq, value FROM list_items WHERE namespace = ? AND key = ? AND seq > ? "
                "ORDER BY seq DESC LIMIT ?",
                (op.namespace, op.key, after, op.last_n),
            ).fetchall()
            rows.reverse()
            if op.limit is not None:
                rows = rows[: op.limit]
        else:
            rows = self._conn.execute(
                "SELECT seq, value FROM list_items WHERE namespace = ? AND key = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (op.namespace, op.key, after, -1 if op.limit is None else op.limit),
            ).fetchall()
        return [(int(seq), bytes(value)) for seq, value in rows]

    def info(self, op: list_ops.ListInfo) -> list_ops.ListStatus | None:
        meta = self._meta(self._conn, op.namespace, op.key)
        if meta is None:
            return None
        next_seq, length, updated_at, base_seq, archived = meta
        first = last = None
        if length:
            row = self._conn.execute(
                "SELECT min(seq), max(seq) FROM list_items WHERE namespace = ? AND key = ?",
                (op.namespace, op.key),
            ).fetchone()
            first, last = int(row[0]), int(row[1])
        return list_ops.ListStatus(length, first, last, next_seq, updated_at, base_seq, archived)

    def keys(self, op: list_ops.ListKeys) -> list[str]:
        # A range on the primary key: the prefix bounds are seeked, never a scan of every key.
        params: list[Any] = [op.namespace, op.prefix]
        sql = "SELECT key FROM list_meta WHERE namespace = ? AND key >= ?"
        if op.prefix:
            sql += " AND substr(key, 1, ?) = ?"
            params += [len(op.prefix), op.prefix]
            if op.prefix[-1] != "\U0010ffff":  # an upper bound too, so the seek also ends at the prefix's end
                sql += " AND key < ?"
                params.append(op.prefix[:-1] + chr(ord(op.prefix[-1]) + 1))
        if op.after is not None:
            sql += " AND key > ?"
            params.append(op.after)
        sql += " ORDER BY key LIMIT ?"
        params.append(op.limit)
        return [row[0] for row in self._conn.execute(sql, params)]

    def idle(self, op: list_ops.ListIdle) -> list[str]:
        rows = self._conn.execute(
            "SELECT key FROM list_meta WHERE namespace = ? AND length > 0 AND updated_at < ? "
            "ORDER BY updated_at, key LIMIT ?",
            (op.namespace, op.older_than, op.limit),
        )
        return [row[0] for row in rows]
