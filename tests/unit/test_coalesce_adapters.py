"""Miss coalescing through LixCachedLLM (LlamaIndex) and LixCacheMiddleware (LangChain agents): threads and
asyncio tasks asking one new prompt make one model call; a failing call releases the others."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import PrivateAttr

from lix_integrations import Engine
from lix_integrations.langchain import LixCacheMiddleware
from lix_integrations.llama_index import LixCachedLLM
from lix_integrations.testing.agents import ScriptedChatModel
from lix_integrations.testing.fakes import FakeEmbedder

PROMPT = "What is the boiling point of water at sea level?"


class SlowLLM(CustomLLM):
    """Takes ``delay`` seconds per completion, counts calls, and raises for the first ``fail_first``."""

    delay: float = 0.3
    fail_first: int = 0
    _calls: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="slow", is_chat_model=False)

    def _count(self) -> int:
        with self._lock:
            self._calls += 1
            return self._calls

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        n = self._count()
        time.sleep(self.delay)
        if n <= self.fail_first:
            raise RuntimeError("model down")
        return CompletionResponse(text=f"answer: {prompt}")

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        n = self._count()
        await asyncio.sleep(self.delay)
        if n <= self.fail_first:
            raise RuntimeError("model down")
        return CompletionResponse(text=f"answer: {prompt}")

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        raise NotImplementedError


def _crowd(sync: Callable[[], str], asynchronous: Callable[[], Any], n: int) -> tuple[list[str], int]:
    """``n`` threads calling ``sync`` and ``n`` tasks awaiting ``asynchronous()``, all at once."""
    answers: list[str] = []
    errors: list[BaseException] = []
    go, ready = threading.Event(), threading.Semaphore(0)
    lock = threading.Lock()

    def keep(fn: Callable[[], str]) -> None:
        try:
            answer = fn()
        except Exception as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                answers.append(answer)

    def thread() -> None:
        ready.release()
        go.wait()
        keep(sync)

    def loop() -> None:
        async def one() -> None:
            try:
                answer = await asynchronous()
            except Exception as exc:
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    answers.append(answer)

        async def all_tasks() -> None:
            ready.release()
            await asyncio.to_thread(go.wait)
            await asyncio.gather(*(one() for _ in range(n)))

        asyncio.run(all_tasks())

    workers = [threading.Thread(target=thread) for _ in range(n)] + [threading.Thread(target=loop)]
    for w in workers:
        w.start()
    for _ in workers:  # every caller is about to ask: none starts after the leader's answer is stored
        ready.acquire(timeout=60)
    go.set()
    for w in workers:
        w.join(timeout=120)
    return answers, len(errors)


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'c.db'}"
    return Engine(url, embedder=FakeEmbedder())


def test_cached_llm_threads_and_tasks_make_one_call(engine: Engine) -> None:
    # Every caller must miss while the leader's call runs: 0.3 s was too short on a loaded machine (15 of 31
    # coalesced once, 2026-12-05: the event loop's 16 tasks asked after the answer was stored and were exact hits).
    llm = SlowLLM(delay=1.0)
    cached = LixCachedLLM(llm, engine)
    answers, errors = _crowd(
        lambda: cached.complete(PROMPT).text, lambda: _text(cached.acomplete(PROMPT)), 16
    )
    assert errors == 0 and answers == [f"answer: {PROMPT}"] * 32
    assert llm.calls == 1
    assert engine.stats().semantic.coalesced == 31


def test_cached_llm_failing_leader_releases_the_others(engine: Engine) -> None:
    llm = SlowLLM(fail_first=1)
    cached = LixCachedLLM(llm, engine)
    answers, errors = _crowd(lambda: cached.complete(PROMPT).text, lambda: _text(cached.acomplete(PROMPT)), 8)
    assert errors == 1 and len(answers) == 15
    assert 2 <= llm.calls <= 16


def test_cached_llm_coalesce_false_opts_out(engine: Engine) -> None:
    llm = SlowLLM(delay=0.2)
    cached = LixCachedLLM(llm, engine, coalesce=False)
    _crowd(lambda: cached.complete(PROMPT).text, lambda: _text(cached.acomplete(PROMPT)), 4)
    assert llm.calls == 8


def test_middleware_threads_and_tasks_make_one_model_call(engine: Engine) -> None:
    model = ScriptedChatModel(delay=0.3)
    agent = create_agent(model, [], middleware=[LixCacheMiddleware(engine)])
    question = {"messages": [HumanMessage(PROMPT)]}

    async def ask() -> str:
        return (await agent.ainvoke(question))["messages"][-1].text

    answers, errors = _crowd(lambda: agent.invoke(question)["messages"][-1].text, ask, 16)
    assert errors == 0 and answers == [f"answer: {PROMPT}"] * 32
    assert model.calls == 1


def test_middleware_failing_leader_releases_the_others(engine: Engine) -> None:
    model = ScriptedChatModel(delay=0.3, fail_first=1)
    agent = create_agent(model, [], middleware=[LixCacheMiddleware(engine)])
    question = {"messages": [HumanMessage(PROMPT)]}

    async def ask() -> str:
        return (await agent.ainvoke(question))["messages"][-1].text

    answers, errors = _crowd(lambda: agent.invoke(question)["messages"][-1].text, ask, 8)
    assert errors == 1 and len(answers) == 15
    assert 2 <= model.calls <= 16


async def _text(response: Any) -> str:
    return (await response).text
