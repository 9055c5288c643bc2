"""Leases of the embedded backends: an in-process table and a SQLite table (see ``LeaseAcquire``).

A lease is a short claim on a key ("this process is filling that miss"); it expires on its own, so a process that
died holding one delays the others by at most its time to live. Expiry uses the machine's clock: the engine's
clock is injectable (fake in tests) and would never let a dead process's lease expire.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from ..kernel.ops import LeaseAcquire, LeaseRelease, Op

__all__ = ["LEASE_SCHEMA", "MemoryLeases", "SQLiteLeases"]

LEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS lix_leases (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    token TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
"""


class MemoryLeases:
    """Leases of one in-process store (threads of this process only: nothing else can see it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], tuple[str, float]] = {}

    def acquire(self, op: LeaseAcquire) -> bool:
        now = time.monotonic()
        with self._lock:
            held = self._held.get((op.namespace, op.key))
            if held is not None and held[0] != op.token and held[1] > now:
                return False
            self._held[(op.namespace, op.key)] = (op.token, now + op.ttl)
            return True

    def release(self, op: LeaseRelease) -> bool:
        with self._lock:
            held = self._held.get((op.namespace, op.key))
            if held is None or held[0] != op.token:
                return False
            del self._held[(op.namespace, op.key)]
            return True

    def handlers(self) -> dict[type[Op], Callable[[Any], Any]]:
        return {LeaseAcquire: self.acquire, LeaseRelease: self.release}


class SQLiteLeases:
    """Leases as rows of ``lix_leases``, taken in one ``BEGIN IMMEDIATE`` transaction so two processes never both
    hold one."""

    def __init__(self, conn: sqlite3.Connection, write: Callable[[], Any]) -> None:
        self._conn = conn
        self._write = write

    def acquire(self, op: LeaseAcquire) -> bool:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "DELETE FROM lix_leases WHERE namespace = ? AND key = ? AND (expires_at <= ? OR token = ?)",
                (op.namespace, op.key, now, op.token),
            )
            cur = conn.execute(
                "INSERT OR IGNORE INTO lix_leases (namespace, key, token, expires_at) VALUES (?, ?, ?, ?)",
                (op.namespace, op.key, op.token, now + op.ttl),
            )
            return bool(cur.rowcount == 1)

    def release(self, op: LeaseRelease) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM lix_leases WHERE namespace = ? AND key = ? AND token = ?",
                (op.namespace, op.key, op.token),
            )
            return bool(cur.rowcount == 1)

    def handlers(self) -> dict[type[Op], Callable[[Any], Any]]:
        return {LeaseAcquire: self.acquire, LeaseRelease: self.release}
