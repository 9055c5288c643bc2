"""Export an engine's statistics as OpenTelemetry metrics (only when ``opentelemetry-api`` is installed).

The engine's counters are already cheap in-process snapshots (``engine.stats()``), so the bridge is a set of
*observable* instruments whose callbacks read one snapshot per collection: nothing is added to the lookup path,
and an app that never exports metrics pays nothing. OpenTelemetry is an optional dependency
(the ``otel`` extra: ``pip install '.[otel]'`` from the repository); importing this module without it is fine, calling
`instrument_engine` raises an ``ImportError`` that says what to install.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .install import install_hint

if TYPE_CHECKING:
    from .engine.engine import AsyncEngine, Engine
    from .engine.stats import EngineStats

__all__ = ["instrument_engine"]

# One snapshot serves every instrument of one collection: readers call the callbacks back to back.
_SNAPSHOT_SECONDS = 0.5


def instrument_engine(engine: Engine | AsyncEngine, meter_provider: Any = None) -> list[Any]:
    """Register observable OpenTelemetry instruments reporting ``engine``'s statistics; returns them.

    Instruments (attributes: ``lix.namespace`` and the ones listed):

    * ``lix.semantic.lookups`` (counter; ``outcome`` = exact_hit, semantic_hit, miss), ``lix.semantic.near_misses``,
      ``lix.semantic.shadow_hits``;
    * ``lix.semantic.tokens_saved`` (counter; ``direction`` = input, output), ``lix.semantic.cost_saved``;
    * ``lix.semantic.lookup_latency`` (gauge in ms; ``quantile`` = 0.5, 0.99);
    * ``lix.embeddings.saved_time`` (counter, seconds of embedding computation the cache saved).

    ``meter_provider`` defaults to the global one (``opentelemetry.metrics.get_meter_provider()``).
    """
    try:
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
    except ImportError as exc:  # pragma: no cover - exercised only without the optional dependency
        raise ImportError(f"OpenTelemetry metrics need opentelemetry-api: {install_hint('otel')}") from exc

    provider = meter_provider or metrics.get_meter_provider()
    meter = provider.get_meter("lix_integrations")
    base = {"lix.namespace": engine.namespace}
    lock = threading.Lock()
    cached: list[Any] = [0.0, None]

    def snapshot() -> EngineStats:
        with lock:
            now = time.monotonic()
            if cached[1] is None or now - cached[0] > _SNAPSHOT_SECONDS:
                cached[0], cached[1] = now, engine.stats()
            stats: EngineStats = cached[1]
            return stats

    def callback(read: Callable[[EngineStats], Iterable[tuple[float, dict[str, str]]]]) -> Any:
        def observe(options: Any) -> Iterable[Any]:
            return [Observation(value, {**base, **attrs}) for value, attrs in read(snapshot())]

        return observe

    def lookups(s: EngineStats) -> Iterable[tuple[float, dict[str, str]]]:
        sem = s.semantic
        return [
            (sem.exact_hits, {"outcome": "exact_hit"}),
            (sem.semantic_hits, {"outcome": "semantic_hit"}),
            (sem.misses, {"outcome": "miss"}),
        ]

    def tokens(s: EngineStats) -> Iterable[tuple[float, dict[str, str]]]:
        return [
            (s.semantic.input_tokens_saved, {"direction": "input"}),
            (s.semantic.output_tokens_saved, {"direction": "output"}),
        ]

    def latency(s: EngineStats) -> Iterable[tuple[float, dict[str, str]]]:
        lat = s.semantic.latency
        return [(lat.median_ms, {"quantile": "0.5"}), (lat.p99_ms, {"quantile": "0.99"})] if lat.count else []

    def saved_time(s: EngineStats) -> Iterable[tuple[float, dict[str, str]]]:
        return [] if s.embeddings is None else [(s.embeddings.saved_seconds, {})]

    return [
        meter.create_observable_counter("lix.semantic.lookups", [callback(lookups)], unit="{lookup}"),
        meter.create_observable_counter(
            "lix.semantic.near_misses", [callback(lambda s: [(s.semantic.near_misses, {})])], unit="{lookup}"
        ),
        meter.create_observable_counter(
            "lix.semantic.shadow_hits", [callback(lambda s: [(s.semantic.shadow_hits, {})])], unit="{lookup}"
        ),
        meter.create_observable_counter("lix.semantic.tokens_saved", [callback(tokens)], unit="{token}"),
        meter.create_observable_counter(
            "lix.semantic.cost_saved", [callback(lambda s: [(s.semantic.cost_saved, {})])], unit="{currency}"
        ),
        meter.create_observable_gauge("lix.semantic.lookup_latency", [callback(latency)], unit="ms"),
        meter.create_observable_counter("lix.embeddings.saved_time", [callback(saved_time)], unit="s"),
    ]
