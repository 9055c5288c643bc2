"""Counters of the tool tier, per tool (this process's traffic; not stored)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ToolCounters", "ToolStats", "ToolsStats"]


@dataclass(frozen=True)
class ToolStats:
    """Counters of one tool in this process. ``coalesced``: calls that waited for an identical call in flight
    instead of running (also counted in ``hits``). ``time_saved_s``: run time of the served results minus
    the time spent looking them up."""

    hits: int = 0
    misses: int = 0
    bypassed: int = 0
    errors: int = 0
    not_stored: int = 0
    coalesced: int = 0
    invalidated: int = 0
    time_saved_s: float = 0.0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "bypassed": self.bypassed,
            "errors": self.errors,
            "not_stored": self.not_stored,
            "coalesced": self.coalesced,
            "invalidated": self.invalidated,
            "time_saved_s": self.time_saved_s,
            "hit_rate": self.hit_rate,
        }


@dataclass(frozen=True)
class ToolsStats:
    """A snapshot of the tool tier's counters, per tool name."""

    tools: dict[str, ToolStats] = field(default_factory=dict)

    @property
    def hits(self) -> int:
        return sum(s.hits for s in self.tools.values())

    @property
    def misses(self) -> int:
        return sum(s.misses for s in self.tools.values())

    @property
    def time_saved_s(self) -> float:
        return sum(s.time_saved_s for s in self.tools.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "time_saved_s": self.time_saved_s,
            "tools": {name: s.to_dict() for name, s in sorted(self.tools.items())},
        }


class ToolCounters:
    """Thread-safe per-tool counters."""

    _FIELDS = ("hits", "misses", "bypassed", "errors", "not_stored", "coalesced", "invalidated")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, float]] = {}

    def add(self, tool: str, name: str, amount: int = 1, *, saved: float = 0.0) -> None:
        with self._lock:
            counts = self._counts.get(tool)
            if counts is None:
                counts = self._counts[tool] = dict.fromkeys((*self._FIELDS, "time_saved_s"), 0)
            counts[name] += amount
            if saved > 0:
                counts["time_saved_s"] += saved

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> ToolsStats:
        with self._lock:
            copied = {tool: dict(c) for tool, c in self._counts.items()}
        return ToolsStats(
            {
                tool: ToolStats(
                    **{name: int(c[name]) for name in self._FIELDS}, time_saved_s=float(c["time_saved_s"])
                )
                for tool, c in copied.items()
            }
        )
