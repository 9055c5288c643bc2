"""Statistics of the embedding tier (this process's traffic; not stored)."""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.counters import Counts, Snapshot

__all__ = ["EMBEDDING_COUNTERS", "EmbeddingStats"]

#: The embedding tier's counters (``compute_seconds`` and ``load_seconds`` add up seconds).
EMBEDDING_COUNTERS = (
    "lookups",
    "front_hits",
    "store_hits",
    "misses",
    "deduplicated",
    "computed",
    "stored",
    "evictions",
    "store_errors",
    "compute_seconds",
    "load_seconds",
)


@dataclass(frozen=True)
class EmbeddingStats(Snapshot):
    """A snapshot of the embedding tier's counters (this process only).

    ``lookups`` counts texts asked for; a text repeated inside one batch is computed or read once and counted in
    ``deduplicated``. ``saved_seconds`` estimates the computing avoided: every hit and duplicate times the mean
    compute time per text measured in this process (0 until something was computed). ``load_seconds`` is the
    one-time loading of models that load lazily (the default embedder): it is not computing, so it is counted
    neither in ``compute_seconds`` nor in what a hit saves.
    """

    DERIVED = ("hits", "hit_rate")

    lookups: int
    front_hits: int
    store_hits: int
    misses: int
    deduplicated: int
    computed: int
    compute_seconds: float
    saved_seconds: float
    stored: int
    evictions: int
    store_errors: int
    load_seconds: float = 0.0

    @classmethod
    def from_counts(cls, counts: Counts) -> EmbeddingStats:
        """The snapshot; ``saved_seconds`` is every hit and duplicate times the mean compute time per text."""
        plain = {name: int(counts[name]) for name in EMBEDDING_COUNTERS[:-2]}
        seconds = float(counts["compute_seconds"])
        per_text = seconds / plain["computed"] if plain["computed"] else 0.0
        avoided = plain["front_hits"] + plain["store_hits"] + plain["deduplicated"]
        return cls(
            compute_seconds=seconds,
            saved_seconds=avoided * per_text,
            load_seconds=float(counts["load_seconds"]),
            **plain,
        )

    @property
    def hits(self) -> int:
        return self.front_hits + self.store_hits

    @property
    def hit_rate(self) -> float:
        answered = self.hits + self.misses
        return self.hits / answered if answered else 0.0
