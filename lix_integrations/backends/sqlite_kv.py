"""Key-value records for the SQLite backend (embedding, tool and framework key-value tiers).

Reads that touch records (for least-recently-used eviction) are buffered, like the semantic tier's, so a cache
hit never waits for a write: with ``hold_touches`` the owning backend writes them with its next write
transaction, otherwise they are written in one transaction per batch.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from ..kernel import kv_ops
from ..kernel.op import Op, bind_methods
from .sqlite_chunks import InChunks
from .sqlite_tables import namespaced_table

__all__ = ["KV_SCHEMA", "SQLiteKv"]

#: The same text stores were created with (``lix_meta``'s schema digest hashes it), table forms from
#: `namespaced_table`.
KV_SCHEMA = (
    "\n"
    + namespaced_table(
        "kv_records",
        ("tbl TEXT", "key TEXT"),
        "value BLOB NOT NULL",
        "size INTEGER NOT NULL",
        "expires_at REAL",
        "accessed_at REAL NOT NULL",
    )
    + "CREATE INDEX IF NOT EXISTS kv_lru ON kv_records (namespace, tbl, accessed_at);\n"
    + "CREATE INDEX IF NOT EXISTS kv_expiry ON kv_records (namespace, expires_at) WHERE expires_at IS NOT NULL;\n"
    + namespaced_table("kv_tags", ("tbl TEXT", "tag TEXT", "key TEXT"))
    + "CREATE INDEX IF NOT EXISTS kv_tags_by_key ON kv_tags (namespace, tbl, key);\n"
)

_TOUCH_FLUSH_COUNT = 512
_TOUCH_HOLD_MAX = 50_000
_TOUCH_FLUSH_SECONDS = 1.0
_CHUNK = 400


#: Keys starting with a prefix, compared byte for byte. LIKE would ignore ASCII case ("foo/" matched "FOO/");
#: ``key >= ? AND key < ?`` lets the primary key narrow the range from both ends (with only a lower bound a scan
#: that finds nothing walked every later key of the table: a checkpoint read's scan of a prefix no key has read
#: a whole thread, 2026-12-04), ``substr`` (in characters, as Python counts) decides.
_PREFIX = "key >= ? AND key < ? AND substr(key, 1, ?) = ?"
_ANY_ABOVE = "key >= ? AND substr(key, 1, ?) = ?"  # a prefix with no string above its keys ("", U+10FFFF...)


def _prefix(prefix: str) -> tuple[str, list[Any]]:
    """The WHERE clause selecting keys that start with ``prefix``, and its parameters."""
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return _ANY_ABOVE, [prefix, len(prefix), prefix]
    last = ord(stem[-1]) + 1  # UTF-8 byte order is code point order: this string is above every such key
    above = stem[:-1] + chr(0xE000 if 0xD800 <= last < 0xE000 else last)
    return _PREFIX, [prefix, above, len(prefix), prefix]


class SQLiteKv:
    """The KV handlers; the owning backend holds its lock around every call and supplies transactions."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        write: Callable[[], AbstractContextManager[sqlite3.Connection]],
        *,
        hold_touches: bool = False,
    ) -> None:
        self._conn = conn
        self._write = write
        self._hold_touches = hold_touches
        self._pending_touch: dict[tuple[str, str, str], float] = {}
        self._last_flush = time.monotonic()

    def handlers(self) -> dict[type[Op], Callable[[Any], Any]]:
        return bind_methods(self, kv_ops.KV_METHODS)

    # -- reads -----------------------------------------------------------------------------------------------

    def get(self, op: kv_ops.KvGet) -> list[bytes | None]:
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(op.keys))
        found.update(
            InChunks(
                self._conn,
                "SELECT key, value FROM kv_records WHERE namespace = ? AND tbl = ? AND key IN ({marks}) "
                "AND (expires_at IS NULL OR expires_at > ?)",
                [op.namespace, op.table],
                unique,
                [op.now],
                size=_CHUNK,
            ).rows()
        )
        if op.touch and found:
            for key in found:
                self._pending_touch[(op.namespace, op.table, key)] = op.now
            if not self._hold_touches or len(self._pending_touch) >= _TOUCH_HOLD_MAX:
                self.flush_touches()
        return [found.get(key) for key in op.keys]

    def scan(self, op: kv_ops.KvScan) -> list[tuple[str, bytes]]:
        column = "x''" if op.keys_only else "value"
        clause, prefix_params = _prefix(op.prefix)
        sql = (
            f"SELECT key, {column} FROM kv_records WHERE namespace = ? AND tbl = ? AND {clause} "
            "AND (expires_at IS NULL OR expires_at > ?)"
        )
        params: list[Any] = [op.namespace, op.table, *prefix_params, op.now]
        if op.after is not None:
            sql += " AND key > ?"
            params.append(op.after)
        sql += " ORDER BY key"
        if op.limit is not None:
            sql += " LIMIT ?"
            params.append(op.limit)
        return [(key, bytes(value)) for key, value in self._conn.execute(sql, params)]

    def usage(self, op: kv_ops.KvUsage) -> tuple[int, int]:
        row = self._conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM kv_records WHERE namespace = ? AND tbl = ?",
            (op.namespace, op.table),
        ).fetchone()
        return int(row[0]), int(row[1])

    # -- writes ----------------------------------------------------------------------------------------------

    def put(self, op: kv_ops.KvPut) -> None:
        if not op.items:
            return
        with self._write() as conn:
            self._put(conn, op)

    def put_if(self, op: kv_ops.KvPutIf) -> bool:
        with self._write() as conn:
            row = conn.execute(
                "SELECT value FROM kv_records WHERE namespace = ? AND tbl = ? AND key = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (op.namespace, op.table, op.key, op.now),
            ).fetchone()
            if row is None or bytes(row[0]) != op.value:
                return False
            self._put(conn, op)
            return True

    def _put(self, conn: sqlite3.Connection, op: kv_ops.KvWrite[object]) -> None:
        if op.items:
            keys = [item.key for item in op.items]
            self._drop_tags(conn, op.namespace, op.table, keys)
            conn.executemany(
                "INSERT OR REPLACE INTO kv_records (namespace, tbl, key, value, size, expires_at, accessed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        op.namespace,
                        op.table,
                        item.key,
                        bytes(item.value),
                        len(item.value),
                        item.expires_at,
                        op.now,
                    )
                    for item in op.items
                ],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO kv_tags (namespace, tbl, tag, key) VALUES (?, ?, ?, ?)",
                [(op.namespace, op.table, tag, item.key) for item in op.items for tag in item.tags],
            )

    def _drop_tags(self, conn: sqlite3.Connection, namespace: str, table: str, keys: list[str]) -> None:
        sql = "DELETE FROM kv_tags WHERE namespace = ? AND tbl = ? AND key IN ({marks})"
        InChunks(conn, sql, [namespace, table], keys, size=_CHUNK).run()

    def _delete_keys(self, conn: sqlite3.Connection, namespace: str, table: str, keys: list[str]) -> int:
        sql = "DELETE FROM kv_records WHERE namespace = ? AND tbl = ? AND key IN ({marks})"
        removed = InChunks(conn, sql, [namespace, table], keys, size=_CHUNK).run()
        self._drop_tags(conn, namespace, table, keys)
        for key in keys:
            self._pending_touch.pop((namespace, table, key), None)
        return removed

    def delete(self, op: kv_ops.KvDelete) -> int:
        with self._write() as conn:
            return self._delete_keys(conn, op.namespace, op.table, list(dict.fromkeys(op.keys)))

    def delete_where(self, op: kv_ops.KvDeleteWhere) -> int:
        with self._write() as conn:
            if op.tags:
                sql = "SELECT key FROM kv_tags WHERE namespace = ? AND tbl = ? AND tag = ?"
                params: list[Any] = [op.namespace, op.table, op.tags[0]]
                for tag in op.tags[1:]:
                    sql += " AND key IN (SELECT key FROM kv_tags WHERE namespace = ? AND tbl = ? AND tag = ?)"
                    params += [op.namespace, op.table, tag]
                keys = [key for (key,) in conn.execute(sql, params) if key.startswith(op.prefix)]
            else:
                clause, prefix_params = _prefix(op.prefix)
                keys = [
                    key
                    for (key,) in conn.execute(
                        f"SELECT key FROM kv_records WHERE namespace = ? AND tbl = ? AND {clause}",
                        (op.namespace, op.table, *prefix_params),
                    )
                ]
            return self._delete_keys(conn, op.namespace, op.table, keys)

    def expire(self, op: kv_ops.KvExpire) -> int:
        with self._write() as conn:
            changed = 0
            for key, expires_at in op.items:
                cur = conn.execute(
                    "UPDATE kv_records SET expires_at = ? WHERE namespace = ? AND tbl = ? AND key = ? "
                    "AND (expires_at IS NULL OR expires_at > ?)",
                    (expires_at, op.namespace, op.table, key, op.now),
                )
                changed += cur.rowcount
            return changed

    def evict(self, op: kv_ops.KvEvict) -> int:
        count, size = self.usage(kv_ops.KvUsage(op.namespace, op.table))
        over_count = op.max_entries is not None and count > op.max_entries
        over_bytes = op.max_bytes is not None and size > op.max_bytes
        if not (over_count or over_bytes):
            return 0
        self.flush_touches(force=True)
        doomed: list[str] = []
        with self._write() as conn:
            rows: Iterator[tuple[str, int]] = conn.execute(
                "SELECT key, size FROM kv_records WHERE namespace = ? AND tbl = ? ORDER BY accessed_at, key",
                (op.namespace, op.table),
            )
            for key, item_size in rows:
                if not (
                    (op.max_entries is not None and count > op.max_entries)
                    or (op.max_bytes is not None and size > op.max_bytes)
                ):
                    break
                doomed.append(key)
                count -= 1
                size -= item_size
            return self._delete_keys(conn, op.namespace, op.table, doomed)

    def purge_expired(self, op: kv_ops.KvPurgeExpired) -> int:
        sql = "SELECT tbl, key FROM kv_records WHERE namespace = ? AND expires_at IS NOT NULL AND expires_at <= ?"
        params: list[Any] = [op.namespace, op.now]
        if op.table is not None:
            sql += " AND tbl = ?"
            params.append(op.table)
        with self._write() as conn:
            by_table: dict[str, list[str]] = {}
            for table, key in conn.execute(sql, params).fetchall():
                by_table.setdefault(table, []).append(key)
            return sum(self._delete_keys(conn, op.namespace, t, keys) for t, keys in by_table.items())

    def has_touches(self) -> bool:
        """Whether access times wait to be written."""
        return bool(self._pending_touch)

    def flush_touches(self, *, force: bool = False) -> None:
        if not self._pending_touch:
            return
        due = time.monotonic() - self._last_flush >= _TOUCH_FLUSH_SECONDS
        if not (force or due or len(self._pending_touch) >= _TOUCH_FLUSH_COUNT):
            return
        pending, self._pending_touch = self._pending_touch, {}
        self._last_flush = time.monotonic()
        with self._write() as conn:
            conn.executemany(
                "UPDATE kv_records SET accessed_at = max(accessed_at, ?) WHERE namespace = ? AND tbl = ? AND key = ?",
                [(now, ns, table, key) for (ns, table, key), now in pending.items()],
            )
