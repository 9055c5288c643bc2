"""The semantic tier's verifier: options, callable verifiers, explain/stats/shadow, and ``verifier="off"``.

Everything here runs on hand-set vectors (no model); the bundled verifier on the real model is in
``test_verifier_model.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from lix_integrations import AsyncEngine, Engine
from lix_integrations.calibration import PairSet
from lix_integrations.config import ConfigError, EngineConfig
from lix_integrations.embedders import DEFAULT_EMBEDDER_NAME
from lix_integrations.engine.engine import split_engine_query
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.semantic import DEFAULT_THRESHOLD
from lix_integrations.tiers.verifier import CallableVerifier, Verifier, VerifierCandidate, resolve_verifier


def unit_at(cos: float) -> list[float]:
    return [cos, math.sqrt(max(0.0, 1.0 - cos * cos))]


VECTORS = {
    "flights from new york to florida": unit_at(1.0),
    "flights from florida to new york": unit_at(0.97),  # a word swap: cosine says "same"
    "cheap flights from new york to florida": unit_at(0.9),
    "hotels in florida": unit_at(0.6),
}


class TableEmbedder:
    """Hand-set vectors, so every similarity is known; ``name`` may claim to be the default model."""

    dimension = 2

    def __init__(self, name: str = "table-2d") -> None:
        self.name = name

    def embed(self, text: str) -> list[float]:
        return VECTORS[text]

    async def aembed(self, text: str) -> list[float]:
        return self.embed(text)


def same_direction(prompt: str, candidate: str) -> float:
    """A toy verifier: 1.0 unless the two prompts name the same places in another order."""
    return 0.0 if prompt != candidate and sorted(prompt.split()) == sorted(candidate.split()) else 1.0


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'cache.db'}"


STORED = "flights from new york to florida"


def test_callable_verifier_rejects_what_cosine_accepts(url: str) -> None:
    plain = Engine(url, embedder=TableEmbedder(), threshold=0.8, namespace="plain", verifier="off")
    checked = Engine(
        url, embedder=TableEmbedder(), threshold=0.8, namespace="checked", verifier=same_direction
    )
    for engine in (plain, checked):
        engine.semantic.update(STORED, "llm", "answer NY->FL")
    swapped = "flights from florida to new york"
    assert plain.semantic.lookup(swapped, "llm") is not None  # cosine 0.97 >= 0.8: today's false hit
    assert checked.semantic.lookup(swapped, "llm") is None
    hit = checked.semantic.lookup("cheap flights from new york to florida", "llm")
    assert hit is not None and hit.payload == "answer NY->FL" and hit.verifier_score == 1.0
    assert hit.similarity == pytest.approx(0.9)
    stats = checked.stats().semantic
    assert (stats.verified_candidates, stats.verifier_rejections, stats.semantic_hits) == (2, 1, 1)
    assert plain.stats().semantic.verified_candidates == 0
    plain.close()
    checked.close()


def test_callable_threshold_and_best_candidate_is_served() -> None:
    scores = {"cheap flights from new york to florida": 0.4, "flights from new york to florida": 0.7}
    engine = Engine(
        "memory://",
        embedder=TableEmbedder(),
        threshold=0.85,
        verifier=lambda prompt, candidate: scores[candidate],
        verifier_threshold=0.6,
    )
    engine.semantic.update("flights from new york to florida", "llm", "A")
    engine.semantic.update("cheap flights from new york to florida", "llm", "B")
    engine.semantic.update("hotels in florida", "llm", "C")
    # Cosine to the query: B 0.979 (nearest), A 0.970, C 0.78 (under the floor). B scores 0.4, A 0.7 >= 0.6.
    hit = engine.semantic.lookup("flights from florida to new york", "llm")
    assert hit is not None and hit.payload == "A" and hit.verifier_score == pytest.approx(0.7)
    explained = engine.semantic.explain("flights from florida to new york", "llm")
    by_prompt = {c.prompt: c for c in explained}
    assert [c.prompt for c in explained][0] == "cheap flights from new york to florida"
    a = by_prompt["flights from new york to florida"]
    assert a.served and a.verifier_score == pytest.approx(0.7)
    b = by_prompt["cheap flights from new york to florida"]
    assert not b.served and b.verifier_score == pytest.approx(0.4) and "rejected" in b.reason
    c = by_prompt["hotels in florida"]
    assert not c.served and c.verifier_score is None and "< threshold 0.8500" in c.reason
    assert engine.stats().semantic.verified_candidates == 2  # explain counts nothing
    engine.close()


def test_no_candidate_above_floor_never_calls_the_verifier_nor_does_an_exact_hit() -> None:
    calls: list[tuple[str, str]] = []

    def spy(prompt: str, candidate: str) -> float:
        calls.append((prompt, candidate))
        return 1.0

    engine = Engine("memory://", embedder=TableEmbedder(), threshold=0.95, verifier=spy)
    engine.semantic.update(STORED, "llm", "A")
    assert engine.semantic.lookup("hotels in florida", "llm") is None  # 0.6 < floor 0.95
    hit = engine.semantic.lookup(STORED, "llm")
    assert hit is not None and hit.kind == "exact"
    assert calls == []
    assert engine.stats().semantic.verified_candidates == 0
    engine.close()


def test_a_verifier_object_with_its_own_threshold() -> None:
    """A :class:`Verifier` instance (here a wrapped callable with threshold 0.3) is used as given."""
    engine = Engine(
        "memory://",
        embedder=TableEmbedder(),
        threshold=0.8,
        verifier=CallableVerifier(lambda p, c: 0.35, threshold=0.3, name="lenient"),
    )
    engine.semantic.update(STORED, "llm", "A")
    hit = engine.semantic.lookup("cheap flights from new york to florida", "llm")
    assert hit is not None and hit.verifier_score == pytest.approx(0.35)
    (candidate,) = engine.semantic.explain("cheap flights from new york to florida", "llm")
    assert "verifier lenient score 0.3500 >= threshold 0.3000" in candidate.reason
    engine.close()


def test_failing_verifier_fails_open_as_a_miss(caplog: pytest.LogCaptureFixture) -> None:
    def broken(prompt: str, candidate: str) -> float:
        raise RuntimeError("model server down")

    engine = Engine("memory://", embedder=TableEmbedder(), threshold=0.8, verifier=broken)
    engine.semantic.update(STORED, "llm", "A")
    with caplog.at_level(logging.WARNING):
        assert engine.semantic.lookup("cheap flights from new york to florida", "llm") is None
    assert "model server down" in caplog.text
    assert engine.stats().semantic.misses == 1
    engine.close()


async def test_async_engine_runs_a_blocking_verifier_off_the_loop() -> None:
    import threading

    loop_thread = threading.get_ident()
    threads: list[int] = []

    def verifier(prompt: str, candidate: str) -> float:
        threads.append(threading.get_ident())
        return same_direction(prompt, candidate)

    async with AsyncEngine("memory://", embedder=TableEmbedder(), threshold=0.8, verifier=verifier) as engine:
        await engine.semantic.update(STORED, "llm", "A")
        assert await engine.semantic.lookup("flights from florida to new york", "llm") is None
        assert await engine.semantic.lookup("cheap flights from new york to florida", "llm") is not None
    assert threads and loop_thread not in threads


def test_shadow_mode_records_the_verifier_score() -> None:
    engine = Engine(
        "memory://", embedder=TableEmbedder(), threshold=0.8, verifier=same_direction, shadow=True
    )
    engine.semantic.update(STORED, "llm", "A")
    assert engine.semantic.lookup("cheap flights from new york to florida", "llm") is None
    assert engine.semantic.lookup("flights from florida to new york", "llm") is None
    report = engine.semantic.shadow_report()
    assert (report.lookups, report.would_hit) == (2, 1)
    (decision,) = report.decisions
    assert decision.verifier_score == 1.0 and decision.verifier_threshold == 0.5
    assert decision.served_prompt == STORED
    engine.close()


def test_off_restores_cosine_only_behaviour_with_the_default_model_name() -> None:
    """``verifier="off"`` with the default embedder: the tier is exactly the cosine-only one (same default
    threshold, same decisions, no verifier counters) as an engine whose embedder never had a verifier."""
    default_named = Engine("memory://", embedder=TableEmbedder(DEFAULT_EMBEDDER_NAME), verifier="off")
    other = Engine("memory://", embedder=TableEmbedder())
    assert default_named._core.semantic.verifier is None and other._core.semantic.verifier is None
    assert default_named.semantic.threshold == other.semantic.threshold == DEFAULT_THRESHOLD
    for engine in (default_named, other):
        engine.semantic.update(STORED, "llm", "A")
    for prompt in VECTORS:
        a = default_named.semantic.lookup(prompt, "llm")
        b = other.semantic.lookup(prompt, "llm")
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert (a.kind, a.payload, a.similarity, a.verifier_score) == (
                b.kind,
                b.payload,
                b.similarity,
                None,
            )
        assert [(c.prompt, c.served, c.reason) for c in default_named.semantic.explain(prompt, "llm")] == [
            (c.prompt, c.served, c.reason) for c in other.semantic.explain(prompt, "llm")
        ]
    a_stats, b_stats = default_named.stats().semantic, other.stats().semantic
    assert dataclasses.replace(a_stats, latency=b_stats.latency) == b_stats  # all but the timings
    default_named.close()
    other.close()


def test_auto_is_off_for_an_embedder_no_bundled_verifier_was_trained_for() -> None:
    assert resolve_verifier("auto", FakeEmbedder().name) is None
    assert resolve_verifier("off", DEFAULT_EMBEDDER_NAME) is None
    engine = Engine("memory://", embedder=FakeEmbedder())
    assert engine._core.semantic.verifier is None and engine.semantic.threshold == DEFAULT_THRESHOLD
    engine.close()


def test_options_from_url_and_environment() -> None:
    assert split_engine_query("memory://?verifier=off") == ("memory://", {"verifier": "off"})
    assert split_engine_query("redis://h:6379/0?index=flat&verifier_threshold=0.7&x=a%20b") == (
        "redis://h:6379/0?index=flat&x=a%20b",
        {"verifier_threshold": 0.7},
    )
    engine = Engine("memory://?verifier=off", embedder=TableEmbedder(DEFAULT_EMBEDDER_NAME))
    assert engine._core.semantic.verifier is None and engine.url == "memory://"
    engine.close()
    # A keyword given explicitly wins over the URL.
    engine = Engine("memory://?verifier=off", embedder=TableEmbedder(), verifier=same_direction)
    assert isinstance(engine._core.semantic.verifier, CallableVerifier)
    engine.close()
    config = EngineConfig.from_env(environ={"LIX_VERIFIER": "off", "LIX_VERIFIER_THRESHOLD": "0.25"})
    assert (config.verifier, config.verifier_threshold) == ("off", 0.25)
    assert EngineConfig.from_env(environ={"LIX_VERIFIER_THRESHOLD": "none"}).verifier_threshold is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"verifier": "no-such-verifier"}, "no-such-verifier"),
        ({"verifier": 3}, "verifier must be"),
        ({"verifier": ""}, "verifier must be"),
        ({"verifier": same_direction, "verifier_threshold": float("nan")}, "verifier_threshold"),
    ],
)
def test_bad_verifier_options_are_refused_naming_the_option(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Engine("memory://", embedder=TableEmbedder(), **options)  # type: ignore[arg-type]


def test_async_callable_is_refused() -> None:
    async def judge(prompt: str, candidate: str) -> float:
        return 1.0

    with pytest.raises(ConfigError, match="not async"):
        Engine("memory://", embedder=TableEmbedder(), verifier=judge)


def test_calibrate_picks_the_verifier_threshold() -> None:
    from lix_integrations.calibration import calibrate

    pairs = PairSet(
        q1=["flights from new york to florida", "flights from new york to florida"],
        q2=["flights from florida to new york", "cheap flights from new york to florida"],
        labels=[0, 1],
    )
    result = calibrate(
        pairs, 0.9, embedder=TableEmbedder(), verifier=CallableVerifier(same_direction), floor=0.8
    )
    # Cosine alone serves the swap (0.97); the verifier's lowest threshold above its 0.0 does not.
    assert result.threshold == 0.8 and result.verifier_threshold == pytest.approx(0.005)
    assert (result.point.precision, result.point.correct, result.point.hits) == (1.0, 1, 1)
    assert result.to_dict()["verifier_threshold"] == result.verifier_threshold


class VectorJudge(Verifier):
    """A verifier that reads vectors (as the bundled head would): it sees unit vectors for every candidate."""

    name = "vector-judge"
    threshold = 0.5
    needs_vectors = True
    blocking = False

    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def score(self, prompt: str, vector: object, candidates: Sequence[VerifierCandidate]) -> list[float]:
        query = np.asarray(vector, dtype=np.float64)
        scores = []
        for cand in candidates:
            assert cand.vector is not None
            stored = np.asarray(cand.vector, dtype=np.float64)
            assert abs(float(np.linalg.norm(stored)) - 1.0) < 1e-5
            cosine = float(query @ stored)
            self.seen.append((cand.prompt, round(cosine, 4)))
            scores.append(cosine)
        return scores


def test_a_verifier_that_needs_vectors_gets_each_candidates_vector(url: str) -> None:
    judge = VectorJudge()
    engine = Engine(url, embedder=TableEmbedder(), threshold=0.8, verifier=judge, verifier_threshold=0.95)
    engine.semantic.update(STORED, "llm", "A")
    assert engine.semantic.lookup("cheap flights from new york to florida", "llm") is None  # 0.9 < 0.95
    hit = engine.semantic.lookup("flights from florida to new york", "llm")
    assert hit is not None and hit.verifier_score == pytest.approx(0.97, abs=1e-4)
    assert judge.seen == [(STORED, 0.9), (STORED, 0.97)]
    engine.close()
