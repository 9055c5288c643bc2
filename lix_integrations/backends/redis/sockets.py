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

A blocking wait for a reply first polls the socket for a while (URL option ``busy_poll_us``, `_poll`): a
sleeping read is woken by the scheduler, which took longer than a local server's answer.

The async side writes through redis-py and reads a packet's replies here (`aread_direct`), for the same classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from threading import get_ident
from time import perf_counter as _clock
from typing import Any

import redis.asyncio.connection as aconnection
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .wire import packed

__all__ = ["adirect_parser", "aread_direct", "exchange"]

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
_readv: Any = getattr(os, "readv", None)  # posix only, like the descriptors it reads
#: ``asyncio.timeout`` (Python 3.11+), else ``None`` (then the async side reads through redis-py).
_DEADLINE: Any = getattr(asyncio, "timeout", None)
_NO_DEADLINE = contextlib.nullcontext()


def exchange(conn: Any, cmds: list[tuple[Any, ...]], poll: float = 0.0) -> list[Any]:
    """``cmds`` written in one packet, then their replies: an error reply as a value, a connection error raised
    as redis-py raises it. The caller disconnects ``conn`` on any exception (replies may be left unread).
    ``poll``: seconds a wait for the reply polls the socket before it sleeps (see `_poll`)."""
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
    try:
        while len(replies) < count:
            reply = reader.gets()
            while reply is NOT_ENOUGH_DATA:
                size = _poll(conn, sock, buffer, poll) if poll and plain else sock.recv_into(buffer)
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
    return replies


#: Polls of a connection skipped after one that went unanswered or was interrupted: 1, then 3, 7... up to this
#: many (a server farther away than the poll lasts costs at most one wasted poll per so many waits); each
#: answered poll halves it.
_POLL_BACKOFF_MAX = 255
#: A try of the poll that took longer than this (seconds) lost the CPU or the GIL to someone else: the poll stops
#: there, as an unanswered one does (a busy machine or process gains nothing from a thread that spins).
_POLL_GAP = 20e-6
#: The thread that last waited for a reply, and when a wait was last another thread's than the one before it:
#: for `_SHARED` seconds after that no thread polls (threads of one process taking turns would pass the GIL back
#: and forth, each try of a poll waking another thread that wants it, on the core the server needs).
_last_thread = 0
_last_switch = -1.0
_SHARED = 5e-3


def _poll(conn: Any, sock: Any, buffer: Any, seconds: float) -> int:
    """Bytes of a reply read into ``buffer``, polling the socket for up to ``seconds`` before a sleeping read.

    Why: a read that sleeps until the reply comes is woken by the scheduler, which on this machine took longer
    than the server's work. On one kept plain-Redis connection a round trip took 61.6 us read that way and 23.6
    polled (RPUSH), 83.1 against 35.1 (EVALSHA of the chat append script); one thread's chat adds through the
    engine ran 1.47x as fast, at 11% more CPU per add (2026-12-05, medians of 5, benchmarks/redis_poll.py).

    The poll is a non-blocking ``readv`` of the socket's descriptor: a socket with a timeout is non-blocking
    underneath, and its ``recv_into`` would wait in ``poll()`` first, the sleep this avoids (a socket without
    one is read as usual). What it costs is bounded three ways:

    * a poll lasts at most ``seconds`` (URL option ``busy_poll_us``);
    * one that goes unanswered (a server farther away) or that loses the CPU or the GIL between two tries makes
      the connection skip its next polls (1, then 3, 7... up to 255; an answered poll halves that);
    * no thread polls for 5 ms after threads of the process took turns waiting: each try gives the GIL up and
      would wake another thread that wants it, on the core the server needs. Polling unless the last wait was
      another thread's within 1 ms still ran 4 threads at 0.84x the throughput of sleeping (the waits that
      polled were those of a thread that called again while the others ran Python); with this rule no wait of
      2, 4 or 16 threads polls, and they run as without polls (0.96-1.01x, within the run-to-run spread).
    """
    global _last_thread, _last_switch
    last = _clock()
    me = get_ident()
    if me != _last_thread:
        if _last_thread:  # the process's first wait is no turn taken
            _last_switch = last
        _last_thread = me
    state = conn.__dict__
    skip = state.get("_lix_poll_skip", 0)
    if skip:
        state["_lix_poll_skip"] = skip - 1
    elif last - _last_switch >= _SHARED and sock.gettimeout() is not None:
        fd = sock.fileno()
        give_up = last + seconds
        tried = False
        while True:
            try:
                size: int = _readv(fd, (buffer,))
            except BlockingIOError:
                # The first try is not timed: it may carry the kernel's delivery of the packet just written (on
                # loopback the sender's system calls do it), 20-40 us after an idle spell.
                now = _clock()
                if now < give_up and (now - last < _POLL_GAP or not tried):
                    last, tried = now, True
                    continue
                backoff = state.get("_lix_poll_backoff", 0)
                backoff = state["_lix_poll_backoff"] = min(backoff * 2 + 1, _POLL_BACKOFF_MAX)
                state["_lix_poll_skip"] = backoff
                break
            except OSError:  # not a descriptor readv takes, or a failed connection: the socket's read says
                break
            backoff = state.get("_lix_poll_backoff")
            if backoff:
                state["_lix_poll_backoff"] = backoff >> 1
            return size
    return sock.recv_into(buffer)  # type: ignore[no-any-return]


def adirect_parser(conn: Any) -> Any:
    """An asyncio connection's hiredis parser when its replies can be read here (`aread_direct`), else
    ``None``: the same connection classes as the sync side, on Python 3.11+."""
    if _DEADLINE is None or type(conn) not in _APLAIN:
        return None
    parser = conn._parser
    return parser if type(parser) is _AsyncHiredisParser else None


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
