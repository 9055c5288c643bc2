"""LixCacheMiddleware and LixToolCacheMiddleware in real ``create_agent`` graphs, run sync and async, with a
scripted tool-calling chat model: a repeated run makes no model or tool call; anything in the key that changes
(system prompt, tools, earlier turn, model setting, scope) misses; tool-call ids stay paired; scopes stay apart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, ToolException, tool
from langgraph.prebuilt import ToolRuntime

from lix_integrations import Engine
from lix_integrations.langchain import LixCacheMiddleware, LixToolCacheMiddleware
from lix_integrations.testing.agents import ScriptedChatModel, last_user_text
from lix_integrations.testing.fakes import FakeEmbedder

QUESTION = "What is the capital of France?"


def _respond(messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> AIMessage:
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return AIMessage(f"final: {last.content}")
    country = last_user_text(messages).rstrip("?").split()[-1]
    call = {
        "name": tools[0]["function"]["name"],
        "args": {"country": country},
        "id": "call_1",
        "type": "tool_call",
    }
    return AIMessage("", tool_calls=[call])


class Counted:
    def __init__(self) -> None:
        self.calls: list[str] = []
        lock = threading.Lock()

        @tool
        def capital(country: str, runtime: ToolRuntime) -> str:
            """The capital city of a country (as seen by the caller in runtime.context)."""
            with lock:
                self.calls.append(country)
            who = (runtime.context or {}).get("scope", "anyone")
            return f"{ {'France': 'Paris', 'Japan': 'Tokyo'}.get(country, '?') } for {who}"

        capital.metadata = {"read_only": True}
        self.tool: BaseTool = capital


def _agent(
    engine: Engine, model: ScriptedChatModel, tools: list[BaseTool], system: str = "You are a geographer."
):
    middleware = [LixCacheMiddleware(engine, cache_tool_calls=True), LixToolCacheMiddleware(engine)]
    return create_agent(model, tools, system_prompt=system, middleware=middleware, context_schema=dict)


def _run(agent: Any, mode: str, messages: list[BaseMessage], scope: str = "u1") -> list[BaseMessage]:
    payload = {"messages": messages}
    if mode == "sync":
        return agent.invoke(payload, context={"scope": scope})["messages"]
    return asyncio.run(agent.ainvoke(payload, context={"scope": scope}))["messages"]


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'agents.db'}"
    return Engine(url, embedder=FakeEmbedder())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_second_identical_run_makes_no_model_or_tool_call(engine: Engine, mode: str) -> None:
    model, counted = ScriptedChatModel(respond=_respond), Counted()
    agent = _agent(engine, model, [counted.tool])
    first = _run(agent, mode, [HumanMessage(QUESTION)])
    assert model.calls == 2 and counted.calls == ["France"]
    second = _run(agent, mode, [HumanMessage(QUESTION)])
    assert model.calls == 2 and counted.calls == ["France"]
    assert second[-1].text == first[-1].text == "final: Paris for u1"
    assert second[-1].response_metadata["lix_cache"]["hit"] == "exact"
    # Tool-call ids stay paired: the replayed call has a fresh id, and the cached ToolMessage answers that id.
    ai, answer = second[1], second[2]
    assert isinstance(ai, AIMessage) and isinstance(answer, ToolMessage)
    assert answer.tool_call_id == ai.tool_calls[0]["id"] != first[1].tool_calls[0]["id"]
    assert ai.id != first[1].id


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_changed_context_misses(engine: Engine, mode: str) -> None:
    counted = Counted()
    model = ScriptedChatModel(respond=_respond)
    _run(_agent(engine, model, [counted.tool]), mode, [HumanMessage(QUESTION)])
    base = model.calls

    _run(_agent(engine, model, [counted.tool], system="You are a pirate."), mode, [HumanMessage(QUESTION)])
    assert model.calls == base + 2, "a changed system prompt must miss"

    @tool
    def weather(country: str) -> str:
        """Weather of a country."""
        return "sunny"

    _run(_agent(engine, model, [counted.tool, weather]), mode, [HumanMessage(QUESTION)])
    assert model.calls == base + 4, "a changed tool list must miss"

    earlier = [HumanMessage("Hi"), AIMessage("Hello!"), HumanMessage(QUESTION)]
    _run(_agent(engine, model, [counted.tool]), mode, earlier)
    assert model.calls == base + 6, "a changed earlier turn must miss"

    warm = ScriptedChatModel(respond=_respond, temperature=0.5)
    _run(_agent(engine, warm, [counted.tool]), mode, [HumanMessage(QUESTION)])
    assert warm.calls == 2, "a changed model setting must miss"

    _run(_agent(engine, model, [counted.tool]), mode, [HumanMessage(QUESTION)], scope="u2")
    assert model.calls == base + 8, "another scope must miss"


def test_answers_that_call_tools_are_not_cached_by_default(engine: Engine) -> None:
    model, counted = ScriptedChatModel(respond=_respond), Counted()
    agent = create_agent(model, [counted.tool], middleware=[LixCacheMiddleware(engine)], context_schema=dict)
    _run(agent, "sync", [HumanMessage(QUESTION)])
    _run(agent, "sync", [HumanMessage(QUESTION)])
    assert model.calls == 3  # the tool-calling step runs again; the final answer is served


def test_concurrent_scopes_never_see_each_others_results(engine: Engine) -> None:
    model, counted = ScriptedChatModel(respond=_respond, delay=0.05), Counted()
    agent = _agent(engine, model, [counted.tool])
    results: dict[str, str] = {}

    def user(name: str) -> None:
        for _ in range(2):
            results[name] = _run(agent, "sync", [HumanMessage(QUESTION)], scope=name)[-1].text

    threads = [threading.Thread(target=user, args=(f"user{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {f"user{i}": f"final: Paris for user{i}" for i in range(8)}
    assert len(counted.calls) == 8  # once per scope; each second run was served from its own scope


def test_destructive_tools_and_errors_are_never_cached(engine: Engine) -> None:
    runs: list[str] = []

    @tool
    def capital(country: str) -> str:
        """Deletes and returns the capital (destructive)."""
        runs.append(country)
        return "Paris"

    capital.metadata = {"read_only": True, "destructiveHint": True}
    model = ScriptedChatModel(respond=_respond)
    agent = create_agent(model, [capital], middleware=[LixToolCacheMiddleware(engine)])
    _run(agent, "sync", [HumanMessage(QUESTION)])
    _run(agent, "sync", [HumanMessage(QUESTION)])
    assert runs == ["France", "France"]

    failures: list[str] = []

    @tool
    def flaky(country: str) -> str:
        """Fails."""
        failures.append(country)
        raise ToolException("down")

    flaky.metadata = {"read_only": True}
    flaky.handle_tool_error = True
    agent = create_agent(
        ScriptedChatModel(respond=_respond), [flaky], middleware=[LixToolCacheMiddleware(engine)]
    )
    for _ in range(2):
        messages = _run(agent, "sync", [HumanMessage(QUESTION)])
        assert any(isinstance(m, ToolMessage) and m.status == "error" for m in messages)
    assert failures == ["France", "France"]


def test_importing_lix_integrations_does_not_import_langchain() -> None:
    code = "import sys, lix_integrations, lix_integrations.langchain; print('langchain' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sampled_settings_follow_the_engines_sampling_policy(tmp_path: Path) -> None:
    engine = Engine("memory://", embedder=FakeEmbedder(), sampling="bypass")
    warm = ScriptedChatModel(temperature=0.7)
    agent = create_agent(warm, [], middleware=[LixCacheMiddleware(engine)])
    for _ in range(2):
        agent.invoke({"messages": [HumanMessage(QUESTION)]})
    assert warm.calls == 2  # temperature > 0 with sampling="bypass": never served, never stored


def test_a_write_tool_invalidates_cached_reads(tmp_path: Path) -> None:
    from lix_integrations.tiers.tools import InvalidationRule, ToolsConfig

    rule = InvalidationRule(writer="set_capital", clears=("capital",), match=("country",))
    engine = Engine("memory://", embedder=FakeEmbedder(), tools=ToolsConfig(invalidations=(rule,)))
    counted = Counted()

    @tool
    def set_capital(country: str) -> str:
        """Changes a capital (a write)."""
        return "done"

    def respond(messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            return AIMessage(f"final: {messages[-1].content}")
        name = "set_capital" if "Change" in last_user_text(messages) else "capital"
        return AIMessage(
            "", tool_calls=[{"name": name, "args": {"country": "France"}, "id": "c", "type": "tool_call"}]
        )

    agent = create_agent(
        ScriptedChatModel(respond=respond),
        [counted.tool, set_capital],
        middleware=[LixToolCacheMiddleware(engine)],
        context_schema=dict,
    )
    ask = [HumanMessage(QUESTION)]
    _run(agent, "sync", ask)
    _run(agent, "sync", ask)
    assert counted.calls == ["France"]
    _run(agent, "sync", [HumanMessage("Change the capital of France")])
    _run(agent, "sync", ask)
    assert counted.calls == ["France", "France"]  # the write cleared the cached read


def test_thread_scope_keeps_threads_apart(tmp_path: Path) -> None:
    engine = Engine("memory://", embedder=FakeEmbedder())
    model = ScriptedChatModel()
    agent = create_agent(model, [], middleware=[LixCacheMiddleware(engine, thread_scope=True)])
    for thread in ("t1", "t2", "t1"):
        agent.invoke({"messages": [HumanMessage(QUESTION)]}, config={"configurable": {"thread_id": thread}})
    assert model.calls == 2  # t2 did not get t1's answer; t1's second run did
