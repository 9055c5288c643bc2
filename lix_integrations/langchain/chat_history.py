"""``LixChatMessageHistory``: LangChain's ``BaseChatMessageHistory`` over the lix engine's session tier.

The adapter only translates: messages become ``message_to_dict`` dicts (every field: content strings or blocks,
name, id, tool calls, invalid tool calls, tool_call_id, status, artifact, additional_kwargs, response_metadata,
usage_metadata) and come back through ``messages_from_dict``; windows, archives and locking belong to the engine.
``add_messages`` is one store round trip for the batch, and the async methods await the engine's async path
instead of LangChain's default of running the sync method in a thread pool.

LangChain deprecates ``BaseChatMessageHistory`` (since langchain-core 1.6.4, for LangGraph persistence); it still
backs ``RunnableWithMessageHistory``, which this class works with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from ..engine.engine import AsyncEngine, Engine
from ..engine.resolve import resolve_engines
from ..tiers.sessions import SmartContext, validate_session_id

__all__ = ["LixChatMessageHistory"]


def _to_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    if isinstance(messages, BaseMessage) or not all(isinstance(m, BaseMessage) for m in messages):
        raise TypeError("messages must be a sequence of LangChain BaseMessage objects")
    return [message_to_dict(m) for m in messages]


class LixChatMessageHistory(BaseChatMessageHistory):
    """The chat history of one session, e.g. ``RunnableWithMessageHistory(chain, lambda sid:
    LixChatMessageHistory(sid, engine=engine))``.

    ``engine`` is an :class:`~lix_integrations.Engine` / :class:`~lix_integrations.AsyncEngine` to share, a backend
    URL, or ``None`` for the embedded default store; ``engine_options`` (``sessions=SessionConfig(...)``,
    ``clock=`` ...) configure an engine built from a URL. ``messages`` is the whole history, archive included;
    :meth:`get_context` gives only the recent window.
    """

    def __init__(
        self, session_id: str, engine: Engine | AsyncEngine | str | None = None, **engine_options: Any
    ) -> None:
        super().__init__()
        self.session_id = validate_session_id(session_id)
        self._engine, self._aengine = resolve_engines(engine, engine_options)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        return messages_from_dict(self._engine.sessions.get_full_history(self.session_id))

    @messages.setter
    def messages(self, value: Sequence[BaseMessage]) -> None:
        self._engine.sessions.set_messages(self.session_id, _to_dicts(value))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        self._engine.sessions.add_messages(self.session_id, _to_dicts(messages))

    def clear(self) -> None:
        self._engine.sessions.delete_session(self.session_id)

    async def aget_messages(self) -> list[BaseMessage]:
        return messages_from_dict(await self._aengine.sessions.get_full_history(self.session_id))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await self._aengine.sessions.add_messages(self.session_id, _to_dicts(messages))

    async def aclear(self) -> None:
        await self._aengine.sessions.delete_session(self.session_id)

    # -- lix extras ------------------------------------------------------------------------------------------

    def get_context(self, n: int | None = None) -> list[BaseMessage]:
        """The last ``n`` messages (default: the engine's hot window), without reading the archive."""
        return messages_from_dict(self._engine.sessions.get_context(self.session_id, n))

    def smart_context(self, query: str, *, k_recent: int = 10, k_relevant: int = 5) -> list[BaseMessage]:
        """The most relevant older messages (by embedding similarity) followed by the ``k_recent`` last ones."""
        ctx: SmartContext = self._engine.sessions.smart_context(
            self.session_id, query, k_recent=k_recent, k_relevant=k_relevant
        )
        return messages_from_dict(ctx.messages())

    @property
    def engine(self) -> Engine:
        return self._engine

    def __repr__(self) -> str:
        return f"{type(self).__name__}(session_id={self.session_id!r}, engine={self._engine!r})"
