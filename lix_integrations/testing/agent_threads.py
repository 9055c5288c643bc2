"""A deterministic ``create_agent`` for tests, the notebook and benchmarks/langgraph.py: a fake chat model that
calls one of two tools every other turn, with messages of about ``words`` words (300 tokens by default).

Imports LangChain (``langchain.agents``); nothing in the package imports this module.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from .agents import ReplyChatModel

__all__ = ["FakeToolModel", "build_agent", "text", "write_thread"]

_WORDS = (
    "the agent keeps a thread of messages and calls a tool when the user asks for facts about the order the "
    "invoice the weather the city the account the report a cache saves the answer memory stores state graph "
    "node checkpoint version value channel write retry"
).split()


def text(words: int, seed: int) -> str:
    """``words`` words drawn deterministically from a small vocabulary (about 1.3 tokens per word)."""
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) for _ in range(words))


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up by id."""
    return text(230, hash(order_id) & 0xFFFF)


@tool
def weather(city: str) -> str:
    """Today's weather in a city."""
    return text(230, hash(city) & 0xFFFF)


class FakeToolModel(ReplyChatModel):
    """Answers every human turn; on odd turns it first calls ``lookup_order`` or ``weather``."""

    words: int = 230

    @property
    def _llm_type(self) -> str:
        return "lix-fake-tool-model"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> FakeToolModel:  # type: ignore[override]
        return self

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        turn = sum(1 for m in messages if isinstance(m, HumanMessage))
        last = messages[-1]
        if isinstance(last, HumanMessage) and turn % 2 == 1:
            name = "lookup_order" if turn % 4 == 1 else "weather"
            args = {"order_id": f"A-{turn}"} if name == "lookup_order" else {"city": f"city {turn}"}
            return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{turn}"}])
        done = isinstance(last, ToolMessage)
        return AIMessage(text(self.words, turn * 2 + int(done)))


def build_agent(checkpointer: Any = None, **kwargs: Any) -> Any:
    from langchain.agents import create_agent

    return create_agent(FakeToolModel(), [lookup_order, weather], checkpointer=checkpointer, **kwargs)


def write_thread(
    saver: Any, thread_id: str, *, turns: int, namespaces: Sequence[str] = ("",), words: int = 230
) -> None:
    """Run ``turns`` turns of the fake agent on ``thread_id`` (a subgraph namespace per extra entry)."""
    agent = build_agent(saver)
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}
    for turn in range(turns):
        agent.invoke({"messages": [HumanMessage(text(words, 10_000 + turn))]}, config)
    for ns in namespaces:
        if ns:
            sub = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
            saver.put(
                {"configurable": {**sub["configurable"]}},
                {
                    "v": 4,
                    "id": f"1f0{len(ns):05d}-0000-6000-8000-000000000000",
                    "ts": "2026-12-04T00:00:00+00:00",
                    "channel_values": {"messages": [HumanMessage("sub", id="s1")]},
                    "channel_versions": {"messages": saver.get_next_version(None, None)},
                    "versions_seen": {},
                    "updated_channels": None,
                },
                {"source": "loop", "step": 0, "parents": {}},
                {"messages": saver.get_next_version(None, None)},
            )
