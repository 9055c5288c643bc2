"""How ``engine.stats()`` reads to a person: ``str(stats)`` (a few lines, counters that are zero left out) and
``stats.plot()`` (lookups by outcome, and the similarity histogram).

``repr`` and ``to_dict()`` stay exhaustive, for scripts; this is what ``print(engine.stats())`` shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..install import install_hint
from ..kernel.semantic_stats import HISTOGRAM_BINS

if TYPE_CHECKING:
    from .stats import EngineStats

__all__ = ["plot_stats", "render_stats"]


def _count(n: float, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _nonzero(data: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str:
    """``name value`` pairs of the counters that are not zero (names read with spaces)."""
    parts = []
    for key, value in data.items():
        if key in skip or isinstance(value, (dict, list, tuple)) or not value:
            continue
        shown = f"{value:.3f}" if isinstance(value, float) else f"{value:,}"
        parts.append(f"{key.replace('_', ' ')} {shown}")
    return ", ".join(parts) or "nothing yet"


def render_stats(stats: EngineStats) -> str:
    """A few lines: the semantic cache first (what most people look at), then each other tier that was used."""
    s = stats.semantic
    lines = [f"lix engine stats, namespace {stats.namespace!r}"]
    if s.lookups:
        lines.append(
            f"semantic cache: {_count(s.lookups, 'lookup')}, hit rate {s.hit_rate:.1%} "
            f"({s.exact_hits:,} exact, {s.semantic_hits:,} semantic, {_count(s.misses, 'miss', 'misses')}"
            + (f", {_count(s.near_misses, 'near miss', 'near misses')}" if s.near_misses else "")
            + f"); {_count(s.updates, 'answer')} stored"
            + (f", {s.evictions:,} evicted" if s.evictions else "")
        )
        lines.append(f"  lookup latency: median {s.latency.median_ms:.2f} ms, p99 {s.latency.p99_ms:.2f} ms")
    else:
        lines.append(f"semantic cache: no lookup yet; {_count(s.updates, 'answer')} stored")
    if s.input_tokens_saved or s.output_tokens_saved:
        cost = f", about ${s.cost_saved:,.4f}" if s.cost_saved else ""
        lines.append(
            f"  saved: {s.input_tokens_saved:,} input and {s.output_tokens_saved:,} output tokens{cost}"
        )
    extras = {
        "shadow hits": s.shadow_hits,
        "coalesced": s.coalesced,
        "coalesce timeouts": s.coalesce_timeouts,
        "verified candidates": s.verified_candidates,
        "verifier rejections": s.verifier_rejections,
        "bypassed": s.bypassed,
    }
    shown = [f"{name} {value:,}" for name, value in extras.items() if value]
    if shown:
        lines.append("  " + ", ".join(shown))
    tiers: list[tuple[str, Any]] = [
        ("embeddings", stats.embeddings),
        ("sessions", stats.sessions),
        ("tools", stats.tools),
        ("key-value", stats.kv),
        ("checkpoints", stats.checkpoints),
        ("node cache", stats.node_cache),
        ("store documents", stats.documents),
    ]
    for name, tier in tiers:
        if tier is None:
            continue
        data = tier.to_dict()
        if not any(v for v in data.values() if not isinstance(v, (dict, list, tuple))):
            continue
        lines.append(f"{name}: {_nonzero(data, skip=('tools',))}")
    if stats.embedder_faults:
        lines.append("embedder faults (skipped under fail_open): " + _nonzero(stats.embedder_faults))
    return "\n".join(lines)


def plot_stats(stats: EngineStats, path: str | Path | None = None) -> Any:
    """Two panels: lookups by outcome, and the best-candidate similarity histogram. Returns the figure; with
    ``path`` it is also saved there. Needs matplotlib (the ``plot`` extra)."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(f"stats.plot() needs matplotlib: {install_hint('plot')}") from exc
    s = stats.semantic
    fig, (outcomes, histogram) = plt.subplots(1, 2, figsize=(10, 3.6))
    names = ["exact hits", "semantic hits", "misses", "near misses"]
    values = [s.exact_hits, s.semantic_hits, s.misses, s.near_misses]
    outcomes.bar(names, values, color=["#2b8a3e", "#5c940d", "#c92a2a", "#e67700"])
    outcomes.set_title(f"{s.lookups:,} lookups, hit rate {s.hit_rate:.1%}")
    outcomes.tick_params(axis="x", labelrotation=20)
    width = 1.0 / HISTOGRAM_BINS
    histogram.bar([i * width for i in range(HISTOGRAM_BINS)], list(s.histogram), width=width, align="edge")
    histogram.set_xlim(0.0, 1.0)
    histogram.set_xlabel("best candidate's similarity")
    histogram.set_ylabel("lookups")
    histogram.set_title("similarity of the nearest stored prompt")
    fig.suptitle(f"lix engine, namespace {stats.namespace!r}")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig
