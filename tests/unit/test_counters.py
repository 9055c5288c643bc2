"""The generic counter set every tier counts in (kernel/counters.py) and the registry the engine reads."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from lix_integrations.config import ModelPrice
from lix_integrations.kernel.counters import CounterRegistry, CounterSet, Counts, Snapshot
from lix_integrations.kernel.semantic_stats import (
    HISTOGRAM_BINS,
    SEMANTIC_COUNTERS,
    SemanticStats,
    ShadowReport,
    similarity_bin,
)


@dataclass(frozen=True)
class _Stats(Snapshot):
    DERIVED = ("total",)

    hits: int
    misses: int

    @property
    def total(self) -> int:
        return self.hits + self.misses


def test_labels_samples_and_the_log_are_bounded_and_reset() -> None:
    counters: CounterSet[Counts] = CounterSet(("calls", "seconds"), lambda c: c, samples=3, log=2)
    for i in range(5):
        counters.add("calls", label=f"tool{i % 2}", sample=float(i), note=i)
    counters.add("seconds", 0.5, label="tool0")
    counts = counters.snapshot()
    assert counts["calls"] == 5 and counts.by_label("calls") == {"tool0": 3, "tool1": 2}
    assert counts.by_label("seconds") == {"tool0": 0.5} and counts.by_label("nothing") == {}
    assert counts.samples == (2.0, 3.0, 4.0) and counts.log == (3, 4)
    counters.reset()
    assert counters.snapshot() == Counts({"calls": 0, "seconds": 0}, {}, (), ())


def test_an_unknown_name_is_refused_and_update_counts_nothing_then() -> None:
    counters = CounterSet(_Stats)
    with pytest.raises(KeyError):
        counters.update(hits=1, typo=1)
    assert counters.snapshot() == _Stats(hits=0, misses=0)
    counters.update(hits=2, misses=1)
    assert counters.snapshot().to_dict() == {"hits": 2, "misses": 1, "total": 3}


def test_add_each_counts_one_per_name_or_nothing_for_an_unknown_name() -> None:
    counters = CounterSet(_Stats)
    counters.add_each("hits", "misses")
    counters.add_each("hits")
    with pytest.raises(KeyError):
        counters.add_each("misses", "typo")
    assert counters.snapshot() == _Stats(hits=2, misses=1)


def test_counts_from_many_threads_are_all_kept() -> None:
    counters = CounterSet(_Stats)

    def work() -> None:
        for _ in range(1000):
            counters.add("hits", label="x")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counters.snapshot().hits == 8000 and counters.counts().by_label("hits") == {"x": 8000}


def test_the_registry_snapshots_and_resets_every_set_it_made_once() -> None:
    registry = CounterRegistry()
    a = registry.new("a", _Stats)
    b = registry.new("b", _Stats)
    a.add("hits")
    b.add("misses", 2)
    assert registry.snapshot() == {"a": _Stats(1, 0), "b": _Stats(0, 2)}
    assert a in registry and CounterSet(_Stats) not in registry
    with pytest.raises(ValueError, match="already registered"):
        registry.new("a", _Stats)
    registry.reset()
    assert registry.snapshot() == {"a": _Stats(0, 0), "b": _Stats(0, 0)}


def test_semantic_stats_derive_cost_latency_histogram_and_the_shadow_report() -> None:
    counters = CounterSet(SEMANTIC_COUNTERS, lambda c: c, samples=10, log=5)
    counters.add("semantic_hits", sample=0.002)
    counters.add("misses", sample=0.004)
    counters.add("histogram", label=similarity_bin(0.91))
    counters.add("histogram", label=similarity_bin(1.0))
    for model, tokens_in, tokens_out in (("gpt", 1000, 100), ("", 10, 1), ("other", 5, 5)):
        counters.add("input_tokens_saved", tokens_in, label=model)
        counters.add("output_tokens_saved", tokens_out, label=model)
    counters.add("shadow_lookups", 2)
    counters.add("shadow_hits", note="decision")
    counts = counters.counts()
    stats = SemanticStats.from_counts(counts, {"gpt": ModelPrice(1.0, 2.0)})
    assert stats.cost_saved == pytest.approx((1000 * 1.0 + 100 * 2.0) / 1e6)
    assert stats.unpriced_models == ("(unknown model)", "other")
    assert (stats.input_tokens_saved, stats.output_tokens_saved) == (1015, 106)
    assert stats.latency.count == 2 and stats.latency.median_ms == pytest.approx(3.0)
    assert len(stats.histogram) == HISTOGRAM_BINS and stats.histogram[18] == 1 and stats.histogram[-1] == 1
    assert stats.to_dict()["hit_rate"] == 0.5 and stats.to_dict()["lookups"] == 2
    everything = SemanticStats.from_counts(counts, {"*": ModelPrice(1.0, 1.0)})
    assert everything.unpriced_models == () and everything.cost_saved == pytest.approx(1121 / 1e6)
    report = ShadowReport.from_counts(counts)
    assert (report.lookups, report.would_hit, report.decisions) == (2, 1, ["decision"])
