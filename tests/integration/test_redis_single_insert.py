"""A single insert on Redis, once the engine has measured its embedder cheaper than a round trip, computes the
prompt's vector without the embedding store (`EmbeddingTier.compute_one`): the same stored vector, the same
statistics and the same embedder faults as the general path (`EmbeddingTier.embed`) that it replaces there, on a
Query Engine store and in plain mode, blocking and awaited."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

import numpy as np
import pytest
import redis

from lix_integrations import AsyncEngine, Engine, InvalidVectorError

from .conftest import with_prefix

DIM = 8


class ArrayEmbedder:
    """Non-unit float32 vectors (what a model returns), a bad one for texts naming a fault."""

    name = "array-embedder"
    dimension = DIM

    def embed(self, text: str) -> Any:
        kind = text.split()[0]
        if kind == "nan":
            return np.full(DIM, np.nan, dtype=np.float32)
        if kind == "inf":
            return np.where(np.arange(DIM) == 2, np.float32(np.inf), np.float32(1.0)).astype(np.float32)
        if kind == "zero":
            return np.zeros(DIM, dtype=np.float32)
        if kind == "dim":
            return np.ones(DIM + 1, dtype=np.float32)
        if kind == "list":
            return [float(x) for x in self.good(text)]
        return self.good(text)

    @staticmethod
    def good(text: str) -> np.ndarray:
        seed = int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little")
        return (np.random.default_rng(seed).normal(size=DIM) * 5).astype(np.float32)

    async def aembed(self, text: str) -> Any:
        return self.embed(text)


def url_for(base: str, index: str) -> str:
    return with_prefix(base, prefix="t" + uuid.uuid4().hex[:16], index=index)


def cheap(engine: Engine | AsyncEngine) -> None:
    """As the engine measures them: an embedding in 1 us, a round trip in 1 ms (the single-insert path)."""
    engine._core._embed_cost.value, engine._core._trip_cost.value = 1e-6, 1e-3


@pytest.fixture(params=["hnsw", "none"])
def index(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("kind", ["array", "list"])
def test_a_single_insert_stores_the_unit_vector_and_counts_as_embed_does(
    redis_stack_url: str, raw: redis.Redis, index: str, kind: str
) -> None:
    url = url_for(redis_stack_url, index)
    engines = []
    try:
        for path in ("general", "lean"):
            engine = Engine(url, embedder=ArrayEmbedder(), namespace=path)
            engines.append(engine)
            if path == "lean":
                cheap(engine)
            engine.reset_stats()
            entry_id = engine.semantic.update(f"{kind} question", "llm", f"answer {path}")
            assert entry_id is not None
            stats = engine.stats().embeddings
            assert (stats.lookups, stats.misses, stats.computed) == (1, 1, 1)
            assert stats.stored == (1 if path == "general" else 0)  # the store skipped once measured cheap
            hit = engine.semantic.lookup(f"{kind} question", "llm")
            assert hit is not None and hit.payload == f"answer {path}"
            candidates = engine.semantic.explain(f"{kind}  question", "llm")  # not exact: searched by vector
            assert candidates[0].similarity == pytest.approx(1.0, abs=1e-3)
        general, lean = (
            [e.semantic.entries() for e in engines][0][0],
            [e.semantic.entries() for e in engines][1][0],
        )
        assert general.prompt == lean.prompt
        expected = ArrayEmbedder.good(f"{kind} question")
        expected = expected / np.float32(math.sqrt(float(np.dot(expected, expected))))
        # The vector the lean path computed is the one this process keeps in its front, bit for bit.
        model = engines[1]._core._prompt_model()
        front = engines[1]._core.embeddings.front_vector(f"{kind} question", model, role="query")
        assert front is not None and front.tobytes() == expected.astype(np.float32).tobytes()
        assert not front.flags.writeable
    finally:
        for engine in engines:
            engine.close()


@pytest.mark.parametrize(
    "kind,cause",
    [("nan", "nan_or_inf"), ("inf", "nan_or_inf"), ("zero", "zero"), ("dim", "wrong_dimension")],
)
def test_a_bad_vector_on_the_single_insert_path_is_the_fault_it_was(
    redis_stack_url: str, index: str, kind: str, cause: str
) -> None:
    url = url_for(redis_stack_url, index)
    with Engine(url, embedder=ArrayEmbedder()) as engine:
        assert engine.semantic.update("good question", "llm", "answer") is not None
        cheap(engine)
        assert engine.semantic.update(f"{kind} question", "llm", "answer") is None  # fails open
        assert engine.stats().embedder_faults == {cause: 1}
        assert engine.semantic.lookup(f"{kind} question", "llm") is None
    with Engine(url, embedder=ArrayEmbedder(), fail_open=False) as engine:
        cheap(engine)
        with pytest.raises(InvalidVectorError) as caught:
            engine.semantic.update(f"{kind} question", "llm", "answer")
        assert caught.value.cause == cause


def test_an_awaited_single_insert_takes_the_same_path(redis_stack_url: str, index: str) -> None:
    async def main() -> None:
        engine = AsyncEngine(url_for(redis_stack_url, index), embedder=ArrayEmbedder())
        try:
            cheap(engine)
            assert await engine.semantic.update("array question", "llm", "answer") is not None
            stats = engine.stats().embeddings
            assert (stats.computed, stats.stored) == (1, 0)
            assert await engine.semantic.update("nan question", "llm", "answer") is None
            assert engine.stats().embedder_faults == {"nan_or_inf": 1}
            hit = await engine.semantic.lookup("array question", "llm")
            assert hit is not None and hit.payload == "answer"
        finally:
            await engine.aclose()

    asyncio.run(main())
