"""Conformance suite every backend must pass, in sync and in async mode.

Subclass `SemanticConformance` in a test module and provide a ``backend_url`` fixture that returns a URL
to a fresh, empty store (per test) that every engine opened with it shares:

    class TestMemory(SemanticConformance):
        @pytest.fixture
        def backend_url(self) -> str:
            return f"memory://test-{uuid.uuid4().hex}"

Every test runs twice, through `Engine` and through
`AsyncEngine` (each call in its own event loop), so a backend whose async path is missing
or differs fails here rather than in production. pytest is imported only when this module is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..config import SamplingPolicy
from ..engine.engine import Engine
from ..errors import InvalidPromptError, InvalidVectorError, SettingsMismatchError
from ..kernel.scope import lix_scope
from ..tiers.semantic import SemanticHit
from .drivers import ApiDriver
from .fakes import FakeClock, FakeEmbedder
from .suite import BackendSuite, engines_on

__all__ = ["SemanticConformance", "SemanticDriver"]

LLM_A = "[('_type', 'fake-chat'), ('model', 'a'), ('temperature', 0)]"
LLM_B = "[('_type', 'fake-chat'), ('model', 'b'), ('temperature', 0)]"
LLM_HOT = "[('_type', 'fake-chat'), ('model', 'a'), ('temperature', 0.9)]"

QUESTION = "What is the capital city of France?"
PARAPHRASE = "what is the capital city of france please"
UNRELATED = "How do I bake sourdough bread at home?"
QUESTION_AGAIN = "what is the capital city of France today"  # nearer QUESTION than PARAPHRASE


class SemanticDriver(ApiDriver):
    """The semantic API of one engine, called synchronously or through the async engine."""

    def __init__(self, engine: Engine, mode: str) -> None:
        super().__init__(mode, lambda: self.engine.semantic, lambda: self.engine.aio.semantic)
        self.engine = engine

    def lookup(self, *args: Any, **kwargs: Any) -> SemanticHit | None:
        return self._call("lookup", *args, **kwargs)  # type: ignore[no-any-return]

    def update(self, *args: Any, **kwargs: Any) -> int | None:
        return self._call("update", *args, **kwargs)  # type: ignore[no-any-return]

    def explain(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("explain", *args, **kwargs)

    def clear(self, **kwargs: Any) -> int:
        return self._call("clear", **kwargs)  # type: ignore[no-any-return]

    def purge_expired(self) -> int:
        return self._call("purge_expired")  # type: ignore[no-any-return]

    def count(self) -> int:
        return self._call("count")  # type: ignore[no-any-return]


class SemanticConformance(BackendSuite):
    """Behaviour of the semantic tier that must hold on every backend and in both modes."""

    threshold = 0.7

    @pytest.fixture
    def embedder(self) -> FakeEmbedder:
        return FakeEmbedder()

    @pytest.fixture(params=["exact_first", "embed_first"])
    def lookup_order(self, request: pytest.FixtureRequest) -> str:
        """Both ways a lookup can run (ExactGet then VectorSearch, or ExactOrSearch) must behave the same."""
        return str(request.param)

    @pytest.fixture
    def make(
        self, backend_url: str, mode: str, clock: FakeClock, embedder: FakeEmbedder, lookup_order: str
    ) -> Iterator[Callable[..., SemanticDriver]]:
        defaults = {
            "embedder": embedder,
            "clock": clock,
            "threshold": self.threshold,
            "lookup_order": lookup_order,
        }
        with engines_on(backend_url, lambda: defaults) as open_engine:
            yield lambda **options: SemanticDriver(open_engine(**options), mode)

    @pytest.fixture
    def cache(self, make: Callable[..., SemanticDriver]) -> SemanticDriver:
        return make()

    # -- hits and misses -----------------------------------------------------------------------------------

    def test_empty_store_misses(self, cache: SemanticDriver) -> None:
        assert cache.lookup(QUESTION, LLM_A) is None
        assert cache.count() == 0

    def test_exact_hit_computes_no_embedding(
        self, cache: SemanticDriver, embedder: FakeEmbedder, lookup_order: str
    ) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        # The update's vector is now cached by the embedding tier, so count embedding *requests*, not only
        # computations: checking the exact key first, an exact hit must not even ask for a vector.
        before = (embedder.calls, cache.engine.stats().embeddings.lookups)  # type: ignore[union-attr]
        hit = cache.lookup("  What is the capital   city of France?\n", LLM_A)
        assert hit is not None and hit.kind == "exact" and hit.payload == "Paris" and hit.similarity == 1.0
        after = (embedder.calls, cache.engine.stats().embeddings.lookups)  # type: ignore[union-attr]
        if lookup_order == "exact_first":
            assert after == before
        else:  # embedding first asks for the vector, which the update left in memory: nothing is computed
            assert after == (before[0], before[1] + 1)

    def test_paraphrase_is_a_semantic_hit(self, cache: SemanticDriver) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        hit = cache.lookup(PARAPHRASE, LLM_A)
        assert hit is not None and hit.kind == "semantic" and hit.payload == "Paris"
        assert self.threshold <= hit.similarity < 1.0
        assert cache.lookup(UNRELATED, LLM_A) is None

    def test_update_replaces_same_prompt(self, cache: SemanticDriver) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        cache.update(QUESTION, LLM_A, "Paris, France")
        hit = cache.lookup(QUESTION, LLM_A)
        assert hit is not None and hit.payload == "Paris, France"
        assert cache.count() == 1
        semantic = cache.lookup(PARAPHRASE, LLM_A)
        assert semantic is not None and semantic.payload == "Paris, France"

    def test_model_settings_partition(self, cache: SemanticDriver) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        assert cache.lookup(QUESTION, LLM_B) is None
        assert cache.lookup(PARAPHRASE, LLM_B) is None

    def test_context_must_match_exactly(self, cache: SemanticDriver) -> None:
        cache.update(QUESTION, LLM_A, "Paris", context="system: be terse")
        assert cache.lookup(PARAPHRASE, LLM_A, context="system: answer in French") is None
        assert cache.lookup(QUESTION, LLM_A) is None
        hit = cache.lookup(PARAPHRASE, LLM_A, context="system: be terse")
        assert hit is not None and hit.payload == "Paris"

    def test_nearer_entry_of_another_partition_never_hides_a_hit(self, cache: SemanticDriver) -> None:
        cache.update(PARAPHRASE, LLM_B, "from model b")  # the nearest vector overall, but another model
        cache.update(QUESTION, LLM_A, "from model a")
        hit = cache.lookup(PARAPHRASE, LLM_A)
        assert hit is not None and hit.payload == "from model a"

    def test_scopes_never_see_each_other(self, cache: SemanticDriver) -> None:
        cache.update(QUESTION, LLM_A, "for alice", scope="alice")
        assert cache.lookup(QUESTION, LLM_A, scope="bob") is None
        assert cache.lookup(QUESTION, LLM_A) is None
        with lix_scope("alice"):
            assert cache.lookup(QUESTION, LLM_A) is not None
            assert cache.lookup(QUESTION, LLM_A, scope="alice") is None  # alice/alice is another scope
        hit = cache.lookup(PARAPHRASE, LLM_A, scope="alice")
        assert hit is not None and hit.payload == "for alice"

    def test_threshold_one_serves_exact_only(self, cache: SemanticDriver) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        assert cache.lookup(PARAPHRASE, LLM_A, threshold=1.0) is None
        assert cache.lookup(QUESTION, LLM_A, threshold=1.0) is not None
        assert cache.lookup(PARAPHRASE, LLM_A, threshold=0.0) is not None

    # -- sampling policy -----------------------------------------------------------------------------------

    @pytest.mark.parametrize("policy", list(SamplingPolicy))
    def test_sampling_policy(self, make: Callable[..., SemanticDriver], policy: SamplingPolicy) -> None:
        cache = make(sampling=policy)
        stored = cache.update(QUESTION, LLM_HOT, "Paris")
        exact, semantic = cache.lookup(QUESTION, LLM_HOT), cache.lookup(PARAPHRASE, LLM_HOT)
        if policy is SamplingPolicy.BYPASS:
            assert stored is None and exact is None and semantic is None and cache.count() == 0
        elif policy is SamplingPolicy.EXACT_ONLY:
            assert exact is not None and semantic is None
        else:
            assert exact is not None and semantic is not None
        # Deterministic settings are never affected by the policy.
        cache.update(QUESTION, LLM_A, "Paris")
        assert cache.lookup(PARAPHRASE, LLM_A) is not None

    # -- expiry and eviction -------------------------------------------------------------------------------

    def test_ttl_expires_entries(self, make: Callable[..., SemanticDriver], clock: FakeClock) -> None:
        cache = make(ttl=60)
        cache.update(QUESTION, LLM_A, "Paris")
        cache.update(UNRELATED, LLM_A, "bread", ttl=600)
        clock.advance(59)
        assert cache.lookup(PARAPHRASE, LLM_A) is not None
        clock.advance(2)
        assert cache.lookup(QUESTION, LLM_A) is None
        assert cache.lookup(PARAPHRASE, LLM_A) is None
        assert cache.lookup(UNRELATED, LLM_A) is not None
        clock.advance(600)
        assert cache.purge_expired() == 1
        assert cache.count() == 0

    def test_idle_ttl_expires_unused_entries(
        self, make: Callable[..., SemanticDriver], clock: FakeClock
    ) -> None:
        cache = make(idle_ttl=100)
        cache.update(QUESTION, LLM_A, "Paris")
        cache.update(UNRELATED, LLM_A, "bread")
        for _ in range(3):
            clock.advance(90)
            assert cache.lookup(QUESTION, LLM_A) is not None  # each use renews it
        assert cache.lookup(UNRELATED, LLM_A) is None  # 270 s unused

    def test_an_expired_nearest_answer_does_not_hide_a_live_one(
        self, make: Callable[..., SemanticDriver], clock: FakeClock
    ) -> None:
        cache = make(idle_ttl=100)
        cache.update(QUESTION, LLM_A, "stale")
        clock.advance(60)
        cache.update(PARAPHRASE, LLM_A, "fresh")
        clock.advance(50)  # the nearest unused for 110 s, the paraphrase for 50
        hit = cache.lookup(QUESTION_AGAIN, LLM_A)
        assert hit is not None and hit.payload == "fresh" and hit.kind == "semantic"

    def test_lru_eviction(self, make: Callable[..., SemanticDriver], clock: FakeClock) -> None:
        cache = make(max_entries=3)
        prompts = [f"question number {word}" for word in ("one", "two", "three", "four")]
        for prompt in prompts[:3]:
            cache.update(prompt, LLM_A, prompt)
            clock.advance(1)
        assert cache.lookup(prompts[0], LLM_A) is not None  # the oldest is now the most recently used
        clock.advance(1)
        cache.update(prompts[3], LLM_A, prompts[3])
        assert cache.count() == 3
        assert cache.lookup(prompts[1], LLM_A, threshold=1.0) is None
        for prompt in (prompts[0], prompts[2], prompts[3]):
            assert cache.lookup(prompt, LLM_A, threshold=1.0) is not None
        assert cache.engine.stats().semantic.evictions == 1

    # -- clearing ------------------------------------------------------------------------------------------

    def test_clear_by_scope_and_by_model(self, cache: SemanticDriver) -> None:
        cache.update(QUESTION, LLM_A, "a-global")
        cache.update(QUESTION, LLM_B, "b-global")
        cache.update(QUESTION, LLM_A, "a-alice", scope="alice")
        with lix_scope("alice", "session1"):
            cache.update(QUESTION, LLM_A, "a-alice-session")
        cache.update(QUESTION, LLM_A, "a-alicia", scope="alicia")
        assert cache.clear(scope="alice") == 2  # alice and the scope nested in it, not alicia
        assert cache.lookup(QUESTION, LLM_A, scope="alicia") is not None
        assert cache.clear(llm_string=LLM_B) == 1
        assert cache.lookup(QUESTION, LLM_A) is not None
        assert cache.clear() == 2
        assert cache.count() == 0
        assert cache.lookup(QUESTION, LLM_A) is None

    # -- explain and statistics ----------------------------------------------------------------------------

    def test_explain_reports_candidates(self, cache: SemanticDriver) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        cache.update("what is the capital city of spain", LLM_A, "Madrid")
        cache.update(UNRELATED, LLM_B, "bread")
        candidates = cache.explain(PARAPHRASE, LLM_A, k=5)
        assert [c.prompt for c in candidates][:1] == [QUESTION]
        assert candidates[0].served and "threshold" in candidates[0].reason
        assert all(not c.served for c in candidates[1:])
        assert all(c.prompt != UNRELATED for c in candidates)
        assert candidates == sorted(candidates, key=lambda c: -c.similarity)
        exact = cache.explain(QUESTION, LLM_A)
        assert exact[0].served and exact[0].similarity == 1.0 and "exact" in exact[0].reason

    def test_statistics_count_every_outcome(self, cache: SemanticDriver) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        cache.lookup(QUESTION, LLM_A)
        cache.lookup(PARAPHRASE, LLM_A)
        cache.lookup(UNRELATED, LLM_A)
        stats = cache.engine.stats().semantic
        assert (stats.exact_hits, stats.semantic_hits, stats.misses, stats.updates) == (1, 1, 1, 1)
        assert stats.latency.count == 3 and stats.latency.median_ms > 0
        assert cache.engine.stats().to_dict()["semantic"]["hit_rate"] == pytest.approx(2 / 3)

    # -- bad input leaves stored data intact ---------------------------------------------------------------

    @pytest.mark.parametrize("prompt", ["", "   \n", None, 42, b"bytes"])
    def test_bad_prompts_are_rejected(self, cache: SemanticDriver, prompt: Any) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        with pytest.raises(InvalidPromptError):
            cache.lookup(prompt, LLM_A)
        with pytest.raises(InvalidPromptError):
            cache.update(prompt, LLM_A, "x")
        assert cache.lookup(QUESTION, LLM_A) is not None and cache.count() == 1

    def test_megabyte_prompt_round_trips(self, cache: SemanticDriver) -> None:
        big = "lorem ipsum dolor " * (1024 * 1024 // 18 + 1)
        cache.update(big, LLM_A, "long")
        hit = cache.lookup(big, LLM_A)
        assert hit is not None and hit.kind == "exact" and hit.payload == "long"

    def test_prompt_over_the_limit_is_rejected(self, make: Callable[..., SemanticDriver]) -> None:
        cache = make(max_prompt_bytes=1000)
        with pytest.raises(InvalidPromptError, match="limit"):
            cache.update("x" * 1001, LLM_A, "x")
        assert cache.count() == 0

    @pytest.mark.parametrize(
        "vector", [[float("nan")] * 64, [1.0] * 63, [float("inf")] + [0.0] * 63, [0.0] * 64], ids=str
    )
    def test_bad_vectors_are_rejected(
        self, make: Callable[..., SemanticDriver], cache: SemanticDriver, vector: list[float]
    ) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        bad = make(embedder=_FixedVectorEmbedder(FakeEmbedder().name, vector), fail_open=False)
        with pytest.raises(InvalidVectorError):
            bad.update("another question entirely", LLM_A, "x")
        assert cache.count() == 1 and cache.lookup(QUESTION, LLM_A) is not None
        # fail_open (the default): a miss and a skipped update, never an error (issue 14, defect 7)
        lenient = make(embedder=_FixedVectorEmbedder(FakeEmbedder().name, vector))
        assert lenient.update("another question entirely", LLM_A, "x") is None
        assert lenient.lookup("another question entirely", LLM_A) is None
        assert cache.count() == 1

    def test_other_embedder_is_refused(
        self, make: Callable[..., SemanticDriver], cache: SemanticDriver
    ) -> None:
        cache.update(QUESTION, LLM_A, "Paris")
        with pytest.raises(SettingsMismatchError, match="embedder"):
            make(embedder=FakeEmbedder(name="another-model"))
        with pytest.raises(SettingsMismatchError, match="dimension"):
            make(embedder=FakeEmbedder(dimension=32, name=FakeEmbedder().name))
        assert cache.lookup(QUESTION, LLM_A) is not None

    def test_undeclared_dimension_is_checked_on_first_vector(
        self, make: Callable[..., SemanticDriver]
    ) -> None:
        first = make(embedder=_NamedCallable("undeclared", 16))
        first.update(QUESTION, LLM_A, "Paris")
        second = make(embedder=_NamedCallable("undeclared", 8), fail_open=False)
        with pytest.raises((SettingsMismatchError, InvalidVectorError), match="dimension"):
            second.update(UNRELATED, LLM_A, "bread")
        assert first.count() == 1

    def test_namespaces_are_separate(self, make: Callable[..., SemanticDriver]) -> None:
        one, two = make(namespace="one"), make(namespace="two")
        one.update(QUESTION, LLM_A, "Paris")
        assert two.lookup(QUESTION, LLM_A) is None and two.count() == 0
        assert one.lookup(QUESTION, LLM_A) is not None


class _FixedVectorEmbedder:
    """Claims to be the suite's embedder but returns one (bad) vector for every text."""

    def __init__(self, name: str, vector: list[float]) -> None:
        self.name = name
        self.dimension = 64
        self._vector = vector

    def embed(self, text: str) -> list[float]:
        return self._vector

    async def aembed(self, text: str) -> list[float]:
        return self._vector


class _NamedCallable:
    """An embedder that does not declare its dimension (like many LangChain Embeddings)."""

    def __init__(self, name: str, dim: int) -> None:
        self._inner = FakeEmbedder(dim, name=name)
        self.name = name
        self.dimension = None

    def embed(self, text: str) -> list[float]:
        return self._inner.embed(text)

    async def aembed(self, text: str) -> list[float]:
        return self._inner.embed(text)
