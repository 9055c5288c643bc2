"""WAL checkpoints of the SQLite backend on a thread of their own, so that no commit waits for one.

Why. SQLite checkpoints in the commit that finds the WAL past ``wal_autocheckpoint`` pages: that commit copies
~10,000 pages into the database file and fsyncs it. Single semantic inserts into 100k entries spent ~140 us each
on those commits, a quarter of the insert (2026-12-05: 6,250 updates into a copy of benchmarks/sqlite_scale.py's
100k store, statement timings with the writer's checkpoints on and off; the commits over 1 ms summed to 208 against
70 us per insert).

Here a thread with its own connection runs the checkpoint once the writer has changed enough rows: a passive one
(which never blocks a writer), beside the writer, then a second one holding the backend's lock, which copies only
what was committed meanwhile. That second one leaves the WAL fully copied with no commit in between, so the next
write starts the log again from its beginning (SQLite restarts a log only then; checkpoints that always trail a
busy writer would let it grow without end). The writer's own ``wal_autocheckpoint`` stays on, at a multiple of
the usual distance, in case this thread falls behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["Checkpoints"]

logger = logging.getLogger(__name__)

#: Row changes between checkpoints: a single semantic insert changes 3 rows and dirties ~10 pages, so this is
#: ~1,000 of them (~10,000 pages, the distance SQLite's own checkpoints kept, `sqlite`), or 3 batches of 500.
CHANGES_PER_CHECKPOINT = 3_000


class Checkpoints:
    """The checkpoint thread of one backend (started at the first checkpoint due). ``wrote`` is called by the
    backend's writer with its lock held; ``lock`` is that lock."""

    def __init__(self, conn: sqlite3.Connection, path: str, lock: AbstractContextManager[Any]) -> None:
        self._conn = conn
        # The file the writer's connection has open, as SQLite named it (absolute): the thread connects later, and
        # a relative path would then name a file of whatever directory the process has moved to since.
        self._path = conn.execute("PRAGMA database_list").fetchone()[2] or path
        self._lock = lock
        self._seen = conn.total_changes
        self._wake = threading.Condition()
        self._due = False
        self._busy = False
        self._stopped = False
        self._paused = 0  # forks under way (see hold_for_fork)
        self._thread: threading.Thread | None = None

    def wrote(self) -> None:
        """After an operation: wake the thread once enough rows changed since its last checkpoint."""
        changes = self._conn.total_changes
        if changes - self._seen < CHANGES_PER_CHECKPOINT:
            return
        self._seen = changes
        with self._wake:
            if self._stopped:
                return
            self._due = True
            self._wake.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lix-sqlite-checkpoint", daemon=True)
            self._thread.start()

    def wait(self) -> None:
        """Until no checkpoint is due or running (tests; the backend's lock must not be held)."""
        with self._wake:
            self._wake.wait_for(lambda: not (self._due or self._busy) or self._thread is None)

    def close(self) -> None:
        """Stop the thread after its current checkpoint (call without the backend's lock)."""
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def hold_for_fork(self) -> None:
        """Before a fork: no checkpoint starts, and none is running when this returns (the thread opens its
        connection per checkpoint, so the child inherits none of its). The condition itself is not held over the
        fork: a writer takes it under the backend's lock, which the fork takes next (`sqlite_forks`)."""
        with self._wake:
            self._paused += 1
            try:
                self._wake.wait_for(lambda: not self._busy)
            except BaseException:  # not held after all: checkpoints go on
                self._paused -= 1
                self._wake.notify_all()
                raise

    def release_after_fork(self, child: bool) -> None:
        """After the fork. In the child this object is the parent's (its thread is not there, and a thread of the
        parent may have held the condition at the fork): it is stopped with a condition of its own, and the
        child's backend makes a new one when it opens the store again."""
        if child:
            self._wake = threading.Condition()
            self._paused, self._busy, self._due, self._stopped, self._thread = 0, False, False, True, None
            return
        with self._wake:
            self._paused -= 1
            self._wake.notify_all()

    def _run(self) -> None:
        try:
            while True:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()
                    self._wake.wait_for(lambda: (self._due and not self._paused) or self._stopped)
                    if self._stopped:
                        return
                    self._due, self._busy = False, True
                self._checkpoint()
        finally:
            with self._wake:
                self._busy = False
                self._wake.notify_all()

    def _checkpoint(self) -> None:
        """One checkpoint, on a connection of its own opened for it (one every few thousand row changes: a fork
        between checkpoints leaves the child no connection of this thread's to deal with)."""
        try:
            conn = sqlite3.connect(self._path, isolation_level=None)
        except sqlite3.Error:
            logger.warning("could not open %s for a checkpoint; commits make them", self._path, exc_info=True)
            return
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # the bulk, beside the writer
            with self._lock:  # what was committed meanwhile, so the next write restarts the log
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            # Another checkpoint under way, a locked file: the next one, or a commit, does it.
            logger.debug("checkpoint of %s skipped", self._path, exc_info=True)
        finally:
            conn.close()
