"""migrate_history_to_thread: a chat message history becomes a checkpointer thread that create_agent continues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from lix_integrations import Engine
from lix_integrations.langchain import LixChatMessageHistory
from lix_integrations.langgraph import (
    LixCheckpointSaver,
    amigrate_history_to_thread,
    migrate_history_to_thread,
)
from lix_integrations.testing.agent_threads import build_agent

OLD = [
    SystemMessage("be brief"),
    HumanMessage("where is order A-1?", id="h1"),
    AIMessage("", id="a1", tool_calls=[{"name": "lookup_order", "args": {"order_id": "A-1"}, "id": "c1"}]),
    ToolMessage("shipped", tool_call_id="c1", id="t1"),
    AIMessage("It shipped.", id="a2"),
]


def _same(messages: list[Any], expected: list[Any]) -> bool:
    """Equal messages, but for the ids the migration gives messages that had none."""
    return len(messages) == len(expected) and all(
        m.id and m.model_copy(update={"id": e.id}) == e for m, e in zip(messages, expected)
    )


def _config(thread_id: str) -> dict[str, dict[str, str]]:
    return {"configurable": {"thread_id": thread_id}}


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_lix_history_continues_as_an_agent_thread(kind: str, tmp_path: Path) -> None:
    engine = Engine("memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'm.db'}")
    history = LixChatMessageHistory("session-42", engine=engine)
    history.add_messages(OLD)
    saver = LixCheckpointSaver(engine)
    migrate_history_to_thread(history, saver, "session-42")

    agent = build_agent(saver)
    assert _same(agent.get_state(_config("session-42")).values["messages"], OLD)
    result = agent.invoke({"messages": [HumanMessage("and order A-2?")]}, _config("session-42"))
    messages = result["messages"]
    assert _same(messages[: len(OLD)], OLD)
    assert messages[: len(OLD)] == agent.get_state(_config("session-42")).values["messages"][: len(OLD)]
    assert isinstance(messages[len(OLD)], HumanMessage) and messages[len(OLD)].content == "and order A-2?"
    assert isinstance(messages[-1], AIMessage) and messages[-1].content
    assert [m.content for m in history.messages] == [m.content for m in OLD]  # the history is left as it was
    engine.close()


def test_any_history_into_any_saver_and_an_existing_thread_is_refused() -> None:
    history = InMemoryChatMessageHistory(messages=list(OLD))
    saver = InMemorySaver()
    migrate_history_to_thread(history, saver, "t")
    assert _same(build_agent(saver).get_state(_config("t")).values["messages"], OLD)
    with pytest.raises(ValueError, match="already has checkpoints"):
        migrate_history_to_thread(InMemoryChatMessageHistory(messages=[HumanMessage("x")]), saver, "t")
    assert _same(build_agent(saver).get_state(_config("t")).values["messages"], OLD)
    with pytest.raises(ValueError, match="BaseChatMessageHistory"):
        migrate_history_to_thread(list(OLD), saver, "u")  # type: ignore[arg-type]


async def test_the_async_migration_reads_the_history_with_aget_messages() -> None:
    saver = LixCheckpointSaver(url="memory://")
    await amigrate_history_to_thread(InMemoryChatMessageHistory(messages=list(OLD)), saver, "async")
    agent = build_agent(saver)
    result = await agent.ainvoke({"messages": [HumanMessage("next")]}, _config("async"))
    assert _same(result["messages"][: len(OLD)], OLD)
    saver.close()
