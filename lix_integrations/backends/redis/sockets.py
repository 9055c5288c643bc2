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
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["direct_exchange", "direct_parser"]

_HiredisParser: Any
try:
    from redis._parsers.hiredis import NOT_ENOUGH_DATA, _HiredisParser
except ImportError:  # pragma: no cover - another redis-py layout: every connection goes through redis-py
    NOT_ENOUGH_DATA, _HiredisParser = object(), None

#: The connection classes read here (exact types: a subclass may read differently, as Sentinel's does).
_PLAIN = frozenset({Connection, SSLConnection, UnixDomainSocketConnection})
_CLOSED = "Connection closed by server."


def direct_parser(conn: Any) -> Any:
    """``conn``'s hiredis parser when its packets can be exchanged here, else ``None``."""
    if type(conn) not in _PLAIN or conn._sock is None:
        return None
    parser = conn._parser
    if type(parser) is not _HiredisParser or conn.health_check_interval:
        return None
    return parser


def direct_exchange(conn: Any, parser: Any, chunks: list[bytes], count: int) -> list[Any]:
    """Write ``chunks``, then read ``count`` replies: an error reply as a value, a connection error raised as
    redis-py raises it. The caller disconnects ``conn`` on any exception (replies may be left unread)."""
    sock = conn._sock
    try:
        for chunk in chunks:
            sock.sendall(chunk)
    except OSError as exc:
        raise _socket_error(conn, exc, "writing to") from exc
    reader = parser._reader
    buffer = parser._buffer
    if reader is None:
        raise RedisConnectionError(_CLOSED)
    push = getattr(parser, "_hiredis_PushNotificationType", None)
    replies: list[Any] = []
    try:
        while len(replies) < count:
            reply = reader.gets()
            while reply is NOT_ENOUGH_DATA:
                size = sock.recv_into(buffer)
                if not size:
                    raise RedisConnectionError(_CLOSED)
                reader.feed(buffer, 0, size)
                reply = reader.gets()
            if push is not None and isinstance(reply, push):
                parser.handle_push_response(reply)  # not a reply: the one asked for comes after it
                continue
            # What hiredis makes of a LOADING reply (BusyLoadingError) is a connection error: raised, as redis-py
            # raises it.
            if isinstance(reply, RedisConnectionError):
                raise reply
            if type(reply) is list and reply and isinstance(reply[0], RedisConnectionError):
                raise reply[0]
            replies.append(reply)
    except OSError as exc:
        raise _socket_error(conn, exc, "reading from") from exc
    return replies


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
