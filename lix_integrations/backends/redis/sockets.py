"""A packet written and its replies read straight on a redis-py connection's socket and hiredis reader.

Why: redis-py reads each reply through three layers (``read_response``, the parser's ``read_response``, its
``read_from_socket``), each with its own checks, an f-string of the host and a ``try``: about 2 us of client CPU
and 3 us of wall time per round trip on this machine (2026-12-04: ``EVALSHA`` of the chat append script on one
kept connection, read through redis-py and read as here, taking turns in one process, medians of 6 runs). The
loop below is what those layers do for a connection parsed by hiredis, with redis-py's own exceptions on failure,
so the executor and the breaker see what they saw before.

Only for the connection classes redis-py uses for ``redis://``, ``rediss://`` and ``unix://`` URLs, with hiredis
parsing and no health check interval: a Sentinel-managed connection (which turns a ``READONLY`` reply into a
failover), client-side caching or a health-checked connection goes through redis-py. A connection that is not
connected (``_sock`` is ``None``) goes through redis-py too, which connects it. A RESP3 push frame (redis-py 8
speaks RESP3 by default) is handed to the parser's push handler, as redis-py does, and the reply read after it.

The first wait for a packet's replies may poll the socket before it sleeps (URL option ``busy_poll_us``): how, and
when, is `reply_wait`'s.

The async side writes a packet on the connection's stream here when it can (`awrite_direct`) and reads its replies
here (`aread_direct`), for the same classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from time import perf_counter as _clock
from typing import Any

import redis.asyncio.connection as aconnection
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .reply_wait import exchanged, first_read, kind_of, waits_of
from .wire import packed

__all__ = ["adirect_parser", "aread_direct", "awrite_direct", "exchange"]

_HiredisParser: Any
_AsyncHiredisParser: Any
_hiredis_pack: Any
try:
    from hiredis import pack_command as _hiredis_pack
    from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser, _HiredisParser
except ImportError:  # pragma: no cover - no hiredis, or another redis-py layout: all through redis-py
    NOT_ENOUGH_DATA, _HiredisParser, _AsyncHiredisParser = object(), None, None

#: The connection classes read here (exact types: a subclass may read differently, as Sentinel's does).
_PLAIN = frozenset({Connection, SSLConnection, UnixDomainSocketConnection})
_APLAIN = frozenset(
    {aconnection.Connection, aconnection.SSLConnection, aconnection.UnixDomainSocketConnection}
)
_CLOSED = "Connection closed by server."
#: Whether a socket's ``fileno()`` is a file descriptor ``os.write`` takes (not on Windows: a handle).
_FD_SOCKETS = os.name == "posix"
#: ``asyncio.timeout`` (Python 3.11+), else ``None`` (then the async side reads through redis-py).
_DEADLINE: Any = getattr(asyncio, "timeout", None)
_NO_DEADLINE = contextlib.nullcontext()


def exchange(conn: Any, cmds: list[tuple[Any, ...]], poll: float = 0.0) -> list[Any]:
    """``cmds`` written in one packet, then their replies: an error reply as a value, a connection error raised
    as redis-py raises it. The caller disconnects ``conn`` on any exception (replies may be left unread).
    ``poll``: seconds the first wait for the replies may poll the socket before it sleeps (see `reply_wait`)."""
    kind = type(conn)
    if kind in _PLAIN and conn._sock is not None:
        parser = conn._parser
        if type(parser) is _HiredisParser and not conn.health_check_interval:
            return _direct(conn, parser, kind is not SSLConnection and _FD_SOCKETS, cmds, poll)
    conn.send_packed_command(packed(conn, cmds))
    return [_reply(conn) for _ in cmds]


def _direct(conn: Any, parser: Any, plain: bool, cmds: list[tuple[Any, ...]], poll: float) -> list[Any]:
    sock = conn._sock
    reader = parser._reader
    if reader is None:  # a parser its connection let go of: fail before anything is written, not after
        raise RedisConnectionError(_CLOSED)
    # The first wait may be polled, and the exchange is timed for its kind of call (see `reply_wait`).
    kind = kind_of(cmds[-1]) if poll and plain else None
    waits = waits_of(conn, kind) if kind is not None else None
    began = _clock() if waits is not None else 0.0
    try:
        data = _hiredis_pack(cmds[0]) if len(cmds) == 1 else b"".join([_hiredis_pack(c) for c in cmds])
    except (TypeError, ValueError):  # arguments hiredis does not take: redis-py packs them
        data = b"".join(packed(conn, cmds))
    try:
        # A socket with a timeout is non-blocking underneath, and ``sendall`` polls it before each write (1.6 us
        # of a 4 us write and read on a socket pair, 2026-12-04); a packet to an idle connection fits its send
        # buffer, so it is written at once, and what did not fit goes through ``sendall``. TLS: ``sendall``.
        try:
            sent = os.write(sock.fileno(), data) if plain else 0
        except OSError:  # it would block, or the socket is no file descriptor (Windows): nothing was written
            sent = 0
        if sent < len(data):
            sock.sendall(memoryview(data)[sent:] if sent else data)
    except OSError as exc:
        raise _socket_error(conn, exc, "writing to") from exc
    buffer = parser._buffer
    push = getattr(parser, "_hiredis_PushNotificationType", None)
    count = len(cmds)
    replies: list[Any] = []
    first = waits
    try:
        while len(replies) < count:
            reply = reader.gets()
            while reply is NOT_ENOUGH_DATA:
                if first is not None:
                    size = first_read(sock, buffer, poll, first)
                    first = None
                else:
                    size = sock.recv_into(buffer)
                if not size:
                    raise RedisConnectionError(_CLOSED)
                reader.feed(buffer, 0, size)
                reply = reader.gets()
            if _is_push(reply, push):
                parser.handle_push_response(reply)
            else:
                replies.append(reply)
    except OSError as exc:
        raise _socket_error(conn, exc, "reading from") from exc
    # Timed if the replies took a wait (not if they came with an earlier read).
    if waits is not None and first is None:
        exchanged(waits, _clock() - began)
    return replies


def adirect_parser(conn: Any) -> Any:
    """An asyncio connection's hiredis parser when its replies can be read here (`aread_direct`), else
    ``None``: the same connection classes as the sync side, on Python 3.11+."""
    if _DEADLINE is None or type(conn) not in _APLAIN:
        return None
    parser = conn._parser
    return parser if type(parser) is _AsyncHiredisParser else None


def awrite_direct(conn: Any, cmds: list[tuple[Any, ...]]) -> bool:
    """Write ``cmds`` on an asyncio connection's stream now and say True, when its replies are read here
    (`adirect_parser`), it is connected, has no health check interval and nothing of an earlier packet waits in
    its buffer; else write nothing and say False (redis-py writes it).

    Why: redis-py writes under ``asyncio.wait_for``, which before Python 3.12 runs the write in a task of its own,
    so each packet waited a loop turn for it. A write to a stream is buffered and never blocks: the packet goes out
    with this call, whole or as much as the socket takes (the transport sends the rest), and the read that follows
    waits under the connection's deadline, as a write's drain would have (50 concurrent chat conversations x 20
    appends: 34.9-35.5k appends/s through redis-py, 36.6-37.6k written here; 2026-12-05, alternated runs of a
    /tmp harness of benchmarks/redis_chat.py's async adds). A connection the server closed reads as closed."""
    if adirect_parser(conn) is None or conn.health_check_interval:
        return False
    writer = conn._writer
    if writer is None or conn._reader is None:  # not connected: redis-py connects it
        return False
    transport = writer.transport
    if transport.is_closing() or transport.get_write_buffer_size():
        return False
    writer.writelines(packed(conn, cmds))
    return True


async def aread_direct(conn: Any, parser: Any, count: int) -> list[Any]:
    """The ``count`` replies of a packet written on an asyncio connection, under one deadline (its read
    timeout): what redis-py's ``read_response`` does per reply, with one coroutine per network read instead of
    three per reply (50 auto-pipelined chat appends share a packet). An error reply is a value; a connection
    error or a timeout is raised as redis-py raises it."""
    if not parser._connected:
        raise RedisConnectionError(_CLOSED)
    reader = parser._reader
    push = getattr(parser, "_hiredis_PushNotificationType", None)
    timeout = conn.socket_timeout
    replies: list[Any] = []
    try:
        async with _DEADLINE(timeout) if timeout is not None else _NO_DEADLINE:
            while len(replies) < count:
                reply = reader.gets()
                while reply is NOT_ENOUGH_DATA:
                    await parser.read_from_socket()
                    reply = reader.gets()
                if _is_push(reply, push):
                    await parser.handle_push_response(reply)
                else:
                    replies.append(reply)
    except OSError as exc:  # the deadline's TimeoutError included
        raise _socket_error(conn, exc, "reading from") from exc
    return replies


def _is_push(reply: Any, push: Any) -> bool:
    """True for a RESP3 push frame (``push``: hiredis' type of them, ``None`` before hiredis 3.2): not a reply,
    for the parser's push handler; the reply asked for comes after it. Raises what hiredis makes of a LOADING
    reply (``BusyLoadingError``, alone or as a list's first item): a connection error, as redis-py raises it."""
    if push is not None and isinstance(reply, push):
        return True
    if isinstance(reply, RedisConnectionError):
        raise reply
    if type(reply) is list and reply and isinstance(reply[0], RedisConnectionError):
        raise reply[0]
    return False


def _reply(conn: Any) -> Any:
    try:
        return conn.read_response()
    except ResponseError as exc:
        return exc


def _socket_error(conn: Any, exc: OSError, doing: str) -> Exception:
    """The redis-py exception for a socket failure: a timeout of ours (no errno) is a ``TimeoutError``; anything
    else, the OS's ``ETIMEDOUT`` included (a dead connection), a ``ConnectionError``."""
    if isinstance(exc, socket.timeout) and exc.errno != errno.ETIMEDOUT:
        return RedisTimeoutError(f"Timeout {doing} {_where(conn)}")
    return RedisConnectionError(f"Error while {doing} {_where(conn)}: {exc}")


def _where(conn: Any) -> str:
    try:
        return str(conn._host_error())
    except Exception:  # pragma: no cover - another redis-py: the message only names less
        return "the Redis server"
