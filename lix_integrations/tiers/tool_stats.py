"""Statistics of the tool tier, per tool (this process's traffic; not stored)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, fields
from typing import Any

from ..kernel.counters import Counts, Snapshot

__all__ = ["TOOL_COUNTERS", "ToolStats", "ToolsStats"]


@dataclass(frozen=True)
class ToolStats(Snapshot):
    """Counters of one tool in this process. ``coalesced``: calls that waited for an identical call in flight
    instead of running (also counted in ``hits``). ``time_saved_s``: run time of the served results minus
    the time spent looking them up."""

    DERIVED = ("hit_rate",)

    hits: int
    misses: int
    bypassed: int
    errors: int
    not_stored: int
    coalesced: int
    invalidated: int
    time_saved_s: float

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


#: The tool tier's counters, each counted per tool: those of `ToolStats`, ``time_saved_s`` last.
TOOL_COUNTERS = tuple(f.name for f in fields(ToolStats))


@dataclass(frozen=True)
class ToolsStats:
    """A snapshot of the tool tier's counters, per tool name."""

    tools: dict[str, ToolStats] = field(default_factory=dict)

    @classmethod
    def from_counts(cls, counts: Counts) -> ToolsStats:
        """Each counter is counted per tool (its label); a tool shows once anything was counted for it."""
        tools: dict[Hashable, dict[str, Any]] = {}
        for name in TOOL_COUNTERS:
            for tool, amount in counts.by_label(name).items():
                tools.setdefault(tool, {})[name] = amount
        return cls(
            {
                str(tool): ToolStats(
                    **{name: int(found.get(name, 0)) for name in TOOL_COUNTERS[:-1]},
                    time_saved_s=float(found.get("time_saved_s", 0.0)),
                )
                for tool, found in tools.items()
            }
        )

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
