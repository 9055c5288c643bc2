"""LixStore on the embedded backends, sync and async (Redis, Valkey, Stack and Cluster: tests/integration)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytest.importorskip("langgraph")

from lix_integrations.testing.conformance_store import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://store-{uuid.uuid4().hex}"


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'store.db'}"


def test_index_true_embeds_whole_values_and_index_embed_builds_the_engine_embedder() -> None:
    from lix_integrations.errors import ConfigError
    from lix_integrations.langgraph import LixStore
    from lix_integrations.testing.fakes import FakeEmbedder

    fake = FakeEmbedder(128)
    calls: list[int] = []

    def embed_texts(texts: list[str]) -> list[list[float]]:  # LangGraph's EmbeddingsFunc shape
        calls.append(len(texts))
        return [fake.embed(t) for t in texts]

    store = LixStore(url=f"memory://{uuid.uuid4().hex}", index={"embed": embed_texts, "dims": 128})
    store.put(("n",), "a", {"text": "tea in Oslo"})
    store.put(("n",), "b", {"text": "coffee in Rome"})
    assert store.search(("n",), query="coffee in Rome")[0].key == "b"
    assert calls  # the index's embed function did the embedding
    store.close()

    whole = LixStore(url=f"memory://{uuid.uuid4().hex}", index=True, embedder=FakeEmbedder(128))
    whole.put(("n",), "a", {"city": "Oslo", "drink": "tea"})
    whole.put(("n",), "b", {"city": "Rome", "drink": "coffee"})
    assert whole.search(("n",), query="Rome coffee")[0].key == "b"
    with pytest.raises(ConfigError, match="embed"):
        LixStore(whole.engine, index={"embed": embed_texts})
    whole.close()
