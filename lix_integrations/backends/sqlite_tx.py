"""The SQLite backend's write transactions, and the writes reads hold back for them.

A lookup must never take the write lock (issue 19): another process holding it would make every reader wait, for
work nobody waits for. So what a read would write (an entry's access time for LRU eviction, a deferred cache fill
such as a prompt vector, the delete of an expired entry met by a lookup) is held here and written at the start of
the next write transaction, in a savepoint: a failed fill is logged and dropped, never undoing the write that
carries it. A process that only reads writes them at ``close``, or when they pile up, and then only if the lock is
free at that instant.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..kernel.ops import KvPut, Op

__all__ = ["Transactions"]

logger = logging.getLogger(__name__)

# Past these sizes a read writes what is held itself, if the write lock is free at that moment.
_TOUCH_HOLD_MAX = 50_000
_HELD_MAX = 4_096


def _merged(held: list[Op]) -> list[Op]:
    """Held cache fills of one KV table become one put (one ``executemany``): a batch of updates holds one
    prompt vector each."""
    out: list[Op] = []
    puts: dict[tuple[str, str], int] = {}
    for op in held:
        if isinstance(op, KvPut):
            at = puts.get((op.namespace, op.table))
            if at is not None:
                prior = out[at]
                assert isinstance(prior, KvPut)
                out[at] = replace(prior, items=prior.items + op.items, now=max(prior.now, op.now))
                continue
            puts[(op.namespace, op.table)] = len(out)
        out.append(op)
    return out


@dataclass(eq=False, repr=False)
class Transactions:
    """Write transactions on one connection (re-entrant) and the held writes they carry.

    ``run`` carries out a held operation inside the open transaction; ``kv_touches`` says whether KV records
    hold access times and ``flush_kv_touches`` writes them. The backend's lock is held around every call.
    """

    conn: sqlite3.Connection
    path: str
    busy_ms: int
    run: Callable[[Op], Any]
    kv_touches: Callable[[], bool]
    flush_kv_touches: Callable[[], None]
    depth: int = field(default=0, init=False)
    _ops: list[Op] = field(default_factory=list, init=False)
    _touches: dict[tuple[str, int], float] = field(default_factory=dict, init=False)

    def write(self) -> _Transaction:
        return _Transaction(self)

    # -- what reads hold ---------------------------------------------------------------------------------------

    def hold(self, op: Op) -> None:
        """Keep a deferred write (a cache fill nobody waits for) for the next write transaction."""
        self._ops.append(op)
        if len(self._ops) >= _HELD_MAX:
            self.write_if_free()

    def touch(self, namespace: str, ids: tuple[int, ...], now: float) -> None:
        for entry_id in ids:
            self._touches[(namespace, entry_id)] = now
        if len(self._touches) >= _TOUCH_HOLD_MAX:
            self.write_if_free()

    def claim(self, values: set[bytes]) -> dict[bytes, tuple[str, str, str]]:
        """Take out of the held KV puts the items (no expiry, no tags) whose value is one of ``values``, and say
        where each value was to be stored, ``(namespace, table, key)``: the caller stores it once, elsewhere (a
        semantic entry's prompt vector, see `sqlite_prompt_vectors`)."""
        found: dict[bytes, tuple[str, str, str]] = {}
        if not values or not self._ops:
            return found
        kept_ops: list[Op] = []
        for op in self._ops:
            if isinstance(op, KvPut):
                kept = []
                for item in op.items:
                    if item.expires_at is None and not item.tags and item.value in values:
                        found.setdefault(item.value, (op.namespace, op.table, item.key))
                    else:
                        kept.append(item)
                if not kept:
                    continue
                if len(kept) < len(op.items):
                    op = replace(op, items=tuple(kept))
            kept_ops.append(op)
        self._ops = kept_ops
        return found

    def touched(self, namespace: str, entry_id: int) -> float | None:
        """The held access time of an entry, so reads report it before it is written."""
        return self._touches.get((namespace, entry_id))

    def forget(self, namespace: str, entry_id: int) -> None:
        self._touches.pop((namespace, entry_id), None)

    def write_if_free(self) -> None:
        """Write what is held, but only if the write lock is free now: a reader never waits for it (what is held
        then keeps growing until a write or ``close`` takes it)."""
        self.conn.execute("PRAGMA busy_timeout=0")
        try:
            with self.write():
                pass
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        finally:
            self.conn.execute(f"PRAGMA busy_timeout={self.busy_ms}")

    def _write_held(self) -> None:
        ops, self._ops = self._ops, []
        touches, self._touches = self._touches, {}
        if not ops and not touches and not self.kv_touches():
            return
        conn = self.conn
        conn.execute("SAVEPOINT lix_held")
        try:
            for op in _merged(ops):
                self.run(op)
            if touches:
                conn.executemany(
                    "UPDATE semantic_entries SET accessed_at = max(accessed_at, ?) WHERE id = ?",
                    [(now, entry_id) for (_, entry_id), now in touches.items()],
                )
            self.flush_kv_touches()
            conn.execute("RELEASE lix_held")
        except sqlite3.Error:
            conn.execute("ROLLBACK TO lix_held")
            conn.execute("RELEASE lix_held")
            logger.warning("could not write held cache writes to %s; dropped", self.path, exc_info=True)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: takes the write lock up front so two writers never deadlock.

    Re-entrant (a handler run inside another's transaction joins it); the outermost one first writes what reads
    held back.
    """

    def __init__(self, owner: Transactions) -> None:
        self._owner = owner

    def __enter__(self) -> sqlite3.Connection:
        owner = self._owner
        conn = owner.conn
        if owner.depth:
            owner.depth += 1
            return conn
        conn.execute("BEGIN IMMEDIATE")
        owner.depth = 1
        try:
            owner._write_held()
        except BaseException:
            owner.depth = 0
            conn.execute("ROLLBACK")
            raise
        return conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        owner = self._owner
        owner.depth -= 1
        if owner.depth:
            return
        owner.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
