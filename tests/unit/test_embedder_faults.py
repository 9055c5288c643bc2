"""Issue 14, defect 7: a misbehaving embedder never makes a cached call fail under ``fail_open`` (the default).

An embedder that returns NaN, an infinity, the wrong dimension, no components or a zero vector, and an engine opened
on a store written by another embedder (``SettingsMismatchError`` from inside the call), are a cache miss: the
LLM's (or tool's) answer is returned, one WARNING per cause is logged, and ``stats().embedder_faults`` counts every
occurrence. With ``fail_open=False`` they raise as before. The same for LlamaIndex's cached LLM and the embedding
wrappers, where the wrapped model's own bad vector is returned to the caller unchanged and uncached. Tool results and
the wrappers' vectors do not depend on the engine's embedder: on another embedder's store they are cached as usual.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM

from lix_integrations import AsyncEngine, Engine, InvalidVectorError, SettingsMismatchError
from lix_integrations.langchain import LixCachedEmbeddings, LixSemanticCache
from lix_integrations.llama_index import LixCachedEmbedding, LixCachedLLM
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.tools import ToolPolicy

DIM = 8
KINDS = {
    "nan": "nan_or_inf",
    "inf": "nan_or_inf",
    "dim": "wrong_dimension",
    "empty": "empty",
    "zero": "zero",
}


def bad_vector(kind: str, dim: int = DIM) -> list[float]:
    return {
        "nan": [math.nan] * dim,
        "inf": [math.inf] + [1.0] * (dim - 1),
        "dim": [1.0] * (dim + 3),
        "empty": [],
        "zero": [0.0] * dim,
    }[kind]


class BadEmbedder:
    """An embedder (lix protocol) that declares ``DIM`` and returns a bad vector of the given kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = "bad-embedder"
        self.dimension = DIM

    def embed(self, text: str) -> list[float]:
        return bad_vector(self.kind)

    async def aembed(self, text: str) -> list[float]:
        return self.embed(text)


class UndeclaredEmbedder(FakeEmbedder):
    """Named like a 8-dimension FakeEmbedder but declaring no dimension and returning 16: the store's settings only
    disagree once the first vector is computed, i.e. inside the call."""

    def __init__(self) -> None:
        super().__init__(16, name=f"lix-fake-bow-{DIM}")

    @property
    def dimension(self) -> int | None:
        return None


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://faults-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path / 'faults.db'}"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "embedder fault" in r.message
    ]


# -- LangChain's cache -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_langchain_call_returns_the_llm_answer(
    url: str, kind: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(url, embedder=BadEmbedder(kind))
    model = FakeListChatModel(responses=["first", "second", "third"], cache=LixSemanticCache(engine))
    with caplog.at_level(logging.WARNING):
        for expected in ("first", "second", "third"):
            if mode == "sync":
                answer = model.invoke("what is the capital of france")
            else:
                answer = asyncio.run(model.ainvoke("what is the capital of france"))
            assert answer.content == expected  # a miss each time: nothing was stored
    assert len(_warnings(caplog)) == 1 and KINDS[kind] in _warnings(caplog)[0]
    assert engine.stats().embedder_faults[KINDS[kind]] == 6  # 3 lookups + 3 updates
    engine.reset_stats()
    assert engine.stats().embedder_faults == {}


@pytest.mark.parametrize("kind", list(KINDS))
def test_langchain_call_raises_without_fail_open(url: str, kind: str) -> None:
    model = FakeListChatModel(
        responses=["first"], cache=LixSemanticCache(Engine(url, embedder=BadEmbedder(kind), fail_open=False))
    )
    with pytest.raises(InvalidVectorError):
        model.invoke("what is the capital of france")


def _written_by_another_embedder(url: str) -> None:
    Engine(url, embedder=FakeEmbedder(DIM)).close()


def test_settings_mismatch_inside_the_call_is_a_miss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    _written_by_another_embedder(url)
    engine = Engine(url, embedder=UndeclaredEmbedder())  # opens: the names agree, the size is not known yet
    model = FakeListChatModel(responses=["first", "second"], cache=LixSemanticCache(engine))
    with caplog.at_level(logging.WARNING):
        assert model.invoke("what is the capital of france").content == "first"
        assert model.invoke("what is the capital of france").content == "second"
    assert [w for w in _warnings(caplog) if "settings_mismatch:dimension" in w] == _warnings(caplog)
    assert len(_warnings(caplog)) == 1
    assert engine.stats().embedder_faults["settings_mismatch:dimension"] >= 2
    strict = Engine(url, embedder=UndeclaredEmbedder(), fail_open=False)
    model = FakeListChatModel(responses=["first"], cache=LixSemanticCache(strict))
    with pytest.raises(SettingsMismatchError):
        model.invoke("what is the capital of france")


async def test_async_engine_on_another_embedders_store_is_a_miss(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    _written_by_another_embedder(url)
    engine = AsyncEngine(url, embedder=FakeEmbedder(16))  # checked on first use, i.e. inside the call
    model = FakeListChatModel(responses=["first"], cache=LixSemanticCache(engine))
    assert (await model.ainvoke("what is the capital of france")).content == "first"
    assert engine.stats().embedder_faults == {"settings_mismatch:embedder": 2}
    strict = AsyncEngine(url, embedder=FakeEmbedder(16), fail_open=False)
    model = FakeListChatModel(responses=["first"], cache=LixSemanticCache(strict))
    with pytest.raises(SettingsMismatchError):
        await model.ainvoke("what is the capital of france")


# -- LlamaIndex's cached LLM -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_llama_index_cached_llm_returns_the_llm_answer(
    url: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    llm = LixCachedLLM(MockLLM(), Engine(url, embedder=BadEmbedder(kind)))
    with caplog.at_level(logging.WARNING):
        assert llm.complete("hello there").text == MockLLM().complete("hello there").text
        assert asyncio.run(llm.acomplete("hello there")).text == MockLLM().complete("hello there").text
    assert len(_warnings(caplog)) == 1
    assert llm.stats().embedder_faults[KINDS[kind]] == 4
    strict = LixCachedLLM(MockLLM(), Engine(url, embedder=BadEmbedder(kind), fail_open=False))
    with pytest.raises(InvalidVectorError):
        strict.complete("hello there")


# -- the tool tier -----------------------------------------------------------------------------------------------


async def test_tool_calls_on_another_embedders_store_are_cached(tmp_path: Path) -> None:
    """Tool results do not depend on the embedder: a store written by another one caches them all the same (they
    used to run uncached, counted as settings mismatches, while the engine checked its embedder for every tier;
    issue 16 item 6). The same engine's semantic tier is still refused."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    _written_by_another_embedder(url)
    engine = AsyncEngine(url, embedder=FakeEmbedder(16))
    calls: list[int] = []

    async def compute() -> dict[str, int]:
        calls.append(1)
        return {"n": len(calls)}

    policy = ToolPolicy(ttl=None)
    assert await engine.tools.call("lookup", {"q": 1}, compute, policy=policy) == {"n": 1}
    assert await engine.tools.call("lookup", {"q": 1}, compute, policy=policy) == {"n": 1}
    assert engine.stats().embedder_faults == {}
    strict = AsyncEngine(url, embedder=FakeEmbedder(16), fail_open=False)
    assert await strict.tools.call("lookup", {"q": 1}, compute, policy=policy) == {"n": 1}
    with pytest.raises(SettingsMismatchError, match="embedder"):
        await strict.semantic.update("what is the capital of france", "llm", "Paris")


# -- embedding wrappers ------------------------------------------------------------------------------------------


class BadEmbeddings(Embeddings):
    """A LangChain model whose own vectors are bad; counts its calls."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [bad_vector(self.kind) for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _same(got: list[list[float]], want: list[list[float]]) -> bool:
    return len(got) == len(want) and all(
        len(g) == len(w) and all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(g, w))
        for g, w in zip(got, want)
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_embedding_wrapper_returns_the_models_own_vectors_uncached(
    url: str, kind: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    inner = BadEmbeddings(kind)
    cached = LixCachedEmbeddings(
        inner, url=url, embedder=FakeEmbedder(), dimension=DIM if kind == "dim" else None
    )
    want = [bad_vector(kind), bad_vector(kind)]
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            if mode == "sync":
                got = cached.embed_documents(["a", "b"])
            else:
                got = asyncio.run(cached.aembed_documents(["a", "b"]))
            if kind == "zero":  # a zero vector is a valid model output for the wrappers: cached as it is
                assert got == want
            else:
                assert _same(got, want)  # what the model returned, unchanged
    if kind == "zero":
        assert inner.calls == 1 and not _warnings(caplog)
        return
    assert inner.calls == 2  # nothing was cached
    assert len(_warnings(caplog)) == 1 and KINDS[kind] in _warnings(caplog)[0]
    assert cached.stats().embedder_faults[KINDS[kind]] == 2


@pytest.mark.parametrize("kind", ["nan", "dim", "empty"])
def test_embedding_wrapper_raises_without_fail_open(url: str, kind: str) -> None:
    cached = LixCachedEmbeddings(
        BadEmbeddings(kind),
        url=url,
        embedder=FakeEmbedder(),
        fail_open=False,
        dimension=DIM if kind == "dim" else None,
    )
    with pytest.raises(InvalidVectorError):
        cached.embed_documents(["a"])


def test_embedding_wrapper_on_another_embedders_store_caches_under_its_own_model(tmp_path: Path) -> None:
    """The wrapped model's vectors are keyed by that model's identity, so the engine's embedder (here not the
    one the store's semantic entries were written with) does not matter: they are cached. They used to be
    computed uncached, as a settings mismatch, while the engine checked its embedder for every tier."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    _written_by_another_embedder(url)
    inner = _Good()
    cached = LixCachedEmbeddings(inner, AsyncEngine(url, embedder=FakeEmbedder(16)))

    async def twice() -> Any:
        return [await cached.aembed_documents(["a"]), await cached.aembed_documents(["a"])]

    first, second = asyncio.run(twice())
    assert first == second == [[1.0, 2.0]] and inner.calls == 1
    assert cached.stats().embedder_faults == {}


class _Good(Embeddings):
    def __init__(self) -> None:
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [[1.0, 2.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class _NanLlama(MockEmbedding):
    """A LlamaIndex model whose own vectors hold NaN."""

    @classmethod
    def class_name(cls) -> str:
        return "NanLlama"

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [bad_vector("nan") for _ in texts]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._get_text_embeddings(texts)

    def _get_text_embedding(self, text: str) -> list[float]:
        return bad_vector("nan")


def test_llama_index_embedding_wrapper_returns_the_models_own_vectors(url: str) -> None:
    cached = LixCachedEmbedding(_NanLlama(embed_dim=DIM), url=url, embedder=FakeEmbedder())
    got = cached.get_text_embedding_batch(["a", "b"])
    assert _same(got, [bad_vector("nan")] * 2)
    got = asyncio.run(cached.aget_text_embedding_batch(["a", "b"]))
    assert _same(got, [bad_vector("nan")] * 2)
    assert cached.engine.stats().embedder_faults == {"nan_or_inf": 2}
    strict = LixCachedEmbedding(_NanLlama(embed_dim=DIM), url=url, embedder=FakeEmbedder(), fail_open=False)
    with pytest.raises(InvalidVectorError):
        strict.get_text_embedding_batch(["a"])
