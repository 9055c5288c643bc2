"""Run a tier operation written once as a generator, synchronously or asynchronously.

A flow yields :class:`~.ops.Op` objects and receives their results (the pattern of httpx's ``Auth.auth_flow``).
:func:`run_sync` feeds it from blocking executors, :func:`run_async` from awaitable ones; the flow itself never
knows which, so the sync and async paths of every tier cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from .ops import Op

__all__ = ["Flow", "run_async", "run_sync"]

T = TypeVar("T")
Flow = Generator[Op, Any, T]


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
