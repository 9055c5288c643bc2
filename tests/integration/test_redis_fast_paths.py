"""The Redis backend's fast paths keep the storage semantics: plain mode's in-process vector cache, deferred
touches, Query Engine hybrid policies, one-round-trip lookups, and Redis expiry of records and values with a TTL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from lix_integrations.backends import open_backend
from lix_integrations.backends.redis import semantic as redis_semantic
from lix_integrations.backends.redis.backend import RedisBackend
from lix_integrations.backends.redis.commands import EXPIRY_SLACK_SECONDS
from lix_integrations.backends.redis.executor_async import AsyncExecutor
from lix_integrations.backends.redis.executor_sync import SyncExecutor
from lix_integrations.backends.redis.keys import kv_base, sem_base
from lix_integrations.kernel.ops import (
    CountEntries,
    DeleteIds,
    ExactGet,
    ExactOrSearch,
    KvGet,
    KvItem,
    KvPurgeExpired,
    KvPut,
    KvScan,
    KvUsage,
    PurgeExpired,
    SemanticRecord,
    Touch,
    Upsert,
    VectorSearch,
)

from .conftest import with_prefix

NS = "ns"
DIM = 8


def unit(seed: int) -> np.ndarray:
    vec = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return vec / np.linalg.norm(vec)


def record(
    key: str, vec: np.ndarray, *, partition: str = "p", expires_at: float | None = None
) -> SemanticRecord:
    return SemanticRecord(key, partition, "global", "llm", key, vec, "{}", 100.0, expires_at, 100.0)


def open_pair(url: str) -> tuple[RedisBackend, RedisBackend]:
    a, b = open_backend(url), open_backend(url)
    assert isinstance(a, RedisBackend) and isinstance(b, RedisBackend)
    return a, b


@pytest.fixture
def plain_url(redis_plain_url: str) -> str:
    return with_prefix(redis_plain_url, index="none")


@pytest.fixture
def raw(redis_plain_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_plain_url)
    yield client
    client.close()


def test_plain_cache_follows_other_writers(plain_url: str, raw: redis.Redis) -> None:
    a, b = open_pair(plain_url)
    try:
        for i in range(5):
            a.execute(Upsert(NS, record(f"e{i}", unit(i))))
        query = unit(100)
        first = b.execute(VectorSearch(NS, "p", query, 1))  # b now caches the partition
        assert len(first) == 1
        near_id = a.execute(Upsert(NS, record("near", query)))
        assert b.execute(VectorSearch(NS, "p", query, 1))[0][0].id == near_id  # a's insert is seen
        a.execute(DeleteIds(NS, (near_id,)))
        assert b.execute(VectorSearch(NS, "p", query, 1))[0][0].id != near_id  # and its delete
        # Everything wiped (FLUSHALL, a restore) and ids start over with other vectors: no stale vector served.
        base = sem_base(a.options.prefix, NS)
        raw.delete(*raw.keys(base.replace("{", "[{]").replace("}", "[}]") + "*"))
        ids = [a.execute(Upsert(NS, record(f"n{i}", unit(200 + i)))) for i in range(3)]
        found = b.execute(VectorSearch(NS, "p", unit(201), 3))
        assert [r.id for r, _ in found][0] == ids[1]
        assert found[0][1] == pytest.approx(1.0, abs=1e-5)
    finally:
        a.close()
        b.close()


def test_deferred_touch_reaches_other_processes(plain_url: str) -> None:
    a, b = open_pair(plain_url)
    try:
        entry = a.execute(Upsert(NS, record("e", unit(1))))
        a.execute(Touch(NS, (entry,), 500.0))
        a.execute(CountEntries(NS))  # the touch rides with the next command
        got = b.execute(ExactGet(NS, "e"))
        assert got is not None and got.accessed_at == 500.0
        a.execute(Touch(NS, (entry,), 600.0))
        a.close()  # closing sends what is still waiting
        got = b.execute(ExactGet(NS, "e"))
        assert got is not None and got.accessed_at == 600.0
    finally:
        a.close()
        b.close()


async def test_deferred_touch_async(plain_url: str) -> None:
    a, b = open_pair(plain_url)
    try:
        entry = await a.aexecute(Upsert(NS, record("e", unit(1))))
        await a.aexecute(Touch(NS, (entry,), 700.0))
        await a.aclose()
        got = await b.aexecute(ExactGet(NS, "e"))
        assert got is not None and got.accessed_at == 700.0
    finally:
        await b.aclose()


def test_ttl_records_expire_in_redis_and_indexes_heal(plain_url: str, raw: redis.Redis) -> None:
    backend = open_backend(plain_url)
    assert isinstance(backend, RedisBackend)
    base = sem_base(backend.options.prefix, NS)
    try:
        kept = backend.execute(Upsert(NS, record("kept", unit(1))))
        timed = backend.execute(Upsert(NS, record("timed", unit(2), expires_at=130.0)))
        assert raw.pttl(f"{base}r:{kept}") == -1
        # TTL 30 s on the engine's clock, plus the slack for clock differences.
        ttl_ms = raw.pttl(f"{base}r:{timed}")
        assert (30 + EXPIRY_SLACK_SECONDS - 5) * 1000 < ttl_ms <= (30 + 60) * 1000
        raw.delete(f"{base}r:{timed}")  # what Redis does when that time comes
        assert backend.execute(CountEntries(NS)) == 2  # counted until cleaned, like any expired entry
        assert backend.execute(ExactGet(NS, "timed")) is None  # the read cleans the indexes
        assert backend.execute(CountEntries(NS)) == 1
        assert [r.id for r, _ in backend.execute(VectorSearch(NS, "p", unit(2), 5))] == [kept]
        # A purge also cleans records Redis already deleted.
        gone = backend.execute(Upsert(NS, record("gone", unit(3), expires_at=110.0)))
        raw.delete(f"{base}r:{gone}")
        assert backend.execute(PurgeExpired(NS, 200.0)) == 1
        assert backend.execute(CountEntries(NS)) == 1
        assert raw.hlen(f"{base}xk") == 0
    finally:
        backend.close()


@pytest.mark.parametrize("batches_from", [1, 1_000_000], ids=["batches", "adhoc"])
def test_query_engine_policies_find_the_nearest(
    redis_stack_url: str, batches_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_semantic, "_BATCHES_FROM", batches_from)
    backend = open_backend(with_prefix(redis_stack_url, index="hnsw"))
    try:
        ids = {}
        for i in range(40):
            ids[i] = backend.execute(
                Upsert(NS, record(f"e{i}", unit(i), partition="big" if i % 4 else "small"))
            )
        for i in (0, 4, 5, 7):
            part = "big" if i % 4 else "small"
            found = backend.execute(VectorSearch(NS, part, unit(i), 2))
            # The HNSW index holds float16 vectors: a distance to the vector itself is within 1e-3 of 0.
            assert found[0][0].id == ids[i] and found[0][1] == pytest.approx(1.0, abs=1e-3)
            assert found[0][0].vector is None  # the search does not ship vectors back
            assert all(r.partition == part for r, _ in found)
    finally:
        backend.close()


def test_lists_of_thousands_of_items_in_one_script(plain_url: str) -> None:
    """Appends and reads batch their commands; batches stay under Lua's unpack() limit."""
    from lix_integrations.kernel.ops import ListAppend, ListRange

    backend = open_backend(plain_url)
    try:
        values = tuple(b"v%d" % i for i in range(9000))
        appended = backend.execute(ListAppend(NS, "big", values, 1.0))
        assert appended.seqs == tuple(range(1, 9001)) and appended.length == 9000
        got = backend.execute(ListRange(NS, "big"))
        assert [v for _, v in got] == list(values) and [s for s, _ in got] == list(range(1, 9001))
        assert [s for s, _ in backend.execute(ListRange(NS, "big", last_n=2500))] == list(range(6501, 9001))
        assert [s for s, _ in backend.execute(ListRange(NS, "big", after_seq=100, limit=3))] == [
            101,
            102,
            103,
        ]
    finally:
        backend.close()


def test_one_partition_searches_without_filter_and_keeps_partitions_apart(redis_stack_url: str) -> None:
    """A partition holding every record is searched by a plain KNN; results of another partition never leak."""
    backend = open_backend(with_prefix(redis_stack_url, index="hnsw"))
    try:
        ids = [backend.execute(Upsert(NS, record(f"e{i}", unit(i)))) for i in range(20)]
        found = backend.execute(VectorSearch(NS, "p", unit(3), 3))
        assert found[0][0].id == ids[3] and found[0][1] == pytest.approx(1.0, abs=1e-4)
        exact, none = backend.execute(ExactOrSearch(NS, "e5", "p", unit(9), 3))
        assert exact is not None and exact.id == ids[5] and none == []
        missing, candidates = backend.execute(ExactOrSearch(NS, "nope", "p", unit(7), 3))
        assert missing is None and candidates[0][0].id == ids[7]
        other = backend.execute(Upsert(NS, record("o", unit(7), partition="q")))
        assert all(r.partition == "p" for r, _ in backend.execute(VectorSearch(NS, "p", unit(7), 5)))
        assert [r.id for r, _ in backend.execute(VectorSearch(NS, "q", unit(7), 5))] == [other]
        _, in_q = backend.execute(ExactOrSearch(NS, "nope", "q", unit(1), 5))
        assert [r.id for r, _ in in_q] == [other]
    finally:
        backend.close()


def test_uses_wait_behind_lookups_but_not_behind_other_operations(plain_url: str) -> None:
    a, b = open_pair(plain_url)
    try:
        entry = a.execute(Upsert(NS, record("e", unit(1))))
        a.execute(Touch(NS, (entry,), 500.0))
        mine = a.execute(ExactGet(NS, "e"))  # a lookup: the use may wait, but this process sees it
        assert mine is not None and mine.accessed_at == 500.0
        searched = a.execute(VectorSearch(NS, "p", unit(1), 1))
        assert searched[0][0].accessed_at == 500.0
        theirs = b.execute(ExactGet(NS, "e"))
        assert theirs is not None and theirs.accessed_at == 100.0  # not sent yet
        a.execute(CountEntries(NS))  # anything but a lookup sends the waiting uses first
        theirs = b.execute(ExactGet(NS, "e"))
        assert theirs is not None and theirs.accessed_at == 500.0
    finally:
        a.close()
        b.close()


def test_kv_values_carry_redis_expiry(plain_url: str, raw: redis.Redis) -> None:
    backend = open_backend(plain_url)
    assert isinstance(backend, RedisBackend)
    base = kv_base(backend.options.prefix, NS, "t")
    try:
        backend.execute(KvPut(NS, "t", (KvItem("kept", b"1234"), KvItem("timed", b"abcdef", 130.0)), 100.0))
        assert raw.pttl(f"{base}v:kept") == -1
        ttl_ms = raw.pttl(f"{base}v:timed")
        assert (30 + EXPIRY_SLACK_SECONDS - 5) * 1000 < ttl_ms <= (30 + 60) * 1000
        assert backend.execute(KvUsage(NS, "t")) == (2, 10)
        raw.delete(f"{base}v:timed")  # what Redis does when that time comes
        assert backend.execute(KvGet(NS, "t", ("timed", "kept"), 110.0)) == [None, b"1234"]
        assert [k for k, _ in backend.execute(KvScan(NS, "t", 110.0))] == ["kept"]
        assert backend.execute(KvUsage(NS, "t")) == (2, 10)  # counted until purged, like any expired entry
        assert backend.execute(KvPurgeExpired(NS, None, 200.0)) == 1
        assert backend.execute(KvUsage(NS, "t")) == (1, 4)
        assert raw.hlen(f"{base}sz") == 1
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("index", "embed_first_trips", "exact_first_trips"), [("hnsw", 1, 2), ("none", 2, 3)]
)
def test_cheap_embedder_lookup_is_one_round_trip(
    redis_stack_url: str,
    monkeypatch: pytest.MonkeyPatch,
    index: str,
    embed_first_trips: int,
    exact_first_trips: int,
) -> None:
    """With an embedder far cheaper than a round trip, a missed prompt costs one packet on the Query Engine (two
    in plain mode: the exact check rides with the vector check, then the fetch); exact_first costs one more."""
    from lix_integrations import Engine
    from lix_integrations.testing.fakes import FakeEmbedder

    sends: list[int] = []
    original = SyncExecutor.send_now

    def counting(
        self: SyncExecutor,
        client: object,
        calls: list[object],
        lookup: bool = False,
        idempotent: bool = False,
    ) -> list[object]:
        sends.append(len(calls))
        return original(self, client, calls, lookup, idempotent)  # type: ignore[arg-type]

    monkeypatch.setattr(SyncExecutor, "send_now", counting)
    url = with_prefix(redis_stack_url, index=index)
    texts = ["the capital of France", "what is the capital of France"] + [
        f"warm up question {i}" for i in range(5)
    ]
    fake = FakeEmbedder()
    known = {text: fake.embed(text) for text in texts}  # a dict lookup: microseconds, far below a round trip
    for order, trips in (("auto", embed_first_trips), ("exact_first", exact_first_trips)):
        engine = Engine(url, embedder=known.__getitem__, lookup_order=order, threshold=0.5)
        try:
            engine.semantic.update("the capital of France", "llm", "Paris")
            for i in range(5):  # warm up: measure the round trip and the embedder
                engine.semantic.lookup(f"warm up question {i}", "llm")
            sends.clear()
            hit = engine.semantic.lookup("what is the capital of France", "llm")
            assert hit is not None and hit.payload == "Paris"
            assert len(sends) == trips, (order, sends)
        finally:
            engine.close()


@pytest.fixture
def packets(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of calls of each packet the async executor sends (`asend_now`), in order."""
    sizes: list[int] = []
    original = AsyncExecutor.asend_now

    async def counting(
        self: AsyncExecutor,
        client: object,
        calls: list[object],
        lookup: bool = False,
        idempotent: bool = False,
    ) -> list[object]:
        sizes.append(len(calls))
        return await original(self, client, calls, lookup, idempotent)  # type: ignore[arg-type]

    monkeypatch.setattr(AsyncExecutor, "asend_now", counting)
    return sizes


async def test_concurrent_tasks_share_packets_and_keep_every_message(
    redis_plain_url: str, tmp_path: Path, packets: list[int]
) -> None:
    """Auto-pipelining: 50 conversations written at once go out in far fewer packets, each in order."""
    import asyncio

    from lix_integrations import AsyncEngine
    from lix_integrations.tiers.sessions import SessionConfig

    engine = AsyncEngine(
        with_prefix(redis_plain_url), sessions=SessionConfig(hot_window=50, archive_dir=str(tmp_path))
    )
    try:

        async def talk(n: int) -> None:
            for turn in range(10):
                await engine.sessions.add_messages(f"s{n}", [{"role": "user", "content": f"{n}:{turn}"}])

        await asyncio.gather(*(talk(n) for n in range(50)))
        assert sum(packets) >= 500 and len(packets) < 100  # 500 appends, in batches
        for n in range(50):
            history = await engine.sessions.get_full_history(f"s{n}")
            assert [m["content"] for m in history] == [f"{n}:{t}" for t in range(10)]
    finally:
        await engine.aclose()


def _chat_engine(url: str, archive: Path, **options: str) -> Any:
    from lix_integrations import AsyncEngine
    from lix_integrations.tiers.sessions import SessionConfig

    return AsyncEngine(
        with_prefix(url, **options), sessions=SessionConfig(hot_window=50, archive_dir=str(archive))
    )


async def _append_turn(engine: Any, turn: int, spread: Any = None) -> list[Any]:
    """One append to each of 100 sessions, all at once (each after a random sleep of up to 2 ms with ``spread``,
    so they fall in different loop turns): the outcomes, exceptions included."""
    import asyncio

    async def add(n: int) -> None:
        if spread is not None:
            await asyncio.sleep(spread.random() * 0.002)
        await engine.sessions.add_messages(f"c{n}", [{"role": "user", "content": f"{n}:{turn}"}])

    # bounded: a remainder the scheduled start never sent would leave its callers waiting for ever
    return await asyncio.wait_for(asyncio.gather(*(add(n) for n in range(100)), return_exceptions=True), 30)


async def _check_histories(engine: Any, turns: int) -> None:
    for n in range(100):
        history = await engine.sessions.get_full_history(f"c{n}")
        assert [m["content"] for m in history] == [f"{n}:{t}" for t in range(turns)]


def _failures(outcomes: list[Any]) -> list[BaseException]:
    return [o for o in outcomes if isinstance(o, BaseException)]


async def test_a_turns_calls_go_out_in_packets_of_split_calls(
    redis_plain_url: str, tmp_path: Path, packets: list[int]
) -> None:
    """100 tasks appending in one loop turn: every ``SPLIT_CALLS`` of them go out in a packet of their own rather
    than all in one (the first packet's replies resume their tasks while Redis runs the later ones), and
    every append is stored in its session, in order. Fails on the code before the split (one packet of 100)."""
    from lix_integrations.backends.redis.autopipeline import SPLIT_CALLS

    engine = _chat_engine(redis_plain_url, tmp_path)
    try:
        for turn in range(3):
            packets.clear()
            assert not _failures(await _append_turn(engine, turn))
            if turn:  # the first turn also creates the sessions
                whole, rest = divmod(100, SPLIT_CALLS)
                assert packets == [SPLIT_CALLS] * whole + [rest] * bool(rest), packets
        await _check_histories(engine, 3)
    finally:
        await engine.aclose()


async def test_a_turns_split_packets_stay_within_the_pools_connection_cap(
    redis_plain_url: str, tmp_path: Path
) -> None:
    """A URL's ``max_connections`` (a redis-py pool option lix passes on) caps the loop's connections: 100 tasks
    appending in one loop turn made four packets in flight at once (`SPLIT_CALLS`), each on a connection of its
    own, and the pool refused the third and fourth (MaxConnectionsError, an outage for the breaker): 108 of 300
    appends failed on 369769c, none before it (one packet a turn). A turn splits only as far as the cap allows."""
    engine = _chat_engine(redis_plain_url, tmp_path, max_connections="2")
    try:
        for turn in range(3):
            assert not _failures(await _append_turn(engine, turn))
        await _check_histories(engine, 3)
    finally:
        await engine.aclose()


async def test_two_engines_split_packets_stay_within_their_shared_pools_connection_cap(
    redis_plain_url: str, tmp_path: Path
) -> None:
    """Engines of one URL (prefixes differ) share its client and connection pool on a loop, but each has an
    auto-pipeline of its own: counting only its own packets in flight, each split its turns while the other's
    held the pool's connections, and the pool refused them (MaxConnectionsError, then the breaker opened): 408 of
    600 appends failed on 6dcef31 with two engines at max_connections=2, none on 369769c^ (one packet a turn)."""
    import asyncio

    engines = [_chat_engine(redis_plain_url, tmp_path / name, max_connections="2") for name in ("a", "b")]
    try:
        for turn in range(3):
            both = await asyncio.gather(*(_append_turn(engine, turn) for engine in engines))
            assert not _failures(both[0] + both[1])
        for engine in engines:
            await _check_histories(engine, 3)
    finally:
        for engine in engines:
            await engine.aclose()


async def test_calls_spread_over_loop_turns_wait_for_a_capped_pools_connections(
    redis_plain_url: str, tmp_path: Path
) -> None:
    """Each loop turn's packet goes out on a connection of its own, so packets of turns in flight together can
    outnumber a capped pool's connections (a URL's ``max_connections``; redis-py's asyncio pool allows 100 by
    default). The pool now makes them wait for a connection; redis-py's default pool refused them
    (MaxConnectionsError, an outage for the breaker): 46 of 100 appends spread over loop turns by sleeps of up to
    2 ms failed at max_connections=2 before this test (67 at 7911e25)."""
    import random

    engine = _chat_engine(redis_plain_url, tmp_path, max_connections="2")
    spread = random.Random(7)
    try:
        for turn in range(2):
            outcomes = await _append_turn(engine, turn, spread)
            assert not _failures(outcomes), outcomes
        await _check_histories(engine, 2)
    finally:
        await engine.aclose()


async def test_a_cancelled_task_does_not_disturb_the_others(redis_plain_url: str, tmp_path: Path) -> None:
    import asyncio

    from lix_integrations import AsyncEngine
    from lix_integrations.tiers.sessions import SessionConfig

    engine = AsyncEngine(with_prefix(redis_plain_url), sessions=SessionConfig(archive_dir=str(tmp_path)))
    try:
        tasks = [
            asyncio.ensure_future(
                engine.sessions.add_messages(f"c{n}", [{"role": "user", "content": str(n)}])
            )
            for n in range(20)
        ]
        tasks[3].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[3], asyncio.CancelledError)
        for n in range(20):
            if n != 3:
                assert [m["content"] for m in await engine.sessions.get_full_history(f"c{n}")] == [str(n)]
        await engine.sessions.add_messages("after", [{"role": "user", "content": "still fine"}])
        assert len(await engine.sessions.get_full_history("after")) == 1
    finally:
        await engine.aclose()


def test_the_last_backend_to_close_closes_the_shared_pool(redis_plain_url: str) -> None:
    import uuid

    from lix_integrations.backends.redis import clients as redis_clients

    # A client name of its own: backends other tests left open must not share this client.
    plain_url = with_prefix(redis_plain_url, index="none", client_name=f"lix{uuid.uuid4().hex[:8]}")
    a, b = open_pair(plain_url)
    key = redis_clients._client_key(a.options)
    a.execute(CountEntries(NS))
    client = redis_clients._sync_clients[key]
    a.close()
    assert b.execute(CountEntries(NS)) == 0  # still served by the shared client
    assert redis_clients._sync_clients[key] is client
    b.close()
    assert key not in redis_clients._sync_clients and key not in redis_clients._client_users
    assert all(c._sock is None for c in client.connection_pool._available_connections)  # sockets closed
    again = open_backend(plain_url)  # a later backend gets a fresh client
    try:
        assert again.execute(CountEntries(NS)) == 0
    finally:
        again.close()


async def test_aclose_closes_this_loops_client(redis_plain_url: str) -> None:
    import uuid

    from lix_integrations.backends.redis import clients as redis_clients

    backend = open_backend(with_prefix(redis_plain_url, client_name=f"lix{uuid.uuid4().hex[:8]}"))
    assert isinstance(backend, RedisBackend)
    key = redis_clients._client_key(backend.options)
    await backend.aexecute(CountEntries(NS))
    assert key in redis_clients._async_clients
    await backend.aclose()
    assert key not in redis_clients._async_clients


def test_each_loop_gets_its_own_client_through_the_backends_cached_binding(redis_plain_url: str) -> None:
    """The backend remembers the client of the loop it last ran on; another loop (here one after the other,
    as ``asyncio.run`` makes them) gets its own, never the binding of a loop that is gone."""
    import asyncio
    import uuid

    from lix_integrations.backends.redis import clients as redis_clients

    backend = open_backend(with_prefix(redis_plain_url, client_name=f"lix{uuid.uuid4().hex[:8]}"))
    assert isinstance(backend, RedisBackend)

    async def use() -> tuple[object, object]:
        assert await backend.aexecute(CountEntries(NS)) == 0
        return backend._async.aclient(), redis_clients.async_client(backend.options)

    try:
        (cached, shared), (cached_again, shared_again) = asyncio.run(use()), asyncio.run(use())
        assert cached is shared and cached_again is shared_again and cached is not cached_again
    finally:
        backend.close()
    assert backend._async._bound is None


async def test_autopipeline_off_sends_each_call_on_its_own(
    redis_plain_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from lix_integrations import AsyncEngine
    from lix_integrations.backends.redis.autopipeline import AutoPipeline
    from lix_integrations.tiers.sessions import SessionConfig

    batched: list[int] = []
    original = AutoPipeline.queue

    def counting(
        self: object, client: object, calls: list[object], lookup: bool, *flags: bool
    ) -> asyncio.Future[list[object]]:
        batched.append(len(calls))
        return original(self, client, calls, lookup, *flags)  # type: ignore[arg-type]

    monkeypatch.setattr(AutoPipeline, "queue", counting)
    for flag, expect_batched in (("false", False), ("true", True)):
        batched.clear()
        url = with_prefix(redis_plain_url, autopipeline=flag)
        engine = AsyncEngine(url, sessions=SessionConfig(archive_dir=str(tmp_path / flag)))  # a store each
        try:
            await asyncio.gather(
                *(
                    engine.sessions.add_messages(f"a{n}", [{"role": "user", "content": str(n)}])
                    for n in range(10)
                )
            )
            for n in range(10):
                assert [m["content"] for m in await engine.sessions.get_full_history(f"a{n}")] == [str(n)]
        finally:
            await engine.aclose()
        assert bool(batched) is expect_batched, flag


def test_ef_runtime_reaches_the_search(redis_stack_url: str) -> None:
    raw_client = redis.Redis.from_url(redis_stack_url)
    backend = open_backend(with_prefix(redis_stack_url, index="hnsw", ef_runtime="37"))
    old = raw_client.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    try:
        for i in range(5):
            backend.execute(Upsert(NS, record(f"e{i}", unit(i))))
        raw_client.config_set("slowlog-log-slower-than", 0)
        raw_client.slowlog_reset()
        backend.execute(VectorSearch(NS, "p", unit(1), 2))
        searches = [str(entry["command"]) for entry in raw_client.slowlog_get(128)]
        assert any("FT.SEARCH" in s and "EF_RUNTIME 37" in s for s in searches), searches
    finally:
        raw_client.config_set("slowlog-log-slower-than", old)
        backend.close()
        raw_client.close()
