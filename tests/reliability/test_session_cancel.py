"""An async append cancelled by ``asyncio.wait_for`` (or ``task.cancel()``): the contract in docs/reliability.md.

Cancelled before the store acknowledged it, an append is not stored. One already sent (held by Redis under
``CLIENT PAUSE WRITE``, or by SQLite behind another connection's exclusive lock) is waited for and deleted
again before the cancellation reaches the caller, so a caller that retries after a timeout stores the message
once. The store is never left half-way: the next append works and no seq is reused.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from lix_integrations import AsyncEngine
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.redis_servers import RedisServer, ServerUnavailable, start_plain
from lix_integrations.tiers.sessions import SessionConfig
from tests.integration.conftest import _unavailable, with_prefix


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    try:
        server = start_plain(tmp_path)
    except ServerUnavailable as exc:
        _unavailable("redis-server", exc)
        raise
    yield server
    server.stop()


#: The two ways a caller gives up: ``asyncio.timeout()`` (Python 3.11+) turned a cancellation into TimeoutError only
#: when it was exactly CancelledError on 3.11, so an undone append reached its caller as a cancellation.
GIVE_UP = ["wait_for", *(["timeout"] if hasattr(asyncio, "timeout") else [])]


async def _give_up_after(seconds: float, awaitable: Any, how: str) -> None:
    if how == "wait_for":
        await asyncio.wait_for(awaitable, timeout=seconds)
    else:
        async with asyncio.timeout(seconds):
            await awaitable


async def _cancelled_after_send(engine: AsyncEngine, hold: Any, how: str = "wait_for") -> None:
    """``hold.set()`` makes the store hold writes; the append is sent, then its caller times out."""
    assert await engine.sessions.add_message("s", {"i": 0}) == 1
    hold.set()
    with pytest.raises(TimeoutError):
        await _give_up_after(0.2, engine.sessions.add_message("s", {"i": 1}), how)
    task = asyncio.current_task()
    assert (
        task is not None and getattr(task, "cancelling", lambda: 0)() == 0
    )  # the timeout took its cancel back
    assert await engine.sessions.get_full_history("s") == [{"i": 0}]  # not stored
    assert await engine.sessions.add_message("s", {"i": 1}) == 3  # the retry: stored once, seq 2 not reused
    assert await engine.sessions.get_full_history("s") == [{"i": 0}, {"i": 1}]


@pytest.mark.parametrize("how", GIVE_UP)
async def test_redis_append_cancelled_after_it_was_sent_is_not_stored(
    own_server: RedisServer, tmp_path: Path, how: str
) -> None:
    url = with_prefix(own_server.url)
    config = SessionConfig(archive_dir=str(tmp_path / "archive"))
    client = redis.Redis.from_url(own_server.url)

    class Hold:
        def set(self) -> None:
            # Redis holds every write script for 0.6 s: the append is sent, and still unanswered at the timeout.
            client.execute_command("CLIENT", "PAUSE", "600", "WRITE")

    engine = AsyncEngine(url, embedder=FakeEmbedder(), sessions=config)
    try:
        await _cancelled_after_send(engine, Hold(), how)
    finally:
        await engine.aclose()
        client.close()


class SqliteLock:
    """Another connection holding ``db``'s exclusive lock from `set` until `release` (or 10 s): an append's
    worker thread waits behind it, already sent as far as the caller can tell."""

    def __init__(self, db: Path, release_after: float | None = None) -> None:
        self._db, self._release_after = db, release_after
        self._locked, self._release = threading.Event(), threading.Event()
        self._holder = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        conn = sqlite3.connect(self._db, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        self._locked.set()
        self._release.wait(10)
        conn.execute("ROLLBACK")
        conn.close()

    def set(self) -> None:
        self._holder.start()
        self._locked.wait(10)
        if self._release_after is not None:
            self.release_in(self._release_after)

    def release_in(self, seconds: float) -> None:
        threading.Timer(seconds, self._release.set).start()

    def close(self) -> None:
        self._release.set()
        if self._holder.is_alive():
            self._holder.join(10)


def _sqlite_engine(tmp_path: Path) -> tuple[AsyncEngine, Path]:
    db = tmp_path / "c.db"
    config = SessionConfig(archive_dir=str(tmp_path / "archive"))
    return AsyncEngine(f"sqlite:///{db}", embedder=FakeEmbedder(), sessions=config), db


@pytest.mark.parametrize("how", GIVE_UP)
async def test_sqlite_append_cancelled_after_it_was_sent_is_not_stored(tmp_path: Path, how: str) -> None:
    engine, db = _sqlite_engine(tmp_path)
    lock = SqliteLock(db, release_after=0.6)  # the write waits in its worker thread until then
    try:
        await _cancelled_after_send(engine, lock, how)
    finally:
        lock.close()
        await engine.aclose()


async def test_append_cancelled_before_it_started_is_not_stored(tmp_path: Path) -> None:
    engine = AsyncEngine(f"sqlite:///{tmp_path / 'c.db'}", embedder=FakeEmbedder())
    try:
        task = asyncio.ensure_future(engine.sessions.add_message("s", {"i": 0}))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await engine.sessions.get_full_history("s") == []
    finally:
        await engine.aclose()


def _engine_and_admin_client(
    server: RedisServer, tmp_path: Path, autopipeline: str
) -> tuple[AsyncEngine, redis.Redis]:
    """An async engine on ``server`` (``autopipeline`` as given) and a plain client to pause the server with."""
    url = with_prefix(server.url) + f"&autopipeline={autopipeline}"
    engine = AsyncEngine(
        url, embedder=FakeEmbedder(), sessions=SessionConfig(archive_dir=str(tmp_path / "a"))
    )
    return engine, redis.Redis.from_url(server.url)


@pytest.mark.parametrize("autopipeline", ["true", "false"])
async def test_redis_append_cancelled_twice_after_it_was_sent_is_still_undone(
    own_server: RedisServer, tmp_path: Path, autopipeline: str
) -> None:
    """A second cancellation while the append's reply is awaited still waits for the reply and deletes the
    message, so the caller never leaves with it stored unknown to it: on the auto-pipelined path (its packet's
    `PinnedFuture`) and on redis-py's own (``autopipeline=false``, and Cluster), where the second cancellation
    used to abandon the wait and leave the message stored (regression: the ``[false]`` case failed on 5d5dfc0)."""
    engine, client = _engine_and_admin_client(own_server, tmp_path, autopipeline)
    try:
        assert await engine.sessions.add_message("s", {"i": 0}) == 1
        client.execute_command("CLIENT", "PAUSE", "600", "WRITE")
        task = asyncio.ensure_future(engine.sessions.add_message("s", {"i": 1}))
        await asyncio.sleep(0.15)  # sent, held by the server
        task.cancel()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await engine.sessions.get_full_history("s") == [{"i": 0}]
        assert await engine.sessions.add_message("s", {"i": 2}) == 3  # seq 2 not reused
    finally:
        await engine.aclose()
        client.close()


async def test_sqlite_append_cancelled_twice_after_it_was_sent_is_still_undone(tmp_path: Path) -> None:
    """A SQLite append waiting in its worker thread behind another connection's lock, cancelled twice: the
    second cancellation used to abandon the wait, so the thread stored the message and nobody deleted it
    (regression: failed on 5d5dfc0). It is waited for and deleted now, as after one cancellation."""
    engine, db = _sqlite_engine(tmp_path)
    lock = SqliteLock(db)
    try:
        assert await engine.sessions.add_message("s", {"i": 0}) == 1
        lock.set()
        task = asyncio.ensure_future(engine.sessions.add_message("s", {"i": 1}))
        await asyncio.sleep(0.15)  # in its worker thread, waiting for the lock
        task.cancel()
        await asyncio.sleep(0.05)
        task.cancel()
        lock.release_in(0.3)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await engine.sessions.get_full_history("s") == [{"i": 0}]
        assert await engine.sessions.add_message("s", {"i": 2}) == 3  # seq 2 not reused
    finally:
        lock.close()
        await engine.aclose()


async def _cancel_every_turn(task: asyncio.Task[object]) -> None:
    """What an anyio cancel scope does to a task inside it once the scope is cancelled."""
    while not task.done():
        task.cancel()
        await asyncio.sleep(0)


async def _held_then_cancelled_every_turn(engine: AsyncEngine) -> None:
    task = asyncio.ensure_future(engine.sessions.add_message("s", {"i": 1}))
    await asyncio.sleep(0.1)  # sent, and held by the store
    await _cancel_every_turn(task)
    assert task.cancelled()


@pytest.mark.parametrize("autopipeline", ["true", "false"])
async def test_redis_append_cancelled_on_every_turn_is_still_undone(
    own_server: RedisServer,
    tmp_path: Path,
    autopipeline: str,
) -> None:
    """Regression (review of 0f7914c): anyio's cancel scopes (FastAPI, Starlette) cancel a task again on every
    loop turn. Later cancellations were held back while the append ran, but not during its undo: the next one
    cancelled the ListDeleteSeqs before it was sent (redis-py's own path) and the message stayed stored, with no
    WARNING. The ``[false]`` case failed on dac1fc4. An undo now runs with later cancellations held back too."""
    engine, client = _engine_and_admin_client(own_server, tmp_path, autopipeline)
    try:
        assert await engine.sessions.add_message("s", {"i": 0}) == 1
        client.execute_command("CLIENT", "PAUSE", "400", "WRITE")
        await _held_then_cancelled_every_turn(engine)
        await asyncio.sleep(0.6)  # the pause is over: whatever was sent has run
        assert await engine.sessions.get_full_history("s") == [{"i": 0}]
    finally:
        await engine.aclose()
        client.close()


async def test_sqlite_append_cancelled_on_every_turn_is_still_undone(tmp_path: Path) -> None:
    engine, db = _sqlite_engine(tmp_path)
    lock = SqliteLock(db, release_after=0.4)
    try:
        assert await engine.sessions.add_message("s", {"i": 0}) == 1
        lock.set()
        await _held_then_cancelled_every_turn(engine)
        await asyncio.sleep(0.3)
        assert await engine.sessions.get_full_history("s") == [{"i": 0}]
    finally:
        lock.close()
        await engine.aclose()
