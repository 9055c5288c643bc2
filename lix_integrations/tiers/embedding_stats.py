"""Counters of the embedding tier (this process's traffic; not stored)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["EmbeddingCounters", "EmbeddingStats"]


@dataclass(frozen=True)
class EmbeddingStats:
    """A snapshot of the embedding tier's counters (this process only).

    ``lookups`` counts texts asked for; a text repeated inside one batch is computed or read once and counted in
    ``deduplicated``. ``saved_seconds`` estimates the computing avoided: every hit and duplicate times the mean
    compute time per text measured in this process (0 until something was computed). ``load_seconds`` is the
    one-time loading of models that load lazily (the default embedder): it is not computing, so it is counted
    neither in ``compute_seconds`` nor in what a hit saves.
    """

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

    @property
    def hits(self) -> int:
        return self.front_hits + self.store_hits

    @property
    def hit_rate(self) -> float:
        answered = self.hits + self.misses
        return self.hits / answered if answered else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hits"] = self.hits
        data["hit_rate"] = self.hit_rate
        return data


class EmbeddingCounters:
    """Thread-safe counters the tier updates; ``snapshot()`` gives an immutable view."""

    _NAMES = (
        "lookups",
        "front_hits",
        "store_hits",
        "misses",
        "deduplicated",
        "computed",
        "stored",
        "evictions",
        "store_errors",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self._NAMES, 0)
        self._compute_seconds = 0.0
        self._load_seconds = 0.0

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self._counts[name] += amount

    def add_compute(self, texts: int, seconds: float) -> None:
        with self._lock:
            self._counts["computed"] += texts
            self._compute_seconds += seconds

    def add_load(self, seconds: float) -> None:
        with self._lock:
            self._load_seconds += seconds

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(self._NAMES, 0)
            self._compute_seconds = 0.0
            self._load_seconds = 0.0

    def snapshot(self) -> EmbeddingStats:
        with self._lock:
            counts = dict(self._counts)
            seconds = self._compute_seconds
            load = self._load_seconds
        per_text = seconds / counts["computed"] if counts["computed"] else 0.0
        avoided = counts["front_hits"] + counts["store_hits"] + counts["deduplicated"]
        return EmbeddingStats(
            compute_seconds=seconds, saved_seconds=avoided * per_text, load_seconds=load, **counts
        )
