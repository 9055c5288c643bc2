"""``batch_size=`` on ``LixCachedEmbeddings`` (issue 21): as LangChain's ``CacheBackedEmbeddings``, the texts not
cached are computed that many at a time, each batch stored before the next."""

from __future__ import annotations

import pytest
from langchain_core.embeddings import Embeddings

from lix_integrations import ConfigError, Engine
from lix_integrations.langchain import LixCachedEmbeddings
from lix_integrations.testing import FakeEmbedder


class Recording(Embeddings):
    """Bag-of-words vectors; records each batch; fails the batch holding ``fail_on``."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.fail_on: str | None = None
        self._fake = FakeEmbedder(16)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        if self.fail_on in texts:
            raise RuntimeError("model down")
        return [list(map(float, self._fake.embed(t))) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


TEXTS = [f"text number {i}" for i in range(7)]


def test_misses_are_computed_in_batches_of_batch_size() -> None:
    model = Recording()
    cached = LixCachedEmbeddings(model, Engine("memory://", embedder=FakeEmbedder()), batch_size=3)
    cached.embed_documents(TEXTS[:2])  # two cached first
    model.batches.clear()
    vectors = cached.embed_documents(TEXTS)
    assert [len(b) for b in model.batches] == [3, 2]  # the five misses, three at a time
    assert sum(model.batches, []) == TEXTS[2:]
    assert len(vectors) == 7 and vectors == cached.embed_documents(TEXTS)  # all cached now
    assert len(model.batches) == 2


async def test_a_failed_batch_keeps_the_batches_before_it() -> None:
    model = Recording()
    model.fail_on = TEXTS[4]
    cached = LixCachedEmbeddings(model, Engine("memory://", embedder=FakeEmbedder()), batch_size=2)
    with pytest.raises(RuntimeError, match="model down"):
        await cached.aembed_documents(TEXTS)
    assert model.batches == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:6]]
    model.fail_on, model.batches = None, []
    cached.embed_documents(TEXTS)
    assert model.batches == [TEXTS[4:6], TEXTS[6:]]  # the first two batches were stored


def test_without_batch_size_the_misses_are_one_call() -> None:
    model = Recording()
    LixCachedEmbeddings(model, Engine("memory://", embedder=FakeEmbedder())).embed_documents(TEXTS)
    assert model.batches == [TEXTS]


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_a_bad_batch_size_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        LixCachedEmbeddings(Recording(), url="memory://", batch_size=bad)  # type: ignore[arg-type]
