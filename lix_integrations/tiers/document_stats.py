"""Statistics of the document tier (LangGraph's ``BaseStore``; this process's traffic, not stored)."""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.counters import Snapshot

__all__ = ["DocumentStats"]


@dataclass(frozen=True)
class DocumentStats(Snapshot):
    """A snapshot of the document tier's counters: ``gets`` documents asked for (``hits`` found live, the rest
    ``misses``), ``puts`` and ``deletes`` documents written and removed, ``searches`` and ``listings`` queries
    (``search`` and ``list_paths``)."""

    gets: int
    hits: int
    misses: int
    puts: int
    deletes: int
    searches: int
    listings: int
