"""Redis going away and coming back, and two processes sharing one semantic cache and one session."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.outputs import Generation

from lix_integrations import Engine
from lix_integrations.errors import BackendError
from lix_integrations.langchain import LixChatMessageHistory, LixSemanticCache
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.redis_servers import RedisServer, ServerUnavailable, start_plain
from lix_integrations.tiers.sessions import SessionConfig

from .conftest import _unavailable, with_prefix


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private, persistent (AOF, fsync always) server this test may stop and start."""
    try:
        server = start_plain(tmp_path, ["--appendonly", "yes", "--appendfsync", "always"])
    except ServerUnavailable as exc:
        _unavailable("redis-server", exc)
        raise
    yield server
    server.stop()


def test_outage_fails_open_keeps_acknowledged_messages_and_recovers(
    own_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = with_prefix(own_server.url)
    config = SessionConfig(hot_window=4, archive_batch=2, archive_dir=str(tmp_path / "archive"))
    engine = Engine(url, embedder=FakeEmbedder(), sessions=config)
    cache = LixSemanticCache(engine)
    history = LixChatMessageHistory("session-1", engine)
    acknowledged: list[str] = []

    def chat(text: str) -> None:
        try:
            history.add_messages([HumanMessage(content=text)])
        except BackendError:
            return  # refused loudly: not acknowledged, the caller knows
        acknowledged.append(text)

    cache.update("what is redis", "llm", [Generation(text="a store")])
    assert cache.lookup("what is redis", "llm") == [Generation(text="a store")]
    for i in range(5):
        chat(f"before {i}")
    assert len(acknowledged) == 5

    own_server.stop()
    for i in range(5):  # no exception reaches the cache's caller; sync and async
        assert cache.lookup("what is redis", "llm") is None
        cache.update(f"question {i}", "llm", [Generation(text="x")])
        assert asyncio.run(cache.alookup("what is redis", "llm")) is None
        chat(f"during {i}")
    assert not any(m.startswith("during") for m in acknowledged)
    assert (
        sum("serving misses until it recovers" in r.getMessage() for r in caplog.records) == 1
    )  # once per outage

    own_server.start()
    answering(engine)  # the circuit breaker lets calls through again within 0.2 s
    assert cache.lookup("what is redis", "llm") == [Generation(text="a store")]  # caching resumes
    assert asyncio.run(cache.alookup("what is redis", "llm")) == [Generation(text="a store")]
    cache.update("after", "llm", [Generation(text="y")])
    assert cache.lookup("after", "llm") == [Generation(text="y")]
    for i in range(3):
        chat(f"after {i}")
    texts = [m.content for m in history.messages]
    assert texts == acknowledged  # every acknowledged message, in order, nothing else
    engine.close()


def answering(engine: Engine, seconds: float = 5.0) -> None:
    """Wait until the engine's store answers again: after connections were refused, the Redis backend's
    circuit breaker skips Redis for up to 0.2 s (see backends/redis/breaker.py)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            engine.semantic.count()
            return
        except BackendError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


async def aanswering(engine: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            await engine.semantic.count()
            return
        except BackendError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


def _child(url: str, archive: str, out: str) -> None:
    engine = Engine(url, embedder=FakeEmbedder(), sessions=SessionConfig(archive_dir=archive))
    cache = LixSemanticCache(engine)
    history = LixChatMessageHistory("shared", engine)
    seen = cache.lookup("capital of france", "llm")
    history.add_messages([HumanMessage(content="from child")])
    cache.update("capital of spain", "llm", [Generation(text="Madrid")])
    Path(out).write_text(json.dumps({"seen": None if seen is None else seen[0].text}))
    engine.close()


@pytest.mark.parametrize("kind", ["plain", "cluster"])
def test_two_processes_share_cache_and_session(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    base = request.getfixturevalue("redis_plain_url" if kind == "plain" else "redis_cluster_url")
    url = with_prefix(base)
    archive = str(tmp_path / "archive")  # the shared archive directory (see docs/redis.md)
    engine = Engine(url, embedder=FakeEmbedder(), sessions=SessionConfig(archive_dir=archive))
    cache = LixSemanticCache(engine)
    history = LixChatMessageHistory("shared", engine)
    cache.update("capital of france", "llm", [Generation(text="Paris")])
    history.add_messages([HumanMessage(content="from parent")])

    out = tmp_path / f"child-{uuid.uuid4().hex}.json"
    proc = multiprocessing.get_context("spawn").Process(target=_child, args=(url, archive, str(out)))
    proc.start()
    proc.join(120)
    assert proc.exitcode == 0
    assert json.loads(out.read_text()) == {"seen": "Paris"}
    assert cache.lookup("capital of spain", "llm") == [Generation(text="Madrid")]
    assert [m.content for m in history.messages] == ["from parent", "from child"]
    engine.close()


def test_concurrent_async_appends_through_an_outage_lose_nothing_acknowledged(
    own_server: RedisServer, tmp_path: Path
) -> None:
    """Auto-pipelined async appends of 20 conversations while Redis stops and starts: every acknowledged append
    is stored, in order, once (one refused with BackendError may still have run: a reply lost in the stop);
    appends work again afterwards."""
    from lix_integrations import AsyncEngine

    url = with_prefix(own_server.url)
    acknowledged: dict[str, list[str]] = {f"c{n}": [] for n in range(20)}

    async def main() -> None:
        engine = AsyncEngine(url, sessions=SessionConfig(hot_window=50, archive_dir=str(tmp_path / "a")))

        async def talk(session: str, turns: int, tag: str) -> None:
            for turn in range(turns):
                text = f"{tag}{turn}"
                try:
                    await engine.sessions.add_messages(session, [{"role": "user", "content": text}])
                except BackendError:
                    continue
                acknowledged[session].append(text)
                await asyncio.sleep(0.002)

        async def outage() -> None:
            await asyncio.sleep(0.05)
            await asyncio.to_thread(own_server.stop)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(own_server.start)

        await asyncio.gather(outage(), *(talk(s, 60, "m") for s in acknowledged))
        await aanswering(engine)  # the circuit breaker lets calls through again within 0.2 s
        await asyncio.gather(*(talk(s, 2, "after") for s in acknowledged))
        failed = 20 * 62 - sum(len(texts) for texts in acknowledged.values())
        assert failed > 0  # the outage really refused some appends
        for session, texts in acknowledged.items():
            stored = [m["content"] for m in await engine.sessions.get_full_history(session)]
            assert len(stored) == len(set(stored)), session  # nothing twice
            position = {text: i for i, text in enumerate(stored)}
            assert all(text in position for text in texts), session  # nothing acknowledged lost
            assert [position[t] for t in texts] == sorted(position[t] for t in texts), session  # in order
            assert texts[-2:] == ["after0", "after1"]
        await engine.aclose()

    asyncio.run(main())
