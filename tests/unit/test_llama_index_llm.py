"""LixCachedLLM around a counting LlamaIndex LLM, on memory and SQLite, through the sync and async methods.

The wrapped model is a real ``CustomLLM`` subclass that counts its calls, so every assertion is about whether the
provider would have been called. Embeddings come from ``FakeEmbedder`` (bag of words), with threshold 0.7.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document, Settings, SummaryIndex
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    TextBlock,
)
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMCompletionEndEvent
from llama_index.core.llms import CustomLLM, MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import PrivateAttr

from lix_integrations import ConfigError, Engine, InvalidIdError, lix_scope
from lix_integrations.llama_index import LixCachedLLM
from lix_integrations.llama_index.prompt import chat_key
from lix_integrations.testing import FakeClock, FakeEmbedder

THRESHOLD = 0.7
QUESTION = "What is the capital city of France?"
PARAPHRASE = "what is the capital city of france please"
UNRELATED = "How do I bake sourdough bread at home?"


class CountingLLM(CustomLLM):
    """Answers ``answer <n>: <prompt>`` and counts how often it was really called."""

    model_name: str = "counting-a"
    temperature: float = 0.0
    chat_model: bool = True
    _calls: int = PrivateAttr(default=0)

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model_name, is_chat_model=self.chat_model, num_output=64)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self._calls += 1
        return CompletionResponse(
            text=f"answer {self._calls}: {prompt}", additional_kwargs={"n": self._calls}, raw={"x": object()}
        )

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        self._calls += 1
        words = f"streamed {self._calls}: {prompt}".split(" ")

        def gen() -> CompletionResponseGen:
            text = ""
            for word in words:
                delta = word if not text else " " + word
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://llm-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path}/llm.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(url: str, clock: FakeClock) -> Engine:
    return Engine(url, embedder=FakeEmbedder(), threshold=THRESHOLD, clock=clock)


def conversation(question: str, system: str = "You are a helpful geography tutor.") -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.SYSTEM, content=system),
        ChatMessage(role=MessageRole.USER, content="Hi, I am Ann."),
        ChatMessage(role=MessageRole.ASSISTANT, content="Hello Ann!"),
        ChatMessage(role=MessageRole.USER, content=question),
    ]


def same(a: ChatResponse | CompletionResponse, b: ChatResponse | CompletionResponse) -> bool:
    """Equal apart from ``raw`` (the provider's object, deliberately not cached) and ``delta``."""
    return a.model_dump(exclude={"raw", "delta"}) == b.model_dump(exclude={"raw", "delta"})


class Caller:
    """chat/complete through the sync methods or the async ones."""

    def __init__(self, llm: LixCachedLLM, mode: str) -> None:
        self.llm = llm
        self.mode = mode

    def chat(self, messages: list[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self.mode == "sync":
            return self.llm.chat(messages, **kwargs)
        return asyncio.run(self.llm.achat(messages, **kwargs))

    def complete(self, prompt: str, **kwargs: Any) -> CompletionResponse:
        if self.mode == "sync":
            return self.llm.complete(prompt, **kwargs)
        return asyncio.run(self.llm.acomplete(prompt, **kwargs))


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- hits and misses -----------------------------------------------------------------------------------------


def test_paraphrase_of_the_last_user_message_is_a_hit(engine: Engine, mode: str) -> None:
    inner = CountingLLM()
    call = Caller(LixCachedLLM(inner, engine), mode)
    first = call.chat(conversation(QUESTION))
    assert inner.calls == 1
    again = call.chat(conversation(QUESTION))
    paraphrased = call.chat(conversation(PARAPHRASE))
    assert inner.calls == 1
    assert same(again, first) and same(paraphrased, first)
    assert paraphrased.raw is None  # raw provider objects are never stored
    stats = engine.stats().semantic
    assert (stats.exact_hits, stats.semantic_hits, stats.misses) == (1, 1, 1)
    call.chat(conversation(UNRELATED))
    assert inner.calls == 2


def test_different_system_prompt_or_earlier_turns_miss(engine: Engine, mode: str) -> None:
    inner = CountingLLM()
    call = Caller(LixCachedLLM(inner, engine), mode)
    call.chat(conversation(QUESTION))
    call.chat(conversation(QUESTION, system="You are a pirate. Answer in pirate speak."))
    assert inner.calls == 2
    other_turns = conversation(QUESTION)
    other_turns[1] = ChatMessage(role=MessageRole.USER, content="Hi, I am Bob.")
    call.chat(other_turns)
    assert inner.calls == 3
    call.chat(conversation(PARAPHRASE, system="You are a pirate. Answer in pirate speak."))
    assert inner.calls == 3  # a paraphrase under the same (pirate) context is a hit


def test_different_model_or_settings_miss(engine: Engine, mode: str) -> None:
    a = CountingLLM()
    Caller(LixCachedLLM(a, engine), mode).chat(conversation(QUESTION))
    b = CountingLLM(model_name="counting-b")
    Caller(LixCachedLLM(b, engine), mode).chat(conversation(QUESTION))
    cold = CountingLLM(temperature=0.3)
    Caller(LixCachedLLM(cold, engine), mode).chat(conversation(QUESTION))
    assert (a.calls, b.calls, cold.calls) == (0 + 1, 1, 1)
    same = CountingLLM()
    call = Caller(LixCachedLLM(same, engine), mode)
    call.chat(conversation(QUESTION))
    assert same.calls == 0  # identical model and settings: served from the first call
    call.chat(conversation(QUESTION), max_tokens=5)  # call arguments are part of the key too
    assert same.calls == 1


def test_complete_hits_and_does_not_cross_with_chat(engine: Engine, mode: str) -> None:
    inner = CountingLLM()
    call = Caller(LixCachedLLM(inner, engine), mode)
    first = call.complete(QUESTION)
    assert same(call.complete(PARAPHRASE), first)
    assert first.additional_kwargs == {"n": 1} and first.raw is not None
    assert inner.calls == 1
    call.chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert inner.calls == 2
    call.complete(QUESTION, formatted=True)  # the provider would see another prompt
    assert inner.calls == 3


def test_sync_and_async_share_entries(engine: Engine) -> None:
    inner = CountingLLM()
    llm = LixCachedLLM(inner, engine)
    sync_answer = llm.chat(conversation(QUESTION))
    async_answer = asyncio.run(llm.achat(conversation(PARAPHRASE)))
    assert same(async_answer, sync_answer)
    asyncio.run(llm.acomplete(QUESTION))
    assert llm.complete(PARAPHRASE).text == f"answer 2: {QUESTION}"
    assert inner.calls == 2


def test_rich_messages_round_trip(engine: Engine) -> None:
    class ToolCallingLLM(CountingLLM):
        def chat(self, messages: Any, **kwargs: Any) -> ChatResponse:
            self._calls += 1
            return ChatResponse(
                message=ChatMessage(
                    role=MessageRole.ASSISTANT,
                    blocks=[TextBlock(text="calling a tool")],
                    additional_kwargs={
                        "tool_calls": [{"id": "call_1", "name": "search", "args": {"q": "x"}}]
                    },
                ),
                additional_kwargs={"usage": {"total_tokens": 12}},
                raw={"client": object()},
                logprobs=None,
            )

    inner = ToolCallingLLM()
    llm = LixCachedLLM(inner, engine)
    first = llm.chat(conversation(QUESTION))
    cached = llm.chat(conversation(QUESTION))
    assert inner.calls == 1
    assert cached.message == first.message
    assert cached.additional_kwargs == {"usage": {"total_tokens": 12}}
    assert cached.raw is None


# -- scopes, TTL, thresholds, sampling, explain, stats ----------------------------------------------------------


def test_scopes_keep_entries_apart(engine: Engine, mode: str) -> None:
    inner = CountingLLM()
    tenant_a = Caller(LixCachedLLM(inner, engine, scope="tenant-a"), mode)
    tenant_b = Caller(LixCachedLLM(inner, engine, scope="tenant-b"), mode)
    tenant_a.chat(conversation(QUESTION))
    tenant_b.chat(conversation(QUESTION))
    assert inner.calls == 2
    with lix_scope("user-1"):
        tenant_a.chat(conversation(QUESTION))
    assert inner.calls == 3  # nested scope: narrower, never the parent's entries
    with lix_scope("user-1"):
        tenant_a.chat(conversation(PARAPHRASE))
    assert inner.calls == 3
    with pytest.raises(InvalidIdError):
        LixCachedLLM(inner, engine, scope="a//b")  # nesting is allowed, an empty name is not


def test_ttl_expires_with_the_engine_clock(engine: Engine, clock: FakeClock, mode: str) -> None:
    inner = CountingLLM()
    call = Caller(LixCachedLLM(inner, engine, ttl=60), mode)
    call.complete(QUESTION)
    clock.advance(59)
    call.complete(QUESTION)
    assert inner.calls == 1
    clock.advance(2)
    call.complete(QUESTION)
    assert inner.calls == 2


def test_threshold_override(engine: Engine) -> None:
    inner = CountingLLM()
    strict = LixCachedLLM(inner, engine, threshold=1.0)
    strict.complete(QUESTION)
    strict.complete(PARAPHRASE)
    assert inner.calls == 2
    strict.complete(QUESTION)
    assert inner.calls == 2  # exact matches are still served
    with pytest.raises(ConfigError):
        LixCachedLLM(inner, engine, threshold=1.5)


def test_sampling_policy_reads_the_wrapped_models_temperature(url: str) -> None:
    engine = Engine(url, embedder=FakeEmbedder(), threshold=THRESHOLD, sampling="bypass")
    hot = CountingLLM(temperature=0.9)
    llm = LixCachedLLM(hot, engine)
    llm.complete(QUESTION)
    llm.complete(QUESTION)
    assert hot.calls == 2
    assert engine.stats().semantic.bypassed == 2  # one per call: its lookup and update are one bypass
    cold = CountingLLM(temperature=0.0)
    cached = LixCachedLLM(cold, engine)
    cached.complete(QUESTION)
    cached.complete(QUESTION)
    assert cold.calls == 1
    hot_call = LixCachedLLM(CountingLLM(), engine)
    hot_call.complete(UNRELATED, temperature=0.8)
    hot_call.complete(UNRELATED, temperature=0.8)
    assert hot_call.llm.calls == 2  # type: ignore[attr-defined]


def test_explain_and_stats(engine: Engine) -> None:
    llm = LixCachedLLM(CountingLLM(), engine)
    llm.chat(conversation(QUESTION))
    candidates = llm.explain(conversation(PARAPHRASE))
    assert candidates and candidates[0].served and "threshold" in candidates[0].reason
    assert llm.explain(conversation(PARAPHRASE, system="other")) == []
    assert llm.explain(QUESTION) == []  # completions are a separate context
    assert llm.stats().semantic.updates == 1
    assert llm.stats() == engine.stats()


def test_clear(engine: Engine) -> None:
    inner = CountingLLM()
    scoped = LixCachedLLM(inner, engine, scope="t1")
    unscoped = LixCachedLLM(inner, engine)
    scoped.complete(QUESTION)
    unscoped.complete(QUESTION)
    assert scoped.clear() == 1
    unscoped.complete(QUESTION)
    assert inner.calls == 2
    assert unscoped.clear() == 1


def test_unreadable_entry_is_a_miss_and_is_deleted(engine: Engine) -> None:
    inner = CountingLLM()
    llm = LixCachedLLM(inner, engine)
    key = chat_key(inner, conversation(QUESTION), {})
    assert key is not None
    engine.semantic.update(
        key.text, key.llm_string, '{"v": 1, "type": "complete", "response": {}}', context=key.context
    )
    assert llm.chat(conversation(QUESTION)).message.content == f"answer 1: {_prompt(inner, QUESTION)}"
    assert inner.calls == 1
    llm.chat(conversation(QUESTION))
    assert inner.calls == 1  # the bad entry was replaced by the real answer


def _prompt(llm: CountingLLM, question: str) -> str:
    return llm.messages_to_prompt(conversation(question))


def test_uncomparable_call_arguments_bypass_the_cache(engine: Engine) -> None:
    inner = CountingLLM()
    llm = LixCachedLLM(inner, engine)
    marker = object()
    llm.complete(QUESTION, opaque=marker)
    llm.complete(QUESTION, opaque=marker)
    assert inner.calls == 2


# -- streaming ------------------------------------------------------------------------------------------------


def _stream_complete(
    llm: LixCachedLLM, prompt: str, mode: str, *, stop_after: int | None = None
) -> list[str]:
    if mode == "sync":
        deltas = []
        for i, chunk in enumerate(llm.stream_complete(prompt)):
            deltas.append(chunk.delta or "")
            if stop_after is not None and i + 1 >= stop_after:
                break
        return deltas

    async def consume() -> list[str]:
        out = []
        gen = await llm.astream_complete(prompt)
        i = 0
        async for chunk in gen:
            out.append(chunk.delta or "")
            i += 1
            if stop_after is not None and i >= stop_after:
                break
        await gen.aclose()
        return out

    return asyncio.run(consume())


def test_streaming_passes_through_uncached_by_default(engine: Engine, mode: str) -> None:
    inner = CountingLLM()
    llm = LixCachedLLM(inner, engine)
    assert "".join(_stream_complete(llm, QUESTION, mode)) == f"streamed 1: {QUESTION}"
    assert "".join(_stream_complete(llm, QUESTION, mode)) == f"streamed 2: {QUESTION}"
    assert inner.calls == 2
    stats = engine.stats().semantic
    assert stats.lookups == 0 and stats.updates == 0


def test_streaming_is_cached_when_fully_consumed_if_asked(engine: Engine, mode: str) -> None:
    inner = CountingLLM()
    llm = LixCachedLLM(inner, engine, cache_streaming=True)
    partial = _stream_complete(llm, QUESTION, mode, stop_after=2)
    assert len(partial) == 2
    assert engine.stats().semantic.updates == 0  # stopped early: half an answer is never stored
    full = _stream_complete(llm, QUESTION, mode)
    assert inner.calls == 2
    replay = _stream_complete(llm, PARAPHRASE, mode)
    assert inner.calls == 2
    assert replay == ["".join(full)]  # one chunk carrying the whole answer
    assert llm.complete(QUESTION).text == "".join(full)  # and the non-streaming call is served too


def test_stream_chat_cached_when_asked(engine: Engine) -> None:
    inner = CountingLLM()
    llm = LixCachedLLM(inner, engine, cache_streaming=True)
    full = [c.delta for c in llm.stream_chat(conversation(QUESTION))]
    replay = list(llm.stream_chat(conversation(PARAPHRASE)))
    assert inner.calls == 1
    assert len(replay) == 1 and replay[0].message.content == "".join(d or "" for d in full)

    async def astream() -> list[ChatResponse]:
        return [c async for c in await llm.astream_chat(conversation(PARAPHRASE))]

    assert [c.message.content for c in asyncio.run(astream())] == [replay[0].message.content]
    assert inner.calls == 1


# -- what the wrapper preserves --------------------------------------------------------------------------------


def test_metadata_and_prompt_settings_are_the_wrapped_models(engine: Engine) -> None:
    inner = CountingLLM(system_prompt="Be brief.")
    llm = LixCachedLLM(inner, engine)
    assert llm.metadata == inner.metadata
    assert llm.system_prompt == "Be brief."
    assert llm.messages_to_prompt is inner.messages_to_prompt
    assert llm.class_name() == "LixCachedLLM"
    dumped = llm.model_dump()
    assert dumped["llm"]["model_name"] == "counting-a"
    assert "_engine" not in dumped


def test_callbacks_and_instrumentation_events_fire_on_hits(engine: Engine) -> None:
    debug = LlamaDebugHandler()
    inner = CountingLLM(callback_manager=CallbackManager([debug]))
    llm = LixCachedLLM(inner, engine)

    class Recorder(BaseEventHandler):
        events: list[BaseEvent] = []

        @classmethod
        def class_name(cls) -> str:
            return "Recorder"

        def handle(self, event: BaseEvent, **kwargs: Any) -> None:
            self.events.append(event)

    recorder = Recorder()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(recorder)
    try:
        llm.chat(conversation(QUESTION))
        pairs_after_miss = len(debug.get_event_pairs(CBEventType.LLM))
        events_after_miss = len(recorder.events)
        llm.chat(conversation(QUESTION))
        llm.complete(QUESTION)
        llm.complete(QUESTION)
    finally:
        dispatcher.event_handlers.remove(recorder)
    assert inner.calls == 2
    assert pairs_after_miss >= 1
    assert len(debug.get_event_pairs(CBEventType.LLM)) > pairs_after_miss  # the hit was reported too
    hit_events = recorder.events[events_after_miss:]
    assert any(isinstance(e, LLMChatEndEvent) for e in hit_events)
    assert sum(isinstance(e, LLMCompletionEndEvent) for e in hit_events) >= 2


@pytest.fixture
def restore_settings() -> Iterator[None]:
    saved = Settings._llm  # restore the global exactly as it was
    try:
        yield
    finally:
        Settings._llm = saved


def test_settings_llm_and_query_engine(engine: Engine, restore_settings: None) -> None:
    inner = CountingLLM()
    Settings.llm = LixCachedLLM(inner, engine)
    index = SummaryIndex.from_documents(
        [Document(text="Paris is the capital of France."), Document(text="Berlin is the capital of Germany.")]
    )
    query_engine = index.as_query_engine()
    first = str(query_engine.query(QUESTION))
    calls = inner.calls
    assert calls >= 1
    assert str(query_engine.query(QUESTION)) == first
    assert inner.calls == calls
    asyncio.run(query_engine.aquery(QUESTION))
    assert inner.calls == calls


def test_predict_through_the_wrapper(engine: Engine) -> None:
    from llama_index.core.prompts import PromptTemplate

    inner = CountingLLM(system_prompt="Be brief.")
    llm = LixCachedLLM(inner, engine)
    template = PromptTemplate("Question: {q}")
    first = llm.predict(template, q=QUESTION)
    assert "Be brief." in first  # the wrapped model saw its own system prompt exactly once
    assert first.count("Be brief.") == 1
    assert llm.predict(template, q=QUESTION) == first
    assert inner.calls == 1


def test_wraps_mock_llm_and_refuses_non_llms(engine: Engine) -> None:
    llm = LixCachedLLM(MockLLM(max_tokens=3), engine)
    assert llm.complete("anything at all").text == "text text text"
    with pytest.raises(ConfigError, match="LlamaIndex LLM"):
        LixCachedLLM("gpt-4", engine)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="engine options"):
        LixCachedLLM(MockLLM(), engine, namespace="x")


# -- agents -------------------------------------------------------------------------------------------------------


def test_function_agent_runs_twice_with_the_llm_called_once_per_step(engine: Engine) -> None:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.llms.function_calling import FunctionCallingLLM
    from llama_index.core.llms.mock import MockFunctionCallingLLM
    from llama_index.core.tools import FunctionTool

    from lix_integrations.llama_index import LixCachedFunctionCallingLLM

    tool_runs: list[str] = []

    def capital(country: str = "France") -> str:
        """The capital city of a country."""
        tool_runs.append(country)
        return "Paris"

    llm_calls: list[int] = []
    inner = MockFunctionCallingLLM()
    default = inner._get_response_generator()

    def counting_generator(messages: Any, **kwargs: Any) -> Any:
        llm_calls.append(1)
        return default(messages, **kwargs)

    inner.response_generator = counting_generator
    llm = LixCachedLLM(inner, engine)
    assert isinstance(llm, LixCachedFunctionCallingLLM) and isinstance(llm, FunctionCallingLLM)
    assert llm.metadata.is_function_calling_model

    tool = FunctionTool.from_defaults(fn=capital)

    async def run() -> str:
        agent = FunctionAgent(tools=[tool], llm=llm, streaming=False)
        return str(await agent.run(user_msg=QUESTION))

    first = asyncio.run(run())
    calls_first = len(llm_calls)
    assert calls_first >= 1 and tool_runs
    second = asyncio.run(run())
    assert second == first
    assert len(llm_calls) == calls_first  # every LLM step of the second run was served from the cache
    assert engine.stats().semantic.exact_hits >= calls_first


def _length_embedding(text: str) -> list[float]:
    """A picklable (module-level) embedder for the pickling test."""
    return [1.0, float(len(text)), float(text.count(" "))]


def test_pickled_copy_reopens_the_same_store(tmp_path: Path) -> None:
    import pickle

    url = f"sqlite:///{tmp_path / 'pickled.db'}"
    original = LixCachedLLM(MockLLM(max_tokens=4), url=url, embedder=_length_embedding, scope="tenant")
    first = original.complete("tell me about caching")
    copy = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own object, as multiprocessing does
    assert (
        isinstance(copy, LixCachedLLM) and copy.scope == "tenant" and copy.engine.url == original.engine.url
    )
    assert copy.complete("tell me about caching").text == first.text
    assert copy.stats().semantic.exact_hits == 1  # served from the store the original wrote
    with pytest.raises(ConfigError, match="private memory://"):
        pickle.dumps(LixCachedLLM(MockLLM(), url="memory://", embedder=_length_embedding))
