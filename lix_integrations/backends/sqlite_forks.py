"""SQLite stores across ``fork()``: what a child does with the connections it inherits.

An engine made before a server forks its workers (gunicorn ``--preload``, Celery's prefork pool, multiprocessing's
default start method on Linux) hands each child the parent's SQLite connection. SQLite forbids using one across
``fork()``: its file locks belong to the process that took them, and SQLite keeps what it believes it holds per
file in the process's memory, which the child inherits. A child writing through the inherited connection, or
through a new one opened while the inherited one still existed, held no lock the other processes could see, and
when the parent closed its store (the last holder, it checkpointed and removed the WAL) the child's writes went
to a removed file: of a child's 4,000 acknowledged writes 201-296 were left (2026-12-05, three runs, a parent
closing its engine while its forked child wrote; test_forks.py).

So, around every fork, each open store of the process is held still (no operation in flight, no checkpoint
running: their locks are taken before the fork and given back after it, in both processes), and in the child
its inherited connection is closed at once, before anything can open another: SQLite then forgets the file, and
the child's next operation opens the store anew (`SQLiteBackend`). Closing is safe there: no call was under way
on it, and SQLite closing a connection of a file other processes still hold neither checkpoints nor removes the
WAL. A private in-memory database has no file: the child keeps its copy.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Protocol

__all__ = ["ForkAware", "register", "unregister"]

logger = logging.getLogger(__name__)


class ForkAware(Protocol):
    """A store that holds still around a fork (see the module docstring)."""

    def hold_for_fork(self) -> None: ...

    def release_after_fork(self, child: bool) -> None: ...


_STORES: weakref.WeakSet[ForkAware] = weakref.WeakSet()  # type: ignore[type-var]
_REGISTRY_LOCK = threading.Lock()
#: The stores held by the fork under way, released in the same order by both processes.
_held: list[ForkAware] = []


def register(store: ForkAware) -> None:
    with _REGISTRY_LOCK:
        _STORES.add(store)


def unregister(store: ForkAware) -> None:
    with _REGISTRY_LOCK:
        _STORES.discard(store)


def _before() -> None:
    _REGISTRY_LOCK.acquire()
    for store in list(_STORES):
        store.hold_for_fork()
        _held.append(store)


def _after(child: bool) -> None:
    try:
        while _held:
            store = _held.pop()
            try:
                store.release_after_fork(child)
            except Exception:  # a hook must not raise: the fork has happened
                logger.warning("could not release a SQLite store after a fork", exc_info=True)
    finally:
        _REGISTRY_LOCK.release()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(
        before=_before, after_in_parent=lambda: _after(False), after_in_child=lambda: _after(True)
    )
