"""LixSemanticCache: LangChain's standard cache suites on both embedded backends, then the traps a semantic
cache falls into, driven through real LangChain models rather than hand-built prompt strings."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.caches import BaseCache
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, Generation
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from lix_integrations import AsyncEngine, ConfigError, Engine, SerializationError, lix_scope
from lix_integrations.langchain import LixSemanticCache
from lix_integrations.langchain.prompt import NO_TEXT_MARKER, TEXT_MARKER, split_prompt
from lix_integrations.langchain.serialization import deserialize_generations, serialize_generations
from lix_integrations.testing.fakes import FakeEmbedder

THRESHOLD = 0.7
QUESTION = "What is the capital city of France?"
PARAPHRASE = "what is the capital of France"
UNRELATED = "How do I bake sourdough bread at home?"


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'x.db'}"


# -- LangChain's standard suites ------------------------------------------------------------------------------


class TestMemorySync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self) -> BaseCache:
        return LixSemanticCache(url="memory://", embedder=FakeEmbedder())


class TestMemoryAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self) -> BaseCache:
        return LixSemanticCache(AsyncEngine("memory://", embedder=FakeEmbedder()))


class TestSQLiteSync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, tmp_path: Path) -> BaseCache:
        return LixSemanticCache(url=_sqlite_url(tmp_path), embedder=FakeEmbedder())


class TestSQLiteAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self, tmp_path: Path) -> BaseCache:
        return LixSemanticCache(AsyncEngine(_sqlite_url(tmp_path), embedder=FakeEmbedder()))


# -- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = "memory://" if request.param == "memory" else _sqlite_url(tmp_path)
    with Engine(url, embedder=FakeEmbedder()) as eng:
        yield eng


@pytest.fixture
def cache(engine: Engine) -> LixSemanticCache:
    return LixSemanticCache(engine, threshold=THRESHOLD)


@pytest.fixture
def global_cache(cache: LixSemanticCache) -> Iterator[LixSemanticCache]:
    """Install the cache globally and put back whatever was there, so no other test sees it."""
    previous = get_llm_cache()
    set_llm_cache(cache)
    try:
        yield cache
    finally:
        set_llm_cache(previous)


class CountingChat(FakeListChatModel):
    """A chat model that records every call that reached it (a cache hit never does)."""

    calls: int = 0

    def _call(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        return super()._call(*args, **kwargs)


def _chat(responses: list[str] | None = None, **kwargs: Any) -> CountingChat:
    return CountingChat(responses=responses or [f"answer-{i}" for i in range(20)], **kwargs)


def _ask(question: str, system: str = "You are a helpful geographer.") -> list[Any]:
    return [SystemMessage(content=system), HumanMessage(content=question)]


# -- basic contract -------------------------------------------------------------------------------------------


def test_empty_cache_is_truthy_and_has_no_len(cache: LixSemanticCache) -> None:
    assert bool(cache) is True
    assert not hasattr(cache, "__len__")


def test_lookup_returns_a_list(cache: LixSemanticCache) -> None:
    cache.update("hello there", "llm", (Generation(text="hi"),))
    found = cache.lookup("hello there", "llm")
    assert type(found) is list
    assert found == [Generation(text="hi")]


def test_engine_views_are_shared(engine: Engine) -> None:
    from_sync = LixSemanticCache(engine)
    from_async = LixSemanticCache(engine.aio)
    from_sync.update("hello there", "llm", [Generation(text="hi")])
    assert from_async.lookup("hello there", "llm") == [Generation(text="hi")]
    assert from_async.engine.namespace == engine.namespace


def test_engine_options_need_no_engine_instance(engine: Engine) -> None:
    with pytest.raises(ConfigError):
        LixSemanticCache(engine, namespace="other")
    with pytest.raises(ConfigError):
        LixSemanticCache(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        LixSemanticCache(engine, threshold=1.5)
    with pytest.raises(ConfigError):
        LixSemanticCache(engine, ttl=0)
    with pytest.raises(ValueError):
        LixSemanticCache(engine, scope="a/")


def test_refused_prompt_is_a_miss_not_an_error(cache: LixSemanticCache) -> None:
    cache.update("   ", "llm", [Generation(text="x")])
    assert cache.lookup("   ", "llm") is None


def test_importing_the_package_imports_no_framework() -> None:
    code = (
        "import sys, lix_integrations; "
        "bad = [m for m in sys.modules if m.startswith(('langchain', 'llama_index'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- prompt splitting (pure) ----------------------------------------------------------------------------------


def test_split_plain_prompt() -> None:
    assert split_prompt("Tell me a joke") == split_prompt("Tell me a joke")
    split = split_prompt("Tell me a joke")
    assert (split.text, split.context) == ("Tell me a joke", "")


def test_split_chat_prompt_embeds_last_human_text_only() -> None:
    messages = [
        SystemMessage(content="sys"),
        HumanMessage(content="first question"),
        AIMessage(content="first answer"),
        HumanMessage(content="second question"),
    ]
    split = split_prompt(dumps(messages))
    assert split.text == "second question"
    context = json.loads(split.context)
    assert context[-1]["kwargs"]["content"] == TEXT_MARKER
    assert context[1]["kwargs"]["content"] == "first question"
    assert split.context == json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_split_keeps_messages_after_the_human_turn_in_context() -> None:
    base = [
        HumanMessage(content="q"),
        AIMessage(content="", tool_calls=[{"name": "t", "args": {}, "id": "1"}]),
    ]
    one = split_prompt(dumps([*base, ToolMessage(content="result A", tool_call_id="1")]))
    two = split_prompt(dumps([*base, ToolMessage(content="result B", tool_call_id="1")]))
    assert one.text == two.text == "q"
    assert one.context != two.context


def test_split_list_content_embeds_text_blocks_and_keeps_images_in_context() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    other = {"type": "image_url", "image_url": {"url": "data:image/png;base64,BBBB"}}
    one = split_prompt(dumps([HumanMessage(content=[{"type": "text", "text": "what is"}, image, "this?"])]))
    two = split_prompt(dumps([HumanMessage(content=[{"type": "text", "text": "what is"}, other, "this?"])]))
    assert one.text == two.text == "what is\nthis?"
    assert one.context != two.context
    assert "AAAA" in one.context


def test_split_human_message_fields_are_context() -> None:
    one = split_prompt(dumps([HumanMessage(content="hi", name="ann")]))
    two = split_prompt(dumps([HumanMessage(content="hi", name="bob")]))
    assert one.text == two.text == "hi"
    assert one.context != two.context


def test_split_image_only_turn_matches_exactly_only() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    split = split_prompt(dumps([HumanMessage(content=[image])]))
    assert split.text == NO_TEXT_MARKER
    assert "AAAA" in split.context


@pytest.mark.parametrize(
    "prompt",
    [
        dumps([SystemMessage(content="only a system prompt")]),
        "[1, 2, 3]",
        '[{"lc": 1, "type": "constructor"}]',
        "[not json",
        "[]",
    ],
)
def test_split_falls_back_to_plain(prompt: str) -> None:
    split = split_prompt(prompt)
    assert (split.text, split.context) == (prompt, "")


# -- serialization --------------------------------------------------------------------------------------------


def _rich_message() -> AIMessage:
    return AIMessage(
        content="calling the weather tool",
        additional_kwargs={"refusal": None, "extra": {"k": [1, 2]}},
        response_metadata={"model_name": "fake-1", "finish_reason": "tool_calls"},
        tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}],
        invalid_tool_calls=[
            {
                "name": "broken",
                "args": "{not json",
                "id": "call_2",
                "error": "bad json",
                "type": "invalid_tool_call",
            }
        ],
        usage_metadata={"input_tokens": 11, "output_tokens": 7, "total_tokens": 18},
        id="run-1",
    )


def test_chat_generation_round_trip_keeps_everything() -> None:
    generations = [ChatGeneration(message=_rich_message(), generation_info={"finish_reason": "stop"})]
    back = deserialize_generations(serialize_generations(generations))
    assert back == generations
    message = back[0].message  # type: ignore[attr-defined]
    assert isinstance(message, AIMessage)
    assert message.tool_calls == _rich_message().tool_calls
    assert message.invalid_tool_calls == _rich_message().invalid_tool_calls
    assert message.usage_metadata == _rich_message().usage_metadata
    assert message.response_metadata == _rich_message().response_metadata
    assert message.additional_kwargs == _rich_message().additional_kwargs


def test_plain_generation_round_trip() -> None:
    generations = [Generation(text="a", generation_info={"x": 1}), Generation(text="b")]
    assert deserialize_generations(serialize_generations(generations)) == generations


def test_round_trip_emits_no_warning(recwarn: pytest.WarningsRecorder) -> None:
    deserialize_generations(serialize_generations([ChatGeneration(message=_rich_message())]))
    assert not recwarn.list


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "{}",
        "[1]",
        json.dumps(["{}"]),
        json.dumps([dumps(HumanMessage(content="a message is not a generation"))]),
        json.dumps(['{"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {}}']),
        json.dumps(['{"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}']),
    ],
)
def test_malformed_payload_raises_serialization_error(payload: str) -> None:
    with pytest.raises(SerializationError):
        deserialize_generations(payload)


def test_serialize_refuses_non_generations() -> None:
    with pytest.raises(SerializationError):
        serialize_generations(["text"])  # type: ignore[list-item]


# -- context traps through real chat models -------------------------------------------------------------------


def test_paraphrase_in_same_context_hits(global_cache: LixSemanticCache) -> None:
    model = _chat()
    first = model.invoke(_ask(QUESTION))
    second = model.invoke(_ask(PARAPHRASE))
    assert model.calls == 1
    assert second.content == first.content
    model.invoke(_ask(UNRELATED))
    assert model.calls == 2
    stats = global_cache.stats().semantic
    assert (stats.semantic_hits, stats.misses) == (1, 2)


def test_exact_repeat_is_an_exact_hit(global_cache: LixSemanticCache) -> None:
    model = _chat()
    model.invoke(_ask(QUESTION))
    model.invoke(_ask(QUESTION))
    assert model.calls == 1
    assert global_cache.stats().semantic.exact_hits == 1


def test_same_question_other_system_prompt_misses(global_cache: LixSemanticCache) -> None:
    model = _chat()
    model.invoke(_ask(QUESTION, system="You are a helpful geographer."))
    model.invoke(_ask(QUESTION, system="You answer only in French."))
    model.invoke(
        _ask(PARAPHRASE, system="You answer only in French.")
    )  # hits the French entry, not the first
    assert model.calls == 2


def test_other_model_settings_miss(global_cache: LixSemanticCache) -> None:
    model = _chat()
    model.invoke(_ask(QUESTION))
    model.invoke(_ask(QUESTION), temperature=0.0)  # invoke kwargs are part of a chat llm_string
    assert model.calls == 2
    other = _chat(responses=["other model"])
    assert other.invoke(_ask(PARAPHRASE)).content == "other model"
    assert other.calls == 1


def test_different_earlier_turns_miss(global_cache: LixSemanticCache) -> None:
    model = _chat()
    history_a = [HumanMessage(content="My name is Ann."), AIMessage(content="Hello Ann!")]
    history_b = [HumanMessage(content="My name is Bob."), AIMessage(content="Hello Bob!")]
    model.invoke([*history_a, HumanMessage(content="What is my name?")])
    model.invoke([*history_b, HumanMessage(content="What is my name?")])
    assert model.calls == 2
    model.invoke([*history_a, HumanMessage(content="what is my name")])
    assert model.calls == 2


def test_adapter_scopes_are_separate(engine: Engine) -> None:
    tenant_a = LixSemanticCache(engine, scope="tenant-a", threshold=THRESHOLD)
    tenant_b = LixSemanticCache(engine, scope="tenant-b", threshold=THRESHOLD)
    model_a, model_b = _chat(cache=tenant_a), _chat(cache=tenant_b)
    model_a.invoke(_ask(QUESTION))
    model_b.invoke(_ask(QUESTION))
    assert (model_a.calls, model_b.calls) == (1, 1)
    model_a.invoke(_ask(PARAPHRASE))
    assert model_a.calls == 1


def test_lix_scope_blocks_are_separate_and_nest_in_adapter_scope(engine: Engine) -> None:
    cache = LixSemanticCache(engine, scope="tenant-a", threshold=THRESHOLD)
    model = _chat(cache=cache)
    with lix_scope("user:1"):
        model.invoke(_ask(QUESTION))
    with lix_scope("user:2"):
        model.invoke(_ask(QUESTION))
    assert model.calls == 2
    model.invoke(_ask(QUESTION))  # the tenant's own scope holds neither user's entry
    assert model.calls == 3
    with lix_scope("user:1"):
        model.invoke(_ask(PARAPHRASE))
    assert model.calls == 3
    unscoped = _chat(cache=LixSemanticCache(engine, threshold=THRESHOLD))
    with lix_scope("tenant-a", "user:1"):  # a scope is its path: this is the same scope, reached explicitly
        unscoped.invoke(_ask(QUESTION))
    assert unscoped.calls == 0


def test_cache_field_overrides_global(global_cache: LixSemanticCache, engine: Engine) -> None:
    own = LixSemanticCache(engine, scope="private", threshold=THRESHOLD)
    model = _chat(cache=own)
    model.invoke(_ask(QUESTION))
    assert own.lookup(dumps(_ask(QUESTION)), model._get_llm_string()) is not None
    assert global_cache.lookup(dumps(_ask(QUESTION)), model._get_llm_string()) is None


# -- plain LLM and async --------------------------------------------------------------------------------------


def test_plain_llm_path(global_cache: LixSemanticCache) -> None:
    llm = FakeListLLM(responses=["Paris", "bread", "unused"])
    assert llm.invoke(QUESTION) == "Paris"
    assert llm.invoke(QUESTION) == "Paris"
    assert llm.invoke(PARAPHRASE) == "Paris"
    assert llm.invoke(UNRELATED) == "bread"
    assert llm.i == 2
    stats = global_cache.stats().semantic
    assert (stats.exact_hits, stats.semantic_hits, stats.misses) == (1, 1, 2)


async def test_async_path_never_calls_the_sync_api(
    global_cache: LixSemanticCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the async path called a blocking method")

    monkeypatch.setattr(global_cache, "lookup", forbidden)
    monkeypatch.setattr(global_cache, "update", forbidden)
    monkeypatch.setattr(global_cache.engine.semantic, "lookup", forbidden)
    monkeypatch.setattr(global_cache.engine.semantic, "update", forbidden)
    model = _chat()
    first = await model.ainvoke(_ask(QUESTION))
    second = await model.ainvoke(_ask(PARAPHRASE))
    assert model.calls == 1
    assert second.content == first.content
    await global_cache.aclear()
    await model.ainvoke(_ask(QUESTION))
    assert model.calls == 2


async def test_async_plain_llm(global_cache: LixSemanticCache) -> None:
    llm = FakeListLLM(responses=["Paris", "unused"])
    assert await llm.ainvoke(QUESTION) == "Paris"
    assert await llm.ainvoke(PARAPHRASE) == "Paris"
    assert llm.i == 1


# -- what a hit gives back ------------------------------------------------------------------------------------


def _generic(messages: list[AIMessage], counter: list[int]) -> GenericFakeChatModel:
    def produce() -> Iterator[AIMessage]:
        for message in messages:
            counter.append(1)
            yield message

    return GenericFakeChatModel(messages=produce())


def test_tool_calls_and_usage_survive_a_real_hit(global_cache: LixSemanticCache) -> None:
    counter: list[int] = []
    model = _generic([_rich_message(), AIMessage(content="second call")], counter)
    first = model.invoke(_ask("What's the weather in Paris?"))
    again = model.invoke(_ask("What's the weather in Paris?"))
    paraphrased = model.invoke(_ask("what is the weather in Paris"))
    assert len(counter) == 1
    for hit in (again, paraphrased):
        assert isinstance(hit, AIMessage)
        assert hit.content == first.content
        assert hit.tool_calls == first.tool_calls == _rich_message().tool_calls
        assert hit.invalid_tool_calls == _rich_message().invalid_tool_calls
        assert hit.additional_kwargs == _rich_message().additional_kwargs
        assert hit.response_metadata["model_name"] == "fake-1"
        assert hit.usage_metadata is not None
        for field in ("input_tokens", "output_tokens", "total_tokens"):
            assert hit.usage_metadata[field] == _rich_message().usage_metadata[field]  # type: ignore[index,literal-required]


def test_malformed_stored_payload_is_a_logged_miss(
    global_cache: LixSemanticCache, caplog: pytest.LogCaptureFixture
) -> None:
    model = _chat()
    prompt = dumps(_ask(QUESTION))
    split = split_prompt(prompt)
    global_cache.engine.semantic.update(
        split.text, model._get_llm_string(), "{definitely not generations", context=split.context
    )
    assert global_cache.engine.semantic.lookup(split.text, model._get_llm_string(), context=split.context)
    with caplog.at_level(logging.WARNING, logger="lix_integrations.langchain.cache"):
        answer = model.invoke(_ask(QUESTION))
    assert answer.content == "answer-0"
    assert model.calls == 1
    assert any("unreadable" in record.getMessage() for record in caplog.records)
    assert model.invoke(_ask(QUESTION)).content == "answer-0"  # the fresh answer replaced the bad entry
    assert model.calls == 1


# -- clear and explain ----------------------------------------------------------------------------------------


def test_clear_filters(engine: Engine) -> None:
    everyone = LixSemanticCache(engine)
    tenant = LixSemanticCache(engine, scope="tenant-a")
    gen = [Generation(text="x")]
    everyone.update("global question", "m1", gen)
    everyone.update("global question", "m2", gen)
    tenant.update("tenant question", "m1", gen)
    with lix_scope("user:1"):
        tenant.update("user question", "m1", gen)

    tenant.clear(scope="user:1")
    with lix_scope("user:1"):
        assert tenant.lookup("user question", "m1") is None
    assert tenant.lookup("tenant question", "m1") == gen

    everyone.clear(llm_string="m2")
    assert everyone.lookup("global question", "m2") is None
    assert everyone.lookup("global question", "m1") == gen

    tenant.clear()  # only the adapter's own scope
    assert tenant.lookup("tenant question", "m1") is None
    assert everyone.lookup("global question", "m1") == gen

    with lix_scope("user:9"):  # a request scope narrows a bare clear() too: it never wipes other users
        everyone.update("user nine question", "m1", gen)
        everyone.clear()
        assert everyone.lookup("user nine question", "m1") is None
    assert everyone.lookup("global question", "m1") == gen

    with pytest.raises(TypeError):
        everyone.clear(bogus=1)
    everyone.clear()
    assert engine.semantic.count() == 0


async def test_aclear_with_filters(engine: Engine) -> None:
    cache = LixSemanticCache(engine.aio)
    await cache.aupdate("one question", "m1", [Generation(text="1")])
    await cache.aupdate("one question", "m2", [Generation(text="2")])
    await cache.aclear(llm_string="m1")
    assert await cache.alookup("one question", "m1") is None
    assert await cache.alookup("one question", "m2") == [Generation(text="2")]


def test_explain_reports_the_deciding_candidate(cache: LixSemanticCache) -> None:
    prompt = dumps(_ask(QUESTION))
    cache.update(prompt, "llm", [Generation(text="Paris")])
    candidates = cache.explain(dumps(_ask(PARAPHRASE)), "llm", k=3)
    assert candidates and candidates[0].served
    assert candidates[0].prompt == QUESTION
    assert cache.explain(dumps(_ask(QUESTION, system="other")), "llm") == []


async def test_shared_async_engine_fixture_closes(tmp_path: Path) -> None:
    async with AsyncEngine(_sqlite_url(tmp_path), embedder=FakeEmbedder()) as aengine:
        cache = LixSemanticCache(aengine)
        await cache.aupdate("hello there", "llm", [Generation(text="hi")])
        assert cache.lookup("hello there", "llm") == [Generation(text="hi")]


def test_bypass_counts_each_llm_call_once() -> None:
    # Issue 15, trap 6: the lookup and the update of one bypassed call were counted as two bypasses.
    with Engine("memory://", embedder=FakeEmbedder(), sampling="bypass") as engine:
        model = FakeListChatModel(responses=["a", "b", "c", "d"], cache=LixSemanticCache(engine))
        for question in ("one", "two", "three", "one"):
            model.invoke(question, temperature=0.7)  # call arguments go into LangChain's llm_string
        stats = engine.stats().semantic
    assert stats.bypassed == 4
    assert (stats.exact_hits, stats.semantic_hits, stats.updates) == (0, 0, 0)
