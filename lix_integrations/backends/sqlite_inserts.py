"""How the SQLite backend inserts semantic entries, each replacing the entry stored under its exact key."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from .sqlite_chunks import InChunks

__all__ = ["insert_entries"]

_INSERT = (
    "INSERT INTO semantic_entries (namespace, exact_key, partition, scope, llm_key, prompt, vector, "
    "vector_key, payload, created_at, expires_at, accessed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_NEW = _INSERT + " ON CONFLICT (namespace, exact_key) DO NOTHING RETURNING id"
_DELETE = (
    "DELETE FROM semantic_entries WHERE namespace = ? AND exact_key IN ({marks}) RETURNING id, partition"
)
_MAX_IN_PARAMS = 500


def insert_entries(
    conn: sqlite3.Connection, namespace: str, rows: Sequence[tuple[Any, ...]], keys: list[str]
) -> tuple[int, list[tuple[int, str]]]:
    """Insert ``rows`` (columns as ``_INSERT`` names them; distinct exact ``keys``) inside the open write
    transaction, after deleting the entries stored under their keys. Returns the first new id (the ids are
    consecutive: the write lock is held) and the deleted entries as ``(id, partition)``."""
    if len(rows) == 1:
        # A new key (the usual single update) is one statement; only a replaced one also takes the delete. The
        # delete that found nothing cost ~50 us of ~550 per single insert into 100k entries (2026-12-05, sqlite3
        # trace timestamps of 6,250 updates into a copy of benchmarks/sqlite_scale.py's 100k store).
        found = conn.execute(_INSERT_NEW, rows[0]).fetchone()
        if found is not None:
            return int(found[0]), []
    old: list[tuple[int, str]] = InChunks(conn, _DELETE, [namespace], keys, size=_MAX_IN_PARAMS).rows()
    if len(rows) == 1:
        return int(conn.execute(_INSERT, rows[0]).lastrowid or 0), old
    conn.executemany(_INSERT, rows)
    return int(conn.execute("SELECT last_insert_rowid()").fetchone()[0]) - len(rows) + 1, old
