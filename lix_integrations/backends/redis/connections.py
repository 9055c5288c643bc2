"""Where the sync and async executors differ: how a connection is taken and given back, and batching.

The sync executor keeps connections checked out of redis-py's pool between calls (see `Connections`); the async
one takes them from the pool of its event loop's client, and lets the calls of every task that sends in the same
loop iteration share one packet (`AutoPipeline`); the sync one reads its replies off the socket itself where it can
(`sockets`). Everything else is the one loop of `executor_async`.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Awaitable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...kernel import forks
from ...kernel.flows import CancelledAfterOp, finish_before_cancel
from .autopipeline import AutoPipeline
from .clients import async_client, sync_client
from .commands import Cmd, Lua, Pipe, Scan, Step
from .lockstep import kind_of
from .script_cache import ClusterScripts
from .sockets import adirect_parser, aread_direct, awrite_direct, exchange
from .wire import packed

if TYPE_CHECKING:
    from ...kernel.ops import Op
    from .backend import RedisBackend

__all__ = ["AsyncIO", "SyncIO"]


class SyncIO:
    """Blocking connections: the backend's kept ones, else the shared pool's."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        # No forwarding frames on the way to a round trip: the executor's own sender (the async side may batch,
        # see AsyncIO), the backend's kept connections, the socket exchange (`sockets`).
        self.dispatch = self.dispatch_pinned = self.send_now  # type: ignore[method-assign]
        self.take = backend._conns.take  # type: ignore[method-assign]
        self.give = backend._conns.give  # type: ignore[method-assign]
        self._poll = backend.options.busy_poll_us / 1e6
        self.exchange = partial(exchange, poll=self._poll)  # type: ignore[method-assign]
        #: op type -> (its planner, a lookup, idempotent, uncancellable): see the executor's ``_run_once``.
        self._kinds: dict[type[Op], tuple[Any, bool, bool, bool]] = {}
        #: (pid, client) of the last call: the shared registry builds its key (an f-string and a pid) for every
        #: call. Its client stays valid while this backend is open (it holds a use of the URL); a forked child
        #: has another pid.
        self._bound: tuple[int, Any] | None = None
        self._cluster_scripts = ClusterScripts()

    def client(self) -> Any:
        bound = self._bound
        if bound is not None and bound[0] == forks.pid:
            return bound[1]
        client = sync_client(self.backend.options)
        self._bound = (forks.pid, client)
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

    def exchange(self, conn: Any, cmds: list[tuple[Any, ...]]) -> list[Any]:
        """``cmds`` written in one packet, and their replies (an error reply returned, not raised): on a plain
        connection parsed by hiredis straight on its socket and reader, else through redis-py (see `sockets`)."""
        return exchange(conn, cmds, self._poll)  # replaced per instance, see __init__

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
        self._cluster_scripts = ClusterScripts()

    def aclient(self, loop: asyncio.AbstractEventLoop | None = None) -> Any:
        """The client of the running loop (``loop``: it, when the caller has it already)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        bound = self._bound
        if bound is not None and bound[0]() is loop and bound[1] == forks.pid:
            return bound[2]
        client = async_client(self.backend.options)
        self._bound = (weakref.ref(loop), forks.pid, client)
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
        if not awrite_direct(conn, cmds):
            await conn.send_packed_command(packed(conn, cmds))
            return await self.aread_replies(conn, len(cmds))
        try:
            return await self.aread_replies(conn, len(cmds))
        except BaseException:
            # Part of the packet may still wait in the transport's buffer (a server that stopped reading): closed
            # without waiting for it to flush, as redis-py closes a connection whose write failed; the executor's
            # own disconnect waited for it up to the connect timeout, a cancelled caller too.
            await conn.disconnect(nowait=True)
            raise

    async def atake(self, client: Any) -> Any:
        """A connection of the loop's pool, which replaces one the server closed."""
        return await client.connection_pool.get_connection()

    async def agive(self, client: Any, conn: Any) -> None:
        await client.connection_pool.release(conn)

    def adispatch_pinned(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool, idempotent: bool
    ) -> Awaitable[list[Any]]:
        """`adispatch`, the replies awaited on a `PinnedFuture` when batched: for the operations whose reply must
        reach their caller even when it is cancelled (`lockstep.UNCANCELLABLE`)."""
        return self.adispatch(client, calls, lookup, idempotent, True)

    def adispatch(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool, idempotent: bool, pinned: bool = False
    ) -> Awaitable[list[Any]]:
        """With ``autopipeline`` (default), the calls of every task of this event loop that sends within the
        same loop iteration share one packet. What to await: the sending coroutine, or the future of the replies
        (no frame around either).
        ``pinned``: the replies are awaited on a `PinnedFuture` (see `UNCANCELLABLE`)."""
        options = self.backend.options
        if options.cluster or not options.autopipeline or not calls:
            return self.asend_now(client, calls, lookup, idempotent)
        return self._batcher().queue(client, calls, lookup, idempotent, pinned)

    def _batcher(self, loop: asyncio.AbstractEventLoop | None = None) -> AutoPipeline:
        """The running loop's batcher, remembered like its client (`aclient`): a weak-dictionary lookup per call
        made a weak reference each time."""
        if loop is None:
            loop = asyncio.get_running_loop()
        last = self._last_batcher
        if last is not None and last[0]() is loop:
            return last[1]
        found = self._batchers.get(loop)
        if found is None:
            found = self._batchers[loop] = AutoPipeline(self)  # type: ignore[arg-type]
        self._last_batcher = (weakref.ref(loop), found)
        return found

    def arun_pinned(self, op: Op) -> Coroutine[Any, Any, Any]:
        """An op whose reply must reach its caller even when the caller is cancelled (`UNCANCELLABLE`: a list
        append), finished as `finish_before_cancel` finishes one: cancelled after its command was queued, the
        caller waits for the reply and gets `CancelledAfterOp` with the op's result (or the plain cancellation
        when it failed). Auto-pipelined (the default), that is the `PinnedFuture` of its packet, awaited in the
        op's own frame: the generic way (`arun` under `finish_before_cancel`) passed every resumption through
        five frames and a relay (in-process Python of an awaited chat add 27 -> 23.5 us, 2026-12-05, /tmp
        harness of benchmarks/redis_chat.py's async adds with the reply made in-process). Anything else (a
        cluster, ``autopipeline=false``, an op of more than one round trip) goes the generic way."""
        options = self.backend.options
        if options.cluster or not options.autopipeline:
            return finish_before_cancel(self.arun(op))
        return self._aguarded(op, self._apinned_once)

    async def _apinned_once(self, op: Op) -> Any:
        backend = self.backend
        try:
            kind = self._kinds.get(type(op))
            if kind is None or backend._closed:  # the planner raises for a closed backend or an op it lacks
                kind = self._kinds[type(op)] = kind_of(backend, op)
            plan = kind[0](op)
            if not isinstance(plan, Step) or isinstance(plan.call, Scan):
                return await finish_before_cancel(self.arun(op))  # not one round trip this path sends
            # The running loop looked up once for the three that need it: on Python 3.11 each lookup makes a
            # getpid system call (0.17 us, 2026-12-05, timeit).
            loop = asyncio.get_running_loop()
            future = self._batcher(loop).queue(self.aclient(loop), [plan.call], False, False, True, loop)
            try:
                replies = await future
            except asyncio.CancelledError as cancel:
                # The task's cancellation, thrown in once the packet was answered (a PinnedFuture refuses to be
                # cancelled): the op's result goes with it, for its flow to undo.
                if not future.done() or future.cancelled() or future.exception() is not None:
                    raise
                try:
                    done = _pinned_result(plan, future.result()[0])
                except Exception:
                    raise cancel from None
                raise CancelledAfterOp(done) from cancel
            return _pinned_result(plan, replies[0])
        except Exception as exc:
            failure = backend._failure(op, exc)
            if failure is exc:
                raise
            raise failure from exc

    def arun(self, op: Op) -> Coroutine[Any, Any, Any]:
        raise NotImplementedError  # the executor's

    async def _aguarded(self, op: Any, run: Any) -> Any:
        raise NotImplementedError  # the executor's

    async def asend_now(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool = False, idempotent: bool = False
    ) -> list[Any]:
        raise NotImplementedError  # the executor's


def _pinned_result(plan: Step, reply: Any) -> Any:
    """The result of a one-round-trip op of `AsyncIO.arun_pinned` from its reply; a connection error is raised."""
    if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
        raise reply
    result = plan.reply(reply)
    if isinstance(result, Step):  # pragma: no cover - every pinned op (a list append) takes one round trip
        raise TypeError(f"{plan!r} needs a second round trip: not an op for arun_pinned")
    return result


#: ``asyncio.timeout`` (Python 3.11+), else ``None``.
_DEADLINE: Any = getattr(asyncio, "timeout", None)


async def _areply(conn: Any, timeout: float | None = None) -> Any:
    try:
        return await conn.read_response(timeout=timeout)
    except ResponseError as exc:
        return exc
