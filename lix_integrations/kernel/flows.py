"""Run a tier operation written once as a generator, synchronously or asynchronously.

A flow yields `ops.Op` objects and receives their results (the pattern of httpx's ``Auth.auth_flow``).
The engine's `runtime.Runtime` drives it, from a blocking caller or an awaiting one; the flow itself
never knows which, so the sync and async paths of every tier cannot drift apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from .ops import Op

__all__ = ["CancelledAfterOp", "Flow", "before_each", "finish_before_cancel"]

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
    A second cancellation while waiting abandons the wait."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError as cancel:
        try:
            result = await task
        except BaseException:
            raise cancel from None
        raise CancelledAfterOp(result) from cancel


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
