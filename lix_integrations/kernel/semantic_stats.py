"""The semantic tier's statistics: what its counters hold, and what a snapshot derives from them.

The counting itself is the generic `CounterSet` (kernel/counters.py); this module names the counters
(`SEMANTIC_COUNTERS`) and builds the typed snapshots from them: `SemanticStats` (hit rate, latency percentiles,
tokens and cost saved under the engine's price table) and `ShadowReport`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .counters import Counts, Snapshot

if TYPE_CHECKING:
    from ..config import ModelPrice

__all__ = [
    "HISTOGRAM_BINS",
    "LATENCY_SAMPLES",
    "SEMANTIC_COUNTERS",
    "LatencySummary",
    "SemanticStats",
    "ShadowDecision",
    "ShadowReport",
    "TokenUsage",
    "similarity_bin",
]

#: Lookup latencies kept for the percentiles (the most recent ones).
LATENCY_SAMPLES = 10_000
#: The similarity histogram has this many equal bins over [0, 1] (bin i covers [i/20, (i+1)/20), the last bin
#: includes 1.0). Fine enough to see where a threshold sits, small enough to print as one table row.
HISTOGRAM_BINS = 20
#: The semantic tier's counters. ``histogram`` is counted per bin (`similarity_bin`), the saved tokens per model
#: (``""``: unknown); ``shadow_lookups`` feeds the `ShadowReport`.
SEMANTIC_COUNTERS = (
    "exact_hits",
    "semantic_hits",
    "misses",
    "bypassed",
    "updates",
    "evictions",
    "near_misses",
    "shadow_hits",
    "shadow_lookups",
    "coalesced",
    "coalesce_timeouts",
    "verified_candidates",
    "verifier_rejections",
    "histogram",
    "input_tokens_saved",
    "output_tokens_saved",
)


def similarity_bin(similarity: float) -> int:
    """The histogram bin of a best candidate's similarity (bin i covers [i/20, (i+1)/20); 1.0 is in the last)."""
    return min(HISTOGRAM_BINS - 1, max(0, int(similarity * HISTOGRAM_BINS)))


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
    #: With a verifier (given by name): its score of the candidate that would have been served, and the threshold
    #: that score passed.
    verifier_score: float | None = field(default=None, kw_only=True)
    verifier_threshold: float | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class ShadowReport:
    """Counts since the last reset and the most recent decisions (bounded by ``shadow_log_size``)."""

    lookups: int
    would_hit: int
    decisions: list[ShadowDecision]

    @classmethod
    def from_counts(cls, counts: Counts) -> ShadowReport:
        return cls(int(counts["shadow_lookups"]), int(counts["shadow_hits"]), list(counts.log))

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

    @classmethod
    def of(cls, seconds: tuple[float, ...]) -> LatencySummary:
        if not seconds:
            return cls(count=0, median_ms=0.0, p99_ms=0.0)
        samples = np.asarray(seconds, dtype=np.float64)
        return cls(
            count=int(samples.size),
            median_ms=float(np.median(samples) * 1e3),
            p99_ms=float(np.percentile(samples, 99) * 1e3),
        )


@dataclass(frozen=True)
class SemanticStats(Snapshot):
    """A snapshot of the semantic tier's counters."""

    DERIVED = ("lookups", "hit_rate")

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

    @classmethod
    def from_counts(cls, counts: Counts, prices: Mapping[str, ModelPrice] | None = None) -> SemanticStats:
        """The snapshot of the counts; ``prices`` (model name, ``"*"`` for any other) turn saved tokens into cost."""
        prices = prices or {}
        tokens_in, tokens_out = counts.by_label("input_tokens_saved"), counts.by_label("output_tokens_saved")
        cost = 0.0
        unpriced: set[str] = set()
        for model in dict.fromkeys([*tokens_in, *tokens_out]):
            price = (prices.get(str(model)) if model else None) or prices.get("*")
            if price is None:
                unpriced.add(str(model) or "(unknown model)")
            else:
                cost += price.cost(int(tokens_in.get(model, 0)), int(tokens_out.get(model, 0)))
        bins = counts.by_label("histogram")
        plain = {name: int(counts[name]) for name in _PLAIN}
        return cls(
            latency=LatencySummary.of(counts.samples),
            histogram=tuple(int(bins.get(i, 0)) for i in range(HISTOGRAM_BINS)),
            input_tokens_saved=int(counts["input_tokens_saved"]),
            output_tokens_saved=int(counts["output_tokens_saved"]),
            cost_saved=cost,
            unpriced_models=tuple(sorted(unpriced)),
            **plain,
        )


#: The counters `SemanticStats` shows as they are.
_PLAIN = tuple(
    name
    for name in SEMANTIC_COUNTERS
    if name not in ("shadow_lookups", "histogram", "input_tokens_saved", "output_tokens_saved")
)
