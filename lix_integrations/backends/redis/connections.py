"""Where the sync and async executors differ: how a connection is taken and given back, and batching.

The sync executor keeps connections checked out of redis-py's pool between calls (see `Connections`); the async
one takes them from the pool of its event loop's client, and lets the calls of every task that sends in the same
loop iteration share one packet (`AutoPipeline`); the sync one reads its replies off the socket itself where it can
(`sockets`). Everything else is the one loop of `executor_async`.
"""

from __future__ import annotations

import asyncio
import math
import os
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .autopipeline import AutoPipeline
from .clients import async_client, sync_client
from .commands import Cmd, Lua, Pipe
from .sockets import adirect_parser, aread_direct, exchange
from .wire import packed

if TYPE_CHECKING:
    from ...kernel.ops import Op
    from .backend import RedisBackend

__all__ = ["AsyncIO", "SyncIO"]

#: This process's id, renewed in a forked child by the fork itself (``os.register_at_fork``, which CPython runs
#: for every fork that goes on running Python): ``os.getpid()`` is a system call, a few percent of a sync call
#: (2026-12-04, py-spy on a loop of chat appends).
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forked)


class SyncIO:
    """Blocking connections: the backend's kept ones, else the shared pool's."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        # No forwarding frames on the way to a round trip: the executor's own sender (the async side may batch,
        # see AsyncIO), the backend's kept connections, the socket exchange (`sockets`).
        self.dispatch = self.dispatch_pinned = self.send_now  # type: ignore[method-assign]
        self.take = backend._conns.take  # type: ignore[method-assign]
        self.give = backend._conns.give  # type: ignore[method-assign]
        #: op type -> (its planner, a lookup, idempotent, uncancellable): see the executor's ``_run_once``.
        self._kinds: dict[type[Op], tuple[Any, bool, bool, bool]] = {}
        #: (pid, client) of the last call: the shared registry builds its key (an f-string and a pid) for every
        #: call. Its client stays valid while this backend is open (it holds a use of the URL); a forked child
        #: has another pid.
        self._bound: tuple[int, Any] | None = None

    def client(self) -> Any:
        bound = self._bound
        if bound is not None and bound[0] == _pid:
            return bound[1]
        client = sync_client(self.backend.options)
        self._bound = (_pid, client)
        return client

    def take(self, client: Any) -> Any:
        return self.backend._conns.take(client)  # replaced per instance, see __init__

    def give(self, client: Any, conn: Any) -> None:
        self.backend._conns.give(client, conn)  # replaced per instance, see __init__

    def dispatch(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool, idempotent: bool
    ) -> list[Any]:
        return self.send_now(client, calls, lookup, idempotent)  # replaced per instance, see __init__

    def dispatch_pinned(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool, idempotent: bool
    ) -> list[Any]:
        """`dispatch`: a blocking caller cannot be cancelled while it waits (see `AsyncIO.adispatch_pinned`)."""
        return self.send_now(client, calls, lookup, idempotent)  # replaced per instance, see __init__

    #: ``cmds`` written in one packet, and their replies (an error reply returned, not raised): on a plain
    #: connection parsed by hiredis straight on its socket and reader, else through redis-py (see `sockets`).
    exchange = staticmethod(exchange)

    def send_now(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool = False, idempotent: bool = False
    ) -> list[Any]:
        raise NotImplementedError  # the executor's


class AsyncIO:
    """Awaitable connections from the pool of this event loop's client, and auto-pipelining."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self._batchers: WeakKeyDictionary[asyncio.AbstractEventLoop, AutoPipeline] = WeakKeyDictionary()
        #: (loop, its client) of the last call: the shared registry takes a lock and a weak-dictionary lookup,
        #: a per-call cost in lix's async chat adds (2026-12-04, benchmarks/redis_chat.py); a weak reference
        #: keeps a closed loop collectable. The registry's client stays valid while this backend is open
        #: (it holds a use of the URL), and a new process has a new pid.
        self._bound: tuple[weakref.ref[asyncio.AbstractEventLoop], int, Any] | None = None
        self._last_batcher: tuple[weakref.ref[asyncio.AbstractEventLoop], AutoPipeline] | None = None
        #: op type -> (its planner, a lookup, idempotent, uncancellable): see the executor's ``_arun_once``.
        self._kinds: dict[type[Op], tuple[Any, bool, bool, bool]] = {}

    def aclient(self) -> Any:
        loop = asyncio.get_running_loop()
        bound = self._bound
        if bound is not None and bound[0]() is loop and bound[1] == _pid:
            return bound[2]
        client = async_client(self.backend.options)
        self._bound = (weakref.ref(loop), _pid, client)
        return client

    def unbind(self) -> None:
        """Forget the client of the last loop (the backend closes: the registry may close it)."""
        self._bound = None
        self._last_batcher = None

    async def aread_replies(self, conn: Any, count: int) -> list[Any]:
        """The ``count`` replies of a packet. A plain, TLS or unix connection parsed by hiredis is read straight
        off its stream (`sockets.aread_direct`). Any other is read under one deadline (the connection's read
        timeout): redis-py's ``read_response`` arms and cancels a timer per reply, a cost per message of 50
        auto-pipelined chat adds (2026-12-04, benchmarks/redis_chat.py async); before Python 3.11 (no
        ``asyncio.timeout``), or with no timeout set, each reply is read as redis-py reads it."""
        parser = adirect_parser(conn)
        if parser is not None:  # the plain connection classes, parsed by hiredis: straight off its stream
            return await aread_direct(conn, parser, count)
        timeout = getattr(conn, "socket_timeout", None)
        if count == 1 or timeout is None or _DEADLINE is None:
            return [await _areply(conn) for _ in range(count)]
        try:
            async with _DEADLINE(timeout):
                return [await _areply(conn, math.inf) for _ in range(count)]  # inf: no timer of its own
        except TimeoutError as exc:  # the deadline's: a read timeout, as redis-py reports one
            raise RedisTimeoutError("Timeout reading from Redis") from exc

    async def aexchange(self, conn: Any, cmds: list[tuple[Any, ...]]) -> list[Any]:
        """``cmds`` written in one packet, and their replies (an error reply returned, not raised)."""
        await conn.send_packed_command(packed(conn, cmds))
        return await self.aread_replies(conn, len(cmds))

    async def atake(self, client: Any) -> Any:
        """A connection of the loop's pool, which replaces one the server closed."""
        return await client.connection_pool.get_connection()

    async def agive(self, client: Any, conn: Any) -> None:
        await client.connection_pool.release(conn)

    def adispatch_pinned(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool, idempotent: bool
    ) -> Coroutine[Any, Any, list[Any]]:
        """`adispatch`, the replies awaited on a `PinnedFuture` when batched: for the operations whose reply must
        reach their caller even when it is cancelled (`lockstep.UNCANCELLABLE`)."""
        return self.adispatch(client, calls, lookup, idempotent, True)

    def adispatch(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool, idempotent: bool, pinned: bool = False
    ) -> Coroutine[Any, Any, list[Any]]:
        """With ``autopipeline`` (default), the calls of every task of this event loop that sends within the
        same loop iteration share one packet. The sending coroutine itself, to await (no frame around it); the
        loop's batcher is remembered like its client (`aclient`): a weak-dictionary lookup per call made a
        weak reference each time. ``pinned``: the replies are awaited on a `PinnedFuture` (see `UNCANCELLABLE`)."""
        options = self.backend.options
        if options.cluster or not options.autopipeline or not calls:
            return self.asend_now(client, calls, lookup, idempotent)
        loop = asyncio.get_running_loop()
        last = self._last_batcher
        if last is not None and last[0]() is loop:
            batcher = last[1]
        else:
            found = self._batchers.get(loop)
            if found is None:
                found = self._batchers[loop] = AutoPipeline(self)  # type: ignore[arg-type]
            batcher = found
            self._last_batcher = (weakref.ref(loop), batcher)
        return batcher.send(client, calls, lookup, idempotent, pinned)

    async def asend_now(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool = False, idempotent: bool = False
    ) -> list[Any]:
        raise NotImplementedError  # the executor's


#: ``asyncio.timeout`` (Python 3.11+), else ``None``.
_DEADLINE: Any = getattr(asyncio, "timeout", None)


async def _areply(conn: Any, timeout: float | None = None) -> Any:
    try:
        return await conn.read_response(timeout=timeout)
    except ResponseError as exc:
        return exc
