"""LixCachedEmbeddings (LangChain) and LixCachedEmbedding (LlamaIndex) around real framework objects."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.embeddings import MockEmbedding

from lix_integrations import Engine, InvalidInputError
from lix_integrations.errors import ConfigError
from lix_integrations.langchain import LixCachedEmbeddings
from lix_integrations.llama_index import LixCachedEmbedding
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.conformance_embeddings import fake_vector

# -- langchain-tests standard suites -------------------------------------------------------------------------


class TestStandardUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[LixCachedEmbeddings]:
        return LixCachedEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"underlying_embeddings": DeterministicFakeEmbedding(size=16), "url": "memory://"}


class TestStandardIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[LixCachedEmbeddings]:
        return LixCachedEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"underlying_embeddings": DeterministicFakeEmbedding(size=16), "url": "memory://"}


# -- fakes that record what they computed ------------------------------------------------------------------------


class RecordingEmbeddings(Embeddings):
    """A LangChain model with native async methods that records every call (and can fail)."""

    def __init__(self, size: int = 8, model: str = "rec-1") -> None:
        self.size = size
        self.model = model
        self.calls: list[tuple[str, list[str]]] = []
        self.fail: Exception | None = None

    def _vecs(self, kind: str, texts: list[str]) -> list[list[float]]:
        self.calls.append((kind, list(texts)))
        if self.fail is not None:
            raise self.fail
        return [fake_vector(t, self.size, self.model + kind[-5:]) for t in texts]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._vecs("documents", texts)

    def embed_query(self, text: str) -> list[float]:
        return self._vecs("query", [text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        await asyncio.sleep(0)
        return self._vecs("adocuments", texts)

    async def aembed_query(self, text: str) -> list[float]:
        await asyncio.sleep(0)
        return self._vecs("aquery", [text])[0]


class RecordingLlama(MockEmbedding):
    """MockEmbedding whose vectors depend on the text, recording the batches its private methods compute."""

    def __init__(self, embed_dim: int = 8, **kwargs: Any) -> None:
        super().__init__(embed_dim=embed_dim, **kwargs)
        self._log: list[tuple[str, list[str]]] = []

    @classmethod
    def class_name(cls) -> str:
        return "RecordingLlama"

    def _vec(self, kind: str, text: str) -> list[float]:
        return fake_vector(text, self.embed_dim, kind)

    def _get_query_embedding(self, query: str) -> list[float]:
        self._log.append(("query", [query]))
        return self._vec("q", query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        self._log.append(("aquery", [query]))
        return self._vec("q", query)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._log.append(("texts", list(texts)))
        return [self._vec("d", t) for t in texts]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._log.append(("atexts", list(texts)))
        return [self._vec("d", t) for t in texts]


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://wrap-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path / 'wrap.db'}"


def _f32(vec: list[float]) -> list[float]:
    import numpy as np

    return np.asarray(vec, dtype=np.float32).tolist()  # type: ignore[no-any-return]


# -- LangChain ------------------------------------------------------------------------------------------------


def test_langchain_documents_compute_only_misses(url: str) -> None:
    inner = RecordingEmbeddings()
    cached = LixCachedEmbeddings(inner, url=url, embedder=FakeEmbedder())
    out = cached.embed_documents(["a", "b", "a"])
    assert inner.calls == [("documents", ["a", "b"])]
    assert out == [_f32(fake_vector(t, 8, "rec-1ments")) for t in ["a", "b", "a"]]
    assert all(isinstance(x, float) for x in out[0])
    assert cached.embed_documents(["b", "c"]) == [out[1], _f32(fake_vector("c", 8, "rec-1ments"))]
    assert inner.calls[-1] == ("documents", ["c"])
    # A fresh engine on the same store (another process) reads back what was computed, bit for bit.
    again = LixCachedEmbeddings(RecordingEmbeddings(), url=url, embedder=FakeEmbedder())
    assert again.embed_documents(["a", "b", "a"]) == out
    assert again.embedding_stats().store_hits == 2


async def test_langchain_async_awaits_the_native_methods(url: str) -> None:
    inner = RecordingEmbeddings()
    cached = LixCachedEmbeddings(inner, url=url, embedder=FakeEmbedder())
    docs = await cached.aembed_documents(["x", "y"])
    query = await cached.aembed_query("x")
    assert inner.calls == [("adocuments", ["x", "y"]), ("aquery", ["x"])]
    assert query != docs[0]  # the query role is cached apart from documents
    assert await cached.aembed_query("x") == query
    assert cached.embed_query("x") == query and cached.embed_documents(["y"]) == [docs[1]]
    assert len(inner.calls) == 2


def test_langchain_queries_cached_under_their_role(url: str) -> None:
    inner = RecordingEmbeddings()
    cached = LixCachedEmbeddings(inner, url=url, embedder=FakeEmbedder())
    q = cached.embed_query("hello")
    assert cached.embed_query("hello") == q
    assert inner.calls == [("query", ["hello"])]
    cached.embed_documents(["hello"])
    assert inner.calls[-1] == ("documents", ["hello"])
    passthrough = LixCachedEmbeddings(inner, url=url, embedder=FakeEmbedder(), cache_queries=False)
    passthrough.embed_query("hello")
    assert inner.calls[-1] == ("query", ["hello"])


def test_langchain_models_and_namespaces_do_not_share(url: str) -> None:
    engine = Engine(url, embedder=FakeEmbedder())
    small, other = RecordingEmbeddings(model="m-1"), RecordingEmbeddings(model="m-2")
    LixCachedEmbeddings(small, engine).embed_documents(["t"])
    LixCachedEmbeddings(other, engine).embed_documents(["t"])
    assert len(other.calls) == 1
    LixCachedEmbeddings(small, engine, space="tenant-a").embed_documents(["t"])
    assert len(small.calls) == 2
    LixCachedEmbeddings(small, engine, space="tenant-a").embed_documents(["t"])
    assert len(small.calls) == 2
    a16, a8 = DeterministicFakeEmbedding(size=16), DeterministicFakeEmbedding(size=8)
    assert len(LixCachedEmbeddings(a16, engine).embed_query("t")) == 16
    assert len(LixCachedEmbeddings(a8, engine).embed_query("t")) == 8


def test_langchain_model_that_raises_caches_nothing(url: str) -> None:
    inner = RecordingEmbeddings()
    cached = LixCachedEmbeddings(inner, url=url, embedder=FakeEmbedder())
    inner.fail = RuntimeError("rate limited")
    with pytest.raises(RuntimeError, match="rate limited"):
        cached.embed_documents(["a"])
    with pytest.raises(RuntimeError, match="rate limited"):
        asyncio.run(cached.aembed_query("a"))
    assert cached.engine.embeddings.usage() == (0, 0)
    inner.fail = None
    cached.embed_documents(["a"])
    assert inner.calls[-1] == ("documents", ["a"])


def test_langchain_edge_inputs(url: str) -> None:
    inner = RecordingEmbeddings()
    cached = LixCachedEmbeddings(inner, url=url, embedder=FakeEmbedder())
    assert cached.embed_documents([]) == [] and inner.calls == []
    assert len(cached.embed_query("")) == 8
    long_text = "lorem ipsum " * 100_000
    assert cached.embed_documents([long_text]) == cached.embed_documents([long_text])
    assert len(inner.calls) == 2
    with pytest.raises(InvalidInputError, match=r"texts\[0\] must be a str, got int"):
        cached.embed_documents([1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="must be a str"):
        cached.embed_query(None)  # type: ignore[arg-type]


def test_langchain_engine_argument_forms(tmp_path: Path) -> None:
    inner = DeterministicFakeEmbedding(size=4)
    engine = Engine(f"sqlite:///{tmp_path / 'e.db'}", embedder=FakeEmbedder())
    shared = LixCachedEmbeddings(inner, engine)
    assert shared.engine is engine
    assert LixCachedEmbeddings(inner, engine.aio).engine.url == engine.url
    assert LixCachedEmbeddings(inner).engine.url.endswith("cache.db")  # the embedded default store
    with pytest.raises(ConfigError, match="cannot be applied"):
        LixCachedEmbeddings(inner, engine, space="x", max_entries=3)
    with pytest.raises(ConfigError, match="Embeddings"):
        LixCachedEmbeddings(object(), "memory://")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        LixCachedEmbeddings(inner, url="memory://", ttl=-5)


# -- LlamaIndex -----------------------------------------------------------------------------------------------


def test_llama_index_batches_compute_only_misses(url: str) -> None:
    inner = RecordingLlama(embed_dim=8, model_name="rec-model", embed_batch_size=2)
    cached = LixCachedEmbedding(inner, url=url, embedder=FakeEmbedder())
    out = cached.get_text_embedding_batch(["a", "b", "a", "c"])
    assert inner._log == [
        ("texts", ["a", "b"]),
        ("texts", ["c"]),
    ]  # misses, in the wrapped model's batch size
    assert out[0] == out[2] == _f32(fake_vector("a", 8, "d"))
    assert cached.get_text_embedding_batch(["c", "d"])[0] == out[3]
    assert inner._log[-1] == ("texts", ["d"])
    assert cached.get_text_embedding("a") == out[0]
    query = cached.get_query_embedding("a")
    assert query == _f32(fake_vector("a", 8, "q")) and inner._log[-1] == ("query", ["a"])
    assert cached.get_query_embedding("a") == query
    assert len(inner._log) == 4


async def test_llama_index_async_awaits_the_wrapped_async_methods(url: str) -> None:
    inner = RecordingLlama(embed_dim=8)
    cached = LixCachedEmbedding(inner, url=url, embedder=FakeEmbedder())
    docs = await cached.aget_text_embedding_batch(["p", "q", "p"])
    await cached.aget_query_embedding("p")
    await cached.aget_text_embedding("q")
    assert inner._log == [("atexts", ["p", "q"]), ("aquery", ["p"])]
    assert docs[0] == docs[2]


def test_llama_index_identity_and_serialization(url: str) -> None:
    inner = RecordingLlama(embed_dim=8, model_name="rec-model")
    cached = LixCachedEmbedding(inner, url=url, embedder=FakeEmbedder(), space="tenant-a")
    assert cached.model_name == "rec-model"
    assert cached.class_name() == "LixCachedEmbedding[RecordingLlama]"
    assert LixCachedEmbedding.class_name() == "LixCachedEmbedding"
    data = cached.to_dict()
    assert data["class_name"] == "LixCachedEmbedding[RecordingLlama]" and data["space"] == "tenant-a"
    assert "engine" not in data and "_engine" not in data
    assert cached.embed_model is inner and isinstance(cached, BaseEmbedding)


def test_llama_index_models_and_namespaces_do_not_share(url: str) -> None:
    engine = Engine(url, embedder=FakeEmbedder())
    a = RecordingLlama(embed_dim=8, model_name="a")
    b = RecordingLlama(embed_dim=8, model_name="b")
    LixCachedEmbedding(a, engine).get_text_embedding("t")
    LixCachedEmbedding(b, engine).get_text_embedding("t")
    LixCachedEmbedding(a, engine, space="other").get_text_embedding("t")
    assert (len(a._log), len(b._log)) == (2, 1)


def test_llama_index_model_that_raises_caches_nothing(url: str) -> None:
    class Broken(RecordingLlama):
        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            raise RuntimeError("quota exceeded")

    cached = LixCachedEmbedding(Broken(embed_dim=8), url=url, embedder=FakeEmbedder())
    with pytest.raises(RuntimeError, match="quota exceeded"):
        cached.get_text_embedding_batch(["a", "b"])
    assert cached.engine.embeddings.usage() == (0, 0)


def test_llama_index_edge_inputs(url: str) -> None:
    inner = RecordingLlama(embed_dim=8)
    cached = LixCachedEmbedding(inner, url=url, embedder=FakeEmbedder())
    assert cached.get_text_embedding_batch([]) == [] and inner._log == []
    assert len(cached.get_text_embedding("")) == 8
    with pytest.raises(ValueError, match="must be a str"):
        cached._get_text_embeddings(["ok", 5])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="BaseEmbedding"):
        LixCachedEmbedding("not a model", url)  # type: ignore[arg-type]


# -- a real model ----------------------------------------------------------------------------------------------


def test_minilm_vectors_read_back_equal_the_computed_ones(tmp_path: Path) -> None:
    """The default offline MiniLM embedder through the tier: what a fresh engine reads back is what was computed."""
    import numpy as np

    url = f"sqlite:///{tmp_path / 'minilm.db'}"
    texts = [
        "How do I reset my password?",
        "Where is the nearest train station?",
        "How do I reset my password?",
    ]
    with Engine(url) as first:
        computed = first.embeddings.embed(texts, role="query")
        assert computed.shape == (3, 384) and first.embeddings.stats().computed == 2
        reference = np.stack([np.asarray(first._core.embedder.embed(t), dtype=np.float32) for t in texts])
        np.testing.assert_allclose(
            computed, reference / np.linalg.norm(reference, axis=1, keepdims=True), atol=1e-6
        )
    with Engine(url) as second:
        read_back = second.embeddings.embed(texts, role="query")
        assert second.embeddings.stats().computed == 0 and second.embeddings.stats().store_hits == 2
    np.testing.assert_array_equal(read_back, computed)


def test_store_failure_still_computes_when_failing_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken cache store must not fail an embedding the model can compute (and is an error when asked)."""
    inner = RecordingEmbeddings()
    cached = LixCachedEmbeddings(inner, url=f"sqlite:///{tmp_path / 'open.db'}", embedder=FakeEmbedder())
    cached.engine._core.backend.close()  # every later store operation raises BackendError
    out = cached.embed_documents(["a", "b"])
    assert len(out) == 2 and inner.calls == [("documents", ["a", "b"])]
    assert cached.embedding_stats().store_errors == 2  # the read and the write
    assert "failed (embedding store read); serving misses" in caplog.text
    strict = LixCachedEmbeddings(
        inner, url=f"sqlite:///{tmp_path / 'strict.db'}", embedder=FakeEmbedder(), fail_open=False
    )
    strict.engine._core.backend.close()
    from lix_integrations import BackendError

    with pytest.raises(BackendError):
        strict.embed_documents(["a"])


# -- namespace= is the engine's, space= the embedding space (issue 15, trap 5) ------------------------------------


def _vectors_in(url: str, namespace: str) -> int:
    with Engine(url, embedder=FakeEmbedder(), namespace=namespace) as engine:
        return engine.embeddings.usage()[0]


def test_namespace_option_reaches_the_engine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ns.db'}"
    lc = LixCachedEmbeddings(
        DeterministicFakeEmbedding(size=4), url=url, embedder=FakeEmbedder(), namespace="t-a"
    )
    li = LixCachedEmbedding(RecordingLlama(embed_dim=4), url=url, embedder=FakeEmbedder(), namespace="t-b")
    assert (lc.engine.namespace, lc.namespace, lc.space) == ("t-a", "t-a", "")
    assert (li.engine.namespace, li.space) == ("t-b", "")
    lc.embed_documents(["one", "two"])
    li.get_text_embedding("three")
    assert (_vectors_in(url, "t-a"), _vectors_in(url, "t-b"), _vectors_in(url, "default")) == (2, 1, 0)
    lc.engine.close()
    li.engine.close()


def test_namespace_with_an_engine_instance_is_the_space_with_a_deprecation_warning(url: str) -> None:
    engine = Engine(url, embedder=FakeEmbedder())
    inner = RecordingEmbeddings(model="m")
    with pytest.warns(DeprecationWarning, match="space='tenant-a'"):
        old = LixCachedEmbeddings(inner, engine, namespace="tenant-a")
    assert old.space == "tenant-a" and old.engine is engine
    old.embed_documents(["t"])
    LixCachedEmbeddings(inner, engine, space="tenant-a").embed_documents(["t"])
    assert len(inner.calls) == 1  # the same space: computed once
    with pytest.warns(DeprecationWarning, match="space="):
        legacy = LixCachedEmbedding(RecordingLlama(embed_dim=4), engine, namespace="x")
    assert legacy.space == "x"
    with pytest.raises(ConfigError, match="space must be a string"):
        LixCachedEmbeddings(inner, engine, space=5)  # type: ignore[arg-type]
    engine.close()
