"""The Redis executor, written once (``executor_async.py``; the blocking one is generated from it), on a real server.

A cancelled caller must never leave its reply on a connection the next caller reads: the cancelled command's
reply would be taken for the next command's. The executor disconnects a connection whose exchange did not end
(sync and async alike, from the same source), so the next call gets a fresh one.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
import types
from pathlib import Path

import pytest
import redis

from lix_integrations.backends.redis import sockets
from lix_integrations.backends.redis.backend import RedisBackend
from lix_integrations.backends.redis.commands import Cmd
from lix_integrations.errors import BackendError
from lix_integrations.kernel.list_ops import ListAppend, ListRange
from lix_integrations.kernel.ops import Deferred, KvGet, KvItem, KvPut

from .conftest import with_prefix


async def test_a_cancelled_read_leaves_no_reply_for_the_next_one(redis_plain_url: str) -> None:
    backend = RedisBackend(with_prefix(redis_plain_url, autopipeline="false"))
    admin = redis.Redis.from_url(redis_plain_url.split("?")[0])
    try:
        now = time.time()
        await backend.aexecute(KvPut("ns", "t", (KvItem("a", b"A"), KvItem("b", b"B")), now))
        admin.execute_command("CLIENT", "PAUSE", "300", "ALL")  # replies wait 300 ms
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(backend.aexecute(KvGet("ns", "t", ("a",), now)), 0.05)
        # Sent while the server still holds the cancelled GET's reply: it must not be read as this one's.
        assert await backend.aexecute(KvGet("ns", "t", ("b",), now)) == [b"B"]
        assert await backend.aexecute(KvGet("ns", "t", ("a",), now)) == [b"A"]
    finally:
        admin.close()
        await backend.aclose()


def test_the_blocking_executor_answers_after_a_cancelled_async_call(redis_plain_url: str) -> None:
    """The two executors share the backend's deferred writes and breaker: a cancel in one leaves the other
    working."""
    url = with_prefix(redis_plain_url, autopipeline="false")
    backend = RedisBackend(url)
    admin = redis.Redis.from_url(redis_plain_url.split("?")[0])
    try:
        now = time.time()
        backend.execute(KvPut("ns", "t", (KvItem("a", b"A"),), now))
        admin.execute_command("CLIENT", "PAUSE", "200", "ALL")

        async def cancelled() -> None:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(backend.aexecute(KvGet("ns", "t", ("a",), now)), 0.05)

        asyncio.run(cancelled())
        assert backend.execute(KvGet("ns", "t", ("a",), now)) == [b"A"]
    finally:
        admin.close()
        backend.close()


def test_a_push_frame_read_with_a_reply_is_not_taken_for_the_next_reply(redis_plain_url: str) -> None:
    """RESP3 (redis-py 8's default): a push frame the server sent behind a reply (here the invalidation of a
    tracked key this connection wrote) arrives in the same read and waits in the parser; the next call reads
    it first. It goes to redis-py's push handler, and the call gets its own reply (the executor reads sockets
    itself, see `sockets`; without the push branch the GET below returned ``[b'invalidate', [b'k']]``)."""
    backend = RedisBackend(with_prefix(redis_plain_url, protocol="3"))
    executor = backend._sync
    client = executor.client()
    key = "lix-test-push-" + os.urandom(4).hex()

    def send(*args: object) -> object:
        return executor.send_now(client, [Cmd(args)])[0]

    try:
        assert send("CLIENT", "TRACKING", "ON") == b"OK"
        assert send("SET", key, "1") == b"OK"
        assert send("GET", key) == b"1"  # tracked from now on
        assert send("SET", key, "2") == b"OK"  # its reply, then the push invalidating the key
        assert send("GET", key) == b"2"
        assert send("PING") == b"PONG"
    finally:
        send("DEL", key)
        backend.close()


async def test_a_push_frame_read_with_a_reply_is_not_taken_for_the_next_reply_async(
    redis_plain_url: str,
) -> None:
    """The same on the asyncio side, which reads a packet's replies off the stream itself (`sockets`): without
    its push branch the packet's second reply was ``[b'invalidate', [key]]``."""
    backend = RedisBackend(with_prefix(redis_plain_url, protocol="3", autopipeline="false"))
    executor = backend._async
    client = executor.aclient()
    key = "lix-test-push-" + os.urandom(4).hex()

    async def send(*args: object) -> object:
        return (await executor.asend_now(client, [Cmd(args)]))[0]

    try:
        assert await send("CLIENT", "TRACKING", "ON") == b"OK"
        assert await send("SET", key, "1") == b"OK"
        assert await send("GET", key) == b"1"
        # one packet: the push comes between the two replies (a pooled asyncio connection with data waiting
        # is replaced before a packet is written, so between packets none is left to read)
        assert await executor.asend_now(client, [Cmd(("SET", key, "2")), Cmd(("GET", key))]) == [b"OK", b"2"]
        assert await send("PING") == b"PONG"
    finally:
        await send("DEL", key)
        await backend.aclose()


@pytest.mark.parametrize("health_checked", [False, True])
async def test_an_async_packet_is_written_on_the_stream_unless_redis_py_must_write_it(
    redis_plain_url: str, monkeypatch: pytest.MonkeyPatch, health_checked: bool
) -> None:
    """An async packet on a plain connection is written on its stream by the executor (`sockets.awrite_direct`),
    without redis-py's write task; a health-checked connection is written by redis-py, which pings it when due.
    Either way every call answers, a 4 MiB value too (more than a socket takes at once: the transport sends the
    rest before the reply comes), and a list append gets its seqs."""
    import redis.asyncio.connection as aconnection

    written_by_redis_py: list[int] = []
    original = aconnection.AbstractConnection.send_packed_command

    async def counting(
        self: aconnection.AbstractConnection, command: object, check_health: bool = True
    ) -> None:
        written_by_redis_py.append(1)
        await original(self, command, check_health)  # type: ignore[arg-type]

    monkeypatch.setattr(aconnection.AbstractConnection, "send_packed_command", counting)
    backend = RedisBackend(with_prefix(redis_plain_url, autopipeline="false"))
    executor = backend._async
    client = executor.aclient()
    now = time.time()
    big = os.urandom(4 << 20)

    async def calls(n: int) -> None:
        await backend.aexecute(KvPut("ns", "t", (KvItem("big", big), KvItem("small", b"s")), now))
        assert await backend.aexecute(KvGet("ns", "t", ("big", "small"), now)) == [big, b"s"]
        assert (await backend.aexecute(ListAppend("ns", "k", (b"one", b"two"), now))).seqs == (n, n + 1)
        assert await executor.asend_now(client, [Cmd(("PING",)), Cmd(("ECHO", "x"))]) == [b"PONG", b"x"]

    try:
        await calls(
            1
        )  # connected, and the scripts loaded (redis-py sends a script the server lacks by its text)
        if health_checked:
            conn = await executor.atake(client)
            conn.health_check_interval = 30
            await executor.agive(client, conn)
        written_by_redis_py.clear()
        await calls(3)
        # health-checked: the 4 packets, and the PING that came due when the interval was set
        assert (len(written_by_redis_py) >= 4) if health_checked else not written_by_redis_py
    finally:
        await backend.aclose()


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_a_packet_the_server_never_read_does_not_hold_its_caller_past_the_read_timeout(
    tmp_path: Path, how: str
) -> None:
    """A packet written on the stream (`sockets.awrite_direct`) that is bigger than the socket buffers, to a
    server that stopped reading (DEBUG SLEEP): the caller hears of it after the read timeout (0.3 s), or at once
    when cancelled, as when redis-py writes it (its write times out and closes without waiting). Closing the
    connection must not wait for the transport to flush the packet: that took the connect timeout more (3 s here,
    "Timed out closing connection"), and a cancelled caller waited as long. The connection is usable after."""
    from lix_integrations.testing.redis_servers import ServerUnavailable, start_plain

    try:
        server = start_plain(tmp_path, ["--enable-debug-command", "yes"])
    except ServerUnavailable as exc:  # pragma: no cover - LIX_REQUIRE_REDIS makes it fail in CI
        pytest.skip(f"redis-server: {exc}")
    admin = redis.Redis.from_url(server.url)
    backend = RedisBackend(
        with_prefix(server.url, autopipeline="false", socket_timeout="0.3", socket_connect_timeout="3")
    )
    try:
        now = time.time()
        await backend.aexecute(KvPut("ns", "t", (KvItem("a", b"A"),), now))  # connected, scripts loaded
        big = b"x" * (64 << 20)  # more than the loopback socket buffers take
        sleeper = asyncio.get_running_loop().run_in_executor(
            None, admin.execute_command, "DEBUG", "SLEEP", "4"
        )
        await asyncio.sleep(0.2)  # the server sleeps
        started = time.monotonic()
        if how == "timeout":
            with pytest.raises(BackendError):
                await backend.aexecute(KvPut("ns", "t", (KvItem("big", big),), now))
        else:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(backend.aexecute(KvPut("ns", "t", (KvItem("big", big),), now)), 0.1)
        took = time.monotonic() - started
        await sleeper
        assert took < 2.0, took
        assert await backend.aexecute(KvGet("ns", "t", ("a",), now)) == [b"A"]
    finally:
        await backend.aclose()
        admin.close()
        server.stop()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_talks_over_its_own_connections(redis_plain_url: str) -> None:
    """A forked child inherits the backend with its kept connection; the socket is the parent's, so the child
    must open its own (two processes reading one socket take each other's replies). Both go on working."""
    backend = RedisBackend(with_prefix(redis_plain_url))
    executor = backend._sync
    now = time.time()
    try:
        backend.execute(KvPut("ns", "t", (KvItem("a", b"A"),), now))
        parent_id = executor.send_now(executor.client(), [Cmd(("CLIENT", "ID"))])[0]
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, then leave without running the parent's cleanup
            try:
                child_id = executor.send_now(executor.client(), [Cmd(("CLIENT", "ID"))])[0]
                answers = all(backend.execute(KvGet("ns", "t", ("a",), now)) == [b"A"] for _ in range(50))
                os.write(write, b"ok" if answers and child_id != parent_id else b"no")
            finally:
                os._exit(0)
        os.close(write)
        parent_answers = [backend.execute(KvGet("ns", "t", ("a",), now)) for _ in range(50)]
        os.waitpid(pid, 0)
        with os.fdopen(read, "rb") as reply:
            assert reply.read() == b"ok"
        assert parent_answers == [[b"A"]] * 50
        assert executor.send_now(executor.client(), [Cmd(("CLIENT", "ID"))])[0] == parent_id
    finally:
        backend.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_scripts_the_server_forgot_are_run_by_their_text(redis_plain_url: str, mode: str) -> None:
    """After ``SCRIPT FLUSH`` (or a restart) EVALSHA answers NOSCRIPT: the executor runs the script by its
    text, for a call alone in its packet and for a packet with a deferred write in front of the call."""
    backend = RedisBackend(with_prefix(redis_plain_url, autopipeline="false"))
    admin = redis.Redis.from_url(redis_plain_url.split("?")[0])
    now = time.time()

    async def run(*ops: object) -> list[object]:
        return [await backend.aexecute(op) for op in ops]  # type: ignore[arg-type]

    def execute(*ops: object) -> list[object]:
        return [backend.execute(op) for op in ops] if mode == "sync" else asyncio.run(run(*ops))  # type: ignore[arg-type]

    try:
        execute(ListAppend("ns", "k", (b"one",), now))
        admin.script_flush()
        (appended,) = execute(ListAppend("ns", "k", (b"two",), now))  # alone in its packet
        assert appended.seqs == (2,)  # type: ignore[attr-defined]
        admin.script_flush()
        # the put waits for the next command and rides in front of it: both scripts are unknown
        _, values = execute(
            Deferred(KvPut("ns", "t", (KvItem("a", b"A"),), now)), KvGet("ns", "t", ("a",), now)
        )
        assert values == [b"A"]
    finally:
        admin.close()
        backend.close()


def test_a_socket_that_is_no_file_descriptor_is_written_through_the_socket(
    redis_plain_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Windows a socket's ``fileno()`` is a handle, not a file descriptor: ``os.write`` on it fails with EBADF
    before writing a byte. The packet then goes through the socket itself, and every call still answers (the
    direct exchange, see `sockets`, raised a ConnectionError for every call there)."""

    def no_fd_write(fd: int, data: bytes) -> int:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(sockets, "os", types.SimpleNamespace(write=no_fd_write))
    backend = RedisBackend(with_prefix(redis_plain_url))
    now = time.time()
    try:
        backend.execute(KvPut("ns", "t", (KvItem("a", b"A"),), now))
        assert backend.execute(KvGet("ns", "t", ("a",), now)) == [b"A"]
        executor = backend._sync
        assert executor.send_now(executor.client(), [Cmd(("PING",)), Cmd(("ECHO", "x"))]) == [b"PONG", b"x"]
    finally:
        backend.close()


@pytest.mark.parametrize("writes", ["os.write", "a part", "nothing", "sendall only"])
def test_a_packet_goes_out_whole_however_much_the_socket_takes(
    redis_plain_url: str, monkeypatch: pytest.MonkeyPatch, writes: str
) -> None:
    """The sync executor writes a packet with one ``os.write`` and the rest, if any, with ``sendall``: a 4 MiB
    value does not fit a socket buffer at once (os.write took 4,096,000 of its 4,194,457 bytes here). Also with
    ``os.write`` taking 5 bytes, taking none (EAGAIN), and not used (TLS)."""
    real = os.write

    def part(fd: int, data: bytes) -> int:
        return real(fd, data[:5])

    def none(fd: int, data: bytes) -> int:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    if writes == "a part":
        monkeypatch.setattr(sockets, "os", types.SimpleNamespace(write=part))
    elif writes == "nothing":
        monkeypatch.setattr(sockets, "os", types.SimpleNamespace(write=none))
    elif writes == "sendall only":
        monkeypatch.setattr(sockets, "_FD_SOCKETS", False)
    backend = RedisBackend(with_prefix(redis_plain_url))
    now = time.time()
    big = os.urandom(4 << 20)
    try:
        backend.execute(KvPut("ns", "t", (KvItem("big", big), KvItem("small", b"s")), now))
        assert backend.execute(KvGet("ns", "t", ("big", "small"), now)) == [big, b"s"]
        assert backend.execute(ListAppend("ns", "k", (b"one", b"two"), now)).seqs == (1, 2)
    finally:
        backend.close()


def test_a_connection_whose_parser_was_let_go_of_gets_nothing_written(redis_plain_url: str) -> None:
    """A kept connection whose parser lost its reader (redis-py's ``disconnect`` from another thread, between
    the liveness check and the write) fails before the packet is written: an append raises and is not
    stored (it was stored, then reported failed), and a read is sent again on a new connection."""
    backend = RedisBackend(with_prefix(redis_plain_url))
    executor = backend._sync
    now = time.time()
    try:
        backend.execute(ListAppend("ns", "k", (b"one",), now))

        def let_go() -> None:
            conn = executor.take(executor.client())
            conn._parser._reader = None  # as on_disconnect leaves it
            executor.give(executor.client(), conn)

        let_go()
        with pytest.raises(BackendError, match="could not be reached"):
            backend.execute(ListAppend("ns", "k", (b"two",), now))
        time.sleep(0.25)  # the failed append opened the breaker for a moment (CHEAP_COOLDOWN)
        let_go()
        assert [value for _, value in backend.execute(ListRange("ns", "k"))] == [b"one"]
    finally:
        backend.close()
