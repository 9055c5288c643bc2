"""`UpsertMany` on Redis: a batch of records stored by one script call per `UPSERT_BATCH` records, with what
consecutive upserts would do (ids in order, exact keys replaced, TTLs, plain mode's partition bound, the adaptive
switch to HNSW) on every server kind."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from lix_integrations import Engine
from lix_integrations.backends.redis import semantic_index, semantic_upsert
from lix_integrations.backends.redis.backend import RedisBackend
from lix_integrations.backends.redis.commands import Lua
from lix_integrations.backends.redis.keys import sem_base
from lix_integrations.kernel.ops import CountEntries, DeleteIds, ExactGet, Upserted, UpsertMany, VectorSearch
from lix_integrations.testing import FakeEmbedder

from .conftest import with_prefix
from .test_redis_adaptive_index import FROM, NS, all_found, backend_for, indexes, record, unit


@pytest.fixture
def opened() -> Iterator[Callable[[str], RedisBackend]]:
    """Opens backends (closed after the test)."""
    made: list[RedisBackend] = []

    def open_(url: str) -> RedisBackend:
        made.append(backend_for(url))
        return made[-1]

    yield open_
    for backend in made:
        backend.close()


@pytest.fixture(params=["plain", "valkey", "stack", "cluster"])
def server_url(request: pytest.FixtureRequest) -> str:
    fixture = {
        "plain": "redis_plain_url", "valkey": "valkey_url", "stack": "redis_stack_url", "cluster": "redis_cluster_url"
    }[request.param]  # fmt: skip
    return str(request.getfixturevalue(fixture))


def test_a_batch_stores_in_order_replaces_exact_keys_and_keeps_ttls(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic_upsert, "UPSERT_BATCH", 3)  # 8 records: three script calls
    backend = backend_for(with_prefix(server_url))
    try:
        first = backend.execute(UpsertMany(NS, (record("old", unit(99)),)))
        # Plain mode caches the partition's vectors now; the batch's count of changes must make it fetch again.
        assert backend.execute(VectorSearch(NS, "p", unit(99), 1))[0][0].id == first[0]
        records = [record(f"e{i}", unit(i)) for i in range(6)]
        records[2] = dataclasses.replace(records[2], expires_at=3700.0)
        records.append(record("old", unit(50)))  # replaces the record stored before the batch
        records.append(record("e1", unit(51)))  # replaces e1 of the same batch
        ids = [int(i) for i in backend.execute(UpsertMany(NS, tuple(records)))]
        assert ids == sorted(ids) and len(set(ids)) == 8 and ids[0] > first[0]
        assert backend.execute(CountEntries(NS)) == 7
        assert backend.execute(ExactGet(NS, "old")).id == ids[6]
        assert backend.execute(ExactGet(NS, "e1")).id == ids[7]
        assert backend.execute(ExactGet(NS, "e2")).expires_at == 3700.0
        assert backend.execute(ExactGet(NS, "e3")).expires_at is None
        hits = backend.execute(VectorSearch(NS, "p", unit(4), 1))
        assert hits[0][0].id == ids[4]
        assert backend.execute(UpsertMany(NS, ())) == []
    finally:
        backend.close()


def test_an_exact_key_twice_in_one_script_call_keeps_only_the_later_record(server_url: str) -> None:
    """The script writes a call's 'exact', 'lru' and partition-set entries once for the whole call: a record whose
    exact key an earlier record of the same call holds must still replace it (nothing of the earlier one left)."""
    backend = backend_for(with_prefix(server_url))
    try:
        records = (record("a", unit(1)), record("b", unit(2)), record("a", unit(3)), record("c", unit(4)))
        ids = [
            int(i) for i in backend.execute(UpsertMany(NS, records))
        ]  # one script call (UPSERT_BATCH is 100)
        assert len(set(ids)) == 4
        assert backend.execute(CountEntries(NS)) == 3
        assert backend.execute(ExactGet(NS, "a")).id == ids[2]
        hit = backend.execute(VectorSearch(NS, "p", unit(1), 4))  # the replaced record is in no search set
        assert {found.id for found, _ in hit} == {ids[1], ids[2], ids[3]}
        assert backend.execute(ExactGet(NS, "b")).id == ids[1]
        # Removing every record left leaves nothing behind: the replaced one was never listed.
        backend.execute(DeleteIds(NS, (ids[1], ids[2], ids[3])))
        assert backend.execute(CountEntries(NS)) == 0
        assert backend.execute(VectorSearch(NS, "p", unit(1), 4)) == []
    finally:
        backend.close()


def test_plain_mode_reports_what_the_partition_bound_evicted(
    redis_plain_url: str, opened: Callable[[str], RedisBackend]
) -> None:
    backend = opened(with_prefix(redis_plain_url, partition_limit="3"))
    stored = backend.execute(UpsertMany(NS, tuple(record(f"e{i}", unit(i)) for i in range(5))))
    assert [s.evicted for s in stored] == [0, 0, 0, 1, 1]
    assert backend.execute(CountEntries(NS)) == 3
    assert backend.execute(ExactGet(NS, "e0")) is None


def test_a_namespace_filled_by_one_batch_of_many_calls_has_switched_when_it_returns(
    redis_stack_url: str,
    raw: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    opened: Callable[[str], RedisBackend],
) -> None:
    monkeypatch.setattr(semantic_index, "GROW_CHUNK", 2)
    monkeypatch.setattr(semantic_upsert, "UPSERT_BATCH", 5)
    backend = opened(with_prefix(redis_stack_url, index="adaptive", hnsw_from=str(FROM)))
    batch = tuple(record(f"e{i}", unit(i)) for i in range(FROM * 4))
    ids = dict(enumerate(int(i) for i in backend.execute(UpsertMany(NS, batch))))
    assert raw.get(sem_base(backend.options.prefix, NS) + "qe") == b"hnsw"
    assert indexes(raw, backend) == {"idx": "HNSW"}
    assert all_found(backend, ids)


def test_the_async_side_and_the_engine_store_a_batch(redis_stack_url: str) -> None:
    backend = backend_for(with_prefix(redis_stack_url))
    try:
        stored = asyncio.run(backend.aexecute(UpsertMany(NS, (record("a", unit(1)), record("b", unit(2))))))
        assert [backend.execute(ExactGet(NS, k)).id for k in "ab"] == [int(i) for i in stored]
    finally:
        backend.close()
    engine = Engine(with_prefix(redis_stack_url, prefix="t" + uuid.uuid4().hex[:16]), embedder=FakeEmbedder())
    try:
        ids = engine.semantic.update_many([(f"question {i}", "llm", f"answer {i}") for i in range(5)])
        assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 5
        hit = engine.semantic.lookup("question 3", "llm")
        assert hit is not None and hit.payload == "answer 3"
    finally:
        engine.close()


def test_a_batch_leaves_no_reference_cycle(
    redis_stack_url: str, opened: Callable[[str], RedisBackend]
) -> None:
    """Its calls are chained without a closure that refers to itself: the ids of every batch waited for the
    garbage collector before."""
    backend = opened(with_prefix(redis_stack_url))
    backend.execute(UpsertMany(NS, (record("warm", unit(0)),)))
    gc.collect()
    gc.disable()
    try:
        backend.execute(UpsertMany(NS, tuple(record(f"e{i}", unit(i)) for i in range(250))))
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        assert not [o for o in gc.garbage if isinstance(o, (Upserted, Lua))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize("cheap", [True, False], ids=["cheap-embedder", "costs-unknown"])
def test_a_batch_skips_the_embedding_store_once_its_embedder_is_measured_cheap(
    redis_stack_url: str, raw: redis.Redis, cheap: bool
) -> None:
    """The rule single updates follow: storing vectors an embedder computes for less than a quarter of a round
    trip costs more than computing them again (update_many x100 wrote 100 vectors a call before)."""
    prefix = "t" + uuid.uuid4().hex[:16]
    engine = Engine(with_prefix(redis_stack_url, prefix=prefix), embedder=FakeEmbedder())
    try:
        if cheap:  # as the engine measures them: an embedding in 1 us, a round trip in 1 ms
            engine._core._embed_cost.value, engine._core._trip_cost.value = 1e-6, 1e-3
        engine.semantic.update_many([(f"question {i}", "llm", f"answer {i}") for i in range(5)])
        stored = list(raw.scan_iter(match=f"{prefix}:{{k/*embeddings}}:v:*"))
        assert len(stored) == (0 if cheap else 5)
        hit = engine.semantic.lookup("question 2", "llm")
        assert hit is not None and hit.payload == "answer 2"
    finally:
        engine.close()


@pytest.mark.parametrize(
    "embed_seconds", [1e-6, 1e-2], ids=["embedder-cheaper-than-a-record", "costly-embedder"]
)
def test_a_process_inserting_only_batches_stores_vectors_by_what_a_record_of_a_batch_costs(
    redis_stack_url: str, raw: redis.Redis, embed_seconds: float
) -> None:
    """A cache warm-up only inserts batches, so no single round trip is ever timed: once a batched write has been
    timed, a batch's vectors skip the embedding store when embedding one costs less than one record's share of
    that write (before, every batch of such a process stored its vectors)."""
    prefix = "t" + uuid.uuid4().hex[:16]
    engine = Engine(with_prefix(redis_stack_url, prefix=prefix), embedder=FakeEmbedder())
    core = engine._core
    try:
        core._embed_cost.value = embed_seconds
        engine.semantic.update_many([(f"question {i}", "llm", f"answer {i}") for i in range(5)])
        stored = lambda: len(list(raw.scan_iter(match=f"{prefix}:{{k/*embeddings}}:v:*")))  # noqa: E731
        assert stored() == 5  # what a batched write costs is not known yet
        assert (
            core._trip_cost.value is None and core._record_write_cost.value is not None
        )  # timed by the batch
        core._embed_cost.value, core._record_write_cost.value = embed_seconds, 1e-4
        engine.semantic.update_many([(f"question {i}", "llm", f"answer {i}") for i in range(5, 10)])
        assert stored() == (5 if embed_seconds < 1e-4 else 10)
        for i in (2, 7):
            hit = engine.semantic.lookup(f"question {i}", "llm")
            assert hit is not None and hit.payload == f"answer {i}"
    finally:
        engine.close()
