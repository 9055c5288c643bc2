"""Statistics against counted operations, shadow mode, token/cost savings and ``calibrate()``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from lix_integrations import Engine
from lix_integrations.calibration import PairSet, calibrate
from lix_integrations.config import ConfigError, EngineConfig, ModelPrice
from lix_integrations.errors import InvalidInputError
from lix_integrations.kernel.semantic_stats import HISTOGRAM_BINS, TokenUsage
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.semantic import unwrap_payload, wrap_payload


def unit_at(cos: float) -> list[float]:
    return [cos, math.sqrt(max(0.0, 1.0 - cos * cos))]


VECTORS = {"base": unit_at(1.0), "hit": unit_at(0.9), "near": unit_at(0.77), "far": unit_at(0.3)}


class TableEmbedder:
    """Texts with hand-set vectors, so every similarity (and so every counter) is known."""

    name = "table-2d"
    dimension = 2

    def embed(self, text: str) -> list[float]:
        return VECTORS[text]

    async def aembed(self, text: str) -> list[float]:
        return self.embed(text)


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 's.db'}"


def bin_of(similarity: float) -> int:
    return min(HISTOGRAM_BINS - 1, int(similarity * HISTOGRAM_BINS))


def test_counters_match_counted_operations(url: str) -> None:
    prices = {"gpt-x": ModelPrice(input_per_million=1.0, output_per_million=2.0)}
    with Engine(url, embedder=TableEmbedder(), threshold=0.8, prices=prices) as engine:
        engine.semantic.update(
            "base", "m", "answer", usage={"input_tokens": 100, "output_tokens": 20, "model": "gpt-x"}
        )
        exact = engine.semantic.lookup("base", "m")
        semantic = engine.semantic.lookup("hit", "m")
        assert exact is not None and exact.kind == "exact" and exact.payload == "answer"
        assert semantic is not None and semantic.kind == "semantic" and semantic.payload == "answer"
        assert semantic.usage == TokenUsage(100, 20, "gpt-x")
        assert engine.semantic.lookup("near", "m") is None
        assert engine.semantic.lookup("far", "m") is None
        stats = engine.stats().semantic
    assert (stats.exact_hits, stats.semantic_hits, stats.misses, stats.near_misses) == (1, 1, 2, 1)
    expected = [0] * HISTOGRAM_BINS
    for similarity in (0.9, 0.77, 0.3):  # exact hits never reach the vector search
        expected[bin_of(similarity)] += 1
    assert list(stats.histogram) == expected
    assert (stats.input_tokens_saved, stats.output_tokens_saved) == (200, 40)
    assert stats.cost_saved == pytest.approx((200 * 1.0 + 40 * 2.0) / 1e6)
    assert stats.unpriced_models == ()
    data = stats.to_dict()
    assert data["near_misses"] == 1 and data["cost_saved"] == pytest.approx(2.8e-4)


def test_near_miss_margin_is_configurable_and_unpriced_models_are_named() -> None:
    with Engine(
        "memory://", embedder=TableEmbedder(), threshold=0.8, config=EngineConfig(near_miss_margin=0.01)
    ) as e:
        e.semantic.update("base", "m", "a", usage=TokenUsage(5, 5, "mystery-model"))
        assert e.semantic.lookup("near", "m") is None  # 0.77 is 0.03 under: outside a 0.01 margin
        assert e.semantic.lookup("hit", "m") is not None
        stats = e.stats().semantic
    assert stats.near_misses == 0
    assert stats.unpriced_models == ("mystery-model",) and stats.cost_saved == 0.0
    assert stats.input_tokens_saved == 5


def test_wildcard_price_and_reset() -> None:
    with Engine("memory://", embedder=TableEmbedder(), prices={"*": ModelPrice(10.0, 10.0)}) as engine:
        engine.semantic.update("base", "m", "a", usage={"prompt_tokens": 1000, "completion_tokens": 0})
        engine.semantic.lookup("base", "m")
        assert engine.stats().semantic.cost_saved == pytest.approx(0.01)
        engine.reset_stats()
        stats = engine.stats().semantic
        assert stats.input_tokens_saved == 0 and sum(stats.histogram) == 0


async def test_async_counts_the_same(url: str) -> None:
    engine = Engine(url, embedder=TableEmbedder(), threshold=0.8).aio
    try:
        await engine.semantic.update("base", "m", "a", usage={"input_tokens": 3, "output_tokens": 4})
        assert await engine.semantic.lookup("hit", "m") is not None
        assert await engine.semantic.lookup("near", "m") is None
        stats = engine.stats().semantic
        assert (stats.semantic_hits, stats.near_misses, stats.output_tokens_saved) == (1, 1, 4)
        entries = await engine.semantic.entries()
        assert [e.payload for e in entries] == ["a"]
    finally:
        await engine.aclose()


def test_shadow_mode_records_without_serving(url: str) -> None:
    with Engine(url, embedder=TableEmbedder(), threshold=0.8, shadow=True) as engine:
        engine.semantic.update("base", "m", "cached answer", scope="u1")
        assert engine.semantic.lookup("hit", "m", scope="u1") is None  # would hit: not served
        assert engine.semantic.lookup("far", "m", scope="u1") is None
        exact = engine.semantic.lookup("base", "m", scope="u1")
        assert exact is not None and exact.kind == "exact"  # exact matches are still served
        report = engine.semantic.shadow_report()
        stats = engine.stats().semantic
    assert (report.lookups, report.would_hit) == (2, 1)
    assert report.would_hit_rate == 0.5
    (decision,) = report.decisions
    assert (decision.prompt, decision.served_prompt, decision.payload) == ("hit", "base", "cached answer")
    assert decision.similarity == pytest.approx(0.9, abs=1e-6) and decision.threshold == 0.8
    assert decision.scope.endswith("u1")
    assert (stats.shadow_hits, stats.semantic_hits, stats.exact_hits, stats.misses) == (1, 0, 1, 2)
    assert report.to_dict()["decisions"][0]["payload"] == "cached answer"


def test_shadow_log_is_bounded() -> None:
    config = EngineConfig(shadow=True, shadow_log_size=2, threshold=0.8)
    with Engine("memory://", embedder=TableEmbedder(), config=config) as engine:
        engine.semantic.update("base", "m", "a")
        for _ in range(5):
            engine.semantic.lookup("hit", "m")
        report = engine.semantic.shadow_report()
    assert report.would_hit == 5 and len(report.decisions) == 2


@pytest.mark.parametrize(
    "options",
    [{"near_miss_margin": 2.0}, {"shadow": "yes"}, {"shadow_log_size": -1}, {"prices": {"m": (1, 2)}}],
)
def test_bad_observability_options_fail_at_start(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        EngineConfig(**options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ModelPrice(-1.0, 0.0)


def test_from_env_reads_shadow_and_margin() -> None:
    config = EngineConfig.from_env(environ={"LIX_SHADOW": "true", "LIX_NEAR_MISS_MARGIN": "0.1"})
    assert config.shadow is True and config.near_miss_margin == 0.1


@pytest.mark.parametrize(
    "payload", ["plain", "", "\x1elix-meta\x1e{}\nlooks like ours", "\x1elix-meta\x1e", '{"json": 1}\n']
)
@pytest.mark.parametrize("usage", [None, TokenUsage(1, 2, "m")])
def test_payload_envelope_round_trips(payload: str, usage: TokenUsage | None) -> None:
    stored = wrap_payload(payload, usage)
    assert unwrap_payload(stored) == (payload, usage)
    if usage is None and not payload.startswith("\x1elix-meta"):
        assert stored == payload  # stores written without metadata read exactly as before


@pytest.mark.parametrize(
    "stored", ["\x1elix-meta\x1e{not json\nanswer", "\x1elix-meta\x1e[1]\nanswer", "\x1elix-meta\x1e{}"]
)
def test_a_damaged_envelope_keeps_the_whole_stored_payload(stored: str) -> None:
    """Unreadable metadata (decoded once per distinct line, then from a cache) leaves the payload as stored; a
    readable line that is not an object is metadata without usage."""
    for _ in range(2):  # the second read comes from the cache of decoded metadata lines
        payload, usage = unwrap_payload(stored)
        assert usage is None
        assert payload == ("answer" if stored.endswith("[1]\nanswer") else stored)


def test_hits_sharing_a_metadata_line_read_their_own_payloads() -> None:
    usage = TokenUsage(3, 4, "m")
    first, second = wrap_payload("one", usage, {"model": "m"}), wrap_payload("two", usage, {"model": "m"})
    assert unwrap_payload(first) == ("one", usage)
    assert unwrap_payload(second) == ("two", usage)


def test_entries_pages_and_filters(url: str) -> None:
    with Engine(url, embedder=FakeEmbedder()) as engine:
        for i in range(5):
            engine.semantic.update(
                f"question {i}", "m1" if i % 2 else "m2", f"a{i}", scope="s" if i < 2 else None
            )
        first = engine.semantic.entries(limit=2)
        rest = engine.semantic.entries(after_id=first[-1].id)
        assert [e.payload for e in first + rest] == [f"a{i}" for i in range(5)]
        assert [e.payload for e in engine.semantic.entries(llm_string="m1")] == ["a1", "a3"]
        assert [e.payload for e in engine.semantic.entries(scope="s")] == ["a0", "a1"]
        with pytest.raises(InvalidInputError):
            engine.semantic.entries(limit=0)


# -- calibrate ----------------------------------------------------------------------------------------------------


CAL = {
    "q-a": unit_at(1.0),
    "p-a": unit_at(0.95),  # duplicate of q-a
    "q-b": [-1.0, 0.0],
    "p-b": [-0.85, math.sqrt(1 - 0.85**2)],  # duplicate of q-b at 0.85
    # Not a duplicate; nearest stored entry q-a at 0.702: off the 0.005 grid, so the float32 vectors the engine's
    # embedding tier stores cannot round it across a step (at exactly 0.7 they put it just below 0.70).
    "x-c": unit_at(0.702),
}


def cal_embed(text: str) -> list[float]:
    return CAL[text]


def test_calibrate_returns_the_known_threshold() -> None:
    pairs = PairSet(q1=["q-a", "q-b", "q-a"], q2=["p-a", "p-b", "x-c"], labels=[1, 1, 0])
    result = calibrate(pairs, target_precision=0.99, embedder=cal_embed)
    # Above 0.702 the false hit is gone and both duplicates (0.95, 0.85) still hit.
    assert result.threshold == pytest.approx(0.705)
    assert (result.point.precision, result.point.recall) == (1.0, 1.0)
    lenient = calibrate(pairs, target_precision=0.6, embedder=cal_embed)
    assert lenient.threshold == 0.5 and lenient.point.precision == pytest.approx(2 / 3)
    with pytest.raises(InvalidInputError):
        calibrate(pairs, target_precision=1.5, embedder=cal_embed)


def test_calibrate_uses_the_engine_embedder_and_reads_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        '{"q1": "q-a", "q2": "p-a", "label": 1}\n{"q1": "q-b", "q2": "p-b", "label": 1}\n'
        '{"q1": "q-a", "q2": "x-c", "label": 0}\n'
    )
    seen: list[tuple[int, int]] = []
    with Engine("memory://", embedder=cal_embed) as engine:
        result = calibrate(path, 0.99, engine=engine, progress=lambda done, total: seen.append((done, total)))
    assert result.threshold == pytest.approx(0.705) and result.pairs == 3
    assert seen and seen[-1] == (5, 5)
    figure = result.plot(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000 and figure is not None
    assert result.to_dict()["threshold"] == result.threshold


# -- adapters pass token usage ---------------------------------------------------------------------------------


def test_langchain_cache_records_tokens_saved_from_usage_metadata() -> None:
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration

    from lix_integrations.langchain import LixSemanticCache

    engine = Engine("memory://", embedder=FakeEmbedder(), prices={"gpt-test": ModelPrice(2.0, 8.0)})
    cache = LixSemanticCache(engine=engine)
    message = AIMessage(
        content="Paris",
        usage_metadata={"input_tokens": 50, "output_tokens": 5, "total_tokens": 55},
        response_metadata={"model_name": "gpt-test"},
    )
    cache.update("What is the capital of France?", "llm-a", [ChatGeneration(message=message)])
    hit = cache.lookup("What is the capital of France?", "llm-a")
    assert hit is not None and hit[0].message.content == "Paris"  # type: ignore[attr-defined]
    stats = engine.stats().semantic
    assert (stats.input_tokens_saved, stats.output_tokens_saved) == (50, 5)
    assert stats.cost_saved == pytest.approx((50 * 2 + 5 * 8) / 1e6)
    engine.close()


def test_llama_index_usage_is_read_from_the_response() -> None:
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse

    from lix_integrations.llama_index.llm import _usage

    chat = ChatResponse(
        message=ChatMessage(role="assistant", content="hi"),
        raw={"model": "gpt-4o-mini", "usage": {"prompt_tokens": 9, "completion_tokens": 2}},
    )
    assert TokenUsage.from_mapping(_usage(chat) or {}) == TokenUsage(9, 2, "gpt-4o-mini")
    kwargs = CompletionResponse(text="x", additional_kwargs={"prompt_tokens": 4, "completion_tokens": 1})
    assert TokenUsage.from_mapping(_usage(kwargs) or {}) == TokenUsage(4, 1, None)
    assert _usage(CompletionResponse(text="x")) is None


# -- OpenTelemetry ----------------------------------------------------------------------------------------------


def test_opentelemetry_metrics_report_engine_stats() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from lix_integrations.telemetry import instrument_engine

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    with Engine("memory://", embedder=TableEmbedder(), threshold=0.8, namespace="otel") as engine:
        instrument_engine(engine, provider)
        engine.semantic.update("base", "m", "a", usage={"input_tokens": 7, "output_tokens": 3})
        engine.semantic.lookup("base", "m")
        engine.semantic.lookup("near", "m")
        data = reader.get_metrics_data()
    points: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for p in metric.data.data_points:
                    points[(metric.name, tuple(sorted(p.attributes.items())))] = p.value
    ns = ("lix.namespace", "otel")
    assert points[("lix.semantic.lookups", (ns, ("outcome", "exact_hit")))] == 1
    assert points[("lix.semantic.lookups", (ns, ("outcome", "miss")))] == 1
    assert points[("lix.semantic.near_misses", (ns,))] == 1
    assert points[("lix.semantic.tokens_saved", (("direction", "input"), ns))] == 7
    assert ("lix.semantic.lookup_latency", (ns, ("quantile", "0.5"))) in points


def test_calibrate_with_an_engine_reuses_stored_vectors(tmp_path: Path) -> None:
    # Issue 15, trap 8: every calibration embedded every text again; through the engine a rerun computes nothing.
    calls: list[str] = []

    class Counting(FakeEmbedder):
        def embed(self, text: str) -> list[float]:
            calls.append(text)
            return super().embed(text)

    pairs = [
        {"q1": "alpha beta gamma", "q2": "gamma beta alpha", "label": 1},
        {"q1": "one two three", "q2": "seven eight nine", "label": 0},
    ]
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Engine(url, embedder=Counting()) as engine:
        first = calibrate(pairs, 0.99, engine=engine)
    assert len(calls) == 4
    with Engine(url, embedder=Counting()) as engine:  # another process: the vectors are in the store
        again = calibrate(pairs, 0.99, engine=engine)
        assert engine.stats().embeddings.store_hits == 4
    assert len(calls) == 4 and again.threshold == first.threshold
