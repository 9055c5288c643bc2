"""The default local embedder (real model, offline) and the adapters for other embedding sources."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from lix_integrations import ConfigError, Engine
from lix_integrations.embedders import (
    DEFAULT_EMBEDDER_NAME,
    CallableEmbedder,
    EmbeddingsAdapter,
    LocalEmbedder,
    as_embedder,
)


def test_default_embedder_is_minilm_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = as_embedder(None)
    assert isinstance(embedder, LocalEmbedder) and embedder.name == DEFAULT_EMBEDDER_NAME
    a = np.asarray(embedder.embed("How do I reverse a list in Python?"))
    b = np.asarray(asyncio.run(embedder.aembed("How can I reverse a list in Python?")))
    c = np.asarray(embedder.embed("What is the boiling point of water?"))
    assert a.shape == (384,) == b.shape and abs(float(np.linalg.norm(a)) - 1) < 1e-4
    assert float(a @ b) > 0.9 > 0.3 > float(a @ c)


def test_engine_with_default_embedder_serves_a_paraphrase(tmp_path: object) -> None:
    engine = Engine("memory://")
    engine.semantic.update("How do I reverse a list in Python?", "m", "use reversed() or list[::-1]")
    hit = engine.semantic.lookup("How can I reverse a list in Python?", "m")
    assert hit is not None and hit.kind == "semantic" and hit.similarity > engine.semantic.threshold
    assert engine.semantic.lookup("How do I reverse a string in Go?", "m") is None
    # The model was loaded before the first batch, not inside it (issue 15, trap 7): once loaded, load() is free.
    assert LocalEmbedder().load() == 0.0
    assert engine.stats().embeddings.computed == 3


def test_langchain_embeddings_are_adapted_by_duck_typing() -> None:
    fake = DeterministicFakeEmbedding(size=16)
    embedder = as_embedder(fake)
    assert isinstance(embedder, EmbeddingsAdapter)
    assert embedder.dimension == 16 and "DeterministicFakeEmbedding" in embedder.name
    assert list(embedder.embed("x")) == fake.embed_query("x")
    assert asyncio.run(embedder.aembed("x")) == fake.embed_query("x")
    engine = Engine("memory://", embedder=fake)
    engine.semantic.update("hello", "m", "hi")
    assert engine.semantic.lookup("hello", "m") is not None


def test_callables_sync_and_async() -> None:
    def sync_fn(text: str) -> list[float]:
        return [1.0, float(len(text))]

    async def async_fn(text: str) -> list[float]:
        return [1.0, float(len(text))]

    assert as_embedder(sync_fn).embed("abc") == [1.0, 3.0]
    assert asyncio.run(as_embedder(sync_fn).aembed("abc")) == [1.0, 3.0]
    async_embedder = as_embedder(async_fn)
    assert isinstance(async_embedder, CallableEmbedder)
    assert asyncio.run(async_embedder.aembed("ab")) == [1.0, 2.0]
    with pytest.raises(ConfigError, match="async"):
        async_embedder.embed("ab")


def test_unusable_embedder_is_refused() -> None:
    with pytest.raises(ConfigError, match="cannot use int as an embedder"):
        as_embedder(42)
