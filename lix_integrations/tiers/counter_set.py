"""One generic set of named counters for a tier, instead of a hand-written counter class per tier.

A tier declares its counters once, as the fields of its stats dataclass (``KvStats``: ``gets``, ``hits`` ...); the
counter set counts those names under a lock (LangChain and LlamaIndex call sync methods from worker threads) and
hands out a snapshot of that dataclass. A counter the dataclass does not name cannot be counted, and ``reset``
cannot forget one.
"""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import Any, Generic, TypeVar

__all__ = ["CounterSet"]

S = TypeVar("S")


class CounterSet(Generic[S]):
    """Thread-safe integer counters named by the fields of ``stats`` (a dataclass of ints), snapshot as one."""

    def __init__(self, stats: type[S]) -> None:
        self._stats = stats
        self._names = tuple(f.name for f in fields(stats))  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self._names, 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(self._names, 0)

    def snapshot(self) -> S:
        with self._lock:
            counts: dict[str, Any] = dict(self._counts)
        return self._stats(**counts)
