"""Blocking calls poll the socket for their reply before they sleep (URL option ``busy_poll_us``, `sockets._poll`).

Against a real plain Redis: what is polled for comes back whole and in order; a server that answers after the
poll gives up is polled ever less often; threads taking turns do not poll; ``busy_poll_us=0`` and a socket
without a timeout never poll. Polls are counted as the waits during which ``os.readv`` was called (polling is
the only use of it on this path).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from lix_integrations import Engine
from lix_integrations.backends.redis import parse_redis_url, sockets
from lix_integrations.config import SessionConfig
from lix_integrations.errors import ConfigError

from .conftest import with_prefix

# Busy for ARGV[1] loop turns on the server before answering (a million: milliseconds, where a poll lasts
# 100 us): a server farther away than a poll lasts. (TIME stands still inside a script.)
_LATE = """
local n = 0
for i = 1, tonumber(ARGV[1]) do n = n + 1 end
return 1
"""
_POLL = 100e-6


class Polls:
    """Counts ``os.readv`` calls made while a block runs."""

    def __init__(self) -> None:
        self.reads = 0
        self._lock = threading.Lock()

    def during(self, call: Callable[[], Any]) -> tuple[Any, int]:
        before = self.reads
        result = call()
        return result, self.reads - before


@pytest.fixture
def polls(monkeypatch: pytest.MonkeyPatch) -> Polls:
    counter = Polls()
    readv = os.readv

    def counting(fd: int, buffers: Any) -> int:
        with counter._lock:
            counter.reads += 1
        return readv(fd, buffers)

    monkeypatch.setattr(sockets, "_readv", counting)
    return counter


@pytest.fixture
def conn(redis_plain_url: str) -> Iterator[Any]:
    """A connected redis-py connection of the kind lix reads straight (plain TCP, hiredis, a read timeout)."""
    client = redis.Redis.from_url(redis_plain_url, socket_timeout=2.0)
    connection = client.connection_pool.get_connection()
    connection.connect()
    yield connection
    client.connection_pool.release(connection)
    client.close()


def _fresh_wait(conn: Any) -> None:
    """Make this thread the last one to have waited for a reply, and let the window in which threads count as
    taking turns (see `sockets._poll`) pass."""
    sockets.exchange(conn, [("PING",)], 0.0)
    time.sleep(sockets._SHARED * 2)


def test_polled_replies_come_back_whole_and_in_order(conn: Any, polls: Polls) -> None:
    big = "x" * 3_000_000  # arrives in many reads: the poll hands each part to the parser
    _fresh_wait(conn)
    replies, reads = polls.during(
        lambda: sockets.exchange(conn, [("SET", "poll:big", big), ("GET", "poll:big"), ("PING",)], _POLL)
    )
    assert replies == [b"OK", big.encode(), b"PONG"]
    assert reads >= 1  # the wait was polled
    for i in range(50):
        assert sockets.exchange(conn, [("ECHO", f"m{i}")], _POLL) == [f"m{i}".encode()]
    assert polls.reads > reads


def test_a_server_that_answers_late_is_polled_ever_less_often(conn: Any, polls: Polls) -> None:
    _fresh_wait(conn)
    polled = []
    for _ in range(40):  # each reply comes milliseconds after its call: no poll of 100 us hears it
        reply, reads = polls.during(lambda: sockets.exchange(conn, [("EVAL", _LATE, 0, "1000000")], _POLL))
        assert reply == [1]
        polled.append(reads > 0)
    # Polls at waits 1, 3, 7, 15 and 31 (each unanswered one skips the next 1, 3, 7, 15 waits): at most a few
    # in 40, and the first one did poll (or the rest would prove nothing).
    assert polled[0] and 2 <= sum(polled) <= 6, polled
    # Answered at once again: polling comes back once the backoff reached (31 waits) has run out, and stays
    # (most waits: one that loses the CPU on this shared machine skips a few).
    polled_fast = [
        polls.during(lambda: sockets.exchange(conn, [("PING",)], _POLL))[1] > 0 for _ in range(100)
    ]
    assert any(polled_fast[:40]) and sum(polled_fast[-40:]) >= 20, "".join(".x"[p] for p in polled_fast)


def test_threads_taking_turns_do_not_poll(conn: Any, redis_plain_url: str, polls: Polls) -> None:
    other = redis.Redis.from_url(redis_plain_url, socket_timeout=2.0)
    other_conn = other.connection_pool.get_connection()
    other_conn.connect()
    try:
        _fresh_wait(conn)
        assert polls.during(lambda: sockets.exchange(conn, [("PING",)], _POLL))[1] > 0
        seen: list[int] = []
        worker = threading.Thread(
            target=lambda: seen.append(
                polls.during(lambda: sockets.exchange(other_conn, [("PING",)], _POLL))[1]
            )
        )
        worker.start()
        worker.join()
        # The other thread waited right after this one, and this one right after it: neither polls (threads
        # taking turns), nor does this one alone until the window has passed.
        assert seen == [0]
        assert polls.during(lambda: sockets.exchange(conn, [("PING",)], _POLL))[1] == 0
        _fresh_wait(conn)  # alone again
        assert polls.during(lambda: sockets.exchange(conn, [("PING",)], _POLL))[1] > 0
    finally:
        other.connection_pool.release(other_conn)
        other.close()


def test_a_socket_without_a_timeout_is_read_as_usual(redis_plain_url: str, polls: Polls) -> None:
    client = redis.Redis.from_url(
        redis_plain_url, socket_timeout=None
    )  # a blocking socket: readv would sleep
    conn = client.connection_pool.get_connection()
    conn.connect()
    try:
        _fresh_wait(conn)
        assert conn._sock.gettimeout() is None
        assert polls.during(lambda: sockets.exchange(conn, [("ECHO", "hi")], _POLL)) == ([b"hi"], 0)
    finally:
        client.connection_pool.release(conn)
        client.close()


def test_a_connection_closed_while_polled_fails_as_closed(conn: Any, redis_plain_url: str) -> None:
    killer = redis.Redis.from_url(redis_plain_url)
    try:
        client_id = sockets.exchange(conn, [("CLIENT", "ID")], _POLL)[0]
        _fresh_wait(conn)
        killer.client_kill_filter(_id=client_id)
        with pytest.raises(RedisConnectionError):
            sockets.exchange(conn, [("PING",)], _POLL)
    finally:
        killer.close()


@pytest.mark.parametrize("busy_poll_us", ["0", "100"])
def test_engine_chat_calls_poll_unless_turned_off(
    conn: Any, redis_plain_url: str, tmp_path: Path, polls: Polls, busy_poll_us: str
) -> None:
    url = with_prefix(redis_plain_url, busy_poll_us=busy_poll_us)
    engine = Engine(url, sessions=SessionConfig(hot_window=20, archive_dir=str(tmp_path)))
    try:
        _fresh_wait(conn)
        sent = [{"role": "user", "content": f"message {i}"} for i in range(30)]
        for message in sent:
            engine.sessions.add_messages("s1", [message])
        got = engine.sessions.get_full_history("s1")
        assert [m["content"] for m in got] == [m["content"] for m in sent]
        assert (polls.reads > 0) is (busy_poll_us != "0")
    finally:
        engine.close()


def test_busy_poll_us_is_parsed_and_checked() -> None:
    assert parse_redis_url("redis://h:1/0").busy_poll_us == 100
    assert parse_redis_url("redis://h:1/0?busy_poll_us=0").busy_poll_us == 0
    assert "busy_poll" not in parse_redis_url("redis://h:1/0?busy_poll_us=250").client_url
    for bad in ("-1", "fast", "10001"):
        with pytest.raises(ConfigError, match="busy_poll_us"):
            parse_redis_url(f"redis://h:1/0?busy_poll_us={bad}")


def test_a_descriptor_readv_refuses_is_read_through_the_socket(
    conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket whose ``fileno()`` readv does not take (EBADF) is read by the socket itself: every call answers."""

    def no_fd(fd: int, buffers: Any) -> int:
        raise OSError(9, "Bad file descriptor")

    monkeypatch.setattr(sockets, "_readv", no_fd)
    _fresh_wait(conn)
    for i in range(5):
        assert sockets.exchange(conn, [("ECHO", f"m{i}"), ("PING",)], _POLL) == [f"m{i}".encode(), b"PONG"]
