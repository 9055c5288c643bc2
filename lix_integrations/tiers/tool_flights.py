"""Single flight for tool calls: identical calls in flight share one execution (threads wait on an event, tasks on
a future of their own event loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Flight", "SingleFlight"]


class Flight:
    """One in-flight call that identical threaded calls wait for."""

    __slots__ = ("done", "duration", "error", "make", "retry")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.make: Callable[[], Any] = lambda: None  # gives each waiter its own copy of the result
        self.duration = 0.0
        self.error: BaseException | None = None
        self.retry = False  # the leader was interrupted (not failed): waiters run the call themselves


class SingleFlight:
    """Per-key registries: threads wait on an event, tasks on a future of their own event loop.

    Thread and task callers do not wait for each other (a future cannot be awaited from another loop, and an
    event cannot be awaited without blocking one), so a sync and an async caller may both run the tool once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[str, Flight] = {}
        self._tasks: dict[str, asyncio.Future[Any]] = {}

    def join(self, key: str) -> tuple[Flight, bool]:
        """(flight, is_leader)."""
        with self._lock:
            flight = self._threads.get(key)
            if flight is not None:
                return flight, False
            flight = self._threads[key] = Flight()
            return flight, True

    def finish(self, key: str, flight: Flight) -> None:
        with self._lock:
            if self._threads.get(key) is flight:
                del self._threads[key]
        flight.done.set()

    def ajoin(self, key: str) -> tuple[asyncio.Future[Any], bool]:
        loop = asyncio.get_running_loop()
        with self._lock:
            fut = self._tasks.get(key)
            if fut is not None and not fut.done() and fut.get_loop() is loop:
                return fut, False
            fut = self._tasks[key] = loop.create_future()
            return fut, True

    def afinish(self, key: str, fut: asyncio.Future[Any]) -> None:
        with self._lock:
            if self._tasks.get(key) is fut:
                del self._tasks[key]
