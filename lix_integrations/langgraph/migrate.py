"""``migrate_history_to_thread``: move a chat message history into a LangGraph checkpointer thread.

``BaseChatMessageHistory`` is deprecated in langchain-core (since 1.6.4, removal in 2.0); ``create_agent`` keeps
a conversation in a checkpointer thread instead. This copies a history's messages into a new thread as the
``messages`` channel of one checkpoint (``source="update"``, as ``graph.update_state`` would write; messages
without an id get one, as LangGraph's ``add_messages`` would give them), so the next
``agent.invoke(..., {"configurable": {"thread_id": ...}})`` continues the conversation. It only translates and
delegates to the saver: any ``BaseCheckpointSaver`` works, and the history is left as it was.
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, create_checkpoint, empty_checkpoint

from ..errors import InvalidInputError

__all__ = ["amigrate_history_to_thread", "migrate_history_to_thread"]


def _plan(
    messages: list[BaseMessage], saver: BaseCheckpointSaver[Any], thread_id: str, channel: str
) -> tuple[RunnableConfig, Any, dict[str, Any], dict[str, Any]]:
    if not isinstance(thread_id, str) or not thread_id:
        raise InvalidInputError(f"thread_id must be a non-empty string, got {thread_id!r}")
    if not all(isinstance(m, BaseMessage) for m in messages):
        raise InvalidInputError("the history holds something that is not a LangChain message")
    version = saver.get_next_version(None, None)
    checkpoint = create_checkpoint(empty_checkpoint(), None, 0)
    # LangGraph's add_messages gives id-less messages an id on the next step; giving it here stores what it uses.
    with_ids = [m if m.id else m.model_copy(update={"id": str(uuid.uuid4())}) for m in messages]
    checkpoint["channel_values"] = {channel: with_ids}
    checkpoint["channel_versions"] = {channel: version}
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    metadata = {"source": "update", "step": 0, "parents": {}, "migrated_from": "chat_message_history"}
    return config, checkpoint, metadata, {channel: version}


def _refuse_existing(thread_id: str) -> None:
    raise InvalidInputError(
        f"thread {thread_id[:80]!r} already has checkpoints: migrate into a new thread id (nothing was written)"
    )


def migrate_history_to_thread(
    history: BaseChatMessageHistory,
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    *,
    channel: str = "messages",
) -> RunnableConfig:
    """Copy ``history``'s messages into a new thread of ``saver``; returns the checkpoint's config.

    A thread that already has checkpoints is refused (``InvalidInputError``), so nothing stored is overwritten.
    ``channel`` is the state key holding the messages (``create_agent`` and ``MessagesState`` use ``messages``).
    """
    if not isinstance(history, BaseChatMessageHistory):
        raise InvalidInputError(f"history must be a BaseChatMessageHistory, got {type(history).__name__}")
    config, checkpoint, metadata, versions = _plan(list(history.messages), saver, thread_id, channel)
    if saver.get_tuple(config) is not None:
        _refuse_existing(thread_id)
    return saver.put(config, checkpoint, metadata, versions)  # type: ignore[arg-type]


async def amigrate_history_to_thread(
    history: BaseChatMessageHistory,
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    *,
    channel: str = "messages",
) -> RunnableConfig:
    """The awaitable `migrate_history_to_thread` (reads the history with ``aget_messages``)."""
    if not isinstance(history, BaseChatMessageHistory):
        raise InvalidInputError(f"history must be a BaseChatMessageHistory, got {type(history).__name__}")
    config, checkpoint, metadata, versions = _plan(await history.aget_messages(), saver, thread_id, channel)
    if await saver.aget_tuple(config) is not None:
        _refuse_existing(thread_id)
    return await saver.aput(config, checkpoint, metadata, versions)  # type: ignore[arg-type]
