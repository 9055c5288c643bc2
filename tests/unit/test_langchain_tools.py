"""LixCachedTool for LangChain: same schema, sync and async, errors not cached, and an agent loop."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, StructuredTool, ToolException, tool
from pydantic import BaseModel

from lix_integrations import Engine
from lix_integrations.langchain import LixCachedTool, cache_tools
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.tools import InvalidationRule, ToolPolicy, ToolsConfig

CONFIG = ToolsConfig(
    tools=["search", "lookup", "weather", "flaky", "with_id", "filter_items", "art"],
    invalidations=(InvalidationRule(writer="save_note", clears=("lookup",), match=("key",)),),
)


class Filter(BaseModel):
    tags: list[str]
    min_score: float = 0.0


@pytest.fixture
def engine() -> Iterator[Engine]:
    e = Engine(f"memory://lc-tools-{uuid.uuid4().hex}", embedder=FakeEmbedder(), tools=CONFIG)
    yield e
    e.close()


def make_search(calls: list[str]) -> BaseTool:
    @tool
    def search(query: str, limit: int = 3) -> str:
        """Search the web for a query."""
        calls.append(query)
        return f"{limit} results for {query}"

    return search


def test_wrapper_keeps_name_description_and_schema(engine: Engine) -> None:
    inner = make_search([])
    wrapped = LixCachedTool(inner, engine)
    assert wrapped.name == inner.name and wrapped.description == inner.description
    assert wrapped.args == inner.args
    assert wrapped.tool_call_schema.model_json_schema() == inner.tool_call_schema.model_json_schema()  # type: ignore[union-attr]


async def test_sync_and_async_share_entries(engine: Engine) -> None:
    calls: list[str] = []
    wrapped = LixCachedTool(make_search(calls), engine)
    assert wrapped.invoke({"query": "x"}) == "3 results for x"
    assert await wrapped.ainvoke({"query": "x"}) == "3 results for x"
    assert await wrapped.ainvoke({"query": "y", "limit": 3}) == "3 results for y"
    assert wrapped.invoke({"query": "y"}) == "3 results for y"
    assert calls == ["x", "y"]


def test_structured_tool_with_async_coroutine(engine: Engine) -> None:
    calls = []

    def weather(city: str) -> dict[str, Any]:
        calls.append(("sync", city))
        return {"city": city, "temp": 20.5}

    async def aweather(city: str) -> dict[str, Any]:
        calls.append(("async", city))
        return {"city": city, "temp": 20.5}

    inner = StructuredTool.from_function(
        func=weather, coroutine=aweather, name="weather", description="Weather."
    )
    wrapped = LixCachedTool(inner, engine)
    import asyncio

    assert asyncio.run(wrapped.ainvoke({"city": "Oslo"})) == {"city": "Oslo", "temp": 20.5}
    assert wrapped.invoke({"city": "Oslo"}) == {"city": "Oslo", "temp": 20.5}
    assert calls == [("async", "Oslo")]


def test_tool_errors_are_not_cached(engine: Engine) -> None:
    attempts = []

    @tool
    def flaky(q: str) -> str:
        """Fails the first time."""
        attempts.append(q)
        if len(attempts) == 1:
            raise ToolException("temporarily down")
        return "up"

    flaky.handle_tool_error = True
    wrapped = LixCachedTool(flaky, engine)
    assert wrapped.invoke({"q": "a"}) == "temporarily down"  # handled the way the original tool would
    assert wrapped.invoke({"q": "a"}) == "up"
    assert wrapped.invoke({"q": "a"}) == "up"
    assert attempts == ["a", "a"]


def test_injected_tool_call_id_is_not_in_the_key(engine: Engine) -> None:
    calls = []

    @tool
    def with_id(q: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
        """Knows its call id."""
        calls.append(tool_call_id)
        return q

    wrapped = LixCachedTool(with_id, engine)
    for call_id in ("c1", "c2"):
        msg = wrapped.invoke({"name": "with_id", "args": {"q": "z"}, "id": call_id, "type": "tool_call"})
        assert isinstance(msg, ToolMessage) and msg.tool_call_id == call_id and msg.content == "z"
    assert calls == ["c1"]


def test_nested_pydantic_arguments(engine: Engine) -> None:
    calls = []

    @tool
    def filter_items(flt: Filter) -> list[str]:
        """Filter items."""
        calls.append(flt)
        return sorted(flt.tags)

    wrapped = LixCachedTool(filter_items, engine)
    assert wrapped.invoke({"flt": {"tags": ["b", "a"], "min_score": 1}}) == ["a", "b"]
    assert wrapped.invoke({"flt": {"min_score": 1.0, "tags": ["b", "a"]}}) == ["a", "b"]
    assert len(calls) == 1


def test_content_and_artifact(engine: Engine) -> None:
    calls = []

    @tool(response_format="content_and_artifact")
    def art(q: str) -> tuple[str, dict[str, Any]]:
        """Returns content and an artifact."""
        calls.append(q)
        return f"content {q}", {"raw": [q]}

    wrapped = LixCachedTool(art, engine)
    for call_id in ("1", "2"):
        msg = wrapped.invoke({"name": "art", "args": {"q": "k"}, "id": call_id, "type": "tool_call"})
        assert msg.content == "content k" and msg.artifact == {"raw": ["k"]}
    assert calls == ["k"]


def test_policy_override_and_url_engine(tmp_path: Any) -> None:
    calls: list[str] = []
    wrapped = LixCachedTool(
        make_search(calls),
        url=f"sqlite:///{tmp_path / 't.db'}",
        policy=ToolPolicy(ttl=60),
        embedder=FakeEmbedder(),
    )
    wrapped.invoke({"query": "q"})
    wrapped.invoke({"query": "q"})
    assert calls == ["q"]
    assert wrapped.invalidate(query="q") == 1


def _agent_loop(model: GenericFakeChatModel, tools: list[BaseTool], question: str) -> list[BaseMessage]:
    """A minimal tool-calling agent: call the model, run the tool calls it asks for, repeat until it answers."""
    by_name = {t.name: t for t in tools}
    history: list[BaseMessage] = [HumanMessage(question)]
    for _ in range(10):
        reply = model.invoke(history)
        history.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            return history
        for call in reply.tool_calls:
            history.append(by_name[call["name"]].invoke(call))
    raise AssertionError("the agent did not finish")


def test_agent_loop_runs_a_repeated_tool_call_once(engine: Engine) -> None:
    calls: list[str] = []
    notes: dict[str, str] = {"k": "v1"}

    @tool
    def lookup(key: str) -> str:
        """Look a note up."""
        calls.append(key)
        return notes[key]

    @tool
    def save_note(key: str, text: str) -> str:
        """Save a note."""
        notes[key] = text
        return "saved"

    def ask(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
        return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])

    model = GenericFakeChatModel(
        messages=iter(
            [
                ask("lookup", {"key": "k"}, "1"),
                ask("lookup", {"key": "k"}, "2"),
                AIMessage("The note says v1."),
                ask("save_note", {"key": "k", "text": "v2"}, "3"),
                ask("lookup", {"key": "k"}, "4"),
                AIMessage("Now it says v2."),
            ]
        )
    )
    tools = cache_tools([lookup, save_note], engine)
    history = _agent_loop(model, tools, "What does note k say?")
    tool_messages = [m for m in history if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_messages] == ["v1", "v1"]
    assert [m.tool_call_id for m in tool_messages] == ["1", "2"]
    assert calls == ["k"]  # two tool calls, one execution
    history = _agent_loop(model, tools, "Update it.")
    assert [m.content for m in history if isinstance(m, ToolMessage)] == ["saved", "v2"]
    assert calls == ["k", "k"]  # the write invalidated the read
    stats = engine.stats().tools
    assert stats is not None and stats.tools["lookup"].hits == 1


# -- issue 15, trap 11: cache_tools alone caches nothing; the README example names the policy ---------------------


def test_a_wrapped_tool_without_a_policy_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    config = ToolsConfig(
        tools={"lookup": ToolPolicy(), "off": ToolPolicy(enabled=False)},
        rules=(("fetch_*", ToolPolicy()),),
        invalidations=(InvalidationRule(writer="save_note", clears=("lookup",)),),
    )

    def named(name: str) -> BaseTool:
        return StructuredTool.from_function(lambda query: query, name=name, description=f"{name} tool")

    with Engine(f"memory://lc-warn-{uuid.uuid4().hex}", embedder=FakeEmbedder(), tools=config) as engine:
        with caplog.at_level("WARNING", logger="lix_integrations"):
            wrapped = cache_tools(
                [make_search(calls), named("lookup"), named("off"), named("fetch_page")], engine
            )
            cache_tools(
                [make_search(calls), named("save_note")], engine
            )  # the same tool again: no second warning
            LixCachedTool(named("search"), engine, policy=ToolPolicy())  # an explicit policy: nothing to say
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1, warnings
        assert "'search'" in warnings[0] and "no ToolPolicy" in warnings[0] and "policies=" in warnings[0]
        wrapped[0].invoke({"query": "q"})
        wrapped[0].invoke({"query": "q"})
        assert calls == ["q", "q"]  # what the warning says: it ran every time


def test_the_readme_cache_tools_example_caches() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "cache_tools(" in b]
    assert len(blocks) == 1
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    stats = namespace["tools"][0].stats().tools.tools["get_weather"]
    assert (stats.misses, stats.hits) == (1, 1)  # the second call came from the cache
