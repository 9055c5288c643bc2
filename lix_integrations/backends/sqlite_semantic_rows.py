"""The SQLite backend's semantic tables (entries, their counts and change log, settings, meta) and how a row of
entries becomes a record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..kernel.ops import SemanticRecord

__all__ = ["RECORD_COLUMNS", "SEMANTIC_SCHEMA", "record_of"]

SEMANTIC_SCHEMA = """
CREATE TABLE IF NOT EXISTS lix_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lix_settings (
    namespace TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (namespace, field));
CREATE TABLE IF NOT EXISTS semantic_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    exact_key TEXT NOT NULL,
    partition TEXT NOT NULL,
    scope TEXT NOT NULL,
    llm_key TEXT NOT NULL,
    prompt TEXT NOT NULL,
    vector BLOB,
    vector_key TEXT,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    accessed_at REAL NOT NULL,
    UNIQUE (namespace, exact_key));
CREATE INDEX IF NOT EXISTS semantic_partition ON semantic_entries (namespace, partition);
CREATE INDEX IF NOT EXISTS semantic_lru ON semantic_entries (namespace, accessed_at);
CREATE INDEX IF NOT EXISTS semantic_scope ON semantic_entries (namespace, scope);
CREATE INDEX IF NOT EXISTS semantic_llm ON semantic_entries (namespace, llm_key);
CREATE INDEX IF NOT EXISTS semantic_expiry ON semantic_entries (namespace, expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS semantic_counts (namespace TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS semantic_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    partition TEXT NOT NULL,
    entry_id INTEGER NOT NULL,
    added INTEGER NOT NULL);
"""

#: The columns a record is read from, in `record_of`'s order.
RECORD_COLUMNS = (
    "id, exact_key, partition, scope, llm_key, prompt, vector, payload, created_at, expires_at, accessed_at"
)


def record_of(row: Sequence[Any]) -> SemanticRecord:
    """The record of a row read as `RECORD_COLUMNS` lists its columns."""
    blob = row[6]
    return SemanticRecord(
        id=row[0],
        exact_key=row[1],
        partition=row[2],
        scope=row[3],
        llm_key=row[4],
        prompt=row[5],
        vector=None if blob is None else np.frombuffer(blob, dtype=np.float32),
        payload=row[7],
        created_at=row[8],
        expires_at=row[9],
        accessed_at=row[10],
    )
