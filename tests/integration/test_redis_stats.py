"""``reset_stats()`` and eviction counts on Redis (plain: client-side search with ``partition_limit``) and Redis
Stack (Query Engine); memory and SQLite run the same checks in tests/unit/test_stats_reset_and_evictions.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lix_integrations import Engine
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.conformance_stats import exercise_every_tier, nonzero_counters

from .conftest import with_prefix


@pytest.fixture(params=["plain", "stack"])
def redis_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"redis_{request.param}_url"))


def test_reset_stats_resets_every_tier(redis_url: str, tmp_path: Path) -> None:
    with exercise_every_tier(with_prefix(redis_url), tmp_path) as engine:
        assert nonzero_counters(engine.stats().to_dict())
        engine.reset_stats()
        assert nonzero_counters(engine.stats().to_dict()) == []
        assert nonzero_counters(engine.node_cache.stats().to_dict()) == []


def test_max_entries_evictions_are_counted(redis_url: str) -> None:
    with Engine(with_prefix(redis_url), embedder=FakeEmbedder(), max_entries=3) as engine:
        for i in range(5):
            engine.semantic.update(f"question number {i} about topic {i}", "llm", f"a{i}")
        assert engine.stats().semantic.evictions == 2


def test_partition_limit_evictions_are_counted(redis_plain_url: str) -> None:
    """Plain mode keeps at most ``partition_limit`` vectors per partition, evicting on insert: those evictions
    reach ``stats().semantic.evictions`` (they did not before)."""
    with Engine(with_prefix(redis_plain_url, partition_limit="2"), embedder=FakeEmbedder()) as engine:
        for i in range(5):
            engine.semantic.update(f"question number {i} about topic {i}", "llm", f"a{i}")
        assert engine.stats().semantic.evictions == 3
        assert engine.semantic.lookup("question number 4 about topic 4", "llm") is not None
        engine.reset_stats()
        assert engine.stats().semantic.evictions == 0
