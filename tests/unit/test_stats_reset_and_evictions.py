"""``reset_stats()`` starts every tier over, and semantic evictions are counted, on memory and SQLite.

The same checks run on Redis and Redis Stack in tests/integration/test_redis_stats.py (with plain mode's
``partition_limit`` evictions). Embedding-tier evictions are checked on every backend by the embeddings
conformance suite (``test_max_entries_evicts_least_recently_used``).
"""

from __future__ import annotations

import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from lix_integrations import Engine, EngineStats
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.conformance_stats import exercise_every_tier, nonzero_counters


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path / 'c.db'}"


def test_reset_stats_resets_every_tier(url: str, tmp_path: Path) -> None:
    with exercise_every_tier(url, tmp_path) as engine:
        used = nonzero_counters(engine.stats().to_dict())
        for tier in ("semantic", "kv", "tools", "embeddings", "sessions"):
            assert any(p.startswith(f".{tier}.") for p in used), f"{tier} was not exercised: {used}"
        assert nonzero_counters(engine.node_cache.stats().to_dict())
        engine.reset_stats()
        assert nonzero_counters(engine.stats().to_dict()) == []
        assert nonzero_counters(engine.node_cache.stats().to_dict()) == []
        assert nonzero_counters(engine.tools.stats().to_dict()) == []


def test_max_entries_evictions_are_counted(url: str) -> None:
    with Engine(url, embedder=FakeEmbedder(), max_entries=3) as engine:
        for i in range(5):
            engine.semantic.update(f"question number {i} about topic {i}", "llm", f"a{i}")
        assert engine.stats().semantic.evictions == 2
        engine.reset_stats()
        assert engine.stats().semantic.evictions == 0


def _tiers(engine: Engine) -> dict[str, Any]:
    """The tiers the engine built: its core's attributes whose class is defined in ``lix_integrations.tiers``."""
    return {
        name: value
        for name, value in vars(engine._core).items()
        if type(value).__module__.startswith("lix_integrations.tiers.") and hasattr(value, "counters")
    }


def test_every_tier_the_engine_builds_is_registered_in_stats(url: str) -> None:
    with Engine(url, embedder=FakeEmbedder()) as engine:
        registry = engine._core.counters
        tiers = _tiers(engine)
        built = {
            "semantic",
            "embeddings",
            "kv",
            "tools",
            "sessions",
            "checkpoints",
            "node_cache",
            "documents",
        }
        assert built <= set(tiers)
        for name, tier in tiers.items():
            assert tier.counters in registry, f"the {name} tier's counters are not registered"
        shown = {f.name for f in fields(EngineStats)} - {"namespace"}
        assert shown == {name for name, _ in registry}
        assert set(engine.stats().to_dict()) == {"namespace", *shown}


def test_reset_stats_zeroes_every_registered_tier(url: str, tmp_path: Path) -> None:
    with exercise_every_tier(url, tmp_path) as engine:
        used = nonzero_counters(engine.stats().to_dict())
        for name, _ in engine._core.counters:
            if name == "embedder_faults":  # no fault here: tests/unit/test_embedder_faults.py resets them
                continue
            assert any(p.startswith(f".{name}.") for p in used), f"{name} was not exercised: {used}"
        engine.reset_stats()
        assert nonzero_counters(engine.stats().to_dict()) == []
        assert nonzero_counters(engine.checkpoints.aio.sync._tier.stats.to_dict()) == []
