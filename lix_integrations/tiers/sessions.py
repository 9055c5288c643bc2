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
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any
from urllib.parse import unquote

import numpy as np

from ..archive.format import ArchiveContents
from ..archive.store import session_from_name
from ..config.tiers import SessionConfig
from ..errors import BackendError, InvalidInputError
from ..kernel import list_ops
from ..kernel.flows import CancelledAfterOp, Flow
from .session_base import SessionBase
from .session_cache import MessageCodec
from .session_parts import (
    _KEY_PAGE,
    EmbedTexts,
    LocalCall,
    Message,
    Pause,
    RelevantMessage,
    SessionStats,
    SmartContext,
    _checked,
    _decode_all,
    _encode_message,
    _encode_raw,
    _encode_with,
    _meta_or_none,
    _store_holds_all,
    _tail,
    default_archive_root,
    evicts_sessions,
    message_text,
    session_key,
    validate_session_id,
)

# The tier, and the pieces its users import from here (defined in session_parts).
__all__ = [
    "EmbedTexts",
    "LocalCall",
    "Message",
    "MessageCodec",
    "Pause",
    "RelevantMessage",
    "SessionConfig",
    "SessionStats",
    "SessionTier",
    "SmartContext",
    "default_archive_root",
    "evicts_sessions",
    "message_text",
    "session_key",
    "validate_session_id",
]

logger = logging.getLogger(__name__)


class SessionTier(SessionBase):
    """Policy of the session tier; every public method returns a flow for the sessions driver to run."""

    # -- writes ----------------------------------------------------------------------------------------------

    def add(
        self, session_id: str, messages: Sequence[object], codec: MessageCodec[Any] | None = None
    ) -> Flow[list[int]]:
        """Append messages in one store round trip; returns their seqs. Archives overflow when due.

        Messages are dicts, or objects ``codec`` encodes (what it keeps of them is remembered for later reads)."""
        if type(session_id) is not str or session_id not in self._written:  # a written one was checked then
            session_id = validate_session_id(session_id)
        if type(messages) is not list and (  # a list (the common case) skips the slower ABC checks
            isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
        ):
            raise InvalidInputError("messages must be a list of dicts")
        limit = self.config.max_message_bytes
        objects: tuple[object, list[Any]] | None = None
        if codec is None:
            values = tuple(_encode_message(m, i, limit) for i, m in enumerate(messages))
        elif not self._hot.limit:
            values = tuple(_encode_with(codec, m, i, limit) for i, m in enumerate(messages))
        elif len(messages) == 1:  # an adapter's add_message: no generator to drive for one item
            raw, kept = codec.encode_keep(messages[0])
            values = (_checked(raw, 0, limit),)
            objects = (codec, [kept])
        else:  # each message checked as it is encoded: the first bad one is the one named, as before
            encoded: list[bytes] = []
            kept_all: list[Any] = []
            for i, m in enumerate(messages):
                raw, kept = codec.encode_keep(m)
                encoded.append(_checked(raw, i, limit))
                kept_all.append(kept)
            values = tuple(encoded)
            objects = (codec, kept_all)
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
            result: list_ops.ListAppended
            if session_id not in self._written and self._hot.get(key) is None:
                # A session this process has not seen is most often a new one, which the store would refuse
                # (create=False): ask the archive first and skip that round trip (a first append cost 2.3x a
                # later one, 2026-12-04, benchmarks/redis_chat.py). A list that exists is appended to as usual.
                result = yield from self._create(session_id, key, values, now)
            else:
                result = yield list_ops.ListAppend(self.namespace, key, values, now, create=False)
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
                and isinstance(cancel.result, list_ops.ListAppended)
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

    def _spill_locked(self, session_id: str, *, keep: int, idle_before: float | None = None) -> Flow[int]:
        """Archive all but the last ``keep`` stored messages, then trim them from the store. Lock held."""
        key = session_key(session_id)
        status: list_ops.ListStatus | None = yield list_ops.ListInfo(self.namespace, key)
        if status is None or status.length <= keep:
            return 0
        if idle_before is not None and status.updated_at >= idle_before:
            return 0  # used again since it was found idle
        items = yield from self._live(session_id, key, (yield list_ops.ListRange(self.namespace, key)))
        overflow = items[: len(items) - keep] if keep else items
        if not overflow:
            return 0
        now = self._clock.now()
        yield LocalCall(partial(self.archive.append, session_id, overflow, now, status.base_seq))
        # Only now that the archive is on disk: a crash before this line duplicates nothing (reads merge by seq).
        yield list_ops.ListTrimThrough(self.namespace, key, overflow[-1][0])
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
            result: list_ops.ListAppended = yield list_ops.ListReplace(
                self.namespace, key, values, self._clock.now(), floor
            )
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
            status: list_ops.ListStatus | None = yield list_ops.ListInfo(self.namespace, key)
            # First make the session read as empty (base_seq past everything), then remove the file, then forget
            # the list: a crash at any point leaves an empty session, never a partial or resurrected one.
            if status is not None:
                yield list_ops.ListReplace(self.namespace, key, (), self._clock.now())
            removed_file = yield LocalCall(partial(self.archive.delete, session_id))
            yield list_ops.ListDelete(self.namespace, key)
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
                yield list_ops.ListDeleteSeqs(self.namespace, key, (seq,))
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
            yield list_ops.ListRestore(self.namespace, key, restore, self._clock.now())
            self.counters.add("rehydrations")
        if codec is not None:
            return [codec.decode(v) for _, v in newest]
        return _decode_all([v for _, v in newest])

    def get_full_history(self, session_id: str, codec: MessageCodec[Any] | None = None) -> Flow[list[Any]]:
        """Every message, archived ones first: dicts, or ``codec`` objects when one is given."""
        session_id = validate_session_id(session_id)
        return self._full_flow(session_id, codec)

    def _full_flow(self, session_id: str, codec: MessageCodec[Any] | None) -> Flow[list[Any]]:
        snapshot = yield from self._snapshot(session_id, session_key(session_id))
        status, hot, window = snapshot
        if _store_holds_all(status):  # the common case: the store's list is the history, nothing to merge
            self.counters.add("reads")
            return _tail(hot, window, codec, len(hot))
        history = yield from self._history(session_id, codec=codec, snapshot=snapshot)
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
            keys: list[str] = yield list_ops.ListKeys(self.namespace, key_prefix, page, after)
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

        def flow() -> Flow[SmartContext]:  # the arguments checked above, when the call is made
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
            # History order; each older message at most once, none recent.
            chosen = sorted(int(b) for b in best)
            relevant = [
                RelevantMessage(older[candidates[b][0]], float(scores[b]), candidates[b][0]) for b in chosen
            ]
            return SmartContext(recent, relevant)

        return flow()

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
        keys: list[str] = yield list_ops.ListIdle(self.namespace, cutoff, limit)
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
            keys: list[str] = yield list_ops.ListIdle(self.namespace, cutoff, _KEY_PAGE)
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
        status: list_ops.ListStatus | None = yield list_ops.ListInfo(self.namespace, session_key(session_id))
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
