"""LlamaIndex chat stores over the lix engine's session tier.

* `LixChatStore` is a ``BaseChatStore``: the ``chat_store`` of ``ChatMemoryBuffer`` (and so of agents).
* `LixDBChatStore` is an ``AsyncDBChatStore``: the store of LlamaIndex's newer ``Memory``, with its active
  queue and archived messages kept as two sessions of the tier.

Both only translate. Messages are stored as ``ChatMessage.model_dump(mode="json")`` and restored with
``model_validate`` (pydantic 2.14 breaks ``SimpleChatStore``'s own serializer); every block type round-trips, but
pydantic objects placed in ``additional_kwargs`` come back as dicts and bytes as base64 text. Clients live in
private attributes, so ``model_dump()`` of a store, and of a ``ChatMemoryBuffer`` holding one, works.

Each store keeps its sessions under its own ``prefix`` (an id prefix in the tier, not a storage key), so
``get_keys()`` lists this store's keys only, never LangChain histories or another store's sessions in the same
engine. A prefix must start with ``llama_index``: LangChain histories store ids that start so behind an escape,
so no LangChain session id can name a LlamaIndex key. Unlike ``SimpleChatStore``, out-of-range indexes (negative ones too) return ``None``, and deleting the
last message of a key removes the key.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr
from llama_index.core.storage.chat_store.base import BaseChatStore
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus

from ..engine.adapter import EngineBacked
from ..engine.engine import AsyncEngine, Engine
from ..engine.public import check_session_ttl
from ..engine.resolve import resolve_engines
from ..engine.sessions_api import AsyncSessionsAPI, SessionsAPI
from ._messages import CHAT_MESSAGES

__all__ = ["LixChatStore", "LixDBChatStore"]


def _dump(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not all(isinstance(m, ChatMessage) for m in messages):
        raise TypeError("messages must be a list of llama_index ChatMessage objects")
    return [m.model_dump(mode="json") for m in messages]


def _load(items: list[dict[str, Any]]) -> list[ChatMessage]:
    return [ChatMessage.model_validate(item) for item in items]


def _check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str) or not prefix.startswith("llama_index"):
        raise ValueError(
            f"chat store prefix must start with 'llama_index' (e.g. 'llama_index/tenant-a/') so that its sessions "
            f"stay apart from LangChain histories in the same engine, got {prefix!r}"
        )
    return prefix


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"chat store key must be a non-empty string, got {key!r}")
    return key


class _EngineStore(EngineBacked, BaseModel):
    """The engine of a LlamaIndex store (a pydantic model): its private attributes, bound from the adapter's
    ``engine`` / ``url=`` arguments (see `resolve_engines`)."""

    _engine: Engine = PrivateAttr()
    _aengine: AsyncEngine = PrivateAttr()

    def _bind(self, engine: Engine | AsyncEngine | str | None, options: dict[str, Any]) -> None:
        self._engine, self._aengine = resolve_engines(engine, options)

    # Read straight from pydantic's private dict: ``self._engine`` goes through ``BaseModel.__getattr__``, whose
    # ``hasattr`` on the private attribute's descriptor raises and catches an AttributeError on every access
    # (10 us of a 30 us chat add under cProfile, 2026-12-04, benchmarks/redis_chat.py async adds).
    @property
    def _sessions(self) -> SessionsAPI:
        return self.__pydantic_private__["_engine"].sessions  # type: ignore[index,no-any-return]

    @property
    def _asessions(self) -> AsyncSessionsAPI:
        return self.__pydantic_private__["_aengine"].sessions  # type: ignore[index,no-any-return]


class LixChatStore(_EngineStore, BaseChatStore):
    """A LlamaIndex chat store kept in a lix engine: ``ChatMemoryBuffer.from_defaults(chat_store=LixChatStore(url),
    chat_store_key="user-1")``.

    ``engine`` is an `Engine` / `AsyncEngine`, a backend URL, or
    ``None`` for the embedded default store; ``engine_options`` configure an engine built from a URL. ``ttl``
    (seconds): a key is forgotten once it went that long without a write, each write refreshing it (see
    `session_ttl`).
    """

    prefix: str = Field(default="llama_index/", description="Session id prefix of this store's keys.")
    ttl: float | None = Field(
        default=None, description="Seconds a key lives after its last write (None: ever)."
    )

    def __init__(
        self,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        prefix: str = "llama_index/",
        ttl: float | None = None,
        **engine_options: Any,
    ) -> None:
        super().__init__(prefix=_check_prefix(prefix), ttl=check_session_ttl(ttl))  # type: ignore[call-arg]
        self._bind(engine, engine_options)

    @classmethod
    def class_name(cls) -> str:
        return "LixChatStore"

    def _sid(self, key: str) -> str:
        return self.prefix + _check_key(key)

    # -- sync ------------------------------------------------------------------------------------------------

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        self._sessions.set_messages(self._sid(key), _dump(messages), ttl=self.ttl)

    def get_messages(self, key: str, **kwargs: Any) -> list[ChatMessage]:
        return self._sessions.get_full_history(self._sid(key), codec=CHAT_MESSAGES, ttl=self.ttl)

    def add_message(self, key: str, message: ChatMessage) -> None:
        self._sessions.add_messages(self._sid(key), [message], codec=CHAT_MESSAGES, ttl=self.ttl)

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        sid = self._sid(key)
        messages = self._sessions.get_full_history(sid, ttl=self.ttl)
        self._sessions.delete_session(sid)
        return _load(messages) if messages else None

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        sid = self._sid(key)
        removed = self._sessions.delete_message(sid, idx, ttl=self.ttl)
        if removed is None:
            return None
        if self._sessions.count(sid) == 0:
            self._sessions.delete_session(sid)
        return ChatMessage.model_validate(removed)

    def delete_last_message(self, key: str) -> ChatMessage | None:
        return self.delete_message(key, -1)

    def get_keys(self) -> list[str]:
        return [sid[len(self.prefix) :] for sid in self._sessions.list_sessions(self.prefix)]

    # -- async -----------------------------------------------------------------------------------------------

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        await self._asessions.set_messages(self._sid(key), _dump(messages), ttl=self.ttl)

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        return await self._asessions.get_full_history(self._sid(key), codec=CHAT_MESSAGES, ttl=self.ttl)

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        await self._asessions.add_messages(self._sid(key), [message], codec=CHAT_MESSAGES, ttl=self.ttl)

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        sid = self._sid(key)
        messages = await self._asessions.get_full_history(sid, ttl=self.ttl)
        await self._asessions.delete_session(sid)
        return _load(messages) if messages else None

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        sid = self._sid(key)
        removed = await self._asessions.delete_message(sid, idx, ttl=self.ttl)
        if removed is None:
            return None
        if await self._asessions.count(sid) == 0:
            await self._asessions.delete_session(sid)
        return ChatMessage.model_validate(removed)

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        return await self.adelete_message(key, -1)

    async def aget_keys(self) -> list[str]:
        return [sid[len(self.prefix) :] for sid in await self._asessions.list_sessions(self.prefix)]

    def __bool__(self) -> bool:
        return True


class LixDBChatStore(_EngineStore, AsyncDBChatStore):
    """The store of LlamaIndex's ``Memory``: ``Memory.from_defaults(session_id="u1", chat_store=LixDBChatStore(url))``.

    Active and archived messages of a key are two sessions of the tier (``{prefix}active/{key}`` and
    ``{prefix}archived/{key}``); ``archive_oldest_messages`` appends to the archived one before removing from the
    active one, so a crash in between can duplicate a message but never lose it.
    """

    prefix: str = Field(default="llama_index.memory/", description="Session id prefix of this store's keys.")

    def __init__(
        self,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        prefix: str = "llama_index.memory/",
        **engine_options: Any,
    ) -> None:
        super().__init__(prefix=_check_prefix(prefix))  # type: ignore[call-arg]
        self._bind(engine, engine_options)

    @classmethod
    def class_name(cls) -> str:
        return "LixDBChatStore"

    def _sid(self, key: str, status: MessageStatus) -> str:
        return f"{self.prefix}{MessageStatus(status).value}/{_check_key(key)}"

    async def _history(self, key: str, status: MessageStatus | None) -> list[dict[str, Any]]:
        if status is None:  # archived messages are the older ones
            return [
                *await self._aengine.sessions.get_full_history(self._sid(key, MessageStatus.ARCHIVED)),
                *await self._aengine.sessions.get_full_history(self._sid(key, MessageStatus.ACTIVE)),
            ]
        return await self._aengine.sessions.get_full_history(self._sid(key, status))

    async def get_messages(
        self,
        key: str,
        status: MessageStatus | None = MessageStatus.ACTIVE,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[ChatMessage]:
        items = await self._history(key, status)
        start = offset or 0
        items = items[start:] if limit is None else items[start : start + limit]
        return _load(items)

    async def count_messages(self, key: str, status: MessageStatus | None = MessageStatus.ACTIVE) -> int:
        if status is None:
            return sum([await self._aengine.sessions.count(self._sid(key, s)) for s in MessageStatus])
        return await self._aengine.sessions.count(self._sid(key, status))

    async def add_message(
        self, key: str, message: ChatMessage, status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        await self._aengine.sessions.add_messages(self._sid(key, status), _dump([message]))

    async def add_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        await self._aengine.sessions.add_messages(self._sid(key, status), _dump(messages))

    async def set_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        await self._aengine.sessions.set_messages(self._sid(key, status), _dump(messages))

    async def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        removed = await self._aengine.sessions.delete_message(self._sid(key, MessageStatus.ACTIVE), idx)
        return None if removed is None else ChatMessage.model_validate(removed)

    async def delete_messages(self, key: str, status: MessageStatus | None = None) -> None:
        for s in MessageStatus if status is None else [MessageStatus(status)]:
            await self._aengine.sessions.delete_session(self._sid(key, s))

    async def _drop_oldest(self, sid: str, count: int) -> None:
        # One by one from the front (each delete is atomic in the tier), so a message appended meanwhile by
        # another writer is never caught in a read-modify-write and lost.
        for _ in range(count):
            await self._aengine.sessions.delete_message(sid, 0)

    async def delete_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        sid = self._sid(key, MessageStatus.ACTIVE)
        oldest = (await self._aengine.sessions.get_full_history(sid))[: max(n, 0)]
        await self._drop_oldest(sid, len(oldest))
        return _load(oldest)

    async def archive_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        sid = self._sid(key, MessageStatus.ACTIVE)
        oldest = (await self._aengine.sessions.get_full_history(sid))[: max(n, 0)]
        if oldest:
            await self._aengine.sessions.add_messages(self._sid(key, MessageStatus.ARCHIVED), oldest)
            await self._drop_oldest(sid, len(oldest))
        return _load(oldest)

    async def get_keys(self) -> list[str]:
        keys: set[str] = set()
        for s in MessageStatus:
            head = f"{self.prefix}{s.value}/"
            keys.update(sid[len(head) :] for sid in await self._aengine.sessions.list_sessions(head))
        return sorted(keys)
