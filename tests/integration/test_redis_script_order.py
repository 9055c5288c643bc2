"""Calls sent in one packet run in their order even when the server has not loaded a script yet (its first use
after a server start or ``SCRIPT FLUSH``).

A packet that carries a deferred write in front of a call (a lookup's use of a record, riding with the next
insert) used EVALSHA for both. When the server knew the insert's script but not the use's, the use answered
NOSCRIPT, the insert ran and evicted the least recently used record, and only then was the use run again by its
text: the record just used was the one evicted. A connection now sends a script by its text until the server
has answered a call of it on that connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from lix_integrations import AsyncEngine, Engine
from lix_integrations.backends.redis import kv as kv_scripts
from lix_integrations.backends.redis.backend import RedisBackend
from lix_integrations.backends.redis.script_cache import forget_all, learn, scripts_run
from lix_integrations.kernel.list_ops import ListAppend
from lix_integrations.kernel.ops import Deferred, KvGet, KvItem, KvPut
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.redis_servers import start_cluster

from .conftest import with_prefix

BOUND = 3


def question(i: int) -> str:
    return f"question number {i} about topic {i}"


def _runner(backend: RedisBackend, mode: str) -> Callable[..., list[object]]:
    """``run(*ops)``: the ops one after the other on ``backend``, blocking or awaited on a loop of their own."""

    async def arun(ops: tuple[object, ...]) -> list[object]:
        return [await backend.aexecute(op) for op in ops]  # type: ignore[arg-type]

    def run(*ops: object) -> list[object]:
        return [backend.execute(op) for op in ops] if mode == "sync" else asyncio.run(arun(ops))  # type: ignore[arg-type]

    return run


@pytest.fixture(params=["plain", "stack"])
def server_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("redis_plain_url" if request.param == "plain" else "redis_stack_url"))


def _forget_scripts(server_url: str) -> None:
    admin = redis.Redis.from_url(server_url.split("?")[0])
    try:
        admin.script_flush()
    finally:
        admin.close()


def test_a_record_used_just_before_an_insert_is_not_the_one_evicted(server_url: str) -> None:
    _forget_scripts(server_url)
    with Engine(with_prefix(server_url), embedder=FakeEmbedder(), max_entries=BOUND) as engine:
        for i in range(BOUND):
            engine.semantic.update(question(i), "llm", f"a{i}")  # the insert's script is loaded now
        assert engine.semantic.lookup(question(0), "llm") is not None  # its use waits for the next call
        engine.semantic.update(question(BOUND), "llm", "a3")  # the use rides in front of it
        kept = [i for i in range(BOUND + 1) if engine.semantic.lookup(question(i), "llm", threshold=1.0)]
        assert kept == [0, 2, 3]  # question 1, used least recently, was evicted


def test_awaited_a_record_used_just_before_an_insert_is_not_the_one_evicted(server_url: str) -> None:
    _forget_scripts(server_url)

    async def run() -> list[int]:
        async with AsyncEngine(with_prefix(server_url), embedder=FakeEmbedder(), max_entries=BOUND) as engine:
            for i in range(BOUND):
                await engine.semantic.update(question(i), "llm", f"a{i}")
            assert await engine.semantic.lookup(question(0), "llm") is not None
            await engine.semantic.update(question(BOUND), "llm", "a3")
            return [
                i for i in range(BOUND + 1) if await engine.semantic.lookup(question(i), "llm", threshold=1.0)
            ]

    assert asyncio.run(run()) == [0, 2, 3]


def _script_calls(admin: redis.Redis) -> tuple[int, int]:
    """(EVAL, EVALSHA) calls the server has run since its statistics were reset."""
    stats = admin.info("commandstats")
    return (stats.get("cmdstat_eval", {}).get("calls", 0), stats.get("cmdstat_evalsha", {}).get("calls", 0))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_connection_sends_a_script_by_its_text_once_then_by_its_sha(
    redis_plain_url: str, mode: str
) -> None:
    """The text costs bytes and a hash on the server: it goes once per connection and script, not per packet."""
    backend = RedisBackend(with_prefix(redis_plain_url, autopipeline="false"))
    admin = redis.Redis.from_url(redis_plain_url.split("?")[0])
    now = time.time()

    def packets() -> list[object]:  # each a deferred put riding in front of a get: two scripts in one packet
        return [op for i in range(10) for op in (Deferred(KvPut("ns", "t", (KvItem(f"k{i}", b"v"),), now)),
                                                 KvGet("ns", "t", (f"k{i}",), now))]  # fmt: skip

    async def arun(ops: list[object]) -> list[object]:
        return [await backend.aexecute(op) for op in ops]  # type: ignore[arg-type]

    def run(ops: list[object]) -> list[object]:
        return [backend.execute(op) for op in ops] if mode == "sync" else asyncio.run(arun(ops))  # type: ignore[arg-type]

    try:
        admin.script_flush()
        forget_all()  # what pooled connections recorded in earlier tests is stale now
        admin.config_resetstat()
        replies = run(packets())
        assert [r for r in replies if r is not None] == [[b"v"]] * 10
        by_text, by_sha = _script_calls(admin)
        assert (
            by_text == 2 and by_sha == 18
        )  # the put's and the get's script: each once by text (one connection)
    finally:
        admin.close()
        backend.close()


def test_auto_pipelined_appends_send_their_script_by_text_once(
    redis_plain_url: str,
) -> None:
    backend = RedisBackend(with_prefix(redis_plain_url))
    admin = redis.Redis.from_url(redis_plain_url.split("?")[0])

    async def waves() -> list[object]:
        out: list[object] = []
        for wave in range(3):  # 20 concurrent appends to 20 lists: one packet a wave
            out += await asyncio.gather(
                *(backend.aexecute(ListAppend("ns", f"s{i}", (b"m%d" % wave,), 1.0)) for i in range(20))
            )
        return out

    try:
        admin.script_flush()
        forget_all()
        admin.config_resetstat()
        appended = asyncio.run(waves())
        assert [a.seqs for a in appended] == [(1,)] * 20 + [(2,)] * 20 + [(3,)] * 20  # type: ignore[attr-defined]
        assert _script_calls(admin) == (1, 59)  # the first append by text, then by SHA, in its packet too
    finally:
        admin.close()
        backend.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_on_a_cluster_a_deferred_write_runs_before_the_read_behind_it(
    redis_cluster_url: str, mode: str
) -> None:
    """A cluster's pipeline carries a deferred put in front of a read: after ``SCRIPT FLUSH``, with the read's
    script loaded again (a read alone) and the put's not, the put answered NOSCRIPT, the read missed the value
    just put, and the put ran afterwards."""
    backend = RedisBackend(with_prefix(redis_cluster_url))
    admin = redis.RedisCluster.from_url(redis_cluster_url.replace("redis+cluster", "redis"))
    now = time.time()

    run = _runner(backend, mode)

    try:
        admin.script_flush()
        assert run(KvGet("ns", "t", ("a",), now)) == [
            [None]
        ]  # the read's script, loaded again by a read alone
        _, values = run(Deferred(KvPut("ns", "t", (KvItem("a", b"A"),), now)), KvGet("ns", "t", ("a",), now))
        assert values == [b"A"]
    finally:
        admin.close()
        backend.close()


def test_a_cluster_with_a_primary_down_still_answers_on_the_others(tmp_path: Path) -> None:
    """Loading a packet's scripts goes only to the primaries its calls go to: a primary that is down (the cluster
    serving on without full coverage) does not fail the calls that never reach it."""
    servers = start_cluster(3, tmp_path)
    try:
        for server in servers:
            node = redis.Redis(port=server.port)
            node.config_set("cluster-require-full-coverage", "no")
            node.close()
        url = f"redis+cluster://127.0.0.1:{servers[0].port}?prefix=down"
        now = time.time()
        first = RedisBackend(url)
        first.execute(KvPut("ns", "t", (KvItem("k", b"v"),), now))
        first.close()
        admin = redis.RedisCluster(host="127.0.0.1", port=servers[0].port)
        held = {admin.get_node_from_key(key).port for key in admin.scan_iter(target_nodes=admin.PRIMARIES)}
        admin.close()
        backend = RedisBackend(url)  # a new process's backend: it has loaded no script anywhere
        backend.execute(KvGet("ns", "t", ("k",), now))  # its client made while every node answers
        victim = next(s for s in servers if s.port not in held)
        victim.stop()
        deadline = time.monotonic() + 30
        while True:  # the others mark it failed after the node timeout, then serve their slots again
            try:
                _, values = (
                    backend.execute(Deferred(KvPut("ns", "t", (KvItem("k2", b"w"),), now))),
                    backend.execute(KvGet("ns", "t", ("k", "k2"), now)),
                )
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert values == [b"v", b"w"]
        backend.close()
    finally:
        for server in servers:
            server.stop()


def test_a_stale_record_never_mixes_text_and_sha_in_a_packet(redis_plain_url: str) -> None:
    """Regression (CI at 6cd8c7c: test_redis_executor.py::test_scripts_the_server_forgot_are_run_by_their_text
    failed once its pooled connection, shared with earlier tests, had recorded the put's script but not the
    get's): after a ``SCRIPT FLUSH`` this process did not see, the deferred put went by SHA and answered NOSCRIPT
    while the get, by text, ran first and missed the value. A packet now sends all its scripts one way."""
    backend = RedisBackend(with_prefix(redis_plain_url, autopipeline="false"))
    admin = redis.Redis.from_url(redis_plain_url.split("?")[0])
    now = time.time()
    try:
        backend.execute(KvGet("ns", "t", ("a",), now))  # the connection the backend keeps between calls
        kept = backend._conns._idle[-1][1]
        forget_all()  # the record below is exactly the put's (a pooled connection may have recorded others)
        generation, _ = scripts_run(kept)
        learn(kept, generation, [(0, kv_scripts.PUT.sha)], [b"OK"])  # as after a packet that loaded the put's
        admin.script_flush()  # behind this process's back
        backend.execute(Deferred(KvPut("ns", "t", (KvItem("a", b"A"),), now)))
        assert backend.execute(KvGet("ns", "t", ("a",), now)) == [b"A"]
    finally:
        admin.close()
        backend.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_call_alone_that_meets_a_forgotten_script_makes_every_record_stale(
    redis_plain_url: str, mode: str
) -> None:
    """A connection records both scripts of a packet; ``SCRIPT FLUSH``; a read alone answers NOSCRIPT and loads
    its own script again by its text. The next packet went all by SHA from the record: its put answered NOSCRIPT
    while its read ran, missing the value (found in review of 71f5228)."""
    backend = RedisBackend(with_prefix(redis_plain_url, autopipeline="false"))
    admin = redis.Redis.from_url(redis_plain_url.split("?")[0])
    now = time.time()

    run = _runner(backend, mode)

    try:
        for key in ("a", "b"):  # recorded on the connection: both scripts, by their text then by SHA
            run(Deferred(KvPut("ns", "t", (KvItem(key, b"x"),), now)), KvGet("ns", "t", (key,), now))
        admin.script_flush()
        assert run(KvGet("ns", "t", ("a",), now)) == [[b"x"]]  # alone: NOSCRIPT, then by its text
        _, values = run(Deferred(KvPut("ns", "t", (KvItem("c", b"C"),), now)), KvGet("ns", "t", ("c",), now))
        assert values == [b"C"]
    finally:
        admin.close()
        backend.close()
