"""Run a tier operation written once as a generator, synchronously or asynchronously.

A flow yields `ops.Op` objects and receives their results (the pattern of httpx's ``Auth.auth_flow``).
The engine's `runtime.Runtime` drives it, from a blocking caller or an awaiting one; the flow itself
never knows which, so the sync and async paths of every tier cannot drift apart.
"""

from __future__ import annotations

import asyncio
import functools
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

from .ops import Op

__all__ = ["CancelledAfterOp", "Flow", "PinnedFuture", "before_each", "finish_before_cancel", "held"]

T = TypeVar("T")
Flow = Generator[Op, Any, T]


class CancelledAfterOp(asyncio.CancelledError):
    """The awaiting task was cancelled while an operation was under way, and the operation completed anyway
    (a command already sent, a worker thread already running). ``result`` is what it returned, so the flow that
    yielded it can undo it before the cancellation goes on."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


async def finish_before_cancel(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``; if the caller is cancelled meanwhile, let it finish first and raise
    `CancelledAfterOp` with its result (or the plain cancellation when it failed). Work that cannot be
    called back (a command on the wire, a thread writing an archive under a lock) is never abandoned half-way.
    Further cancellations while it finishes are held back too (see `_outlast`): the operation is waited for
    until it ends (its reply, or the store's own timeout), so a caller cancelled twice still never leaves with
    its message stored unknown to it. A `PinnedFuture` (a Redis append on the auto-pipelined path) is waited
    on as it is.

    The coroutine runs in the caller's task, each future it waits for relayed through one of ours, so a
    cancellation cancels ours and never reaches the operation; only then is the operation, still waiting where
    it was, handed to a task of its own to finish. A task and a shield for every call (the way before) were part
    of why lix's async chat adds ran at 0.55x RedisChatStore's (2026-12-04, benchmarks/redis_chat.py, async)."""
    if isinstance(awaitable, types.CoroutineType):
        return await _Protected(awaitable)  # type: ignore[no-any-return]
    task = asyncio.ensure_future(awaitable)  # any other awaitable: in a task, behind a shield
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError as cancel:
        try:
            result = await _outlast(task)
        except BaseException:
            raise cancel from None
        raise CancelledAfterOp(result) from cancel


class PinnedFuture(asyncio.Future):  # type: ignore[type-arg]
    """A future that its awaiting task's cancellation does not cancel: ``cancel()`` refuses, so asyncio hands the
    task its cancellation once the future is done. For a result that must reach its waiter (the reply to a
    command already on the wire): `finish_before_cancel` waits on one as it is, without a relay future of its
    own (a future, a callback and a loop turn less per awaited chat append, 2026-12-04)."""

    __slots__ = ()

    def cancel(self, msg: Any = None) -> bool:
        return False


class _Protected:
    """Drives a coroutine in the awaiting task; a cancellation of that task reaches only a relay future."""

    __slots__ = ("_coro",)

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro

    def __await__(self) -> Generator[Any, None, Any]:
        coro = self._coro
        while True:
            try:
                waited = coro.send(None)
            except StopIteration as done:
                return done.value
            try:
                if type(waited) is PinnedFuture:  # a cancellation reaches this task once it is done
                    try:
                        yield waited
                    except Exception:
                        if not waited.done():
                            raise
                        # Its failure, thrown in here by the task: the coroutine meets it where it awaits it.
                elif getattr(waited, "_asyncio_future_blocking", None) and not waited.done():
                    relay = asyncio.get_running_loop().create_future()
                    waited.add_done_callback(functools.partial(_relay, relay))
                    relay._asyncio_future_blocking = True  # what `Future.__await__` sets before its yield
                    yield relay
                else:  # a bare yield (a sleep(0)), or a future already done: one loop turn, as for any task
                    yield waited
            except asyncio.CancelledError as cancel:
                task = asyncio.ensure_future(_rest(coro, waited))
                try:
                    result = yield from _outlast(task)
                except BaseException:
                    raise cancel from None
                raise CancelledAfterOp(result) from cancel
            except BaseException:
                coro.close()
                raise


def _relay(relay: asyncio.Future[None], _: object) -> None:
    if not relay.done():
        relay.set_result(None)


@types.coroutine
def _rest(coro: Coroutine[Any, Any, T], waited: Any) -> Generator[Any, None, T]:
    """The rest of ``coro``, suspended on ``waited``, in a task of its own."""
    if getattr(waited, "_asyncio_future_blocking", None) and not waited.done():
        yield waited  # a cancellation of this task cancels it, as it would any awaited future
    result: T = yield from coro  # type: ignore[misc]
    return result


@types.coroutine
def _outlast(task: asyncio.Future[T]) -> Generator[Any, None, T]:
    """``task``'s result, waited for through any number of cancellations of the awaiting task.

    Cancelling ``task`` would abandon work that cannot be called back (redis-py's connection is dropped with
    the command on the wire; a thread goes on writing): the second cancellation of a caller whose append was
    already sent left the message stored, without the undo the first cancellation would run (Cluster, and
    ``autopipeline=false``). The store's own timeouts bound the wait."""
    while True:
        try:
            result: T = yield from asyncio.shield(task)
            return result
        except asyncio.CancelledError:
            if task.cancelled():
                raise  # ``task`` itself was cancelled (the event loop is closing): nothing is left to wait for
            if task.done():
                return task.result()  # it ended as this caller was cancelled again: its outcome still counts


async def held(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result, awaited through any number of cancellations of the caller (which already has one
    on its way: the runtime raises it once the flow has undone what its cancelled op did)."""
    return await _outlast(asyncio.ensure_future(awaitable))


def before_each(flow: Flow[T], before: Callable[[Op], Flow[None]]) -> Flow[T]:
    """``flow``, with the flow ``before(op)`` run ahead of each op it yields. A failure of ``before`` is thrown
    into ``flow`` where the op's own failure would be, so the flow handles both alike."""
    try:
        op = next(flow)
        while True:
            try:
                yield from before(op)
                result = yield op
            except GeneratorExit:
                flow.close()
                raise
            except BaseException as exc:
                op = flow.throw(exc)
            else:
                op = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
