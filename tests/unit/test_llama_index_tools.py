"""LixCachedTool for LlamaIndex: metadata kept, call/acall cached, errors not cached, and a FunctionAgent run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool, ToolOutput

from lix_integrations import Engine
from lix_integrations.llama_index import LixCachedTool
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.tools import ToolsConfig


@pytest.fixture
def engine() -> Iterator[Engine]:
    e = Engine(
        f"memory://li-tools-{uuid.uuid4().hex}",
        embedder=FakeEmbedder(),
        tools=ToolsConfig(tools=["search", "broken", "objects"]),
    )
    yield e
    e.close()


def make_search(calls: list[str]) -> FunctionTool:
    def search(query: str, limit: int = 3) -> str:
        """Search the web."""
        calls.append(query)
        return f"{limit} results for {query}"

    return FunctionTool.from_defaults(search)


def test_metadata_is_the_wrapped_tools(engine: Engine) -> None:
    inner = make_search([])
    wrapped = LixCachedTool(inner, engine)
    assert wrapped.metadata is inner.metadata
    assert wrapped.metadata.get_parameters_dict() == inner.metadata.get_parameters_dict()


async def test_call_and_acall_share_entries(engine: Engine) -> None:
    calls: list[str] = []
    wrapped = LixCachedTool(make_search(calls), engine)
    first = wrapped.call(query="x")
    assert (
        isinstance(first, ToolOutput)
        and first.content == "3 results for x"
        and first.raw_output == first.content
    )
    again = await wrapped.acall(query="x")
    assert again.content == first.content and again.tool_name == "search" and not again.is_error
    assert wrapped(query="x").content == first.content
    assert calls == ["x"]


def test_error_outputs_are_not_cached(engine: Engine) -> None:
    attempts: list[int] = []

    def broken(n: int) -> int:
        """Fails once."""
        attempts.append(n)
        if len(attempts) == 1:
            raise RuntimeError("down")
        return n

    wrapped = LixCachedTool(FunctionTool.from_defaults(broken), engine)
    with pytest.raises(RuntimeError):
        wrapped.call(n=1)
    assert wrapped.call(n=1).raw_output == 1
    assert wrapped.call(n=1).raw_output == 1
    assert attempts == [1, 1]


def test_raw_output_json_cannot_hold_is_not_cached(engine: Engine) -> None:
    calls = []

    def objects(n: int) -> object:
        """Returns an object."""
        calls.append(n)
        return object()

    wrapped = LixCachedTool(FunctionTool.from_defaults(objects), engine)
    wrapped.call(n=1)
    wrapped.call(n=1)
    assert calls == [1, 1]


async def test_function_agent_runs_a_repeated_tool_call_once(engine: Engine) -> None:
    calls: list[str] = []
    wrapped = LixCachedTool(make_search(calls), engine)

    def script(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        """Ask for the same search twice, then answer with what the tools returned."""
        asked = sum(
            1
            for m in messages
            if m.role == MessageRole.ASSISTANT
            and m.blocks
            and any(isinstance(b, ToolCallBlock) for b in m.blocks)
        )
        if asked < 2:
            call = ToolCallBlock(
                tool_call_id=f"call-{asked}", tool_name="search", tool_kwargs={"query": "lix"}
            )
            return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])
        results = [m.content for m in messages if m.role == MessageRole.TOOL]
        return ChatMessage(role=MessageRole.ASSISTANT, content=" | ".join(str(r) for r in results))

    llm = MockFunctionCallingLLM(response_generator=script, is_chat_model=True)
    agent = FunctionAgent(tools=[wrapped], llm=llm)
    response = await agent.run(user_msg="find lix twice")
    assert str(response) == "3 results for lix | 3 results for lix"
    assert calls == ["lix"]  # two tool calls, one execution
    stats = engine.stats().tools
    assert stats is not None and stats.tools["search"].hits == 1
