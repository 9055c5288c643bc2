"""Single flight for tool calls: identical calls in flight share one execution.

A waiter waits with the runtime's ``WaitFlight`` op (a thread on an event, a task on a future of its own loop:
`kernel.flight.Flight`), so one flow serves blocking and awaiting callers. Threads and tasks still join
separate registries: a thread waiting for a task's flight would block the event loop that task needs (a blocking
tool called from async code), so a sync and an async caller may both run the tool once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..kernel.flight import Flight

__all__ = ["SingleFlight", "ToolFlight"]


class ToolFlight(Flight):
    """One in-flight call; what its leader leaves for the waiters once it finished."""

    __slots__ = ("duration", "error", "make")

    def __init__(self) -> None:
        super().__init__()
        #: Gives each waiter its own copy of the result; ``None``: the leader was interrupted, or failed other
        #: than by the tool raising (the store, under ``fail_open=False``), and each waiter runs the call itself.
        self.make: Callable[[], Any] | None = None
        self.duration = 0.0
        self.error: BaseException | None = None  # the tool raised: every waiter raises it too


class SingleFlight:
    """Per-key registries of flights, one for threads and one for tasks (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: tuple[dict[str, ToolFlight], dict[str, ToolFlight]] = ({}, {})

    def join(self, key: str, awaiting: bool) -> tuple[ToolFlight, bool]:
        """(flight, is_leader) for a blocking (``awaiting=False``) or an awaiting caller."""
        flights = self._open[awaiting]
        with self._lock:
            flight = flights.get(key)
            if flight is not None:
                return flight, False
            flight = flights[key] = ToolFlight()
            return flight, True

    def finish(self, key: str, flight: ToolFlight, awaiting: bool) -> None:
        flights = self._open[awaiting]
        with self._lock:
            if flights.get(key) is flight:
                del flights[key]
        flight.finish("done")
