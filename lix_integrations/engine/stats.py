"""What ``Engine.stats()`` returns: one snapshot per tier, with ``to_dict()`` for scripts and dashboards.

Counters live in the process that served the lookups (like ``functools.lru_cache.cache_info``); they are not
stored, so reading them costs nothing and they can never leak another process's traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..kernel.counters import SemanticStats
from ..tiers.embeddings import EmbeddingStats
from ..tiers.kv import KvStats
from ..tiers.sessions import SessionStats
from ..tiers.tools import ToolsStats

__all__ = ["EngineStats"]


@dataclass(frozen=True)
class EngineStats:
    """Statistics of every tier of one engine."""

    namespace: str
    semantic: SemanticStats
    kv: KvStats | None = None
    tools: ToolsStats | None = None
    sessions: SessionStats | None = None
    embeddings: EmbeddingStats | None = None
    #: Embedder faults a cache step skipped under ``fail_open``, by cause (see ``engine/embedder_faults.py``).
    embedder_faults: Mapping[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        """A few readable lines (``print(engine.stats())``); ``repr`` and ``to_dict()`` hold every counter."""
        from .stats_view import render_stats

        return render_stats(self)

    def plot(self, path: str | Path | None = None) -> Any:
        """Lookups by outcome and the similarity histogram (matplotlib, the ``plot`` extra); returns the figure."""
        from .stats_view import plot_stats

        return plot_stats(self, path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "semantic": self.semantic.to_dict(),
            "kv": None if self.kv is None else self.kv.to_dict(),
            "tools": None if self.tools is None else self.tools.to_dict(),
            "sessions": None if self.sessions is None else self.sessions.to_dict(),
            "embeddings": None if self.embeddings is None else self.embeddings.to_dict(),
            "embedder_faults": dict(self.embedder_faults),
        }
