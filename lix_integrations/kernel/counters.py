"""In-process statistics of the semantic tier: counters and latency samples, typed, with ``to_dict()``.

Counters live in the process that served the lookups (like ``functools.lru_cache.cache_info``); they are not
stored, so reading them costs nothing and they can never leak another process's traffic.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..config import ModelPrice

__all__ = [
    "HISTOGRAM_BINS",
    "LatencySummary",
    "SemanticCounters",
    "SemanticStats",
    "ShadowDecision",
    "ShadowReport",
    "TokenUsage",
]

_LATENCY_SAMPLES = 10_000
#: The similarity histogram has this many equal bins over [0, 1] (bin i covers [i/20, (i+1)/20), the last bin
#: includes 1.0). Fine enough to see where a threshold sits, small enough to print as one table row.
HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class TokenUsage:
    """Tokens a cached generation cost when it was produced; an adapter reads them from the framework's usage
    metadata and hands them to ``update``, so every later hit on the entry can count them as saved."""

    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TokenUsage | None:
        """Accept our own keys and LangChain's / OpenAI's spellings; ``None`` when nothing usable is there."""

        def count(*names: str) -> int:
            for name in names:
                value = data.get(name)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    return value
            return 0

        input_tokens = count("input_tokens", "prompt_tokens")
        output_tokens = count("output_tokens", "completion_tokens")
        model = data.get("model")
        if not isinstance(model, str) or not model:
            model = None
        if not input_tokens and not output_tokens:
            return None
        return cls(input_tokens=input_tokens, output_tokens=output_tokens, model=model)


@dataclass(frozen=True)
class ShadowDecision:
    """A semantic hit that shadow mode did not serve: compare ``payload`` with the fresh answer to find false hits."""

    at: float
    prompt: str
    served_prompt: str
    similarity: float
    threshold: float
    entry_id: int
    scope: str
    payload: str
    #: With a verifier: its score of the candidate that would have been served, and the threshold it passed.
    verifier_score: float | None = None
    verifier_threshold: float | None = None


@dataclass(frozen=True)
class ShadowReport:
    """Counts since the last reset and the most recent decisions (bounded by ``shadow_log_size``)."""

    lookups: int
    would_hit: int
    decisions: list[ShadowDecision]

    @property
    def would_hit_rate(self) -> float:
        return self.would_hit / self.lookups if self.lookups else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "lookups": self.lookups,
            "would_hit": self.would_hit,
            "would_hit_rate": self.would_hit_rate,
            "decisions": [asdict(d) for d in self.decisions],
        }


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
    near_misses: int = 0
    shadow_hits: int = 0
    #: Best-candidate similarity of every lookup that reached the vector search, in ``HISTOGRAM_BINS`` bins.
    histogram: tuple[int, ...] = (0,) * HISTOGRAM_BINS
    input_tokens_saved: int = 0
    output_tokens_saved: int = 0
    #: Estimated from the engine's price table; hits whose model has no price add tokens but no cost.
    cost_saved: float = 0.0
    unpriced_models: tuple[str, ...] = ()
    #: Misses served the answer of an identical call in flight (in this process or another) instead of calling.
    coalesced: int = 0
    #: Waits for an identical call in flight that gave up after the wait bound and called the LLM.
    coalesce_timeouts: int = 0
    #: Candidates the verifier scored, and lookups whose candidates (above the cosine floor) it all rejected.
    verified_candidates: int = 0
    verifier_rejections: int = 0

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


class SemanticCounters:
    """Thread-safe counters the semantic tier updates; ``snapshot()`` gives an immutable view."""

    def __init__(self, shadow_log_size: int = 1000) -> None:
        self._lock = threading.Lock()
        self._counts = {
            "exact_hits": 0,
            "semantic_hits": 0,
            "misses": 0,
            "bypassed": 0,
            "updates": 0,
            "evictions": 0,
            "near_misses": 0,
            "shadow_hits": 0,
            "coalesced": 0,
            "coalesce_timeouts": 0,
            "verified_candidates": 0,
            "verifier_rejections": 0,
        }
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self._histogram = [0] * HISTOGRAM_BINS
        self._tokens: dict[str | None, list[int]] = {}  # model -> [input, output] saved
        self._shadow: deque[ShadowDecision] = deque(maxlen=shadow_log_size)
        self._shadow_lookups = 0

    def record_similarity(self, similarity: float) -> None:
        """Count the best candidate's similarity of one lookup that reached the vector search."""
        index = min(HISTOGRAM_BINS - 1, max(0, int(similarity * HISTOGRAM_BINS)))
        with self._lock:
            self._histogram[index] += 1

    def record_saved(self, usage: TokenUsage) -> None:
        """A hit served an answer that cost ``usage`` to produce."""
        with self._lock:
            tally = self._tokens.setdefault(usage.model, [0, 0])
            tally[0] += usage.input_tokens
            tally[1] += usage.output_tokens

    def record_shadow(self, decision: ShadowDecision | None) -> None:
        """One shadow-mode lookup; ``decision`` is the hit it would have served, if any."""
        with self._lock:
            self._shadow_lookups += 1
            if decision is not None:
                self._counts["shadow_hits"] += 1
                self._shadow.append(decision)

    def shadow_report(self) -> ShadowReport:
        with self._lock:
            return ShadowReport(self._shadow_lookups, self._counts["shadow_hits"], list(self._shadow))

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
            self._histogram = [0] * HISTOGRAM_BINS
            self._tokens.clear()
            self._shadow.clear()
            self._shadow_lookups = 0

    def snapshot(self, prices: Mapping[str, ModelPrice] | None = None) -> SemanticStats:
        """An immutable view; ``prices`` (model name, ``"*"`` for any other) turn saved tokens into cost."""
        with self._lock:
            counts = dict(self._counts)
            samples = np.fromiter(self._latencies, dtype=np.float64)
            histogram = tuple(self._histogram)
            tokens = {model: tuple(tally) for model, tally in self._tokens.items()}
        prices = prices or {}
        cost = 0.0
        unpriced: set[str] = set()
        for model, (tokens_in, tokens_out) in tokens.items():
            price = prices.get(model) if model is not None else None
            price = price or prices.get("*")
            if price is None:
                unpriced.add(model or "(unknown model)")
            else:
                cost += price.cost(tokens_in, tokens_out)
        if samples.size:
            latency = LatencySummary(
                count=int(samples.size),
                median_ms=float(np.median(samples) * 1e3),
                p99_ms=float(np.percentile(samples, 99) * 1e3),
            )
        else:
            latency = LatencySummary(count=0, median_ms=0.0, p99_ms=0.0)
        return SemanticStats(
            latency=latency,
            histogram=histogram,
            input_tokens_saved=sum(t[0] for t in tokens.values()),
            output_tokens_saved=sum(t[1] for t in tokens.values()),
            cost_saved=cost,
            unpriced_models=tuple(sorted(unpriced)),
            **counts,
        )
