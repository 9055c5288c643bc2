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
running, no store being opened: their locks are taken before the fork and given back after it, in both
processes), and in the child its inherited connection is closed at once, before anything can open another:
SQLite then forgets the file, and the child's next operation opens the store anew (`SQLiteBackend`). No call was
under way on that connection. Closing it checkpoints nothing while another process holds the file (the parent
does: it just forked, its connection open); on Python 3.12 and later it is also told not to checkpoint at close
at all, so even a parent that closed in the microseconds between the fork and the child's hook leaves its WAL
alone (before 3.12 that window remains). A private in-memory database has no file: the child keeps its copy,
held still like the others. A fork from a thread that holds a store's lock (lix never forks, nor runs a caller's
code under it) would wait for that store's running checkpoint for ever: not supported.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Protocol

__all__ = ["OPENING", "ForkAware", "register", "unregister"]

logger = logging.getLogger(__name__)


class ForkAware(Protocol):
    """A store that holds still around a fork (see the module docstring)."""

    def hold_for_fork(self) -> None: ...

    def release_after_fork(self, child: bool) -> None: ...


#: Held while a store is opened and from before a fork to after it, so a fork never sees a store half made and
#: forks of two threads do not interleave their holds (re-entrant: a store opens again under it in a child).
OPENING = threading.RLock()
#: id -> weak reference of every store to hold; a plain dict, copied in one step (a weak set's iteration can be
#: cut into by a garbage collection that closes a store).
_STORES: dict[int, weakref.ref[ForkAware]] = {}
#: The stores held by the fork under way, released by both processes.
_held: list[ForkAware] = []


def register(store: ForkAware) -> None:
    key = id(store)
    _STORES[key] = weakref.ref(store, lambda _, key=key: _STORES.pop(key, None))  # type: ignore[misc]


def unregister(store: ForkAware) -> None:
    _STORES.pop(id(store), None)


def _before() -> None:
    OPENING.acquire()
    for ref in list(_STORES.values()):
        store = ref()
        if store is None:
            continue
        try:
            store.hold_for_fork()
        except BaseException:  # not held: the fork goes on (CPython ignores what a hook raises)
            logger.warning("could not hold a SQLite store still for a fork", exc_info=True)
            continue
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
        OPENING.release()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(
        before=_before, after_in_parent=lambda: _after(False), after_in_child=lambda: _after(True)
    )
