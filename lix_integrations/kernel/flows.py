"""Run a tier operation written once as a generator, synchronously or asynchronously.

A flow yields `Op` objects and receives their results (the pattern of httpx's ``Auth.auth_flow``).
`run_sync` feeds it from blocking executors, `run_async` from awaitable ones; the flow itself never
knows which, so the sync and async paths of every tier cannot drift apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from .ops import Op

__all__ = ["CancelledAfterOp", "Flow", "finish_before_cancel", "run_async", "run_sync"]

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


def run_sync(flow: Flow[T], execute: Callable[[Op], Any]) -> T:
    """Drive ``flow`` to completion, executing each yielded operation with a blocking callable."""
    try:
        op = next(flow)
        while True:
            try:
                result = execute(op)
            except BaseException as exc:  # let the flow observe (and possibly handle) the failure
                op = flow.throw(exc)
            else:
                op = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def run_async(flow: Flow[T], execute: Callable[[Op], Awaitable[Any]]) -> T:
    """Drive ``flow`` to completion, awaiting each yielded operation."""
    try:
        op = next(flow)
        while True:
            try:
                result = await execute(op)
            except BaseException as exc:
                op = flow.throw(exc)
            else:
                op = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
