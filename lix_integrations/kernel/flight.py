"""A flight: one call in progress that threads and asyncio tasks (of any event loop) can wait for.

The tool tier's single flight keeps thread and task waiters apart; an LLM miss is worth more, so here a thread
waits on a ``threading.Event`` and a task on a future of its own loop that `Flight.finish` resolves
thread-safely, and one leader serves both kinds of callers.

`caller_probe` tells whether a framework call is still running when the only thing that will ever say it
finished is a later ``update`` (LangChain's ``BaseCache``: a model call that raised never reports back).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["Flight", "caller_probe", "current_caller"]


def current_caller() -> tuple[int, int]:
    """This thread and asyncio task (0 outside a task): a caller that re-asks its own miss is not waiting for
    anyone."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return threading.get_ident(), 0 if task is None else id(task)


class Flight:
    """One miss being filled. ``outcome`` becomes ``"filled"`` or ``"failed"`` exactly once."""

    __slots__ = ("_event", "_lock", "_waiters", "alive", "outcome", "owner", "started", "token")

    def __init__(self, alive: Callable[[], bool] | None = None) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.outcome: str | None = None
        #: Whether the leader is still at work (``None``: it always reports back itself).
        self.alive = alive
        self.started = time.monotonic()
        self.owner = current_caller()
        #: The cross-process lease this flight holds, if any.
        self.token: str | None = None

    def finish(self, outcome: str) -> bool:
        """Wake every waiter; False when the flight had already finished."""
        with self._lock:
            if self.outcome is not None:
                return False
            self.outcome = outcome
            waiters, self._waiters = self._waiters, []
        self._event.set()
        for loop, fut in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, fut)
            except RuntimeError:  # that loop is closed: nobody is waiting there any more
                pass
        return True

    def wait(self, timeout: float) -> bool:
        """Block this thread up to ``timeout`` seconds; True once the flight finished."""
        return self._event.wait(max(0.0, timeout))

    async def await_finish(self, timeout: float) -> bool:
        """Wait without blocking the event loop; True once the flight finished."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self.outcome is not None:
                return True
            self._waiters.append((loop, fut))
        try:
            await asyncio.wait_for(fut, max(0.0, timeout))
            return True
        except asyncio.TimeoutError:
            return self.outcome is not None
        finally:
            with self._lock:
                if (loop, fut) in self._waiters:
                    self._waiters.remove((loop, fut))


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def caller_probe(frame: FrameType | None) -> Callable[[], bool] | None:
    """A check that ``frame`` (the framework function that called the cache) has not returned or raised yet.

    On a thread, the frame must still be on that thread's stack; in a task, on the task's chain of awaited
    coroutines. When the check cannot tell (the task is running this instant), it answers True: the waiters then
    wait for the timeout instead of calling the LLM beside a live leader.
    """
    if frame is None:
        return None
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    if task is None:
        ident = threading.get_ident()
        return lambda: _on_thread_stack(ident, frame)
    return lambda: _in_task(task, frame)


#: Code flags of frames that can suspend: a generator's frame loses its link to its caller when it yields.
_SUSPENDS = (
    inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE
)
#: Reads of a thread's stack before a probe that keeps meeting a suspended generator answers "alive".
_STACK_READS = 8


def _on_thread_stack(ident: int, frame: FrameType) -> bool:
    """Whether ``frame`` is on thread ``ident``'s stack, read from another thread.

    The other thread runs between our reads of ``f_back``. If it was inside a generator (the engine's flows are
    generators) and that generator yields meanwhile, its frame's ``f_back`` becomes None and the chain ends
    before ``frame``: a read is complete only when it ends at a frame that cannot suspend (the thread's first).
    An incomplete read is repeated; a probe that never completes one cannot tell, so it answers True. (A thread
    whose first frame is itself a generator, driven from C, never completes a read: its waiters then wait for the
    coalescing deadline instead of taking over.)
    """
    for _ in range(_STACK_READS):
        top = sys._current_frames().get(ident)
        if top is None:
            return False  # the thread has ended
        back: FrameType | None = top
        while back is not None:
            if back is frame:
                return True
            top, back = back, back.f_back  # one read of f_back: it may change between two
        if not top.f_code.co_flags & _SUSPENDS:
            return False
    return True


def _in_task(task: asyncio.Task[Any], frame: FrameType) -> bool:
    if task.done():
        return False
    node: Any = task.get_coro()
    for _ in range(1000):
        if node is None:
            return False
        current = (
            getattr(node, "cr_frame", None)
            or getattr(node, "gi_frame", None)
            or getattr(node, "ag_frame", None)
        )
        if current is frame:
            return True
        if getattr(node, "cr_running", False) or getattr(node, "gi_running", False):
            return True  # running right now: its chain cannot be read; assume the leader is alive
        node = (
            getattr(node, "cr_await", None)
            or getattr(node, "gi_yieldfrom", None)
            or getattr(node, "ag_await", None)
        )
    return True
