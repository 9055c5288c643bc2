"""Conformance suite for the embedding tier, on every backend, in sync and async mode.

Subclass `EmbeddingConformance` and provide a ``backend_url`` fixture returning a fresh store's URL that
every engine opened with it shares (``memory://<unique>`` or a SQLite file). Each test runs through
`Engine` and through `AsyncEngine`; in async mode the model's
async batch function must be the one awaited.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from ..engine.engine import Engine
from ..errors import InvalidInputError, InvalidVectorError
from ..kernel.ops import KvItem, KvPut
from ..tiers.embeddings import EmbeddingConfig, EmbeddingModel, EmbeddingTier
from .fakes import FakeClock, FakeEmbedder
from .suite import BackendSuite, engines_on

__all__ = ["BatchModel", "EmbeddingConformance", "EmbeddingDriver"]


def fake_vector(text: str, dimension: int, salt: str = "") -> list[float]:
    """A deterministic non-unit vector per (salt, text), so tests can predict every result."""
    seed = hashlib.blake2b((salt + "\x00" + text).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(seed, "big"))
    return [float(x) for x in rng.normal(size=dimension) * 3.0]


class BatchModel:
    """A fake embedding model with sync and async batch functions that records every batch it computed."""

    def __init__(self, dimension: int = 8, *, name: str = "fake-batch", returns: int | None = None) -> None:
        self.dimension = dimension
        self.name = name
        self.returns = returns or dimension  # what it actually returns (to test a dimension mismatch)
        self.batches: list[tuple[str, list[str]]] = []
        self.fail: BaseException | None = None
        self._lock = threading.Lock()

    def expected(self, text: str) -> np.ndarray:
        return np.asarray(fake_vector(text, self.returns, self.name), dtype=np.float32)

    def _run(self, kind: str, texts: list[str]) -> list[list[float]]:
        with self._lock:
            self.batches.append((kind, list(texts)))
        if self.fail is not None:
            raise self.fail
        return [fake_vector(t, self.returns, self.name) for t in texts]

    def compute(self, texts: list[str]) -> list[list[float]]:
        return self._run("sync", texts)

    async def acompute(self, texts: list[str]) -> list[list[float]]:
        await asyncio.sleep(0)
        return self._run("async", texts)

    @property
    def computed(self) -> list[str]:
        return [t for _, batch in self.batches for t in batch]

    def model(self, **overrides: Any) -> EmbeddingModel:
        options: dict[str, Any] = {
            "name": self.name,
            "compute": self.compute,
            "acompute": self.acompute,
            "dimension": self.dimension,
        }
        options.update(overrides)
        return EmbeddingModel(**options)


class EmbeddingDriver:
    """``engine.embeddings`` called synchronously or through the async engine (one event loop per call)."""

    def __init__(self, engine: Engine, mode: str) -> None:
        self.engine = engine
        self.mode = mode

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.mode == "sync" or name in ("front_usage", "clear_front", "stats"):  # not awaitable
                return getattr(self.engine.embeddings, name)(*args, **kwargs)
            return asyncio.run(getattr(self.engine.aio.embeddings, name)(*args, **kwargs))

        return call

    @property
    def tier(self) -> EmbeddingTier:
        return self.engine._core.embeddings


class EmbeddingConformance(BackendSuite):
    """Behaviour of the embedding tier that must hold on every backend and in both modes."""

    @pytest.fixture
    def make(self, backend_url: str, mode: str, clock: FakeClock) -> Iterator[Callable[..., EmbeddingDriver]]:
        with engines_on(backend_url, lambda: {"embedder": FakeEmbedder(), "clock": clock}) as open_engine:
            yield lambda **options: EmbeddingDriver(open_engine(**options), mode)

    @pytest.fixture
    def emb(self, make: Callable[..., EmbeddingDriver]) -> EmbeddingDriver:
        return make()

    @pytest.fixture
    def fake(self) -> BatchModel:
        return BatchModel()

    # -- hits, misses, order ---------------------------------------------------------------------------------

    def test_hit_and_miss_accounting(self, make: Callable[..., EmbeddingDriver], fake: BatchModel) -> None:
        first = make()
        first.embed(["a", "b"], model=fake.model())
        stats = first.stats()
        assert (stats.lookups, stats.misses, stats.computed, stats.hits) == (2, 2, 2, 0)
        first.embed(["a", "b"], model=fake.model())
        stats = first.stats()
        assert (stats.front_hits, stats.store_hits, stats.computed) == (2, 0, 2)
        assert stats.saved_seconds >= 0 and stats.compute_seconds > 0
        second = make()  # another engine on the same store: an empty front, the store answers
        out = second.embed(["b", "a", "c"], model=fake.model())
        stats = second.stats()
        assert (stats.front_hits, stats.store_hits, stats.misses) == (0, 2, 1)
        assert fake.computed == ["a", "b", "c"]
        np.testing.assert_array_equal(out, np.stack([fake.expected(t) for t in ["b", "a", "c"]]))
        assert stats.to_dict()["hits"] == 2

    def test_order_and_duplicates_in_a_batch(self, emb: EmbeddingDriver, fake: BatchModel) -> None:
        texts = ["b", "a", "b", "c", "a", "b"]
        out = emb.embed(texts, model=fake.model())
        assert [batch for _, batch in fake.batches] == [["b", "a", "c"]]  # one call, distinct texts, in order
        assert out.shape == (6, 8) and out.dtype == np.float32
        np.testing.assert_array_equal(out, np.stack([fake.expected(t) for t in texts]))
        assert emb.stats().deduplicated == 3
        again = emb.embed(["c", "z", "a"], model=fake.model())
        assert fake.batches[-1][1] == ["z"]
        np.testing.assert_array_equal(again, np.stack([fake.expected(t) for t in ["c", "z", "a"]]))

    def test_async_mode_awaits_the_async_function(self, emb: EmbeddingDriver, fake: BatchModel) -> None:
        emb.embed(["x"], model=fake.model())
        assert fake.batches[0][0] == emb.mode
        sync_only = BatchModel(name="sync-only")
        emb.embed(["x"], model=sync_only.model(acompute=None))  # async engine runs it in a worker thread
        assert sync_only.batches[0][0] == "sync"

    def test_roles_are_separate(self, emb: EmbeddingDriver, fake: BatchModel) -> None:
        emb.embed(["same text"], model=fake.model(), role="document")
        emb.embed(["same text"], model=fake.model(), role="query")
        assert len(fake.batches) == 2
        emb.embed(["same text"], model=fake.model(), role="query")
        assert len(fake.batches) == 2
        with pytest.raises(InvalidInputError, match="role"):
            emb.embed(["x"], model=fake.model(), role="passage")

    def test_models_and_spaces_are_separate(self, emb: EmbeddingDriver) -> None:
        a, b = BatchModel(name="model-a"), BatchModel(name="model-b")
        wide = BatchModel(name="model-a", dimension=16)  # same name, other dimension: another model
        emb.embed(["t"], model=a.model())
        out_b = emb.embed(["t"], model=b.model())
        out_wide = emb.embed(["t"], model=wide.model())
        assert (len(a.batches), len(b.batches), len(wide.batches)) == (1, 1, 1)
        np.testing.assert_array_equal(out_b[0], b.expected("t"))
        assert out_wide.shape == (1, 16)
        emb.embed(["t"], model=a.model(), space="tenant-1")
        emb.embed(["t"], model=a.model(), space="tenant-2")
        assert len(a.batches) == 3
        emb.embed(["t"], model=a.model(), space="tenant-1")
        assert len(a.batches) == 3

    def test_normalize_stores_unit_vectors(self, emb: EmbeddingDriver, fake: BatchModel) -> None:
        out = emb.embed(["n"], model=fake.model(normalize=True))
        assert abs(float(np.linalg.norm(out[0])) - 1.0) < 1e-5
        raw = emb.embed(["n"], model=fake.model())  # not normalized: a different identity, computed again
        assert len(fake.batches) == 2 and float(np.linalg.norm(raw[0])) > 1.5

    # -- validation and errors ---------------------------------------------------------------------------------

    def test_dimension_mismatch_on_write(self, make: Callable[..., EmbeddingDriver]) -> None:
        emb = make(fail_open=False)  # with fail_open (the default) the model's own output is handed back
        liar = BatchModel(dimension=8, returns=4)
        with pytest.raises(InvalidVectorError, match="dimension 4, expected 8"):
            emb.embed(["a"], model=liar.model())
        assert emb.usage() == (0, 0)
        with pytest.raises(InvalidVectorError, match="dimension"):
            emb.put("doc-1", [0.1] * 4, model=BatchModel(dimension=8).model())

    def test_undeclared_dimension_is_learned_and_enforced(self, make: Callable[..., EmbeddingDriver]) -> None:
        emb = make(fail_open=False)
        fake = BatchModel(dimension=8)
        emb.embed(["a"], model=fake.model(dimension=None))
        fake.returns = 5
        with pytest.raises(InvalidVectorError, match="dimension"):
            emb.embed(["b"], model=fake.model(dimension=None))

    def test_dimension_checked_on_read(self, make: Callable[..., EmbeddingDriver], fake: BatchModel) -> None:
        emb = make(fail_open=False)
        model = fake.model()
        key = emb.tier.key(model, "document", "poisoned")
        emb.engine._core.run(
            _single(KvPut(emb.engine.namespace, "embeddings", (KvItem(key, b"\0" * 12),), 0.0))
        )
        with pytest.raises(InvalidVectorError, match="dimension 3, expected 8"):
            emb.embed(["poisoned"], model=model)

    def test_bad_model_output_is_refused(self, make: Callable[..., EmbeddingDriver]) -> None:
        emb = make(fail_open=False)

        def nan(texts: list[str]) -> list[list[float]]:
            return [[float("nan")] * 8 for _ in texts]

        async def anan(texts: list[str]) -> list[list[float]]:
            return nan(texts)

        def short(texts: list[str]) -> list[list[float]]:
            return []

        async def ashort(texts: list[str]) -> list[list[float]]:
            return []

        with pytest.raises(InvalidVectorError, match="NaN"):
            emb.embed(["a"], model=EmbeddingModel("nan", nan, anan, 8))
        with pytest.raises(InvalidVectorError, match="0 vectors for 1 texts"):
            emb.embed(["a"], model=EmbeddingModel("short", short, ashort, 8))
        assert emb.usage() == (0, 0)

    def test_model_that_raises_caches_nothing(self, emb: EmbeddingDriver, fake: BatchModel) -> None:
        fake.fail = RuntimeError("provider down")
        with pytest.raises(RuntimeError, match="provider down"):
            emb.embed(["a", "b"], model=fake.model())
        assert emb.usage() == (0, 0) and emb.front_usage() == (0, 0)
        fake.fail = None
        emb.embed(["a", "b"], model=fake.model())
        assert fake.batches[-1][1] == ["a", "b"]

    def test_empty_list_touches_nothing(self, emb: EmbeddingDriver, fake: BatchModel) -> None:
        out = emb.embed([], model=fake.model())
        assert out.shape == (0, 8) and fake.batches == []
        assert emb.stats().lookups == 0

    def test_empty_string_and_very_long_text(self, emb: EmbeddingDriver, fake: BatchModel) -> None:
        long_text = "word " * 400_000  # 2 MB: only its hash reaches the key
        out = emb.embed(["", long_text, ""], model=fake.model())
        np.testing.assert_array_equal(out[0], fake.expected(""))
        np.testing.assert_array_equal(out[1], fake.expected(long_text))
        emb.clear_front()
        emb.embed([long_text, ""], model=fake.model())
        assert len(fake.batches) == 1
        assert emb.stats().store_hits == 2

    def test_non_string_input_is_a_clear_error(self, emb: EmbeddingDriver, fake: BatchModel) -> None:
        with pytest.raises(InvalidInputError, match=r"texts\[1\] must be a str, got int"):
            emb.embed(["a", 3], model=fake.model())
        with pytest.raises(InvalidInputError, match="list of strings"):
            emb.embed("abc", model=fake.model())
        with pytest.raises(InvalidInputError, match="must be a str"):
            emb.embed_query(None, model=fake.model())
        with pytest.raises(ValueError):  # InvalidInputError is a ValueError
            emb.embed([b"bytes"], model=fake.model())
        assert fake.batches == [] and emb.usage() == (0, 0)

    # -- TTL, bounds --------------------------------------------------------------------------------------------

    def test_ttl_with_injected_clock(
        self, make: Callable[..., EmbeddingDriver], fake: BatchModel, clock: FakeClock
    ) -> None:
        emb = make()
        emb.embed(["short-lived"], model=fake.model(), ttl=10)
        emb.embed(["forever"], model=fake.model())
        clock.advance(9)
        emb.embed(["short-lived", "forever"], model=fake.model())
        assert len(fake.batches) == 2
        clock.advance(2)
        emb.embed(["short-lived", "forever"], model=fake.model())
        assert fake.batches[-1][1] == ["short-lived"]
        config_ttl = make(embeddings=EmbeddingConfig(ttl=5))
        config_ttl.embed(["cfg"], model=fake.model())
        clock.advance(6)
        other = make()  # the stored entry expired too, not only the front's copy
        other.embed(["cfg"], model=fake.model())
        assert fake.batches[-1][1] == ["cfg"]
        with pytest.raises(InvalidInputError, match="ttl"):
            emb.embed(["x"], model=fake.model(), ttl=-1)

    def test_front_is_bounded_by_entries_and_bytes(self, make: Callable[..., EmbeddingDriver]) -> None:
        fake = BatchModel()
        by_entries = make(embeddings=EmbeddingConfig(front_entries=2))
        by_entries.embed(["a", "b", "c"], model=fake.model())
        assert by_entries.front_usage() == (2, 64)
        by_entries.embed(["c", "b"], model=fake.model())  # the two most recent are in front
        assert by_entries.stats().front_hits == 2
        by_bytes = make(embeddings=EmbeddingConfig(front_bytes=3 * 32))
        by_bytes.embed(["a", "b", "c", "d", "e"], model=fake.model())
        assert by_bytes.front_usage() == (3, 96)
        disabled = make(embeddings=EmbeddingConfig(front_entries=0))
        disabled.embed(["a", "a"], model=fake.model())
        assert disabled.front_usage() == (0, 0)

    def test_store_is_bounded(self, make: Callable[..., EmbeddingDriver], fake: BatchModel) -> None:
        emb = make(embeddings=EmbeddingConfig(max_entries=3, evict_every=1))
        for text in ["a", "b", "c", "d", "e"]:
            emb.embed([text], model=fake.model())
        assert emb.usage()[0] == 3
        assert emb.stats().evictions == 2
        by_bytes = make(embeddings=EmbeddingConfig(max_entries=None, max_bytes=2 * 32, evict_every=1))
        by_bytes.clear()
        by_bytes.embed(["p", "q", "r"], model=fake.model())
        assert by_bytes.usage() == (2, 64)

    def test_store_eviction_order(self, make: Callable[..., EmbeddingDriver], clock: FakeClock) -> None:
        """Least recently written by default; with ``lru_store`` a read from the store keeps a vector."""
        for lru, survivor in ((False, "b"), (True, "a")):
            fake = BatchModel(name=f"order-{lru}")
            emb = make(embeddings=EmbeddingConfig(max_entries=2, evict_every=1, lru_store=lru))
            emb.clear()
            emb.embed(["a"], model=fake.model())
            clock.advance(1)
            emb.embed(["b"], model=fake.model())
            clock.advance(1)
            emb.clear_front()
            emb.embed(["a"], model=fake.model())  # read back from the store
            clock.advance(1)
            emb.embed(["c"], model=fake.model())  # over the bound: one of a, b goes
            emb.clear_front()
            before = len(fake.batches)
            emb.embed([survivor], model=fake.model())
            assert len(fake.batches) == before, f"lru_store={lru}: {survivor!r} should have been kept"

    # -- arbitrary keys -------------------------------------------------------------------------------------------

    def test_get_put_by_url_shared_between_engines(
        self, make: Callable[..., EmbeddingDriver], fake: BatchModel
    ) -> None:
        writer, reader = make(), make()
        url = "https://example.com/page?id=1&x=%20y"
        assert reader.get(url, model=fake.model()) is None
        writer.put(url, fake.expected("page"), model=fake.model())
        got = reader.get(url, model=fake.model())
        assert got == fake.expected("page").tolist()
        assert reader.get(url, model=BatchModel(name="other").model()) is None
        assert reader.get(url, model=fake.model(), space="tenant") is None
        assert reader.get_many([url, "missing", url], model=fake.model())[1] is None
        # A key never collides with a text of the same spelling.
        reader.embed([url], model=fake.model())
        assert fake.computed == [url]
        assert writer.delete(url, model=fake.model()) is True
        assert make().get(url, model=fake.model()) is None
        with pytest.raises(InvalidInputError, match="key"):
            writer.put("", [1.0] * 8, model=fake.model())

    def test_keyed_ttl(self, emb: EmbeddingDriver, fake: BatchModel, clock: FakeClock) -> None:
        emb.put("doc-7", [1.0] * 8, model=fake.model(), ttl=30)
        clock.advance(31)
        assert emb.get("doc-7", model=fake.model()) is None

    def test_clear_one_model_or_everything(self, emb: EmbeddingDriver) -> None:
        a, b = BatchModel(name="a"), BatchModel(name="b")
        emb.embed(["x", "y"], model=a.model())
        emb.embed(["x"], model=b.model())
        assert emb.clear(model=a.model()) == 2
        emb.embed(["x"], model=a.model())
        emb.embed(["x"], model=b.model())
        assert (len(a.batches), len(b.batches)) == (2, 1)
        assert emb.clear() == 2
        assert emb.usage() == (0, 0)

    def test_purge_expired(self, emb: EmbeddingDriver, fake: BatchModel, clock: FakeClock) -> None:
        emb.embed(["a", "b"], model=fake.model(), ttl=1)
        emb.embed(["c"], model=fake.model())
        clock.advance(2)
        assert emb.purge_expired() == 2
        assert emb.usage()[0] == 1

    # -- the engine's own embedder and the semantic tier --------------------------------------------------------

    def test_default_model_is_the_engine_embedder(self, make: Callable[..., EmbeddingDriver]) -> None:
        embedder = FakeEmbedder(16)
        emb = make(embedder=embedder)
        vec = emb.embed_query("hello world")
        assert len(vec) == 16 and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
        emb.embed_query("hello world")
        assert embedder.calls == 1

    def test_semantic_prompts_are_embedded_once_across_engines(
        self, make: Callable[..., EmbeddingDriver]
    ) -> None:
        embedder = FakeEmbedder()
        first, second = make(embedder=embedder), make(embedder=embedder)
        llm_a, llm_b = "[('model', 'a'), ('temperature', 0)]", "[('model', 'b'), ('temperature', 0)]"
        first.engine.semantic.update("what is the capital of france", llm_a, "Paris")
        assert embedder.calls == 1
        # Another engine (as another process would): not an exact hit (other model settings), so it embeds the
        # prompt - and the embedding tier's store already has the vector.
        assert second.engine.semantic.lookup("what is the capital of france", llm_b) is None
        assert embedder.calls == 1
        assert second.stats().store_hits == 1

    def test_threads_share_one_engine(self, emb: EmbeddingDriver) -> None:
        fake = BatchModel()
        texts = [f"t{i % 50}" for i in range(400)]

        def work(start: int) -> np.ndarray:
            return emb.engine.embeddings.embed(texts[start : start + 40], model=fake.model())

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(0, 400, 40)))
        for start, out in zip(range(0, 400, 40), results):
            np.testing.assert_array_equal(
                out, np.stack([fake.expected(t) for t in texts[start : start + 40]])
            )
        assert set(fake.computed) == {f"t{i}" for i in range(50)}


def _single(op: Any) -> Any:
    result = yield op
    return result
