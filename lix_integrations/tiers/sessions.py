"""The session tier: chat history with a hot window in the store and a compressed cold archive on disk.

Messages are opaque JSON objects to the engine (adapters convert their framework's messages). Each session is
an append-only list in the store (seqs assigned by the backend, so concurrent writers never collide or reorder)
plus, once it outgrows ``hot_window + archive_batch`` messages, an archive file holding its older messages.

Never lose, never duplicate. Overflow is written to the archive first (fsynced), and only then trimmed from the
store (``ListTrimThrough``); a crash in between leaves a message in both places, and every read merges the two
by seq, so it appears once. Reads take the store first and the archive second, so a concurrent spill can only
make a message appear in both reads, never in neither. The store remembers how far it trimmed
(``archived_through``): an archive that ends before that point was truncated and raises instead of silently
returning a shorter history. If the store loses a session (a Redis restart) while its archive survives, the next
read re-hydrates the hot window from the archive with the original seqs, and the next append continues after the
archive's last seq instead of reusing seqs (lix-open-cache duplicated history in that case). The store never
creates a list on its own: an append to a missing list stores nothing, and the tier creates it under the archive
lock once it knows where the archive ends, so concurrent writers after a loss never get archived seqs. A loss
the store shows (a session's keys gone while its archive or some of its items remain, values lost under kept
seqs) is reported by a WARNING naming the session and the ``store_losses``/``lost_messages`` stats.

Archive I/O is blocking file work, so flows hand it to their driver as `LocalCall` operations, which the
sessions API runs inline (sync) or in a worker thread (async); per-session archive locks are taken by polling a
non-blocking lock, so waiting never occupies a worker thread.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from ..archive.codec import Codec
from ..archive.format import ArchiveContents, ArchiveCorruptError
from ..archive.store import SessionArchive, session_from_name
from ..config import EngineConfig, default_store_path
from ..config.tiers import SessionConfig
from ..errors import BackendError, InvalidIdError, InvalidInputError
from ..kernel.clock import Clock
from ..kernel.flows import CancelledAfterOp, Flow
from ..kernel.keys import digest
from ..kernel.ops import (
    EvictionPolicy,
    ListAppend,
    ListAppended,
    ListDelete,
    ListDeleteSeqs,
    ListIdle,
    ListInfo,
    ListKeys,
    ListRange,
    ListReplace,
    ListRestore,
    ListSnapshot,
    ListSnapshotted,
    ListStatus,
    ListTrimThrough,
    Op,
    StoreEviction,
)
from .session_cache import HotCache, MessageCodec, Window

__all__ = [
    "LocalCall",
    "MessageCodec",
    "Pause",
    "RelevantMessage",
    "SessionConfig",
    "SessionCounters",
    "SessionStats",
    "SessionTier",
    "SmartContext",
    "message_text",
    "session_key",
    "validate_session_id",
]

logger = logging.getLogger(__name__)

_MAX_SESSION_ID = 512
_CODECS = {"zstd-dict": Codec.ZSTD_DICT_V1, "zstd": Codec.ZSTD, "zlib": Codec.ZLIB, "raw": Codec.RAW}
_KEY_PAGE = 1000
#: Sessions whose last written seq a process remembers, to report one the store lost whole (about 100 bytes each).
_WRITTEN_SESSIONS = 10_000

Message = dict[str, Any]
EmbedTexts = Callable[[list[str], str], Flow[Any]]


# -- configuration --------------------------------------------------------------------------------------------


# -- operations the sessions driver runs itself ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalCall(Op):
    """Local work (archive file I/O): run inline by the sync driver, in a worker thread by the async one.

    ``blocking=False`` marks calls that never wait (a non-blocking lock attempt), run inline by both.
    """

    fn: Callable[[], Any]
    blocking: bool = True


@dataclass(frozen=True, slots=True)
class Pause(Op):
    """Wait before retrying a busy lock (``time.sleep`` or ``asyncio.sleep``)."""

    seconds: float


# -- results and statistics -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelevantMessage:
    message: Message
    score: float
    position: int  # index in the full history


@dataclass(frozen=True, slots=True)
class SmartContext:
    """``recent`` (the last messages, in order) and ``relevant`` (older ones by similarity, in history order)."""

    recent: list[Message]
    relevant: list[RelevantMessage]

    def messages(self) -> list[Message]:
        """Relevant older messages, then the recent ones: a prompt-ready history in chronological order."""
        return [r.message for r in self.relevant] + self.recent


@dataclass(frozen=True)
class SessionStats:
    """Counters of the session tier.

    ``store_losses``: sessions found damaged by the store itself (their keys gone after a restart without
    persistence, ``FLUSHALL``, eviction or a ``DEL``), each also logged as a WARNING naming the session.
    ``lost_messages``: messages known to be gone in those events (the store kept their seqs but not their
    values). A session the store lost whole while nothing of it was archived leaves no trace to count: see
    ``docs/reliability.md``.
    """

    appended: int
    reads: int
    spills: int
    archived_messages: int
    rehydrations: int
    idle_migrations: int
    expired_sessions: int
    store_losses: int = 0
    lost_messages: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "appended": self.appended,
            "reads": self.reads,
            "spills": self.spills,
            "archived_messages": self.archived_messages,
            "rehydrations": self.rehydrations,
            "idle_migrations": self.idle_migrations,
            "expired_sessions": self.expired_sessions,
            "store_losses": self.store_losses,
            "lost_messages": self.lost_messages,
        }


class SessionCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(SessionStats.__dataclass_fields__, 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def reset(self) -> None:
        with self._lock:
            for name in self._counts:
                self._counts[name] = 0

    def snapshot(self) -> SessionStats:
        with self._lock:
            return SessionStats(**self._counts)


# -- pure helpers ---------------------------------------------------------------------------------------------


def validate_session_id(session_id: object) -> str:
    """Any non-empty string of at most 512 characters; it is encoded, never used raw, in keys and file names."""
    if not isinstance(session_id, str) or not session_id:
        raise InvalidIdError(f"session id must be a non-empty string, got {session_id!r}")
    if len(session_id) > _MAX_SESSION_ID:
        raise InvalidIdError(f"session id is longer than {_MAX_SESSION_ID} characters")
    try:
        session_id.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidIdError("session id contains a lone surrogate and cannot be stored") from None
    return session_id


@lru_cache(maxsize=4096)
def session_key(session_id: str) -> str:
    """The store key of a session: percent-encoded, so ``alice`` and ``alice:secret`` or ``*`` stay apart and a
    prefix of an id is a prefix of its key (what ``list_sessions(prefix)`` scans). Memoized: ``quote`` costs
    3 us, a tenth of the append path above the store's round trip."""
    return quote(session_id, safe="")


def _encode_message(message: object, index: int, limit: int) -> bytes:
    if not isinstance(message, Mapping):
        raise InvalidInputError(f"message {index} must be a dict (JSON object), got {type(message).__name__}")
    try:
        raw = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
            "utf-8", "surrogatepass"
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"message {index} is not JSON-serializable: {exc}") from None
    if len(raw) > limit:
        raise InvalidInputError(f"message {index} is {len(raw)} bytes, over the limit of {limit}")
    return raw


def _encode_with(codec: MessageCodec[Any], message: object, index: int, limit: int) -> bytes:
    raw = codec.encode(message)
    if not isinstance(raw, bytes) or raw[:1] != b"{":
        raise InvalidInputError(f"message {index} did not encode to a JSON object")
    if len(raw) > limit:
        raise InvalidInputError(f"message {index} is {len(raw)} bytes, over the limit of {limit}")
    return raw


def _tail(
    hot: Sequence[tuple[int, bytes]], window: Window[Any] | None, codec: MessageCodec[Any] | None, n: int
) -> list[Any]:
    """The last ``n`` of the store's items as messages: dicts parsed afresh, or copies of a codec's objects."""
    start = max(0, len(hot) - n)
    if codec is None:
        return _decode_all([v for _, v in hot[start:]])
    if window is None:
        return [codec.decode(v) for _, v in hot[start:]]
    return [codec.copy(m) for m in window.objects(codec)[start:]]


def _store_holds_all(status: ListStatus | None) -> bool:
    """Whether the store's list is the whole session, so the archive need not be opened (in async code that is
    a trip to a worker thread): nothing was archived since the base, and the list starts at the base. A list
    that starts later may follow an archive the store forgot (a store that lost the session continues after
    the archive's last seq), or a deleted first message; both read the archive."""
    if status is None:
        return False
    start = max(status.base_seq, 1)
    return status.archived_through < start and (status.first_seq is None or status.first_seq <= start)


def _decode(value: bytes) -> Message:
    return json.loads(value)  # type: ignore[no-any-return]


def _decode_all(values: list[bytes]) -> list[Message]:
    """Every message in one JSON parse (half the time of one parse each for a 20-message window); a value that
    does not parse on its own is decoded one by one, so it fails exactly as it would alone."""
    if len(values) > 1:
        try:
            parsed = json.loads(b"[" + b",".join(values) + b"]")
        except ValueError:
            pass
        else:
            if len(parsed) == len(values) and all(isinstance(m, dict) for m in parsed):
                return parsed  # type: ignore[no-any-return]
    return [_decode(v) for v in values]


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message in the shapes the adapters store (plain, LangChain dict, LlamaIndex dump)."""
    data = message.get("data")
    if isinstance(data, Mapping) and "content" in data:
        message = data
    content = message.get("content")
    if content is None and isinstance(message.get("blocks"), list):
        content = message["blocks"]
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "\n".join(parts)
    return ""


# -- archive directories ----------------------------------------------------------------------------------------

_memory_dirs: dict[str, Path] = {}
_memory_dirs_lock = threading.Lock()


def _memory_archive_dir(name: str) -> Path:
    """``memory://`` stores vanish with the process; so do their archives (a temporary directory each)."""
    with _memory_dirs_lock:
        found = _memory_dirs.get(name)
        if found is None:
            found = _memory_dirs[name] = Path(tempfile.mkdtemp(prefix="lix-sessions-"))
            atexit.register(shutil.rmtree, found, True)
        return found


def default_archive_root(backend_url: str, owner: object) -> Path:
    """Where a store's archives go when ``archive_dir`` is not set."""
    if backend_url.startswith("sqlite:///") and backend_url != "sqlite:///:memory:":
        db = Path(backend_url[len("sqlite:///") :])
        return db.with_name(db.name + ".sessions")
    if backend_url.startswith("memory://") or backend_url == "sqlite:///:memory:":
        name = backend_url.split("://", 1)[1]
        return _memory_archive_dir(
            name if name and backend_url.startswith("memory://") else f"anon-{id(owner)}"
        )
    return default_store_path().parent / "sessions" / digest("archive", backend_url)[:16]


# -- the tier ---------------------------------------------------------------------------------------------------

_eviction_warned: set[str] = set()
_eviction_lock = threading.Lock()


def evicts_sessions(found: EvictionPolicy) -> bool:
    """Whether a store may drop session keys on its own: an ``allkeys-*`` policy with a memory limit set (or
    unknown). ``volatile-*`` policies only evict keys with a TTL, and session keys have none."""
    return (found.policy or "").startswith("allkeys-") and found.maxmemory != 0


@dataclass
class _History:
    """A session's whole history as read: store status, (seq, message) pairs in order, where each came from."""

    status: ListStatus | None
    items: list[tuple[int, Message]] = field(default_factory=list)
    hot_seqs: set[int] = field(default_factory=set)


class SessionTier:
    """Policy of the session tier; every public method returns a flow for the sessions driver to run."""

    def __init__(self, config: EngineConfig, clock: Clock, backend_url: str) -> None:
        cfg: SessionConfig = getattr(config, "sessions", None) or SessionConfig()
        self.config = cfg
        self.namespace = config.namespace
        self._clock = clock
        self.counters = SessionCounters()
        root = (
            Path(cfg.archive_dir).expanduser() if cfg.archive_dir else default_archive_root(backend_url, self)
        )
        self.archive = SessionArchive(root / quote(config.namespace, safe=""), _CODECS[cfg.codec])
        self._backend_url = backend_url
        #: Set once the store's eviction policy was checked (see `checked`).
        self.store_checked = False
        #: The last seq this process stored per session (most recent sessions only): a session the store lost
        #: whole, with nothing archived, is otherwise indistinguishable from a new one.
        self._written: OrderedDict[str, int] = OrderedDict()
        self._hot = HotCache(cfg.cache_messages)

    def checked(self, flow: Flow[Any]) -> Flow[Any]:
        """``flow``, after checking once whether the store can evict session keys (a WARNING per store URL and
        process if it can: an evicted session loses its messages). A failed check never fails the flow."""
        try:
            found: EvictionPolicy = yield StoreEviction()
        except Exception as exc:  # a check that cannot run is retried on the next call
            logger.debug("could not read the store's eviction policy: %s", exc)
        else:
            self.store_checked = True
            if evicts_sessions(found):
                with _eviction_lock:
                    first = self._backend_url not in _eviction_warned
                    _eviction_warned.add(self._backend_url)
                if first:
                    limit = "unknown" if found.maxmemory is None else f"{found.maxmemory} bytes"
                    logger.warning(
                        "store %s has maxmemory-policy %s (maxmemory %s): when full it evicts any key, chat "
                        "sessions included, and evicted messages are lost. Set maxmemory-policy noeviction "
                        "and enable AOF for sessions (docs/redis.md)",
                        self._backend_url,
                        found.policy,
                        limit,
                    )
        return (yield from flow)

    # -- small flows ---------------------------------------------------------------------------------------

    def _acquire(self, session_id: str) -> Flow[None]:
        delay = 0.0005
        while not (yield LocalCall(partial(self.archive.try_lock, session_id), blocking=False)):
            yield Pause(delay)
            delay = min(delay * 2, 0.05)

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

    def _snapshot(
        self, session_id: str, key: str
    ) -> Flow[tuple[ListStatus | None, list[tuple[int, bytes]], Window[Any] | None]]:
        """The store's status and items in one round trip, and the remembered window when it is current (the
        store then sends the status only). Items whose value the store lost are dropped and reported."""
        cached = self._hot.get(key)
        snap: ListSnapshotted = yield ListSnapshot(self.namespace, key, cached.version if cached else "")
        if snap.items is None and cached is not None:
            return cached.status, list(cached.items), cached
        items = snap.items or []
        hot = yield from self._live(session_id, key, items)
        window: Window[Any] | None = None
        if snap.status is not None and snap.version and len(hot) == len(items):
            window = Window(snap.version, snap.status, tuple(hot))
            self._hot.put(key, window)
        else:
            self._hot.drop(key)
        return snap.status, hot, window

    def _history(
        self, session_id: str, *, locked: bool = False, codec: MessageCodec[Any] | None = None
    ) -> Flow[_History]:
        """The whole history; ``locked``: the caller holds the session's archive lock already. Messages are
        dicts, or ``codec`` objects (copies) when one is given."""
        key = session_key(session_id)
        status, hot, window = yield from self._snapshot(session_id, key)
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

    # -- writes ----------------------------------------------------------------------------------------------

    def add(
        self, session_id: str, messages: Sequence[object], codec: MessageCodec[Any] | None = None
    ) -> Flow[list[int]]:
        """Append messages in one store round trip; returns their seqs. Archives overflow when due.

        Messages are dicts, or objects ``codec`` encodes (copies of them are remembered for later reads)."""
        session_id = validate_session_id(session_id)
        if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
            raise InvalidInputError("messages must be a list of dicts")
        limit = self.config.max_message_bytes
        objects: tuple[object, list[Any]] | None = None
        if codec is None:
            values = tuple(_encode_message(m, i, limit) for i, m in enumerate(messages))
        else:
            values = tuple(_encode_with(codec, m, i, limit) for i, m in enumerate(messages))
            if self._hot.limit:
                objects = (codec, [codec.copy(m) for m in messages])
        return self._add_flow(session_id, values, objects)

    def _add_flow(
        self, session_id: str, values: tuple[bytes, ...], objects: tuple[object, list[Any]] | None = None
    ) -> Flow[list[int]]:
        if not values:
            return []
        key = session_key(session_id)
        now = self._clock.now()
        # The store gives seqs only to a list it has: a missing one (new, or lost by the store) stores nothing
        # and is created below by a caller that knows where its archive ends.
        stored: tuple[int, ...] = ()
        try:
            result: ListAppended = yield ListAppend(self.namespace, key, values, now, create=False)
            if result.missing:
                result = yield from self._create(session_id, key, values, now)
            stored = result.seqs
            if result.length >= self.config.hot_window + self.config.archive_batch:
                yield from self._acquire(session_id)
                try:
                    yield from self._spill_locked(session_id, keep=self.config.hot_window)
                except BackendError as exc:
                    # The messages are already stored: raising now would tell the caller they were not, and a
                    # retry would store them twice. The store keeps the overflow (nothing was trimmed) and the
                    # next append retries the spill, e.g. once a full disk has room again.
                    logger.warning("archiving session overflow failed; kept in the store for now: %s", exc)
                finally:
                    yield from self._release(session_id)
        except asyncio.CancelledError as cancel:
            # The caller gave up (asyncio.wait_for, task.cancel) before this returned: it will take the messages
            # as not stored, and may send them again. An append already sent was waited for (the driver raises
            # CancelledAfterOp with its result), so it is deleted again before the cancellation goes on.
            if (
                not stored
                and isinstance(cancel, CancelledAfterOp)
                and isinstance(cancel.result, ListAppended)
            ):
                stored = cancel.result.seqs
            if stored:
                yield from self._undo_append(session_id, key, stored)
            raise
        self.counters.add("appended", len(values))
        self._remember_written(session_id, result.seqs[-1] if result.seqs else 0)
        if result.created and result.seqs and result.seqs[0] != 1:
            self._hot.drop(key)  # made after an archive: the window's status would not say how far it goes
        else:
            self._hot.appended(key, result, values, now, 0, objects)
        return list(result.seqs)

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
        except Exception as exc:
            logger.warning(
                "session %r: an append cancelled after it was sent could not be undone (%s); its messages "
                "(seqs %d to %d) stay stored",
                session_id,
                exc,
                seqs[0],
                seqs[-1],
            )
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

    def _spill_locked(self, session_id: str, *, keep: int, idle_before: float | None = None) -> Flow[int]:
        """Archive all but the last ``keep`` stored messages, then trim them from the store. Lock held."""
        key = session_key(session_id)
        status: ListStatus | None = yield ListInfo(self.namespace, key)
        if status is None or status.length <= keep:
            return 0
        if idle_before is not None and status.updated_at >= idle_before:
            return 0  # used again since it was found idle
        items = yield from self._live(session_id, key, (yield ListRange(self.namespace, key)))
        overflow = items[: len(items) - keep] if keep else items
        if not overflow:
            return 0
        now = self._clock.now()
        yield LocalCall(partial(self.archive.append, session_id, overflow, now, status.base_seq))
        # Only now that the archive is on disk: a crash before this line duplicates nothing (reads merge by seq).
        yield ListTrimThrough(self.namespace, key, overflow[-1][0])
        self.counters.add("spills")
        self.counters.add("archived_messages", len(overflow))
        return len(overflow)

    def set_messages(self, session_id: str, messages: Sequence[object]) -> Flow[None]:
        """Replace the whole history (store and archive) by ``messages``."""
        session_id = validate_session_id(session_id)
        values = tuple(_encode_message(m, i, self.config.max_message_bytes) for i, m in enumerate(messages))
        return self._set_flow(session_id, values)

    def _set_flow(self, session_id: str, values: tuple[bytes, ...]) -> Flow[None]:
        key = session_key(session_id)
        yield from self._acquire(session_id)
        try:
            # The replace moves base_seq past every archived seq (also when the store lost the list, hence the
            # archive's end as a floor): from here on the old archive is void, so a crash before the file is
            # deleted cannot bring old messages back.
            meta = yield LocalCall(partial(self.archive.meta, session_id))
            floor = meta.last_seq + 1 if meta is not None and meta.last_seq is not None else 1
            result: ListAppended = yield ListReplace(self.namespace, key, values, self._clock.now(), floor)
            yield LocalCall(partial(self.archive.delete, session_id))
            if result.length >= self.config.hot_window + self.config.archive_batch:
                yield from self._spill_locked(session_id, keep=self.config.hot_window)
        finally:
            yield from self._release(session_id)

    def delete_session(self, session_id: str) -> Flow[bool]:
        """Delete a session's messages from the store and its archive; ``True`` if it had any."""
        session_id = validate_session_id(session_id)
        return self._delete_flow(session_id)

    def _delete_flow(self, session_id: str) -> Flow[bool]:
        key = session_key(session_id)
        yield from self._acquire(session_id)
        try:
            status: ListStatus | None = yield ListInfo(self.namespace, key)
            # First make the session read as empty (base_seq past everything), then remove the file, then forget
            # the list: a crash at any point leaves an empty session, never a partial or resurrected one.
            if status is not None:
                yield ListReplace(self.namespace, key, (), self._clock.now())
            removed_file = yield LocalCall(partial(self.archive.delete, session_id))
            yield ListDelete(self.namespace, key)
            self._written.pop(session_id, None)
        finally:
            yield from self._release(session_id)
        return bool(removed_file or (status is not None and (status.length or status.archived_through)))

    def delete_message(self, session_id: str, index: int) -> Flow[Message | None]:
        """Delete the message at ``index`` of the full history (negative counts from the end); ``None`` if out
        of range. The other messages keep their order."""
        session_id = validate_session_id(session_id)
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidInputError(f"index must be an int, got {type(index).__name__}")
        return self._delete_message_flow(session_id, index)

    def _delete_message_flow(self, session_id: str, index: int) -> Flow[Message | None]:
        key = session_key(session_id)
        yield from self._acquire(session_id)
        try:
            history = yield from self._history(session_id, locked=True)
            if not -len(history.items) <= index < len(history.items):
                return None
            seq, message = history.items[index]
            if seq in history.hot_seqs:
                yield ListDeleteSeqs(self.namespace, key, (seq,))
            # An archived copy (also present when a crash left one in both places) is removed by a rewrite.
            contents: ArchiveContents | None = yield LocalCall(partial(self.archive.read, session_id))
            if contents is not None and any(s == seq for s, _ in contents.items):
                kept = [(s, _encode_raw(m)) for s, m in contents.items if s != seq]
                yield LocalCall(
                    partial(self.archive.rewrite, session_id, kept, contents.meta, self._clock.now())
                )
            return message
        finally:
            yield from self._release(session_id)

    # -- reads -----------------------------------------------------------------------------------------------

    def get_context(
        self, session_id: str, n: int | None = None, codec: MessageCodec[Any] | None = None
    ) -> Flow[list[Any]]:
        """The last ``n`` messages (default ``hot_window``), re-hydrating the store from the archive if needed.
        Dicts, or ``codec`` objects when one is given."""
        session_id = validate_session_id(session_id)
        n = self.config.hot_window if n is None else n
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidInputError(f"n must be a non-negative int, got {n!r}")
        return self._context_flow(session_id, n, codec)

    def _context_flow(self, session_id: str, n: int, codec: MessageCodec[Any] | None) -> Flow[list[Any]]:
        if n == 0:
            return []
        key = session_key(session_id)
        status, hot, window = yield from self._snapshot(session_id, key)
        self.counters.add("reads")
        if len(hot) >= n or (status is not None and status.archived_through < max(status.base_seq, 1)):
            return _tail(hot, window, codec, n)  # the common case (or nothing archived): one round trip
        contents = yield from self._read_archive(session_id, status)
        if status is None and (hot or (contents is not None and contents.meta.last_seq is not None)):
            yield from self._create(session_id, key, (), self._clock.now())  # the store lost it: say so once
        if contents is None:
            return _tail(hot, window, codec, n)
        base = status.base_seq if status is not None else 0
        merged: dict[int, bytes] = {seq: _encode_raw(m) for seq, m in contents.items if seq >= base}
        archived = set(merged)
        held = dict(hot)
        merged.update(held)
        newest = sorted(merged.items())[-n:]
        restore = tuple((seq, value) for seq, value in newest if seq in archived and seq not in held)
        if restore:
            # Bring the window back into the store with its original seqs, so the next read is one round trip
            # and the next append continues after them.
            yield ListRestore(self.namespace, key, restore, self._clock.now())
            self.counters.add("rehydrations")
        if codec is not None:
            return [codec.decode(v) for _, v in newest]
        return _decode_all([v for _, v in newest])

    def get_full_history(self, session_id: str, codec: MessageCodec[Any] | None = None) -> Flow[list[Any]]:
        """Every message, archived ones first: dicts, or ``codec`` objects when one is given."""
        session_id = validate_session_id(session_id)
        return self._full_flow(session_id, codec)

    def _full_flow(self, session_id: str, codec: MessageCodec[Any] | None) -> Flow[list[Any]]:
        history = yield from self._history(session_id, codec=codec)
        return [m for _, m in history.items]

    def count(self, session_id: str) -> Flow[int]:
        session_id = validate_session_id(session_id)
        return self._count_flow(session_id)

    def _count_flow(self, session_id: str) -> Flow[int]:
        history = yield from self._history(session_id)
        return len(history.items)

    def list_sessions(self, prefix: str = "", limit: int | None = None) -> Flow[list[str]]:
        """Session ids starting with ``prefix``, sorted, read by a prefix scan of the store's list keys."""
        if not isinstance(prefix, str):
            raise InvalidInputError(f"prefix must be a str, got {type(prefix).__name__}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InvalidInputError(f"limit must be a non-negative int or None, got {limit!r}")
        return self._list_flow(session_key(prefix) if prefix else "", limit)

    def _list_flow(self, key_prefix: str, limit: int | None) -> Flow[list[str]]:
        found: list[str] = []
        after: str | None = None
        while limit is None or len(found) < limit:
            page = _KEY_PAGE if limit is None else min(_KEY_PAGE, limit - len(found))
            keys: list[str] = yield ListKeys(self.namespace, key_prefix, page, after)
            found += [unquote(k) for k in keys]
            if len(keys) < page:
                break
            after = keys[-1]
        return found

    def smart_context(
        self,
        session_id: str,
        query: str,
        *,
        k_recent: int,
        k_relevant: int,
        embed: EmbedTexts,
        text_of: Callable[[Mapping[str, Any]], str] = message_text,
    ) -> Flow[SmartContext]:
        """The last ``k_recent`` messages plus the ``k_relevant`` older ones most similar to ``query``."""
        session_id = validate_session_id(session_id)
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
        for name, value in (("k_recent", k_recent), ("k_relevant", k_relevant)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative int, got {value!r}")
        return self._smart_flow(session_id, query, k_recent, k_relevant, embed, text_of)

    def _smart_flow(
        self,
        session_id: str,
        query: str,
        k_recent: int,
        k_relevant: int,
        embed: EmbedTexts,
        text_of: Callable[[Mapping[str, Any]], str],
    ) -> Flow[SmartContext]:
        history = yield from self._history(session_id)
        messages = [m for _, m in history.items]
        split = max(0, len(messages) - k_recent)
        recent, older = messages[split:], messages[:split]
        candidates = [(i, text_of(m)) for i, m in enumerate(older)]
        candidates = [(i, t) for i, t in candidates if t.strip()]
        if not candidates or k_relevant == 0 or not query.strip():
            return SmartContext(recent, [])
        query_vec = np.asarray((yield from embed([query], "query")), dtype=np.float32)[0]
        matrix = np.asarray((yield from embed([t for _, t in candidates], "document")), dtype=np.float32)
        scores = matrix @ query_vec
        best = np.argsort(-scores, kind="stable")[:k_relevant]
        chosen = sorted(int(b) for b in best)  # history order; each older message at most once, none recent
        relevant = [
            RelevantMessage(older[candidates[b][0]], float(scores[b]), candidates[b][0]) for b in chosen
        ]
        return SmartContext(recent, relevant)

    # -- maintenance -----------------------------------------------------------------------------------------

    def migrate_idle(self, limit: int = 1000) -> Flow[int]:
        """Move sessions idle longer than ``idle_after`` wholly to the archive, freeing the store; returns how
        many moved. The next read re-hydrates them."""
        if self.config.idle_after is None:
            return self._nothing()
        return self._migrate_flow(self._clock.now() - self.config.idle_after, limit)

    @staticmethod
    def _nothing() -> Flow[int]:
        return 0
        yield  # pragma: no cover - makes this a generator

    def _migrate_flow(self, cutoff: float, limit: int) -> Flow[int]:
        keys: list[str] = yield ListIdle(self.namespace, cutoff, limit)
        moved = 0
        for key in keys:
            session_id = unquote(key)
            yield from self._acquire(session_id)
            try:
                if (yield from self._spill_locked(session_id, keep=0, idle_before=cutoff)):
                    moved += 1
            finally:
                yield from self._release(session_id)
        self.counters.add("idle_migrations", moved)
        return moved

    def cleanup_expired(self) -> Flow[int]:
        """Delete sessions untouched for ``retention_days`` (store and archive); returns how many."""
        if self.config.retention_days is None:
            return self._nothing()
        return self._cleanup_flow(self._clock.now() - self.config.retention_days * 86400.0)

    def _cleanup_flow(self, cutoff: float) -> Flow[int]:
        removed = 0
        # Sessions only in the store, idle past the retention period.
        while True:
            keys: list[str] = yield ListIdle(self.namespace, cutoff, _KEY_PAGE)
            for key in keys:
                removed += yield from self._expire(unquote(key), cutoff)
            if len(keys) < _KEY_PAGE:
                break
        # Archived sessions, found by listing the archive directory a page at a time.
        after: str | None = None
        while True:
            names: list[str] = yield LocalCall(partial(self.archive.names, after, _KEY_PAGE))
            for name in names:
                session_id = session_from_name(name)
                if session_id is None:
                    meta = yield LocalCall(partial(_meta_or_none, self.archive, name))
                    session_id = meta.name if meta else None
                if session_id is not None:
                    removed += yield from self._expire(session_id, cutoff)
            if len(names) < _KEY_PAGE:
                break
            after = names[-1]
        self.counters.add("expired_sessions", removed)
        return removed

    def _expire(self, session_id: str, cutoff: float) -> Flow[int]:
        status: ListStatus | None = yield ListInfo(self.namespace, session_key(session_id))
        if status is not None and status.updated_at >= cutoff:
            return 0
        meta = yield LocalCall(partial(_meta_or_none, self.archive, None, session_id))
        if meta is False or (meta is not None and meta.updated_at >= cutoff):
            return 0  # unreadable archives are reported, never deleted unseen
        yield from self._delete_flow(session_id)
        logger.info("session %r expired (untouched for the retention period) and was deleted", session_id)
        return 1

    def import_turns(self, session_id: str, turns: Sequence[object]) -> Flow[list[int]]:
        """Append turns read from elsewhere (e.g. a lix-open-cache ``.huff`` archive) as messages."""
        return self.add(session_id, turns)


def _encode_raw(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _meta_or_none(archive: SessionArchive, name: str | None, session_id: str | None = None) -> Any:
    """Archive headers, ``None`` without a file, ``False`` when unreadable (logged): one damaged file must not
    stop a cleanup, nor be deleted unseen."""
    try:
        return archive.meta_by_name(name) if name is not None else archive.meta(session_id or "")
    except ArchiveCorruptError as exc:
        logger.warning("skipping unreadable archive during cleanup: %s", exc)
        return False
