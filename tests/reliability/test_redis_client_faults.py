"""The Redis client layer under faults (issue 14): a lost search index, a stalled server, a cluster node that
stops answering, connections closed by a restart, and an engine opened while Redis is down.

Every test runs its own servers (it stops, flushes or freezes them). Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langchain_core.outputs import Generation

from lix_integrations import AsyncEngine, Engine
from lix_integrations.backends.redis import clients as redis_clients
from lix_integrations.backends.redis import wire as redis_wire
from lix_integrations.backends.redis.breaker import SLOW_COOLDOWN
from lix_integrations.backends.redis.url import parse_redis_url
from lix_integrations.errors import BackendError
from lix_integrations.langchain import LixChatMessageHistory, LixSemanticCache
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.redis_servers import (
    RedisServer,
    ServerUnavailable,
    start_cluster,
    start_plain,
    start_stack,
)
from lix_integrations.tiers.sessions import SessionConfig
from tests.integration.conftest import _unavailable, with_prefix

LLM = "fake-llm"
_TOPICS = [
    "capital city of france", "boiling point of water at sea level", "author of the hamlet tragedy",
    "speed of light in vacuum", "largest planet orbiting our sun", "inventor of the telephone",
    "tallest mountain on earth", "chemical symbol for gold",
]  # fmt: skip
QUESTIONS = [f"what is the {topic}" for topic in _TOPICS]
PARAPHRASES = [f"tell me what is the {topic}" for topic in _TOPICS]


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[RedisServer]:
    try:
        server = start_stack(tmp_path)
    except ServerUnavailable as exc:
        _unavailable("Redis Stack", exc)
        raise
    yield server
    server.stop()


@pytest.fixture
def own_plain(tmp_path: Path) -> Iterator[RedisServer]:
    try:
        server = start_plain(tmp_path)
    except ServerUnavailable as exc:
        _unavailable("redis-server", exc)
        raise
    yield server
    _resume(server)
    server.stop()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[list[RedisServer]]:
    try:
        servers = start_cluster(3, tmp_path)
    except ServerUnavailable as exc:
        _unavailable("Redis Cluster", exc)
        raise
    yield servers
    for server in servers:
        _resume(server)
        server.stop()


def _resume(server: RedisServer) -> None:
    if server.proc is not None and server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)


def _freeze(server: RedisServer) -> None:
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)


def _lix_records(caplog: pytest.LogCaptureFixture, level: int, text: str) -> int:
    return sum(
        r.levelno == level and r.name.startswith("lix_integrations") and text in r.getMessage()
        for r in caplog.records
    )


# -- defect 2: semantic hits after the search index is lost ---------------------------------------------------


@pytest.mark.parametrize("index", ["hnsw", "adaptive"])  # adaptive: switched to HNSW after 4 records
@pytest.mark.parametrize("loss", ["flushall", "restart"])
def test_semantic_hits_return_in_every_engine_after_the_index_is_lost(
    loss: str, index: str, own_stack: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Two engines stand for two running processes (each remembers on its own that the index exists). After the
    index is lost, one of them stores the entries again; both must find paraphrases within 1 s of Redis
    answering, without a restart, with one WARNING per engine when the outage starts and one INFO when it ends.
    Before the fix no paraphrase hit again and the outage warning flapped on every call."""
    caplog.set_level(logging.INFO, logger="lix_integrations")
    url = with_prefix(own_stack.url, index=index, **({"hnsw_from": "4"} if index == "adaptive" else {}))
    writer = Engine(url, embedder=FakeEmbedder(), threshold=0.8)
    reader = Engine(url, embedder=FakeEmbedder(), threshold=0.8)
    # Paraphrases are looked up and never answered (no model call follows): without coalesce=False each miss
    # would stand for a model call in flight, and the next lookup of it would wait for that answer.
    caches = [LixSemanticCache(writer, coalesce=False), LixSemanticCache(reader, coalesce=False)]

    def store() -> None:
        for i, question in enumerate(QUESTIONS):
            caches[0].update(question, LLM, [Generation(text=f"capital {i}")])

    def semantic_hits(cache: LixSemanticCache) -> int:
        return sum(
            cache.lookup(p, LLM) == [Generation(text=f"capital {i}")] for i, p in enumerate(PARAPHRASES)
        )

    store()
    assert [semantic_hits(c) for c in caches] == [8, 8]

    if loss == "flushall":
        redis.Redis.from_url(own_stack.url).flushall()
    else:
        own_stack.stop()  # no persistence: everything is gone, the index too
        assert [semantic_hits(c) for c in caches] == [0, 0]  # misses while down, no exception
        own_stack.start()
    answering = time.monotonic()

    deadline = answering + 10
    while True:
        store()
        hits = [semantic_hits(c) for c in caches]
        if hits == [8, 8]:
            break
        assert time.monotonic() < deadline, f"semantic hits did not come back: {hits}"
    seconds = time.monotonic() - answering
    # Keep serving for longer than the outage log's quiet period, so the recovery is logged.
    until = time.monotonic() + 1.5
    while time.monotonic() < until:
        assert [semantic_hits(c) for c in caches] == [8, 8]
    print(f"\n[index lost by {loss}] semantic hits back in both engines {seconds:.3f} s after Redis answered")
    assert seconds <= 1.0

    warnings = _lix_records(caplog, logging.WARNING, "")
    recovered = _lix_records(caplog, logging.INFO, "recovered")
    if loss == "restart":
        assert (warnings, recovered) == (2, 2)  # one each per engine: no flapping
    else:
        assert (warnings, recovered) == (0, 0)  # nothing failed: the index was made again on the spot
    # Adaptive mode may make its HNSW index again before any search misses it: the writer's upserts pass the
    # size again, and the build makes the index (and says so) before the switch.
    made_again = ("was gone",) if index == "hnsw" else ("was gone", "now use its HNSW index")
    assert sum(_lix_records(caplog, logging.INFO, text) for text in made_again) >= 1
    writer.close()
    reader.close()


# -- defect 6: a stalled server ---------------------------------------------------------------------------------


def test_a_ten_second_stall_costs_each_call_at_most_one_read_timeout(
    own_plain: RedisServer, tmp_path: Path
) -> None:
    """4 threads call a cached chat model while the server is frozen (SIGSTOP) for 10 s. With the default read
    timeout (2 s), no call may take longer than 2.5 s; after the breaker opens, only its probes wait (one at a
    time), everyone else gets a miss at once. Session writes in the stall raise ``BackendError``. Before the
    fix (no timeout) every call in the stall waited for the whole stall."""
    url = with_prefix(own_plain.url)
    read_timeout = parse_redis_url(url).socket_timeout
    assert read_timeout == 2.0
    engine = Engine(url, embedder=FakeEmbedder(), sessions=SessionConfig(archive_dir=str(tmp_path / "a")))
    cache = LixSemanticCache(engine)
    history = LixChatMessageHistory("stall", engine)
    calls: list[tuple[int, float, float]] = []  # (thread, start, seconds)
    lock = threading.Lock()
    stop = threading.Event()

    def worker(n: int) -> None:
        model = FakeListChatModel(responses=[f"answer {n}"], cache=cache)
        i = 0
        while not stop.is_set():
            started = time.monotonic()
            model.invoke(f"thread {n} question {i % 5}")
            took = time.monotonic() - started
            with lock:
                calls.append((n, started, took))
            i += 1
            time.sleep(0.02)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    frozen_at = time.monotonic()
    _freeze(own_plain)
    time.sleep(read_timeout + 1.0)  # the first wave of timeouts has opened the breaker
    session_writes: list[tuple[str, float]] = []
    for k in range(5):
        started = time.monotonic()
        try:
            history.add_messages([HumanMessage(content=f"in the stall {k}")])
            outcome = "stored"
        except BackendError:
            outcome = "BackendError"
        session_writes.append((outcome, time.monotonic() - started))
        time.sleep(0.3)
    time.sleep(max(0.0, frozen_at + 10.0 - time.monotonic()))
    _resume(own_plain)
    resumed_at = time.monotonic()
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(30)
    engine.close()

    longest = max(took for _, _, took in calls)
    slow = sorted((start, start + took, n) for n, start, took in calls if took >= read_timeout / 2)
    during = [c for c in calls if frozen_at <= c[1] < resumed_at]
    first_wave_end = min(end for _, end, _ in slow)
    later = [s for s in slow if s[0] >= first_wave_end]
    per_thread = {n: sum(1 for *_, m in slow if m == n) for n in range(4)}
    print(
        f"\n[10 s SIGSTOP, 4 threads] {len(calls)} calls, {len(during)} in the stall; longest call "
        f"{longest:.3f} s (read timeout {read_timeout} s); calls that waited on the server: {len(slow)} "
        f"(per thread {per_thread}); session writes in the stall: {session_writes}"
    )
    assert longest <= read_timeout + 0.5
    assert len(during) > 100  # the callers kept going through the stall, on misses
    first_wave = [s for s in slow if s[0] < first_wave_end]
    assert len({n for *_, n in first_wave}) == len(first_wave) <= 4  # at most one per thread
    for (_, end, _), (start, _, _) in zip(later, later[1:]):
        assert start >= end - 0.05  # after that, one probe at a time: never two callers waiting at once
    assert len(later) <= 10.0 / (read_timeout + SLOW_COOLDOWN[0]) + 1
    assert all(outcome == "BackendError" for outcome, _ in session_writes)
    assert all(took <= read_timeout + 0.5 for _, took in session_writes)
    assert sum(took < 0.1 for _, took in session_writes) >= 3  # most without waiting at all


async def test_a_stall_fails_a_shared_async_packet_after_one_read_timeout(
    own_plain: RedisServer, tmp_path: Path
) -> None:
    """Concurrent async appends share one packet whose replies are read under one deadline (not a timer per
    reply): a frozen server fails them all with ``BackendError`` after the read timeout, and nothing hangs."""
    engine = AsyncEngine(
        with_prefix(own_plain.url, socket_timeout="0.5"), sessions=SessionConfig(archive_dir=str(tmp_path))
    )
    for s in range(3):  # sessions exist, connections and settings are warm
        await engine.sessions.add_messages(f"s{s}", [{"m": 0}])
    _freeze(own_plain)
    try:
        started = time.monotonic()
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(engine.sessions.add_messages(f"s{s}", [{"m": 1}]) for s in range(3)), return_exceptions=True
            ),
            10,
        )
        took = time.monotonic() - started
    finally:
        _resume(own_plain)
    assert all(isinstance(o, BackendError) for o in outcomes), outcomes
    assert took < 3.0
    await engine.aclose()


# -- defect 8: the cluster client does not retry ------------------------------------------------------------------


def test_a_timed_out_append_on_a_cluster_is_not_stored_twice(
    own_cluster: list[RedisServer], tmp_path: Path
) -> None:
    """The node owning a session stops answering for 1.5 s while a message is appended with a 0.3 s read
    timeout: the append raises ``BackendError`` (it may have run: the write is ambiguous) and, once the node
    is back, the message is stored once. redis-py's cluster client retried it (10 times by default), so the
    frozen node received it several times and stored it as often."""
    prefix = "t" + os.urandom(6).hex()
    url = f"redis+cluster://127.0.0.1:{own_cluster[0].port}?prefix={prefix}&socket_timeout=0.3"
    engine = Engine(url, embedder=FakeEmbedder(), sessions=SessionConfig(archive_dir=str(tmp_path / "a")))
    history = LixChatMessageHistory("clustered", engine)
    history.add_messages([HumanMessage(content="before")])  # scripts loaded, connections made
    client = redis_clients.sync_client(parse_redis_url(url))
    assert client.retry.get_retries() == 0

    keys = list(client.scan_iter(match=f"{prefix}:{{l/*"))
    assert keys and len({client.keyslot(k) for k in keys}) == 1  # a session's keys share one slot
    owner = client.nodes_manager.get_node_from_slot(client.keyslot(keys[0]))
    node = next(s for s in own_cluster if s.port == owner.port)
    _freeze(node)
    timer = threading.Timer(1.5, _resume, args=(node,))
    timer.start()
    started = time.monotonic()
    with pytest.raises(BackendError):
        history.add_messages([HumanMessage(content="ambiguous")])
    took = time.monotonic() - started
    timer.join()

    deadline = time.monotonic() + 20
    while True:
        try:
            texts = [m.content for m in history.messages]
            break
        except BackendError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    print(f"\n[cluster node frozen 1.5 s] append failed after {took:.2f} s; stored: {texts}")
    assert texts.count("ambiguous") == 1  # delivered before the freeze, so it ran once; never twice
    assert took < 1.0
    history.add_messages([HumanMessage(content="after")])
    assert [m.content for m in history.messages] == ["before", "ambiguous", "after"]
    engine.close()


# -- smaller defect: connections a restart closed -------------------------------------------------------------


def test_the_first_calls_after_a_restart_use_new_connections(own_plain: RedisServer, tmp_path: Path) -> None:
    """Connections kept idle through a restart are replaced before anything is written to them, so the first
    read and the first append after the restart succeed (before: "Connection closed by server")."""
    url = with_prefix(own_plain.url)
    engine = Engine(url, embedder=FakeEmbedder(), sessions=SessionConfig(archive_dir=str(tmp_path / "a")))
    engine.sessions.add_messages("s", [{"role": "user", "content": "one"}])
    assert engine.kv.get("k", "c") is None

    own_plain.restart()  # no persistence: the data is gone, the kept connection is dead
    assert engine.kv.get("k", "c") is None  # a read, first call after the restart
    own_plain.restart()
    engine.sessions.add_messages("s", [{"role": "user", "content": "two"}])  # an append, first call
    assert [m["content"] for m in engine.sessions.get_full_history("s")] == ["two"]
    engine.close()


def test_reads_are_sent_again_once_and_appends_never(
    own_plain: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the server closes a connection between the liveness check and the write (simulated by turning the
    check off), a read fails on it and is sent again on a new connection; an append is not sent again: it
    raises ``BackendError``, and the next append is stored once."""
    monkeypatch.setattr(redis_wire, "closed_by_server", lambda conn: False)
    url = with_prefix(own_plain.url)
    engine = Engine(url, embedder=FakeEmbedder(), sessions=SessionConfig(archive_dir=str(tmp_path / "a")))
    engine.sessions.add_messages("s", [{"role": "user", "content": "one"}])

    own_plain.restart()
    assert engine.sessions.get_full_history("s") == []  # a read: sent again, answered by the new server

    engine.sessions.add_messages("s", [{"role": "user", "content": "two"}])
    own_plain.restart()
    with pytest.raises(BackendError, match="could not be reached"):
        engine.sessions.add_messages("s", [{"role": "user", "content": "three"}])
    time.sleep(0.25)  # the refused append opened the breaker for a moment (CHEAP_COOLDOWN)
    engine.sessions.add_messages("s", [{"role": "user", "content": "four"}])
    assert [m["content"] for m in engine.sessions.get_full_history("s")] == ["four"]
    engine.close()


# -- issue 15, trap 9: opened while Redis is down -------------------------------------------------------------------


def test_a_cache_opened_while_redis_is_down_misses_then_connects(tmp_path: Path) -> None:
    """``LixSemanticCache(url)`` with Redis down works as a miss-only cache and uses Redis once it answers;
    a session raises a ``BackendError`` naming the URL, password redacted, not an internal operation."""
    try:
        server = start_plain(tmp_path, ["--user", "app", "on", ">s3cret-pw", "~*", "&*", "+@all"])
    except ServerUnavailable as exc:
        _unavailable("redis-server", exc)
        raise
    server.stop()
    try:
        url = with_prefix(f"redis://app:s3cret-pw@127.0.0.1:{server.port}/0")
        cache = LixSemanticCache(
            url=url, embedder=FakeEmbedder()
        )  # before the fix: BackendError (EnsureSettings)
        assert cache.lookup("what is redis", LLM) is None
        cache.update("what is redis", LLM, [Generation(text="a store")])  # no exception
        assert asyncio.run(cache.alookup("what is redis", LLM)) is None

        async def open_async() -> None:
            engine = await AsyncEngine(url, embedder=FakeEmbedder()).open()  # no exception either
            await engine.aclose()

        asyncio.run(open_async())
        history = LixChatMessageHistory(
            "s", url=url, embedder=FakeEmbedder(), sessions=SessionConfig(archive_dir=str(tmp_path / "a"))
        )
        with pytest.raises(BackendError) as info:
            history.add_messages([HumanMessage(content="hello")])
        message = str(info.value)
        assert f"redis://app:***@127.0.0.1:{server.port}/0" in message
        assert "s3cret-pw" not in message and "EnsureSettings" not in message

        server.start()
        deadline = time.monotonic() + 5
        while cache.lookup("what is redis", LLM) is None:
            cache.update("what is redis", LLM, [Generation(text="a store")])
            assert time.monotonic() < deadline, "the cache never connected"
            time.sleep(0.02)
        assert cache.lookup("what is redis", LLM) == [Generation(text="a store")]
        history.add_messages([HumanMessage(content="hello")])
        assert [m.content for m in history.messages] == ["hello"]
    finally:
        server.stop()
