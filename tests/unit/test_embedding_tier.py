"""The embedding tier's conformance suite on both embedded backends (sync and async), plus its pure parts."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from lix_integrations.errors import ConfigError, InvalidVectorError
from lix_integrations.testing.conformance_embeddings import EmbeddingConformance
from lix_integrations.tiers.embeddings import (
    EmbeddingConfig,
    EmbeddingModel,
    decode_vector,
    encode_vector,
    text_hash,
)


class TestMemoryEmbeddings(EmbeddingConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://emb-{uuid.uuid4().hex}"


class TestSQLiteEmbeddings(EmbeddingConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'emb.db'}"


def test_vectors_are_float32_bytes() -> None:
    vec = np.asarray([0.5, -1.25, 3.0], dtype=np.float32)
    raw = encode_vector(vec)
    assert raw == vec.astype("<f4").tobytes() and len(raw) == 12
    np.testing.assert_array_equal(decode_vector(raw, 3), vec)
    with pytest.raises(InvalidVectorError, match="dimension 3, expected 4"):
        decode_vector(raw, 4)
    with pytest.raises(InvalidVectorError, match="whole number"):
        decode_vector(raw[:-1], None)


def test_model_identity_is_in_the_key() -> None:
    base = EmbeddingModel("m", dimension=8)
    keys = {
        base.key(),
        EmbeddingModel("m2", dimension=8).key(),
        EmbeddingModel("m", dimension=16).key(),
        EmbeddingModel("m", dimension=8, normalize=True).key(),
        base.key("tenant"),
    }
    assert len(keys) == 5
    assert text_hash("a") != text_hash("a ") and len(text_hash("a")) == 64  # exact text, 256-bit BLAKE2b


@pytest.mark.parametrize(
    "options",
    [
        {"ttl": 0},
        {"max_entries": 0},
        {"max_bytes": -1},
        {"front_entries": -1},
        {"evict_every": 0},
        {"table": ""},
    ],
)
def test_config_is_validated(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        EmbeddingConfig(**options)  # type: ignore[arg-type]


def test_model_is_validated() -> None:
    with pytest.raises(ConfigError, match="name"):
        EmbeddingModel("")
    with pytest.raises(ConfigError, match="dimension"):
        EmbeddingModel("m", dimension=0)


class UndeclaredEmbedder:
    """A model that does not say its dimension (a LangChain ``Embeddings``, a plain function): counts its calls."""

    name = "undeclared-bow"
    dimension = None

    def __init__(self) -> None:
        from lix_integrations.testing.fakes import FakeEmbedder

        self._inner = FakeEmbedder()
        self.calls: list[str] = []

    def embed(self, text: str) -> list[float]:
        self.calls.append(text)
        return self._inner.embed(text)

    async def aembed(self, text: str) -> list[float]:
        return self.embed(text)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_first_prompt_of_an_undeclared_embedder_is_embedded_once(tmp_path: Path, mode: str) -> None:
    # Issue 15, trap 4: the prompt model's key changed once the first vector told the dimension, so the
    # update after the first lookup missed the vector just computed and embedded the prompt again.
    import asyncio

    from lix_integrations import AsyncEngine, Engine

    url = f"sqlite:///{tmp_path / 'e.db'}"
    embedder = UndeclaredEmbedder()
    if mode == "sync":
        with Engine(url, embedder=embedder) as engine:
            assert engine.semantic.lookup("first prompt", "m") is None
            engine.semantic.update("first prompt", "m", "answer")
    else:

        async def run() -> None:
            engine = await AsyncEngine(url, embedder=embedder).open()
            assert await engine.semantic.lookup("first prompt", "m") is None
            await engine.semantic.update("first prompt", "m", "answer")
            await engine.aclose()

        asyncio.run(run())
    assert embedder.calls == ["first prompt"]
    with Engine(url, embedder=embedder) as again:  # another process: the stored vector is found
        again.semantic.lookup("first prompt, said again", "m")
        again.semantic.update("first prompt", "m", "answer")
    assert embedder.calls == ["first prompt", "first prompt, said again"]


class LazyEmbedder:
    """Loads lazily like the default embedder; says what one load took (as if measured) and where it happened."""

    name = "lazy-bow"
    dimension = 16
    LOAD_SECONDS = 14.5

    def __init__(self) -> None:
        from lix_integrations.testing.fakes import FakeEmbedder

        self._inner = FakeEmbedder(16)
        self.loads = 0
        self.loaded_inside_embed = False

    def load(self) -> float:
        if self.loads:
            return 0.0
        self.loads += 1
        return self.LOAD_SECONDS

    def embed(self, text: str) -> list[float]:
        if not self.loads:
            self.loaded_inside_embed = True  # the first batch's timing would include the load
            self.load()
        return self._inner.embed(text)

    async def aembed(self, text: str) -> list[float]:
        return self.embed(text)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_model_load_time_is_kept_apart_from_compute(mode: str) -> None:
    # Issue 15, trap 7: the one-time model load was counted as computing, so two cached vectors "saved 14.5 s".
    import asyncio

    from lix_integrations import AsyncEngine, Engine

    embedder = LazyEmbedder()

    async def run(engine: AsyncEngine) -> None:
        for prompt in ("first", "second", "first"):
            await engine.semantic.lookup(prompt, "m")
            await engine.semantic.update(prompt, "m", "answer")

    engine = Engine("memory://", embedder=embedder)
    if mode == "sync":
        for prompt in ("first", "second", "first"):
            engine.semantic.lookup(prompt, "m")
            engine.semantic.update(prompt, "m", "answer")
    else:
        asyncio.run(run(engine.aio))
    stats = engine.stats().embeddings
    engine.close()
    assert embedder.loads == 1 and not embedder.loaded_inside_embed
    assert stats.load_seconds == LazyEmbedder.LOAD_SECONDS
    assert stats.computed == 2 and stats.to_dict()["load_seconds"] == LazyEmbedder.LOAD_SECONDS
