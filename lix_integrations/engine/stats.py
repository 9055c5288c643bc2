"""What ``Engine.stats()`` returns: one snapshot per tier, with ``to_dict()`` for scripts and dashboards.

Counters live in the process that served the lookups (like ``functools.lru_cache.cache_info``); they are not
stored, so reading them costs nothing and they can never leak another process's traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..kernel.semantic_stats import SemanticStats
from ..tiers.checkpoint_state import CheckpointStats
from ..tiers.document_stats import DocumentStats
from ..tiers.embedding_stats import EmbeddingStats
from ..tiers.kv import KvStats
from ..tiers.node_cache import NodeCacheStats
from ..tiers.session_parts import SessionStats
from ..tiers.tool_stats import ToolsStats

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
    #: LangGraph's tiers: checkpoints (every checkpointer of the engine), the node cache, the store's documents.
    checkpoints: CheckpointStats | None = None
    node_cache: NodeCacheStats | None = None
    documents: DocumentStats | None = None

    def __str__(self) -> str:
        """A few readable lines (``print(engine.stats())``); ``repr`` and ``to_dict()`` hold every counter."""
        from .stats_view import render_stats

        return render_stats(self)

    def plot(self, path: str | Path | None = None) -> Any:
        """Lookups by outcome and the similarity histogram (matplotlib, the ``plot`` extra); returns the figure."""
        from .stats_view import plot_stats

        return plot_stats(self, path)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"namespace": self.namespace}
        for f in fields(self)[1:]:
            value = getattr(self, f.name)
            if f.name == "embedder_faults":
                data[f.name] = dict(value)
            else:
                data[f.name] = None if value is None else value.to_dict()
        return data
