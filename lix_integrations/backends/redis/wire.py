"""Commands on the wire: packing calls into one packet, unpacking replies, and the connections kept between calls.

Pure helpers of the executor (`executor_async`): nothing here sends or awaits.
"""

from __future__ import annotations

import os
import select
from collections import deque
from collections.abc import Callable, Collection
from time import monotonic
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
    for), so writing a command to it would fail or be lost. One poll with no wait, on a poll object kept with
    the connection for its socket (making and registering one per call cost about as much as the poll)."""
    sock = getattr(conn, "_sock", None)
    if sock is None:
        return False
    try:
        kept = getattr(conn, "_lix_poll", None)
        if kept is None or kept[0] is not sock:
            if not hasattr(select, "poll"):
                readable, _, _ = select.select([sock], [], [], 0)
                return bool(readable)
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            kept = conn._lix_poll = (sock, poller)
        return bool(kept[1].poll(0))
    except (OSError, ValueError):
        return True


class Connections:
    """Connections this backend keeps checked out of the shared pool between calls.

    Taking one from redis-py's pool and giving it back costs about 20 us a call (its bookkeeping and
    observability hooks), as much as a third of a round trip here; a deque, whose ``append`` and ``pop`` are
    atomic, costs well under one, with no lock. Each kept connection remembers its pool: the executor's client
    (and so its pool) is per process, so a connection of another pool is one a forked child inherited from its
    parent, which the child leaves alone (its socket is the parent's).
    """

    _KEEP = 16
    #: A connection given back less than this many seconds ago is not polled for a close by the server before
    #: it is used again: the poll is a system call, 4% of a sequential chat add (2026-12-04, py-spy on
    #: benchmarks/redis_chat.py's workload), and a server closes a connection that just answered only when it
    #: is stopped or told to (a restart takes far longer; an idle timeout counts whole seconds). A close in
    #: that millisecond fails the call as one between the poll and the write always could.
    _FRESH = 0.001

    def __init__(self) -> None:
        self._idle: deque[tuple[Any, Any, float]] = deque()  # (pool, connection, when given back)

    def take(self, client: Any) -> Any:
        """A kept connection (one the server closed while it sat idle is reconnected first: nothing was
        written to it yet), else one from the pool, which checks its own the same way."""
        pool = client.connection_pool
        idle = self._idle
        while idle:
            try:
                kept, conn, since = idle.pop()
            except IndexError:  # another thread took the last one
                break
            if kept is pool:
                if monotonic() - since > self._FRESH and closed_by_server(conn):
                    conn.disconnect()  # the next send connects again
                return conn
            if getattr(kept, "pid", None) == os.getpid():  # not a parent's: back to its own pool
                kept.release(conn)
        return pool.get_connection()

    def give(self, client: Any, conn: Any) -> None:
        if len(self._idle) < self._KEEP:
            self._idle.append((client.connection_pool, conn, monotonic()))
        else:
            client.connection_pool.release(conn)

    def release_all(self) -> None:
        idle, self._idle = self._idle, deque()
        for pool, conn, _ in idle:
            if getattr(pool, "pid", None) == os.getpid():  # a parent's pool is the parent's to close
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
    pending: list[Lua], calls: list[Cmd | Lua | Pipe], known: Collection[str], one_server: bool = True
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]] | None, list[tuple[int, str]]]:
    """The commands of the deferred writes, then of each call; where each call's replies will be: ``None``
    when each call is one command (no `Pipe`), so its reply is the one at its place after the deferred writes'
    (50 auto-pipelined chat appends, 2026-12-05: no span per call to make and read back); and (place, SHA) of
    each script sent by its text (see `script_cache`).

    Scripts go by SHA when every one of the packet is in ``known``; otherwise each goes by its text the first
    time in the packet (each time when not ``one_server``: a cluster's packet reaches several primaries). Never
    both kinds at once: a record made stale by a ``SCRIPT FLUSH`` this process did not see would let a call by
    text run while an earlier one by SHA answered NOSCRIPT. All by SHA, they all answer NOSCRIPT and are run
    again in their order."""
    cmds: list[tuple[Any, ...]] = []
    by_text: list[tuple[int, str]] = []
    texted: set[str] = set()  # stays empty for a cluster's packet
    if not any(type(call) is Pipe for call in calls):
        for call in (*pending, *calls):
            if (
                type(call) is Lua
            ):  # written out here: a helper call per script cost 0.1 us of 50 appends' packing
                sha = call.script.sha
                if sha in known or sha in texted:
                    cmds.append(("EVALSHA", sha, len(call.keys), *call.keys, *call.args))
                elif known:  # one not run here beside ones that were: packed again, all by their text
                    return pack(pending, calls, _NOTHING, one_server)
                else:
                    if one_server:
                        texted.add(sha)
                    by_text.append((len(cmds), sha))
                    cmds.append(("EVAL", call.script.text, len(call.keys), *call.keys, *call.args))
            else:
                cmds.append(call.args)  # type: ignore[union-attr]
        return cmds, None, by_text
    if known and not all(type(c) is not Lua or c.script.sha in known for c in (*pending, *calls)):  # type: ignore[union-attr]
        known = _NOTHING
    spans: list[tuple[int, int]] = []
    for lua in pending:
        cmds.append(_script_cmd(lua, known, texted, len(cmds), by_text, one_server))
    for call in calls:
        start = len(cmds)
        if isinstance(call, Lua):
            cmds.append(_script_cmd(call, known, texted, start, by_text, one_server))
        elif isinstance(call, Cmd):
            cmds.append(call.args)
        else:
            cmds.extend(call.cmds)
        spans.append((start, len(cmds)))
    return cmds, spans, by_text


_NOTHING: frozenset[str] = frozenset()


def _script_cmd(
    lua: Lua,
    known: Collection[str],
    texted: set[str],
    at: int,
    by_text: list[tuple[int, str]],
    one_server: bool,
) -> tuple[Any, ...]:
    sha = lua.script.sha
    if sha in known or sha in texted:
        return eval_args(lua, True)
    if one_server:
        texted.add(sha)
    by_text.append((at, sha))
    return eval_args(lua, False)


def unpack(
    calls: list[Cmd | Lua | Pipe], spans: list[tuple[int, int]] | None, replies: list[Any]
) -> list[Any]:
    """Each call's reply (a Pipe's: the list, or its first error); connection errors are raised."""
    for reply in replies:
        if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
            raise reply
    if spans is None:
        return replies[len(replies) - len(calls) :]
    out: list[Any] = []
    for call, (start, stop) in zip(calls, spans):
        if isinstance(call, Pipe):
            part = replies[start:stop]
            error = next((r for r in part if isinstance(r, ResponseError)), None)
            out.append(error if error is not None else part)
        else:
            out.append(replies[start])
    return out
