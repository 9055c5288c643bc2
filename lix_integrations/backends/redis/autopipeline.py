"""Calls that tasks of one event loop send in the same loop iteration, sent as one packet."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from ...kernel.flows import PinnedFuture
from .commands import Cmd, Lua, Pipe

if TYPE_CHECKING:
    from .executor_async import AsyncExecutor

__all__ = ["AutoPipeline", "SPLIT_CALLS"]

#: A loop turn's calls go out in packets of at most about this many (each on its own connection), written one after
#: the other at the next loop turn. Sent whole, a turn's packet kept the loop idle while Redis ran it all and Redis
#: idle while the loop handled all its replies and built the next turn's calls. Split, the first packet's replies
#: come back and resume their tasks, which build their next calls, while Redis runs the later packets; concurrent
#: conversations fall into groups that take turns. 50 concurrent chat conversations x 20 appends, LixChatStore on
#: plain Redis, medians of 5 alternated runs (2026-12-05, /tmp harness of benchmarks/redis_chat.py's async adds,
#: the archive's lock files made beforehand): 28.4k appends/s whole, 34.8k split at 32, 32.5k at 25 and at 16.
#: With two busy-loop processes on the machine's two cores it cost a tenth (28.1k whole, 25.6k split at 32, medians
#: of 5, same harness, 14:55 UTC): no core for Redis to run beside the loop.
SPLIT_CALLS = 32

#: The client attribute that counts [packets in flight, turns scheduled to start] of every auto-pipeline on it:
#: a client (one per URL and event loop) and its connection pool are shared by all engines of the URL, whatever
#: their prefixes, and each engine has an auto-pipeline of its own.
_USE = "_lix_autopipeline_use"


class AutoPipeline:
    """Calls that tasks of one event loop send in the same loop iteration, sent as one packet.

    A chat server awaits many conversations at once: each would pay a round trip and redis-py's per-command
    cost on its own connection; queued until the loop's next turn, they share one write and one read (the
    way ioredis' auto-pipelining works). Every caller still waits for its own replies, so nothing is
    acknowledged before Redis has it. A lone call waits one loop turn, a few microseconds. Every `SPLIT_CALLS`
    calls of a turn make a packet of their own (see there).
    """

    def __init__(self, executor: AsyncExecutor) -> None:
        self._executor = executor
        self._queue: list[tuple[list[Cmd | Lua | Pipe], bool, bool, asyncio.Future[list[Any]]]] = []
        self._calls = 0  # calls in the queue
        self._scheduled = False
        self._flushing: set[asyncio.Task[None]] = set()

    def queue(
        self,
        client: Any,
        calls: list[Cmd | Lua | Pipe],
        lookup: bool,
        idempotent: bool = False,
        pinned: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> asyncio.Future[list[Any]]:
        """The future of ``calls``' replies, set once the packet they go out in is answered. ``pinned``: a
        `PinnedFuture`, which the caller's cancellation does not cancel (it reaches the caller once the replies
        are in). ``loop``: the running loop, when the caller has it already."""
        if loop is None:
            loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = PinnedFuture(loop=loop) if pinned else loop.create_future()
        self._queue.append((calls, lookup, idempotent, future))
        self._calls += len(calls)
        use = _use(client)
        if not self._scheduled:
            self._scheduled = True
            use[1] += 1
            loop.call_soon(self._start, client, use)
        # The turn's later calls go with the scheduled start. Each packet in flight holds a connection: split only
        # while this one, those in flight and the scheduled starts' of every engine on this client (`_USE`) fit
        # under the pool's cap (a URL's ``max_connections``), which refuses the next one (MaxConnectionsError, an
        # outage for the breaker) rather than make it wait.
        if self._calls >= SPLIT_CALLS and use[0] + use[1] + 1 <= _cap(client):
            self._send(client, use)
        return future

    def _start(self, client: Any, use: list[int]) -> None:
        self._scheduled = False
        use[1] -= 1
        if self._queue:
            self._send(client, use)

    def _send(self, client: Any, use: list[int]) -> None:
        batch, self._queue, self._calls = self._queue, [], 0
        task = asyncio.ensure_future(self._flush(client, batch))
        self._flushing.add(task)  # a task nobody references may be collected mid-flight
        use[0] += 1
        task.add_done_callback(partial(self._landed, use))

    def _landed(self, use: list[int], task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        use[0] -= 1

    async def _flush(
        self, client: Any, batch: list[tuple[list[Cmd | Lua | Pipe], bool, bool, asyncio.Future[list[Any]]]]
    ) -> None:
        calls = [call for part, _, _, _ in batch for call in part]
        lookup = all(item[1] for item in batch)
        idempotent = all(item[2] for item in batch)
        try:
            replies = await self._executor.asend_now(client, calls, lookup, idempotent)
        except BaseException as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for part, _, _, future in batch:
            if not future.done():  # the caller may have been cancelled; its commands ran all the same
                future.set_result(replies[start : start + len(part)])
            start += len(part)


def _use(client: Any) -> list[int]:
    """[packets in flight, turns scheduled to start] of every auto-pipeline on ``client``."""
    use = getattr(client, _USE, None)
    if use is None:
        use = [0, 0]
        setattr(client, _USE, use)
    return use


def _cap(client: Any) -> int:
    """The most connections ``client``'s pool makes (redis-py's asyncio pool: 100 unless the URL's
    ``max_connections`` says otherwise; a pool without the attribute counts as uncapped)."""
    cap = getattr(getattr(client, "connection_pool", None), "max_connections", None)
    return cap if isinstance(cap, int) else 2**31
