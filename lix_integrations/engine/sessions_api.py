"""``engine.sessions``: blocking and awaitable access to the session tier (chat history + cold archive).

Each operation is written once (see `views`); the two views differ only in their driver. The tier's flows
yield storage operations, which go to the engine like any other tier's, plus two local ones:
`LocalCall` (archive file I/O: inline here, in a worker thread in the async
API, so an event loop never waits on a disk) and `Pause` (lock back-off).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..archive.huff import read_huff
from ..kernel.flows import Flow, T
from ..tiers.embeddings import model_from_embedder
from ..tiers.session_ttl import with_ttl
from ..tiers.sessions import (
    EmbedTexts,
    LocalCall,
    Message,
    MessageCodec,
    SessionTier,
    SmartContext,
    message_text,
)
from .core import EngineCore
from .views import Awaiting, Blocking, View, mapped, runs

__all__ = ["AsyncSessionsAPI", "SessionsAPI"]


def _embed_through_tier(core: EngineCore) -> EmbedTexts:
    """How the session tier embeds texts: the engine's embedder through the embedding tier (cached vectors).

    The one place to change if smart_context should use another model.
    """

    def embed(texts: list[str], role: str) -> Flow[Any]:
        model = model_from_embedder(core.embedder, core.embedder.dimension)
        return (yield from core.embeddings.embed(texts, model, role=role))

    return embed


class _Sessions(View):
    """Session operations. Messages are JSON-serializable dicts, returned as stored.

    ``ttl=`` (seconds) on a call gives the session a TTL: gone once it went that long without a write, each
    write refreshing it (see `session_ttl`)."""

    @property
    def _tier(self) -> SessionTier:
        return self._core.sessions  # type: ignore[no-any-return]

    def _ready(self, flow: Flow[T]) -> Flow[T]:
        """``flow`` as the runtime runs it: after the tier's checks (once: `SessionTier.checked`) and with each storage op
        waiting for the stored settings check (`EngineCore.each_checked`). Both done and the engine open (every
        call but the first), the flow itself, with no call for each check (a chat add's Python, 2026-12-05)."""
        core = self._core
        tier = core.sessions
        if tier.store_checked and tier.archive_claimed and core.settings.data_checked and not core._closed:
            return flow
        if not (tier.store_checked and tier.archive_claimed):
            flow = tier.checked(flow)
        return core.each_checked(flow)

    @property
    def archive_dir(self) -> Path:
        """The directory holding this namespace's session archives."""
        return self._tier.archive.directory

    def _ttl(self, session_id: str, ttl: float | None, flow: Flow[T], *, write: bool) -> Flow[T]:
        # No TTL (the common case): the tier's flow itself, without a generator layer around each of its ops.
        return flow if ttl is None else with_ttl(self._tier, session_id, ttl, flow, write=write)

    @runs
    def add_messages(
        self,
        session_id: str,
        messages: Sequence[Any],
        *,
        codec: MessageCodec[Any] | None = None,
        ttl: float | None = None,
    ) -> Flow[list[int]]:
        """Append messages (one store round trip for the batch); returns their sequence numbers. Messages are
        dicts, or objects ``codec`` turns into JSON (an adapter's own message type).

        Awaited and cancelled before the store acknowledged them (``asyncio.wait_for``), they are not stored: an
        append already sent is waited for and deleted again before the cancellation goes on."""
        flow = self._core.sessions.add(session_id, messages, codec)  # the tier itself: an add is the hot path
        return flow if ttl is None else with_ttl(self._tier, session_id, ttl, flow, write=True)

    @runs
    def add_message(
        self, session_id: str, message: Mapping[str, Any], *, ttl: float | None = None
    ) -> Flow[int]:
        return mapped(self._ttl(session_id, ttl, self._tier.add(session_id, [message]), write=True), _first)

    @runs
    def get_context(
        self,
        session_id: str,
        n: int | None = None,
        *,
        codec: MessageCodec[Any] | None = None,
        ttl: float | None = None,
    ) -> Flow[list[Any]]:
        """The last ``n`` messages (default: the hot window): dicts, or ``codec`` objects."""
        return self._ttl(session_id, ttl, self._tier.get_context(session_id, n, codec), write=False)

    @runs
    def get_full_history(
        self, session_id: str, *, codec: MessageCodec[Any] | None = None, ttl: float | None = None
    ) -> Flow[list[Any]]:
        return self._ttl(session_id, ttl, self._tier.get_full_history(session_id, codec), write=False)

    @runs
    def count(self, session_id: str, *, ttl: float | None = None) -> Flow[int]:
        return self._ttl(session_id, ttl, self._tier.count(session_id), write=False)

    @runs
    def set_messages(
        self, session_id: str, messages: Sequence[Mapping[str, Any]], *, ttl: float | None = None
    ) -> Flow[None]:
        return self._ttl(session_id, ttl, self._tier.set_messages(session_id, messages), write=True)

    @runs
    def delete_message(
        self, session_id: str, index: int, *, ttl: float | None = None
    ) -> Flow[Message | None]:
        return self._ttl(session_id, ttl, self._tier.delete_message(session_id, index), write=True)

    @runs
    def delete_session(self, session_id: str) -> Flow[bool]:
        return self._tier.delete_session(session_id)

    @runs
    def list_sessions(self, prefix: str = "", *, limit: int | None = None) -> Flow[list[str]]:
        return self._tier.list_sessions(prefix, limit)

    @runs
    def smart_context(
        self,
        session_id: str,
        query: str,
        *,
        k_recent: int = 10,
        k_relevant: int = 5,
        text_of: Callable[[Mapping[str, Any]], str] = message_text,
    ) -> Flow[SmartContext]:
        embed = _embed_through_tier(self._core)
        return self._tier.smart_context(
            session_id, query, k_recent=k_recent, k_relevant=k_relevant, embed=embed, text_of=text_of
        )

    @runs
    def migrate_idle(self, *, limit: int = 1000) -> Flow[int]:
        return self._tier.migrate_idle(limit)

    @runs
    def cleanup_expired(self) -> Flow[int]:
        return self._tier.cleanup_expired()

    @runs
    def import_huff(self, session_id: str, path: str | Path) -> Flow[int]:
        """Append the turns of a lix-open-cache ``.huff`` archive to a session; returns how many."""
        return _import_huff(self._tier, session_id, path)


def _first(seqs: list[int]) -> int:
    return seqs[0]


def _import_huff(tier: SessionTier, session_id: str, path: str | Path) -> Flow[int]:
    archive = yield LocalCall(lambda: read_huff(path))  # file I/O: in a worker thread for an async caller
    return len((yield from tier.import_turns(session_id, archive.turns)))


class SessionsAPI(_Sessions, Blocking):
    """Blocking access to the session tier."""

    def _drive(self, flow: Flow[T]) -> T:
        return self._core.runtime.run(self._ready(flow))


class AsyncSessionsAPI(_Sessions, Awaiting):
    """Awaitable access to the session tier; the same operations as `SessionsAPI`."""

    def _drive(self, flow: Flow[T]) -> Coroutine[Any, Any, T]:
        # The runtime's coroutine itself, not one wrapped around it: every resumption of an awaiting chat call
        # passes through each frame of its await chain (2026-12-04, benchmarks/redis_chat.py async adds).
        return self._core.runtime.arun(self._ready(flow))
