"""lookup_order: when a semantic lookup embeds before its exact check, and that both orders agree."""

from __future__ import annotations

import time

import pytest

from lix_integrations import Engine
from lix_integrations.errors import ConfigError
from lix_integrations.testing.fakes import FakeEmbedder

LLM = "[('model', 'x'), ('temperature', 0.0)]"


class SlowEmbedder(FakeEmbedder):
    """A model that takes milliseconds, like a real one: far dearer than an in-memory store's round trip."""

    def embed(self, text: str) -> list[float]:
        time.sleep(0.003)
        return super().embed(text)


def test_auto_keeps_exact_hits_free_of_embedding_for_a_slow_model() -> None:
    embedder = SlowEmbedder()
    engine = Engine("memory://", embedder=embedder)
    engine.semantic.update("what is the capital of France", LLM, "Paris")
    for i in range(5):
        engine.semantic.lookup(f"an unrelated question number {i}", LLM)
    engine._core.embeddings.clear_front()  # as in another process: the prompt's vector is not at hand
    assert engine._core.embed_first("what is the capital of France") is False
    requests = (embedder.calls, engine.stats().embeddings.lookups)
    hit = engine.semantic.lookup("what is the capital of France", LLM)
    assert hit is not None and hit.kind == "exact"
    assert (embedder.calls, engine.stats().embeddings.lookups) == requests  # no vector even asked for
    engine.close()


def as_if_networked(engine: Engine) -> None:
    """Let the in-memory store stand for one with round trips (Redis), which is where the policy applies."""
    engine._core.backend.pipelines = True


def test_auto_never_embeds_first_on_an_embedded_store() -> None:
    fake = FakeEmbedder()
    known = {t: fake.embed(t) for t in ("a question asked once", "another")}
    engine = Engine("memory://", embedder=known.__getitem__)
    engine.semantic.lookup("a question asked once", LLM)
    engine.semantic.lookup("another", LLM)
    # The vector is in memory and the model is a dict lookup, yet an exact hit would only pay for embedding.
    assert engine._core.embed_first("a question asked once") is False
    engine.close()


def test_auto_embeds_first_when_the_vector_is_in_memory() -> None:
    engine = Engine("memory://", embedder=SlowEmbedder())
    as_if_networked(engine)
    assert engine._core.embed_first("never seen") is False  # nothing measured, nothing held: exact first
    engine.semantic.lookup("a question asked once", LLM)  # its vector is now in the front
    assert engine._core.embed_first("a question asked once") is True
    engine.close()


def test_auto_embeds_first_for_a_model_cheaper_than_a_round_trip() -> None:
    fake = FakeEmbedder()
    texts = [f"question {i}" for i in range(10)]
    known = {t: fake.embed(t) for t in texts}
    engine = Engine("memory://", embedder=known.__getitem__)
    as_if_networked(engine)
    core = engine._core
    for text in texts[:5]:
        engine.semantic.lookup(text, LLM)
    core._trip_cost.value = 1e-3  # as if the store were a network away (a memory:// round trip is ~10 us)
    assert core._embed_cost.value is not None and core._embed_cost.value * 4 < 1e-3
    decisions = [core.embed_first("question 9") for _ in range(128)]
    assert decisions.count(False) == 2  # every 64th lookup re-times the exact check's round trip
    engine.close()


@pytest.mark.parametrize("order", ["exact_first", "embed_first"])
def test_forced_orders_serve_the_same_answers(order: str) -> None:
    engine = Engine("memory://", embedder=FakeEmbedder(), lookup_order=order, threshold=0.5)
    engine.semantic.update("what is the capital city of France", LLM, "Paris")
    assert engine._core.embed_first("anything") is (order == "embed_first")
    exact = engine.semantic.lookup("what is the capital city of France", LLM)
    assert exact is not None and exact.kind == "exact" and exact.payload == "Paris"
    near = engine.semantic.lookup("what is the capital city of France please", LLM)
    assert near is not None and near.kind == "semantic" and near.payload == "Paris"
    assert engine.semantic.lookup("how tall is mount everest", LLM) is None
    engine.close()


def test_lookup_order_is_validated() -> None:
    with pytest.raises(ConfigError, match="lookup_order"):
        Engine("memory://", embedder=FakeEmbedder(), lookup_order="sideways")
