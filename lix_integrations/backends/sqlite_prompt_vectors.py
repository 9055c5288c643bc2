"""A semantic prompt's vector stored once on SQLite: in the entry's row, not again in the embedding store.

An update embeds its prompt through the embedding tier, which stores the vector (a ``KvPut`` held for the next
write transaction, see `sqlite_tx`) so another engine embedding the same prompt reads it instead of running the
model; then it upserts the semantic entry, which carries the same vector. Two copies: the embedding store's in a
``WITHOUT ROWID`` table keyed by a random hash was the larger (447 of 717 MB at 100k entries) and the costlier
write (measured with benchmarks/sqlite_scale.py's data, 2026-12-04).

So the backend matches, by their bytes, the held KV items against the vectors of the records it upserts: a matching
item is not written, and the entry's row records where it would have gone (``vector_key``: namespace, table and
key). A ``KvGet`` of that table that finds no record reads the vector from the entry; deleting the key (or
clearing its table) drops the reference, so the embedding store answers as if the record were there. Items with
an expiry or tags are always written as they are (the entry could not honour them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ..kernel import kv_ops
from ..kernel.op import Op
from .sqlite_chunks import InChunks

__all__ = ["VECTOR_KEY_SCHEMA", "PromptVectorRefs", "ref"]

#: Added to ``semantic_entries`` (by ``ALTER TABLE`` on a store written before it).
VECTOR_KEY_SCHEMA = """
CREATE INDEX IF NOT EXISTS semantic_vector_key ON semantic_entries (vector_key) WHERE vector_key IS NOT NULL;
"""

_SEP = "\x1f"
_CHUNK = 500


def ref(namespace: str, table: str, key: str) -> str:
    """The ``vector_key`` of a KV record: namespace, table and key in one indexed column."""
    return f"{namespace}{_SEP}{table}{_SEP}{key}"


class PromptVectorRefs:
    """The embedding store's reads and deletes, seeing the vectors semantic entries hold for it."""

    def __init__(self, conn: sqlite3.Connection, write: Callable[[], Any]) -> None:
        self._conn = conn
        self._write = write

    def wrap(self, handlers: dict[type[Op], Callable[[Any], Any]]) -> dict[type[Op], Callable[[Any], Any]]:
        """``handlers`` (the KV store's) with get and the deletes also reading / dropping the references."""
        get, delete, delete_where = (
            handlers[kv_ops.KvGet],
            handlers[kv_ops.KvDelete],
            handlers[kv_ops.KvDeleteWhere],
        )

        def get_with_refs(op: kv_ops.KvGet) -> list[bytes | None]:
            values: list[bytes | None] = get(op)
            missing = {
                ref(op.namespace, op.table, key): i for i, key in enumerate(op.keys) if values[i] is None
            }
            if missing:
                for vector_key, blob in self._rows("vector_key, vector", list(missing)):
                    values[missing[vector_key]] = blob
            return values

        def delete_with_refs(op: kv_ops.KvDelete) -> int:
            with self._write() as conn:
                refs = [ref(op.namespace, op.table, key) for key in dict.fromkeys(op.keys)]
                held = {row[0] for row in self._rows("vector_key", refs)}
                if held:
                    InChunks(
                        conn,
                        "UPDATE semantic_entries SET vector_key = NULL WHERE vector_key IN ({marks})",
                        [],
                        list(held),
                        size=_CHUNK,
                    ).run()
                return int(delete(op)) + len(held)

        def delete_where_with_refs(op: kv_ops.KvDeleteWhere) -> int:
            with self._write() as conn:
                dropped = 0
                if not op.tags:  # a reference carries no tags, so a tagged delete never matches one
                    start = ref(op.namespace, op.table, op.prefix)
                    dropped = conn.execute(
                        "UPDATE semantic_entries SET vector_key = NULL "
                        "WHERE vector_key IS NOT NULL AND substr(vector_key, 1, ?) = ?",
                        (len(start), start),
                    ).rowcount
                return int(delete_where(op)) + dropped

        return {
            **handlers,
            kv_ops.KvGet: get_with_refs,
            kv_ops.KvDelete: delete_with_refs,
            kv_ops.KvDeleteWhere: delete_where_with_refs,
        }

    def _rows(self, columns: str, refs: list[str]) -> list[Any]:
        return InChunks(
            self._conn,
            f"SELECT {columns} FROM semantic_entries WHERE vector_key IN ({{marks}}) AND vector_key IS NOT NULL "
            "AND vector IS NOT NULL GROUP BY vector_key",
            [],
            refs,
            size=_CHUNK,
        ).rows()
