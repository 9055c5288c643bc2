"""The first wait of a blocking call for its reply is polled or slept, whichever is faster on that connection (URL
option ``busy_poll_us``, `backends/redis/reply_wait.py`).

Against a real plain Redis. Which way wins depends on the machine's load, so these tests check what holds either
way: each kind of call on a connection measures both ways in its first two waits (the second is polled); polled
replies come back
whole and in order, and only the first read of a reply is polled; a server that answers later than a poll lasts
is polled ever less often; threads taking turns do not poll; ``busy_poll_us=0``, a socket without a timeout, and
a socket readv refuses fall back to the socket's read. Polls are seen as calls of ``readv`` (polling is its only
use on this path).
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from lix_integrations import Engine
from lix_integrations.backends.redis import parse_redis_url, reply_wait, sockets
from lix_integrations.config import SessionConfig
from lix_integrations.errors import ConfigError

from .conftest import with_prefix

# Busy for ARGV[1] loop turns on the server before answering (a million: about 10 ms, where a poll lasts 100 us):
# a server farther away than a poll lasts. (TIME stands still inside a script.)
_LATE = "local n = 0 for i = 1, tonumber(ARGV[1]) do n = n + 1 end return 1"
_POLL = 100e-6


class Readv:
    """Calls of ``readv`` (each try of a poll) and those that returned data, while a block runs."""

    def __init__(self) -> None:
        self.tries = 0
        self.reads = 0
        self.lock = threading.Lock()

    def during(self, call: Callable[[], Any]) -> tuple[Any, int, int]:
        tries, reads = self.tries, self.reads
        result = call()
        return result, self.tries - tries, self.reads - reads


@pytest.fixture
def readv(monkeypatch: pytest.MonkeyPatch) -> Readv:
    counter = Readv()
    real = os.readv

    def counting(fd: int, buffers: Any) -> int:
        with counter.lock:
            counter.tries += 1
        size = real(fd, buffers)
        with counter.lock:
            counter.reads += 1
        return size

    monkeypatch.setattr(reply_wait, "_readv", counting)
    return counter


@contextmanager
def _connected(url: str, timeout: float | None = 2.0) -> Iterator[Any]:
    """A new, connected redis-py connection of the kind lix reads straight (TCP, hiredis)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout)
    connection = client.connection_pool.get_connection()
    connection.connect()
    try:
        yield connection
    finally:
        client.connection_pool.release(connection)
        client.close()


@pytest.fixture
def conn(redis_plain_url: str) -> Iterator[Any]:
    with _connected(redis_plain_url) as connection:
        yield connection


def _alone(conn: Any) -> None:
    """Make this thread the last to have waited for a reply, then let the 5 ms in which threads count as taking
    turns pass."""
    sockets.exchange(conn, [("PING",)], _POLL)
    time.sleep(reply_wait._SHARED * 2)


def _call(conn: Any, *command: object) -> Any:
    return sockets.exchange(conn, [command], _POLL)[0]


def test_a_kinds_second_wait_is_polled_and_replies_come_back_whole(
    redis_plain_url: str, readv: Readv
) -> None:
    with _connected(redis_plain_url) as other, _connected(redis_plain_url) as conn:
        _alone(other)  # this thread waited last, long enough ago: the next waits may poll
        big = b"x" * 3_000_000  # many reads: only the first may be polled, the rest read as usual
        sockets.exchange(
            conn, [("SET", "poll:big", big)], 0.0
        )  # poll 0: not an exchange the connection times
        packet = [("GET", "poll:big"), ("PING",), ("GET", "poll:big")]
        replies, tries, reads = readv.during(lambda: sockets.exchange(conn, packet, _POLL))
        assert replies == [big, b"PONG", big]
        assert (tries, reads) == (0, 0)  # the first exchange of its kind (GET first): slept, and timed
        replies, tries, reads = readv.during(lambda: sockets.exchange(conn, packet, _POLL))
        assert replies == [big, b"PONG", big]
        assert tries >= 1 and reads <= 1, (tries, reads)  # the second: polled, then read as usual
        for i in range(100):  # whichever way wins on this machine now, every reply is the right one
            assert sockets.exchange(conn, [("ECHO", f"m{i}"), ("PING",)], _POLL) == [
                f"m{i}".encode(),
                b"PONG",
            ]


def test_a_server_that_answers_late_is_polled_ever_less_often(redis_plain_url: str, readv: Readv) -> None:
    with _connected(redis_plain_url) as other, _connected(redis_plain_url) as conn:
        sha = sockets.exchange(conn, [("SCRIPT", "LOAD", _LATE)], 0.0)[0]
        _alone(other)
        polled = []
        for _ in range(120):  # each reply comes about 10 ms after its call: no poll of 100 us hears it
            reply, tries, _ = readv.during(lambda: _call(conn, "EVALSHA", sha, 0, "1000000"))
            assert reply == 1
            polled.append(tries > 0)
        # Measured once each way (waits 1 and 2); the poll ran out of time, so polls are tried at random waits,
        # one in 32, then 64... (1 to 8 in 120 in 200,000 simulated runs of the record), and the second did poll.
        assert polled[1] and sum(polled) <= 12, "".join(".x"[p] for p in polled)


def test_a_packet_is_timed_as_its_last_call_so_a_late_kind_keeps_its_lost_polls(
    redis_plain_url: str, readv: Readv
) -> None:
    """A vector search beside an append on one connection: the late command's lost polls are its own. A packet is
    timed as its last command, the caller's call, whatever rides in front of it (a deferred write): timed as its
    first, a late call behind a quick deferred write made the quick kind's record lose every poll."""
    with _connected(redis_plain_url) as other, _connected(redis_plain_url) as conn:
        sha = sockets.exchange(conn, [("SCRIPT", "LOAD", _LATE)], 0.0)[0]
        _alone(other)
        for _ in range(40):
            assert sockets.exchange(conn, [("PING",), ("EVALSHA", sha, 0, "1000000")], _POLL) == [b"PONG", 1]
            assert _call(conn, "PING") == b"PONG"
        table = conn.__dict__["_lix_waits"]
        assert set(table) == {"PING", sha}
        assert table[sha].polled == float("inf") and table[sha].every >= 32  # its polls ran out of time
        for _ in range(3):  # a script sent by its text (once per script and connection) is not timed
            assert sockets.exchange(conn, [("PING",), ("EVAL", "return 2", 0)], _POLL) == [b"PONG", 2]
        assert set(table) == {"PING", sha}


def test_waits_of_threads_taking_turns_are_not_timed(conn: Any, redis_plain_url: str) -> None:
    with _connected(redis_plain_url) as other:
        for _ in range(3):
            _call(conn, "PING")
        waits = conn.__dict__["_lix_waits"]["PING"]
        before = (waits.asleep, waits.polled)
        worker = threading.Thread(target=lambda: _call(other, "PING"))
        worker.start()
        worker.join()
        _call(conn, "PING")  # another thread waited just before: asleep, and not counted
        assert (waits.asleep, waits.polled) == before and waits.polling is None


def test_threads_taking_turns_do_not_poll(conn: Any, redis_plain_url: str, readv: Readv) -> None:
    with _connected(redis_plain_url) as other:
        for _ in range(3):  # both connections past their first, slept, wait
            _call(conn, "PING")
            _call(other, "PING")
        _alone(conn)
        seen: list[int] = []
        for _ in range(40):  # the two threads take turns: neither polls, whatever their waits measured
            worker = threading.Thread(
                target=lambda: seen.append(readv.during(lambda: _call(other, "PING"))[1])
            )
            worker.start()
            worker.join()
            seen.append(readv.during(lambda: _call(conn, "PING"))[1])
        assert seen == [0] * 80


def test_a_socket_without_a_timeout_is_read_as_usual(redis_plain_url: str, readv: Readv) -> None:
    with _connected(redis_plain_url, timeout=None) as conn:  # a blocking socket: readv would sleep
        assert conn._sock.gettimeout() is None
        _alone(conn)
        for i in range(20):
            echo = f"m{i}"
            assert readv.during(lambda: _call(conn, "ECHO", echo)) == (echo.encode(), 0, 0)  # noqa: B023


def test_a_descriptor_readv_refuses_is_read_through_the_socket(
    redis_plain_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[int] = []

    def no_fd(fd: int, buffers: Any) -> int:
        refused.append(fd)
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(reply_wait, "_readv", no_fd)
    with _connected(redis_plain_url) as conn:
        _alone(conn)
        for i in range(20):
            assert sockets.exchange(conn, [("ECHO", f"m{i}"), ("PING",)], _POLL) == [
                f"m{i}".encode(),
                b"PONG",
            ]
        assert refused  # the second wait was polled, and read through the socket


def test_a_connection_reset_under_a_poll_is_a_connection_error(
    redis_plain_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error of the socket that readv meets is raised as the read's, as redis-py names it (not swallowed)."""

    def reset(fd: int, buffers: Any) -> int:
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    with _connected(redis_plain_url) as conn:
        _alone(conn)  # the first wait: slept
        monkeypatch.setattr(reply_wait, "_readv", reset)
        with pytest.raises(RedisConnectionError, match="reset by peer"):
            _call(conn, "PING")  # the second: polled


def test_a_connection_closed_by_the_server_fails_as_closed(conn: Any, redis_plain_url: str) -> None:
    killer = redis.Redis.from_url(redis_plain_url)
    try:
        client_id = _call(conn, "CLIENT", "ID")
        _alone(conn)
        killer.client_kill_filter(_id=client_id)
        with pytest.raises(RedisConnectionError):
            _call(conn, "PING")
    finally:
        killer.close()


@pytest.mark.parametrize("busy_poll_us", ["0", "100"])
def test_engine_chat_calls_poll_unless_turned_off(
    conn: Any, redis_plain_url: str, tmp_path: Path, readv: Readv, busy_poll_us: str
) -> None:
    url = with_prefix(redis_plain_url, busy_poll_us=busy_poll_us)
    engine = Engine(url, sessions=SessionConfig(hot_window=20, archive_dir=str(tmp_path)))
    try:
        _alone(conn)
        sent = [{"role": "user", "content": f"message {i}"} for i in range(30)]
        for message in sent:
            engine.sessions.add_messages("s1", [message])
        got = engine.sessions.get_full_history("s1")
        assert [m["content"] for m in got] == [m["content"] for m in sent]
        assert (readv.tries > 0) is (busy_poll_us != "0")
    finally:
        engine.close()


def test_busy_poll_us_is_parsed_and_checked() -> None:
    assert parse_redis_url("redis://h:1/0").busy_poll_us == 100
    assert parse_redis_url("redis://h:1/0?busy_poll_us=0").busy_poll_us == 0
    assert "busy_poll" not in parse_redis_url("redis://h:1/0?busy_poll_us=250").client_url
    for bad in ("-1", "fast", "10001"):
        with pytest.raises(ConfigError, match="busy_poll_us"):
            parse_redis_url(f"redis://h:1/0?busy_poll_us={bad}")


def test_only_standard_sockets_with_a_timeout_are_polled() -> None:
    """gevent's and eventlet's sockets (other classes) are never polled: a spin would hold up their other tasks;
    nor is a blocking socket (its readv would sleep)."""

    class GreenSocket(socket.socket):  # a class of another module, as gevent's socket is
        pass

    for make, timeout, expected in (
        (socket.socket, 1.0, True),
        (socket.socket, None, False),
        (GreenSocket, 1.0, False),
    ):
        sock = make(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            assert reply_wait.pollable(sock) is expected, (make, timeout)
        finally:
            sock.close()
