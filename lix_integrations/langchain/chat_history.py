"""``LixChatMessageHistory``: LangChain's ``BaseChatMessageHistory`` over the lix engine's session tier.

The adapter only translates: messages become ``message_to_dict`` dicts (every field: content strings or blocks,
name, id, tool calls, invalid tool calls, tool_call_id, status, artifact, additional_kwargs, response_metadata,
usage_metadata) and come back through ``messages_from_dict``; windows, archives and locking belong to the engine.
``add_messages`` is one store round trip for the batch, and the async methods await the engine's async path
instead of LangChain's default of running the sync method in a thread pool.

Session ids: LlamaIndex chat stores keep their sessions under ids that start with ``llama_index`` (their prefixes
must), so a LangChain id that starts so (or with the escape ``langchain:``) is stored as ``langchain:<id>``:
``LixChatMessageHistory("llama_index/k")`` and ``LixChatStore`` key ``k`` are two sessions, and every other id
is stored as given, as before. Reading translates what other writers stored too (``.huff`` imports and plain
``{"role", "content"}`` dicts, LlamaIndex ``ChatMessage`` dumps); anything else is a ``SerializationError``
naming the session and the message, never a bare ``KeyError``.

LangChain deprecates ``BaseChatMessageHistory`` (since langchain-core 1.6.4, for LangGraph persistence); it still
backs ``RunnableWithMessageHistory``, which this class works with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)

from ..engine.adapter import EngineBacked
from ..engine.engine import AsyncEngine, Engine
from ..engine.public import SmartContext, check_session_ttl, validate_session_id
from ..engine.resolve import resolve_engines
from ..errors import SerializationError

__all__ = ["LixChatMessageHistory"]

#: Ids of other adapters' sessions start with this (LixChatStore / LixDBChatStore prefixes must).
_OTHER_ADAPTERS = "llama_index"
_ESCAPE = "langchain:"
_ROLES: dict[str, type[BaseMessage]] = {
    "user": HumanMessage,
    "human": HumanMessage,
    "assistant": AIMessage,
    "ai": AIMessage,
    "model": AIMessage,
    "system": SystemMessage,
    "developer": SystemMessage,
}


def _tier_id(session_id: str) -> str:
    """The session tier's id of a LangChain session (one-to-one, and never another adapter's id)."""
    session_id = validate_session_id(session_id)
    if session_id.startswith((_OTHER_ADAPTERS, _ESCAPE)):
        return validate_session_id(_ESCAPE + session_id)
    return session_id


def _content(item: Mapping[str, Any], extra: dict[str, Any]) -> Any:
    """LangChain content of a stored dict: its ``content``, or the text of LlamaIndex ``blocks`` (other blocks
    are kept in ``additional_kwargs["blocks"]``)."""
    content = item.get("content")
    if content is not None or not isinstance(item.get("blocks"), list):
        return "" if content is None else content
    texts, others = [], []
    for block in item["blocks"]:
        if (
            isinstance(block, Mapping)
            and block.get("block_type") == "text"
            and isinstance(block.get("text"), str)
        ):
            texts.append(block["text"])
        else:
            others.append(block)
    if others:
        extra["blocks"] = others
    return "\n".join(texts)


def _from_stored(item: Any, session_id: str, index: int) -> BaseMessage:
    """One stored message as a LangChain message, whoever wrote it."""
    if isinstance(item, Mapping) and "type" in item and "data" in item:
        try:
            return messages_from_dict([dict(item)])[0]
        except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise SerializationError(
                f"session {session_id!r}: message {index} is not a valid LangChain message: {exc}"
            ) from exc
    role = item.get("role") if isinstance(item, Mapping) else None
    if not isinstance(role, str):
        shape = sorted(item) if isinstance(item, Mapping) else type(item).__name__
        raise SerializationError(
            f"session {session_id!r}: message {index} has neither LangChain's 'type' and 'data' nor a 'role' "
            f"(found {shape})"
        )
    extra = dict(item.get("additional_kwargs") or {})
    content = _content(item, extra)
    kwargs: dict[str, Any] = {"content": content, "additional_kwargs": extra}
    for field in ("name", "id"):
        if isinstance(item.get(field), str):
            kwargs[field] = item[field]
    try:
        cls = _ROLES.get(role.lower())
        if cls is not None:
            return cls(**kwargs)
        tool_call_id = item.get("tool_call_id") or extra.get("tool_call_id")
        if role.lower() == "tool" and isinstance(tool_call_id, str):
            return ToolMessage(tool_call_id=tool_call_id, **kwargs)
        return ChatMessage(role=role, **kwargs)
    except ValueError as exc:
        raise SerializationError(
            f"session {session_id!r}: message {index} (role {role!r}) cannot be a LangChain message: {exc}"
        ) from exc


def _from_dicts(items: Sequence[Any], session_id: str) -> list[BaseMessage]:
    return [_from_stored(item, session_id, i) for i, item in enumerate(items)]


def _to_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    if isinstance(messages, BaseMessage) or not all(isinstance(m, BaseMessage) for m in messages):
        raise TypeError("messages must be a sequence of LangChain BaseMessage objects")
    return [message_to_dict(m) for m in messages]


class LixChatMessageHistory(EngineBacked, BaseChatMessageHistory):
    """The chat history of one session, e.g. ``RunnableWithMessageHistory(chain, lambda sid:
    LixChatMessageHistory(sid, engine=engine))``.

    ``engine`` is an `Engine` / `AsyncEngine` to share, a backend
    URL, or ``None`` for the embedded default store; ``engine_options`` (``sessions=SessionConfig(...)``,
    ``clock=`` ...) configure an engine built from a URL. ``messages`` is the whole history, archive included;
    `get_context` gives only the recent window; ``len(history)`` counts the whole history. ``ttl``
    (seconds): the session is forgotten once it went that long without a write, each write refreshing it (as
    langchain-redis's ``ttl``; see `session_ttl`).
    """

    def __init__(
        self,
        session_id: str,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        ttl: float | None = None,
        **engine_options: Any,
    ) -> None:
        super().__init__()
        self.session_id = validate_session_id(session_id)
        self.ttl = check_session_ttl(ttl)
        self._sid = _tier_id(session_id)
        self._engine, self._aengine = resolve_engines(engine, engine_options)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        return _from_dicts(self._engine.sessions.get_full_history(self._sid, ttl=self.ttl), self.session_id)

    @messages.setter
    def messages(self, value: Sequence[BaseMessage]) -> None:
        self._engine.sessions.set_messages(self._sid, _to_dicts(value), ttl=self.ttl)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        self._engine.sessions.add_messages(self._sid, _to_dicts(messages), ttl=self.ttl)

    def __len__(self) -> int:
        """How many messages the session holds, archive included."""
        return self._engine.sessions.count(self._sid, ttl=self.ttl)

    def clear(self) -> None:
        self._engine.sessions.delete_session(self._sid)

    async def aget_messages(self) -> list[BaseMessage]:
        return _from_dicts(
            await self._aengine.sessions.get_full_history(self._sid, ttl=self.ttl), self.session_id
        )

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await self._aengine.sessions.add_messages(self._sid, _to_dicts(messages), ttl=self.ttl)

    async def aclear(self) -> None:
        await self._aengine.sessions.delete_session(self._sid)

    # -- lix extras ------------------------------------------------------------------------------------------

    def get_context(self, n: int | None = None) -> list[BaseMessage]:
        """The last ``n`` messages (default: the engine's hot window), without reading the archive."""
        return _from_dicts(self._engine.sessions.get_context(self._sid, n, ttl=self.ttl), self.session_id)

    def smart_context(self, query: str, *, k_recent: int = 10, k_relevant: int = 5) -> list[BaseMessage]:
        """The most relevant older messages (by embedding similarity) followed by the ``k_recent`` last ones."""
        ctx: SmartContext = self._engine.sessions.smart_context(
            self._sid, query, k_recent=k_recent, k_relevant=k_relevant
        )
        return _from_dicts(ctx.messages(), self.session_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(session_id={self.session_id!r}, engine={self._engine!r})"
