"""The engine facade: one constructor shape, each operation written once for both views, a public spec()."""

from __future__ import annotations

import inspect
import json
import logging
import pickle
from pathlib import Path

import pytest

from lix_integrations import AsyncEngine, Engine
from lix_integrations.errors import ConfigError, InvalidInputError, InvalidPromptError
from lix_integrations.testing.fakes import FakeEmbedder

TIERS = ("semantic", "sessions", "kv", "checkpoints", "tools", "embeddings", "node_cache", "documents")


@pytest.mark.parametrize("cls", [Engine, AsyncEngine])
def test_one_constructor_shape_without_private_parameters(cls: type) -> None:
    params = inspect.signature(cls).parameters
    assert list(params) == ["url", "config", "embedder", "clock", "options"]
    assert params["options"].kind is inspect.Parameter.VAR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[1:4])


def test_an_unknown_option_is_named() -> None:
    with pytest.raises(ConfigError, match="treshold"):
        Engine("memory://", embedder=FakeEmbedder(), treshold=0.5)  # type: ignore[call-arg]


@pytest.mark.parametrize("tier", TIERS)
def test_every_blocking_operation_has_its_awaitable_twin(tier: str) -> None:
    engine = Engine("memory://", embedder=FakeEmbedder())
    try:
        blocking, awaiting = getattr(engine, tier), getattr(engine.aio, tier)
        names = [n for n in dir(blocking) if not n.startswith("_") and callable(getattr(blocking, n))]
        assert names
        for name in names:
            sync_method, async_method = getattr(blocking, name), getattr(awaiting, name)
            if name in (
                "configured",
                "stats",
                "front_usage",
                "clear_front",
                "shadow_report",
                "policy",
                "check_wrapped",
                "policy_for_annotated",
                "reset_stats",
            ):
                continue  # not I/O: plain methods shared by both views
            assert not inspect.iscoroutinefunction(sync_method), f"{tier}.{name}"
            assert inspect.iscoroutinefunction(async_method), f"{tier}.{name}"
            assert _shape(sync_method) == _shape(async_method), f"{tier}.{name}"
    finally:
        engine.close()


def test_views_share_one_core_and_keep_their_tier_views() -> None:
    engine = Engine("memory://", embedder=FakeEmbedder())
    try:
        assert engine.kv is engine.kv
        assert engine.aio.sync.kv is not engine.kv  # another view object ...
        engine.kv.put("k", {"v": 1}, "c")
        assert engine.aio.sync.kv.get("k", "c") == {"v": 1}  # ... over the same store
    finally:
        engine.close()


async def test_awaitable_view_runs_the_same_operations() -> None:
    engine = AsyncEngine("memory://", embedder=FakeEmbedder())
    await engine.kv.put("k", {"v": 1}, "c")
    assert await engine.kv.get("k", "c") == {"v": 1}
    assert engine.sync.kv.get("k", "c") == {"v": 1}
    assert await engine.semantic.lookup("hello", "llm") is None
    assert await engine.semantic.update("hello", "llm", "answer") is not None
    hit = await engine.semantic.lookup("hello", "llm")
    assert hit is not None and hit.payload == "answer"
    await engine.aclose()


def test_spec_pickles_and_reopens_the_same_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    with Engine(url, embedder=_length_embedding, namespace="ns", threshold=0.9) as engine:
        engine.kv.put("k", {"v": 1}, "c")
        spec = pickle.loads(pickle.dumps(engine.spec()))  # noqa: S301 - our own object, as multiprocessing does
    assert spec.config.namespace == "ns" and spec.config.threshold == 0.9
    with spec.open() as again:
        assert again.kv.get("k", "c") == {"v": 1}


def test_spec_of_a_private_memory_store_is_refused() -> None:
    with (
        Engine("memory://", embedder=FakeEmbedder()) as engine,
        pytest.raises(ConfigError, match="private memory://"),
    ):
        engine.spec()
    with Engine("memory://shared-spec", embedder=FakeEmbedder()) as engine:
        assert engine.spec().config.url == "memory://shared-spec"


def _length_embedding(text: str) -> list[float]:
    return [float(len(text)), 1.0]


def _shape(method: object) -> list[tuple[str, object, object]]:
    """Names, kinds and defaults (a tool's ``compute`` is typed sync or async, as each view needs)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()]  # type: ignore[arg-type]


def test_lookup_decode_serves_the_decoded_value_and_deletes_what_it_cannot_decode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Engine("memory://", embedder=FakeEmbedder()) as engine:
        api = engine.semantic
        api.update("hello there", "m", '{"n": 1}')
        hit = api.lookup("hello there", "m", decode=json.loads)
        assert hit is not None and hit.value == {"n": 1}
        api.update("broken one", "m", "{not json")
        with caplog.at_level(logging.WARNING):
            assert api.lookup("broken one", "m", decode=json.loads) is None
        assert any("unreadable" in r.getMessage() for r in caplog.records)
        assert api.lookup("broken one", "m") is None  # deleted, not only skipped
        assert api.count() == 1


@pytest.mark.parametrize("prompt", ["", "   ", 42])
def test_on_invalid_prompt_miss_is_a_logged_miss_and_stores_nothing(
    prompt: object, caplog: pytest.LogCaptureFixture
) -> None:
    with Engine("memory://", embedder=FakeEmbedder()) as engine:
        api = engine.semantic
        with pytest.raises(InvalidPromptError):
            api.lookup(prompt, "m")  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING):
            assert api.lookup(prompt, "m", on_invalid_prompt="miss") is None  # type: ignore[arg-type]
            assert api.update(prompt, "m", "x", on_invalid_prompt="miss") is None  # type: ignore[arg-type]
        assert [r.getMessage().split(":")[0] for r in caplog.records] == [
            "prompt not looked up in the cache",
            "answer not cached",
        ]
        assert api.count() == 0
        with pytest.raises(InvalidInputError, match="on_invalid_prompt"):
            api.lookup("fine", "m", on_invalid_prompt="ignore")  # type: ignore[arg-type]


async def test_awaitable_lookup_takes_the_same_options() -> None:
    engine = AsyncEngine("memory://", embedder=FakeEmbedder())
    await engine.semantic.update("hello there", "m", '{"n": 1}')
    hit = await engine.semantic.lookup("hello there", "m", decode=json.loads)
    assert hit is not None and hit.value == {"n": 1}
    assert await engine.semantic.lookup("", "m", on_invalid_prompt="miss") is None
    await engine.aclose()


def test_a_counter_set_counts_exactly_its_stats_fields() -> None:
    from lix_integrations.kernel.counters import CounterSet
    from lix_integrations.tiers.kv import KvStats

    counters = CounterSet(KvStats)
    counters.add("hits", 2)
    assert counters.snapshot() == KvStats(gets=0, hits=2, misses=0, puts=0, put_batches=0, deletes=0, scans=0)
    with pytest.raises(KeyError):
        counters.add("not_a_field")
    counters.reset()
    assert counters.snapshot().hits == 0
