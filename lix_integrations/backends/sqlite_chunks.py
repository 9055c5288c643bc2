"""One statement over many values, in chunks: SQLite caps the parameters of one statement (999 before 3.32)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

__all__ = ["InChunks"]


@dataclass(frozen=True, slots=True)
class InChunks:
    """``sql`` run once per ``size`` of ``values``: its ``{marks}`` become the chunk's placeholders and its
    parameters are ``head``, the chunk, then ``tail``. ``rows()`` for a query, ``run()`` for a write."""

    conn: sqlite3.Connection
    sql: str
    head: Sequence[Any]
    values: Sequence[Any]
    tail: Sequence[Any] = ()
    _: KW_ONLY
    size: int

    def _cursors(self) -> Iterator[sqlite3.Cursor]:
        for start in range(0, len(self.values), self.size):
            chunk = self.values[start : start + self.size]
            marks = ",".join("?" * len(chunk))
            yield self.conn.execute(self.sql.format(marks=marks), [*self.head, *chunk, *self.tail])

    def rows(self) -> list[Any]:
        """Every row the statements return (each fetched before the next chunk runs)."""
        return [row for cur in self._cursors() for row in cur.fetchall()]

    def run(self) -> int:
        """How many rows the statements changed."""
        return sum(cur.rowcount for cur in self._cursors())
