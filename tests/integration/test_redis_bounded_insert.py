"""A single insert under ``max_entries`` on Redis: the tier's ``Gather((Upsert, EvictOverflow))`` goes out as one
call of the upsert script (`semantic_upsert.BoundedUpsert`) instead of two scripts in lock step, with what the two
did: the least-recently-used records evicted down to the bound after the insert, counted, on Redis, Redis Stack
(adaptive FLAT/HNSW and HNSW) and a Cluster, blocking and awaited; and beside a process that still sends the two
scripts (the previous commit's Gather) on the same prefix."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from lix_integrations import AsyncEngine, Engine
from lix_integrations.backends.redis.backend import RedisBackend
from lix_integrations.kernel.ops import CountEntries, Embed, EvictOverflow, Gather, Upsert
from lix_integrations.kernel.scope import resolve_scope
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.semantic_entries import build_record

from .conftest import with_prefix

BOUND = 3


@pytest.fixture(params=["plain", "stack-adaptive", "stack-hnsw", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    kind = str(request.param)
    if kind == "plain":
        return with_prefix(str(request.getfixturevalue("redis_plain_url")))
    if kind == "cluster":
        return with_prefix(str(request.getfixturevalue("redis_cluster_url")))
    return with_prefix(str(request.getfixturevalue("redis_stack_url")), index=kind.split("-")[1])


def question(i: int) -> str:
    return f"question number {i} about topic {i}"


def kept(engine: Engine) -> list[int]:
    return [i for i in range(8) if engine.semantic.lookup(question(i), "llm", threshold=1.0) is not None]


def test_single_inserts_keep_to_the_bound_and_count_what_they_evict(url: str) -> None:
    with Engine(url, embedder=FakeEmbedder(), max_entries=BOUND) as engine:
        ids = [engine.semantic.update(question(i), "llm", f"a{i}") for i in range(5)]
        assert all(isinstance(i, int) for i in ids) and ids == sorted(ids)
        assert engine.stats().semantic.evictions == 2
        assert engine.stats().semantic.updates == 5
        assert kept(engine) == [2, 3, 4]
        assert engine._core.backend.execute(CountEntries(engine._core.config.namespace)) == BOUND


def test_a_bounded_insert_is_one_script_call(redis_stack_url: str, raw: redis.Redis) -> None:
    with Engine(with_prefix(redis_stack_url), embedder=FakeEmbedder(), max_entries=BOUND) as engine:
        engine.semantic.update(question(0), "llm", "a0")  # index, settings: made once
        raw.config_resetstat()
        for i in range(1, 6):
            engine.semantic.update(question(i), "llm", f"a{i}")
        calls = raw.info("commandstats")
        assert calls["cmdstat_evalsha"]["calls"] == 5  # one script call per insert, not two
        assert engine.stats().semantic.evictions == 3


def test_awaited_bounded_inserts(url: str) -> None:
    async def main() -> None:
        engine = AsyncEngine(url, embedder=FakeEmbedder(), max_entries=BOUND)
        try:
            for i in range(5):
                assert await engine.semantic.update(question(i), "llm", f"a{i}") is not None
            assert engine.stats().semantic.evictions == 2
            found = [i for i in range(5) if await engine.semantic.lookup(question(i), "llm", threshold=1.0)]
            assert found == [2, 3, 4]
        finally:
            await engine.aclose()

    asyncio.run(main())


@pytest.fixture
def old_way() -> Iterator[list[RedisBackend]]:
    opened: list[RedisBackend] = []
    yield opened
    for backend in opened:
        backend.close()


def test_beside_a_process_sending_the_two_scripts(url: str, old_way: list[RedisBackend]) -> None:
    """The previous commit sent the insert and the bound check as a Gather in lock step: two script calls that
    change the same keys the one call does. Inserts of both ways on one prefix keep one bound and one order."""
    with Engine(url, embedder=FakeEmbedder(), max_entries=BOUND) as engine:
        namespace = engine._core.config.namespace
        backend = engine._core.backend
        assert isinstance(backend, RedisBackend)
        old_way.append(backend)
        record_of = engine._core.semantic.prepare
        evicted_old = 0
        for i in range(8):
            if i % 2:  # the old way: the executor's lock step, as a Gather that is not fused
                query = record_of(question(i), "llm", context="", scope=resolve_scope(None))
                vec = engine._core.runtime.run(engine._core._embed(Embed(query.text), {}))
                record = build_record(query, f"a{i}", None, vec, engine._core.clock.now(), None)
                _, n = backend._sync.run_gather(
                    Gather((Upsert(namespace, record), EvictOverflow(namespace, BOUND)))
                )
                evicted_old += n
            else:
                engine.semantic.update(question(i), "llm", f"a{i}")
        assert backend.execute(CountEntries(namespace)) == BOUND
        assert engine.stats().semantic.evictions + evicted_old == 8 - BOUND
        assert kept(engine) == [5, 6, 7]
