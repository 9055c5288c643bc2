"""Commands on the wire: packing calls into one packet, unpacking replies, and the connections kept between calls.

Pure helpers of the executor (`executor_async`): nothing here sends or awaits.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable
from typing import Any

from redis.exceptions import ClusterDownError, ResponseError, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError

from .breaker import is_outage
from .commands import Cmd, Lua, Pipe

_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a dependency
    _hiredis_pack = None

__all__ = [
    "CLUSTER_ATTEMPTS",
    "CLUSTER_REFUSALS",
    "Connections",
    "closed_by_server",
    "closed_under_us",
    "eval_args",
    "pack",
    "packed",
    "singly",
    "unpack",
]


def eval_args(call: Lua, by_sha: bool) -> tuple[Any, ...]:
    head = call.script.sha if by_sha else call.script.text
    return ("EVALSHA" if by_sha else "EVAL", head, len(call.keys), *call.keys, *call.args)


def singly(pending: list[Lua], calls: list[Cmd | Lua | Pipe], idempotent: bool) -> bool:
    """On a cluster: send ``calls`` one by one through the client rather than its pipeline. The pipeline
    sends a command again after a connection error or timeout (redis-py's "retry magic", whatever the retry
    setting), so only calls that may run twice go through it; a lone call needs no pipeline anyway."""
    if any(isinstance(call, Pipe) for call in calls):
        return False  # only reads use Pipe (ListIdle)
    return not idempotent or (not pending and len(calls) == 1)


def closed_under_us(exc: BaseException) -> bool:
    """A connection the server closed or reset (a restart), as opposed to a timeout (a stalled server: the
    breaker's business) or a refused login."""
    if isinstance(exc, TimeoutError) or "Busy" in type(exc).__name__:
        return False
    return is_outage(exc) and isinstance(exc, (RedisConnectionError, OSError))


def closed_by_server(conn: Any) -> bool:
    """True when an idle connection's socket is readable: the server closed it (or sent what nobody asked
    for), so writing a command to it would fail or be lost. One poll with no wait, about a microsecond."""
    sock = getattr(conn, "_sock", None)
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


class Connections:
    """Connections this backend keeps checked out of the shared pool between calls.

    Taking one from redis-py's pool and giving it back costs about 20 us a call (its bookkeeping and
    observability hooks), as much as a third of a round trip here; a list under a lock costs well under one.
    A forked child starts over: its parent's sockets are not its own.
    """

    _KEEP = 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[tuple[Any, Any]] = []  # (pool, connection)
        self._pid = os.getpid()

    def take(self, client: Any) -> Any:
        """A kept connection (one the server closed while it sat idle is reconnected first: nothing was
        written to it yet), else one from the pool, which checks its own the same way."""
        pool = client.connection_pool
        conn = None
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i][0] is pool:
                    conn = self._idle.pop(i)[1]
                    break
        if conn is None:
            return pool.get_connection()
        if closed_by_server(conn):
            conn.disconnect()  # the next send connects again
        return conn

    def give(self, client: Any, conn: Any) -> None:
        pool = client.connection_pool
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < self._KEEP:
                self._idle.append((pool, conn))
                return
        pool.release(conn)

    def release_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._pid == os.getpid()
        for pool, conn in idle if mine else ():
            pool.release(conn)


def packed(conn: Any, cmds: list[tuple[Any, ...]]) -> list[bytes]:
    """The commands as chunks of RESP bytes, for ``send_packed_command`` of either client: hiredis' C packer
    where installed (redis-py packs in Python, about 25 us a command), redis-py's own otherwise or for arguments
    hiredis does not take."""
    if _hiredis_pack is not None:
        try:
            return [b"".join([_hiredis_pack(cmd) for cmd in cmds])]
        except (TypeError, ValueError):
            pass
    chunks: list[bytes] = conn.pack_commands(cmds)
    return chunks


#: Refusals of a cluster in transition (slots being assigned, a failover): the command did not run, so it is
#: sent again, twice at most; redis-py has waited 0.25 s and reloaded the slot map before raising each.
CLUSTER_REFUSALS = (ClusterDownError, SlotNotCoveredError)
CLUSTER_ATTEMPTS = 3


def pack(
    pending: list[Lua], calls: list[Cmd | Lua | Pipe]
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
    """The commands of the deferred writes, then of each call; and where each call's replies will be."""
    cmds = [eval_args(lua, True) for lua in pending]
    spans: list[tuple[int, int]] = []
    for call in calls:
        start = len(cmds)
        if isinstance(call, Lua):
            cmds.append(eval_args(call, True))
        elif isinstance(call, Cmd):
            cmds.append(call.args)
        else:
            cmds.extend(call.cmds)
        spans.append((start, len(cmds)))
    return cmds, spans


def unpack(calls: list[Cmd | Lua | Pipe], spans: list[tuple[int, int]], replies: list[Any]) -> list[Any]:
    """Each call's reply (a Pipe's: the list, or its first error); connection errors are raised."""
    for reply in replies:
        if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
            raise reply
    out: list[Any] = []
    for call, (start, stop) in zip(calls, spans):
        if isinstance(call, Pipe):
            part = replies[start:stop]
            error = next((r for r in part if isinstance(r, ResponseError)), None)
            out.append(error if error is not None else part)
        else:
            out.append(replies[start])
    return out
