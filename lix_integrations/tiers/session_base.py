"""The session tier's state and the flows every other one builds on: the archive lock, reading the archive
against the store's marks, reading a session (one snapshot round trip, the remembered window), and what happens when the store lost a session (creating its list after the archive's
end, reporting the loss, undoing a cancelled append). `SessionTier` adds the operations."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..archive.format import ArchiveContents, ArchiveCorruptError
from ..archive.store import SessionArchive
from ..config.tiers import SessionConfig
from ..errors import BackendError
from ..kernel import forks
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet
from ..kernel.flows import Flow
from ..kernel.keys import digest
from ..kernel.ops import (
    EnsureSettings,
    EvictionPolicy,
    ListAppend,
    ListAppended,
    ListDeleteSeqs,
    ListSnapshot,
    ListSnapshotted,
    ListStatus,
    StoreEviction,
)
from .session_cache import HotCache, MessageCodec, Window
from .session_parts import (
    _CODECS,
    _WRITTEN_SESSIONS,
    LocalCall,
    Pause,
    SessionStats,
    _encode_raw,
    _eviction_lock,
    _eviction_warned,
    _History,
    _store_holds_all,
    _tail,
    default_archive_root,
    evicts_sessions,
    session_key,
)

__all__ = ["SessionBase"]

logger = logging.getLogger(__name__)

#: The setting holding the store's random id (`EnsureSettings`): one per store and namespace, agreed by every
#: process, whatever URL reaches the store; what the archive directory's owner record names it by (`claim_archive`).
STORE_ID = "store_id"
#: Seconds before an archive directory that could not be claimed (a read-only mount, EMFILE) is tried again.
_CLAIM_RETRY = 60.0


def _backoff() -> Iterator[Pause]:
    """The waits between tries of a lock another process (or flow) holds: 0.5 ms, doubling up to 50 ms. A flow
    waits in them, never a thread (the archive locks, the owner lock, a claim in flight)."""
    delay = 0.0005
    while True:
        yield Pause(delay)
        delay = min(delay * 2, 0.05)


class SessionBase:
    """State of the session tier and its shared flows (see the module docstring)."""

    def __init__(
        self,
        config: SessionConfig,
        namespace: str,
        clock: Clock,
        counters: CounterSet[SessionStats],
        url: str,
        *,
        label: str = "",
        address: str | None = None,
    ) -> None:
        """``url``: the store's URL, which names the default archive directory (`default_archive_root`; it may hold
        a password). ``label``: the store as logs and errors name it (its URL with credentials redacted).
        ``address``: the backend's `store_address`, recorded (as a digest) with the archive directory."""
        self.config = config
        self.namespace = namespace
        self._clock = clock
        self.counters = counters
        root = (
            Path(config.archive_dir).expanduser() if config.archive_dir else default_archive_root(url, self)
        ).absolute()  # a relative directory stays the one it named at open, wherever the process moves since
        self.archive = SessionArchive(root / quote(namespace, safe=""), _CODECS[config.codec])
        #: How the archive directory's owner record names the store's address (`claim_archive`), and how people do.
        self._address = None if address is None else digest("archive-owner", address)
        self._label = label or "this store"
        #: The process whose flow claims the archive directory now (0: none): its concurrent first calls wait.
        self._claiming = 0
        self._store_id: str | None = None  # the store's id, once read (`claim_archive`)
        self._claim_retry_at = 0.0  # after a claim failed on the file system: when to try again
        #: Set once the store's eviction policy was checked (see `checked`).
        self.store_checked = False
        #: Set once the archive directory was found to be this store's (see `checked`).
        self.archive_claimed = False
        #: The last seq this process stored per session (most recent sessions only): a session the store lost
        #: whole, with nothing archived, is otherwise indistinguishable from a new one.
        self._written: OrderedDict[str, int] = OrderedDict()
        self._hot = HotCache(config.cache_messages)

    def checked(self, flow: Flow[Any]) -> Flow[Any]:
        """``flow``, after the checks made once per engine: that the archive directory holds no other store's
        archives (`claim_archive`), and whether the store can evict session keys (a WARNING per store and process
        if it can: an evicted session loses its messages; a failed eviction check never fails the flow)."""
        if not self.archive_claimed:
            yield from self.claim_archive()
        if not self.store_checked:
            yield from self._check_eviction()
        return (yield from flow)

    def claim_archive(self) -> Flow[None]:
        """Record this store as the archive directory's owner, or raise `ConfigError` before any session of it
        touches a directory holding another store's archives (see `archive.owner`). The store's id is kept with
        its settings (one round trip, once per engine). Concurrent first calls wait for the one claim in flight in
        this process (a forked child's inherited mark is its parent's: it claims on its own). Claims of one
        directory take turns on its owner lock, waited for as the session locks are (`_acquire`: no thread sleeps
        on it). A directory that cannot be read or written (a read-only mount) is left unclaimed, with a WARNING,
        and tried again after `_CLAIM_RETRY` seconds: its archives are read as before, and a spill into it fails
        as before."""
        pauses = _backoff()
        while self._claiming == forks.pid:
            yield next(pauses)
        if self.archive_claimed or time.monotonic() < self._claim_retry_at:
            return
        self._claiming = forks.pid
        try:
            if self._store_id is None:
                stored: dict[str, str] = yield EnsureSettings(
                    self.namespace, {STORE_ID: secrets.token_hex(16)}
                )
                self._store_id = stored[STORE_ID]
            yield from self._claim(self._store_id)
        finally:
            self._claiming = 0

    def _claim(self, store_id: str) -> Flow[None]:
        try:
            pauses = _backoff()
            while (lock := (yield LocalCall(self.archive.try_lock_owner, blocking=False))) is None:
                yield next(pauses)
            try:
                yield LocalCall(partial(self.archive.claim, store_id, self._address, self._label))
            finally:
                yield LocalCall(partial(self.archive.unlock_owner, lock), blocking=False)
        except BackendError as exc:
            log = logger.debug if self._claim_retry_at else logger.warning
            log("session archives of %s are not checked for another store's: %s", self._label, exc)
            self._claim_retry_at = time.monotonic() + _CLAIM_RETRY
            return
        self.archive_claimed = True

    def _check_eviction(self) -> Flow[None]:
        try:
            found: EvictionPolicy = yield StoreEviction()
        except Exception as exc:  # a check that cannot run is retried on the next call
            logger.debug("could not read the store's eviction policy: %s", exc)
        else:
            self.store_checked = True
            if evicts_sessions(found):
                with _eviction_lock:
                    first = self._label not in _eviction_warned
                    _eviction_warned.add(self._label)
                if first:
                    limit = "unknown" if found.maxmemory is None else f"{found.maxmemory} bytes"
                    logger.warning(
                        "store %s has maxmemory-policy %s (maxmemory %s): when full it evicts any key, chat "
                        "sessions included, and evicted messages are lost. Set maxmemory-policy noeviction "
                        "and enable AOF for sessions (docs/redis.md)",
                        self._label,
                        found.policy,
                        limit,
                    )

    # -- small flows ---------------------------------------------------------------------------------------

    def _acquire(self, session_id: str) -> Flow[None]:
        pauses = _backoff()
        while not (yield LocalCall(partial(self.archive.try_lock, session_id), blocking=False)):
            yield next(pauses)

    def _release(self, session_id: str) -> Flow[None]:
        yield LocalCall(partial(self.archive.unlock, session_id), blocking=False)

    def _read_archive(self, session_id: str, status: ListStatus | None) -> Flow[ArchiveContents | None]:
        """The archive, checked against what the store says was archived (to tell truncation from a torn append)."""
        contents: ArchiveContents | None = yield LocalCall(partial(self.archive.read, session_id))
        if status is not None and status.archived_through >= max(status.base_seq, 1):
            covered = None if contents is None else contents.meta.last_seq
            if covered is None or covered < status.archived_through:
                raise ArchiveCorruptError(
                    self.archive.path(session_id),
                    f"the store archived this session through seq {status.archived_through} but the archive "
                    f"{'is missing' if contents is None else f'ends at seq {covered}'} (truncated or deleted)",
                )
        if contents is not None and contents.meta.torn_bytes:
            logger.warning(
                "archive %s ends with %d bytes of an interrupted write; ignored (those messages are still in the store)",
                contents.meta.path,
                contents.meta.torn_bytes,
            )
        return contents

    def _remember_written(self, session_id: str, last_seq: int) -> None:
        if last_seq > self._written.get(session_id, 0):
            self._written[session_id] = last_seq
        self._written.move_to_end(session_id)
        while len(self._written) > _WRITTEN_SESSIONS:
            self._written.popitem(last=False)

    def _undo_append(self, session_id: str, key: str, seqs: tuple[int, ...]) -> Flow[None]:
        """Delete the messages of a cancelled append; a WARNING names the session if any of them stays."""
        try:
            yield ListDeleteSeqs(self.namespace, key, seqs)
            meta = yield LocalCall(partial(self.archive.meta, session_id))
        except (
            BaseException
        ) as exc:  # a cancellation too (the loop closing under the undo): named, then raised
            logger.warning(
                "session %r: an append cancelled after it was sent could not be undone (%s); its messages "
                "(seqs %d to %d) stay stored",
                session_id,
                type(exc).__name__ if isinstance(exc, asyncio.CancelledError) else exc,
                seqs[0],
                seqs[-1],
            )
            if not isinstance(exc, Exception):
                raise
            return
        if meta is not None and meta.last_seq is not None and meta.last_seq >= seqs[0]:
            logger.warning(
                "session %r: part of an append cancelled during its archive spill was archived already and "
                "stays stored (seqs %d to %d)",
                session_id,
                seqs[0],
                min(seqs[-1], meta.last_seq),
            )

    def _create(
        self, session_id: str, key: str, values: tuple[bytes, ...], now: float, *, locked: bool = False
    ) -> Flow[ListAppended]:
        """Create a missing list and append ``values``: a new session, or one whose keys the store lost.

        Seqs must continue after the archive's last one: reusing archived seqs made reads merge new messages
        over archived ones and the next spill trim them as already archived (117 of 440 messages lost when 4
        writers appended to 20 archived sessions after a Redis restart). The archive lock keeps a spill from
        moving the archive's end between reading it here and creating the list (``locked``: the caller holds it).
        """
        if not locked:
            yield from self._acquire(session_id)
        try:
            meta = None
            # Under the lock no spill can make the archive between the stat and the append; reading its headers
            # is file I/O for a worker thread under an event loop, so it waits for a file to exist.
            if (yield LocalCall(partial(self.archive.exists, session_id), blocking=False)):
                meta = yield LocalCall(partial(self.archive.meta, session_id))
            archived = meta.last_seq if meta is not None and meta.last_seq is not None else 0
            result: ListAppended = yield ListAppend(
                self.namespace, key, values, now, archived + 1, create=True, archived_through=archived
            )
        finally:
            if not locked:
                yield from self._release(session_id)
        written = self._written.get(session_id, 0)
        if result.created and (archived or result.recovered or written > archived):
            self._report_loss(session_id, archived, result.recovered, written)
        return result

    def _report_loss(self, session_id: str, archived: int, kept: int, written: int = 0) -> None:
        """The store had lost a session's status: one WARNING naming it, and the ``store_losses`` stat."""
        self.counters.add("store_losses")
        if kept:
            detail = f"it still held {kept} messages, kept in order; new messages continue after them"
        elif written > archived and not archived:
            detail = (
                f"this process had stored messages through seq {written} and none was archived: they are lost "
                "unless the store persisted them"
            )
        else:
            detail = (
                f"its archived messages (through seq {archived}) are intact; messages stored after the last "
                "archive write and not persisted by the store are lost"
            )
        logger.warning(
            "session %r: the store lost this session's keys (restart without persistence, FLUSHALL, eviction "
            "or DEL): %s. Run Redis with maxmemory-policy noeviction and AOF (docs/redis.md)",
            session_id,
            detail,
        )

    def _live(
        self, session_id: str, key: str, items: Sequence[tuple[int, bytes | None]]
    ) -> Flow[list[tuple[int, bytes]]]:
        """``items`` without those whose value the store lost; those are dropped from the store and reported
        (WARNING naming the session, ``lost_messages`` stat) by whichever reader removes them first."""
        lost = tuple(seq for seq, value in items if value is None)
        if lost:
            removed: int = yield ListDeleteSeqs(self.namespace, key, lost)
            if removed:
                self.counters.add("store_losses")
                self.counters.add("lost_messages", removed)
                logger.warning(
                    "session %r: the store lost %d messages (seqs %d to %d): it kept their seqs but not their "
                    "values (a Redis key evicted or deleted); they are gone from the history. Run Redis with "
                    "maxmemory-policy noeviction and AOF (docs/redis.md)",
                    session_id,
                    removed,
                    lost[0],
                    lost[-1],
                )
        return [(seq, value) for seq, value in items if value is not None]

    def _snapshot(
        self, session_id: str, key: str
    ) -> Flow[tuple[ListStatus | None, list[tuple[int, bytes]], Window[Any] | None]]:
        """The store's status and items in one round trip, and the remembered window when it is current (the
        store then sends the status only). Items whose value the store lost are dropped and reported."""
        cached = self._hot.get(key)
        snap: ListSnapshotted = yield ListSnapshot(self.namespace, key, cached.version if cached else "")
        if snap.items is None and cached is not None:
            return cached.status, cached.items, cached  # new pairs: the caller may keep them
        items = snap.items or []
        hot = yield from self._live(session_id, key, items)
        window: Window[Any] | None = None
        if snap.status is not None and snap.version and len(hot) == len(items):
            window = Window(snap.version, snap.status, hot)
            self._hot.put(key, window)
        else:
            self._hot.drop(key)
        return snap.status, hot, window

    def _history(
        self,
        session_id: str,
        *,
        locked: bool = False,
        codec: MessageCodec[Any] | None = None,
        snapshot: tuple[ListStatus | None, list[tuple[int, bytes]], Window[Any] | None] | None = None,
    ) -> Flow[_History]:
        """The whole history; ``locked``: the caller holds the session's archive lock already. Messages are
        dicts, or ``codec`` objects (copies) when one is given. ``snapshot``: the store's, taken already."""
        key = session_key(session_id)
        status, hot, window = (
            snapshot if snapshot is not None else (yield from self._snapshot(session_id, key))
        )
        contents = None
        if not _store_holds_all(status):
            contents = yield from self._read_archive(
                session_id, status
            )  # after the store: see module docstring
        if status is None and (hot or (contents is not None and contents.meta.last_seq is not None)):
            # the store lost it: say so once
            yield from self._create(session_id, key, (), self._clock.now(), locked=locked)
        base = status.base_seq if status is not None else 0
        merged: dict[int, Any] = {}
        if contents is not None:
            for seq, message in contents.items:
                if seq >= base:
                    merged[seq] = message if codec is None else codec.decode(_encode_raw(message))
        merged.update(zip((seq for seq, _ in hot), _tail(hot, window, codec, len(hot))))
        self.counters.add("reads")
        return _History(status, sorted(merged.items()), {seq for seq, _ in hot})
