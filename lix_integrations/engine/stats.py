"""In-process statistics: counters and latency samples, typed, with ``to_dict()`` for scripts and dashboards.

Counters live in the process that served the lookups (like ``functools.lru_cache.cache_info``); they are not
stored, so reading them costs nothing and they can never leak another process's traffic.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..tiers.embeddings import EmbeddingStats
    from ..tiers.kv import KvStats
    from ..tiers.sessions import SessionStats
    from ..tiers.tools import ToolsStats

__all__ = ["EngineStats", "LatencySummary", "SemanticCounters", "SemanticStats"]

_LATENCY_SAMPLES = 10_000


@dataclass(frozen=True)
class LatencySummary:
    """Lookup latency in milliseconds over the most recent lookups (at most 10,000)."""

    count: int
    median_ms: float
    p99_ms: float


@dataclass(frozen=True)
class SemanticStats:
    """A snapshot of the semantic tier's counters."""

    exact_hits: int
    semantic_hits: int
    misses: int
    bypassed: int
    updates: int
    evictions: int
    latency: LatencySummary

    @property
    def lookups(self) -> int:
        return self.exact_hits + self.semantic_hits + self.misses

    @property
    def hit_rate(self) -> float:
        return (self.exact_hits + self.semantic_hits) / self.lookups if self.lookups else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lookups"] = self.lookups
        data["hit_rate"] = self.hit_rate
        return data


@dataclass(frozen=True)
class EngineStats:
    """Statistics of every tier of one engine."""

    namespace: str
    semantic: SemanticStats
    kv: KvStats | None = None
    tools: ToolsStats | None = None
    sessions: SessionStats | None = None
    embeddings: EmbeddingStats | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "semantic": self.semantic.to_dict(),
            "kv": None if self.kv is None else self.kv.to_dict(),
            "tools": None if self.tools is None else self.tools.to_dict(),
            "sessions": None if self.sessions is None else self.sessions.to_dict(),
            "embeddings": None if self.embeddings is None else self.embeddings.to_dict(),
        }


class SemanticCounters:
    """Thread-safe counters the semantic tier updates; ``snapshot()`` gives an immutable view."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {
            "exact_hits": 0,
            "semantic_hits": 0,
            "misses": 0,
            "bypassed": 0,
            "updates": 0,
            "evictions": 0,
        }
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def record_lookup(self, outcome: str, seconds: float) -> None:
        with self._lock:
            self._counts[outcome] += 1
            self._latencies.append(seconds)

    def reset(self) -> None:
        with self._lock:
            for name in self._counts:
                self._counts[name] = 0
            self._latencies.clear()

    def snapshot(self) -> SemanticStats:
        with self._lock:
            counts = dict(self._counts)
            samples = np.fromiter(self._latencies, dtype=np.float64)
        if samples.size:
            latency = LatencySummary(
                count=int(samples.size),
                median_ms=float(np.median(samples) * 1e3),
                p99_ms=float(np.percentile(samples, 99) * 1e3),
            )
        else:
            latency = LatencySummary(count=0, median_ms=0.0, p99_ms=0.0)
        return SemanticStats(latency=latency, **counts)
