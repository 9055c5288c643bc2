"""``engine.tools``: call a tool through the tool tier (blocking `ToolsAPI`, awaitable `AsyncToolsAPI`).

The engine, not the adapters, runs the call: it looks the result up, runs the tool on a miss, stores what can be
stored, applies invalidation rules for write tools, and makes identical concurrent calls share one execution
(single flight). Adapters only translate their framework's tool objects into ``(name, arguments, compute)``.

``compute`` is a zero-argument callable (an awaitable-returning one for the async API) so the caller decides
how the arguments reach the tool; ``arguments`` is the mapping the key is derived from. ``encode``/``decode``
let an adapter store a framework object as JSON (and rebuild it); ``cacheable(result)`` may refuse to store a
result that reports an error in-band (LlamaIndex's ``ToolOutput(is_error=True)``).

Each operation is written once (see `views`): a call is one flow whose steps (lookup, the tool itself as a
`CallerCode` op, store) each fail open on their own, run on the calling thread by `ToolsAPI` and on the event loop
by `AsyncToolsAPI`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..kernel.flows import Flow, T
from ..kernel.ops import KvDelete, KvDeleteWhere, WaitFlight
from ..tiers.tool_flights import ToolFlight
from ..tiers.tools import NOT_CACHED, TABLE, PreparedCall, ToolPolicy
from .caller_code import CallerCode
from .tool_calls import BatchPlan, Cacheable, Decode, Encode, ToolCalls
from .views import Awaiting, Blocking, Done, mapped, runs, runs_cache, runs_steps, single

__all__ = ["AsyncToolsAPI", "ToolsAPI"]

_WAIT = 3600.0  # seconds per wait for a flight's leader; a waiter waits again until it finishes


def _zero() -> int:
    return 0


@dataclass(frozen=True, slots=True)
class _Run:
    """One cacheable call: its key, the tool, and the adapter's ways to store and rebuild its result."""

    prep: PreparedCall
    compute: Callable[[], Any]
    encode: Encode | None
    decode: Decode | None
    cacheable: Cacheable | None


class _Tools(ToolCalls):
    """Tool calls through the tool tier."""

    def _step(self, flow: Flow[T], fallback: T) -> Flow[T]:
        """One cache step of a call: under ``fail_open`` a store failure gives ``fallback`` (see `runs_steps`)."""
        return self._core._fail_open(flow, fallback)  # type: ignore[no-any-return]

    @runs_steps
    def call(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        compute: Callable[[], Any],
        *,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        run_id: str | None = None,
        exclude: Sequence[str] = (),
        encode: Encode | None = None,
        decode: Decode | None = None,
        cacheable: Cacheable | None = None,
        version: str | None = None,
    ) -> Flow[Any]:
        """The tool's result for these arguments: cached, shared with an identical call in flight, or computed.

        ``policy`` overrides the engine's configuration for this call (``None``: use the configuration).
        ``version`` (e.g. a digest of the tool's schema) joins the key: a changed tool never serves old results.
        Exceptions from ``compute`` propagate (to every caller waiting on the same flight) and are never cached.
        """
        prep = self._prepare(tool, arguments, policy, scope, run_id, exclude, version)
        if prep is None:
            self._tier.count(tool, "bypassed")
            return self._bypass(tool, arguments, compute)
        return self._shared(_Run(prep, compute, encode, decode, cacheable))

    def _bypass(self, tool: str, arguments: Mapping[str, Any], compute: Callable[[], Any]) -> Flow[Any]:
        try:
            return (yield CallerCode(compute))
        finally:
            if self._tier.is_writer(tool):
                yield from self._step(self._tier.after_write(tool, arguments), 0)

    def _shared(self, run: _Run) -> Flow[Any]:
        """Wait for an identical call in flight, or lead one (single flight)."""
        tier, prep = self._tier, run.prep
        while True:
            flight, leader = tier.flights.join(prep.key, self.awaiting)
            if leader:
                break
            started = time.perf_counter()
            while not (yield WaitFlight(flight, _WAIT)):
                pass
            if flight.error is not None:
                raise flight.error
            if flight.make is None:  # the leader was interrupted: run the call ourselves
                continue
            tier.count(prep.tool, "hits", saved=flight.duration - (time.perf_counter() - started))
            tier.count(prep.tool, "coalesced")
            return flight.make()
        try:
            return (yield from self._lead(run, flight))
        finally:
            tier.flights.finish(prep.key, flight, self.awaiting)

    def _lead(self, run: _Run, flight: ToolFlight) -> Flow[Any]:
        tier, prep, decode = self._tier, run.prep, run.decode
        started = time.perf_counter()
        hit = (yield from self._step(tier.lookup((prep,)), [NOT_CACHED]))[0]
        if hit is not NOT_CACHED:
            result = self._decode(prep, hit, decode)
            if result is not NOT_CACHED:
                self._hit(prep, hit, started)
                flight.duration = hit[1]
                flight.make = self._from_hit(hit[0], decode)
                return result
            yield from self._step(single(KvDelete(tier.namespace, TABLE, (prep.key,))), 0)
        tier.count(prep.tool, "misses")
        started = time.perf_counter()
        try:
            result = yield CallerCode(run.compute)
        except Exception as exc:
            tier.count(prep.tool, "errors")
            flight.error = exc
            raise
        duration = time.perf_counter() - started
        flight.duration = duration
        raw = None
        if run.cacheable is None or run.cacheable(result):
            raw = self._encode(prep.tool, result, duration, run.encode)
            if raw is not None:
                yield from self._step(tier.store(((prep, raw),)), None)
        flight.make = self._from_raw(raw, result, decode)
        return result

    @runs_steps
    def lookup(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        run_id: str | None = None,
        exclude: Sequence[str] = (),
        decode: Decode | None = None,
    ) -> Flow[Any] | Done[Any]:
        """The cached result, or `NOT_CACHED` (counts a hit or a miss)."""
        prep = self._prepare(tool, arguments, policy, scope, run_id, exclude)
        if prep is None:
            self._tier.count(tool, "bypassed")
            return Done(NOT_CACHED)
        return self._looked_up(prep, decode)

    def _looked_up(self, prep: PreparedCall, decode: Decode | None) -> Flow[Any]:
        started = time.perf_counter()
        hit = (yield from self._step(self._tier.lookup((prep,)), [NOT_CACHED]))[0]
        result = NOT_CACHED if hit is NOT_CACHED else self._decode(prep, hit, decode)
        if result is NOT_CACHED:
            self._tier.count(prep.tool, "misses")
        else:
            self._hit(prep, hit, started)
        return result

    @runs_steps
    def store(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        result: Any,
        *,
        duration: float = 0.0,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        run_id: str | None = None,
        exclude: Sequence[str] = (),
        encode: Encode | None = None,
    ) -> Flow[bool] | Done[bool]:
        """Store a result computed elsewhere (a fully consumed generator); ``False`` if not stored."""
        prep = self._prepare(tool, arguments, policy, scope, run_id, exclude)
        raw = None if prep is None else self._encode(tool, result, duration, encode)
        if prep is None or raw is None:
            return Done(False)
        return mapped(self._step(self._tier.store(((prep, raw),)), None), lambda _: True)

    @runs_steps
    def call_batch(
        self,
        tool: str,
        items: Sequence[Mapping[str, Any]],
        compute_missing: Callable[[list[int]], Any],
        *,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        run_id: str | None = None,
        exclude: Sequence[str] = (),
    ) -> Flow[list[Any]]:
        """Results for every item's arguments; ``compute_missing(indices)`` computes only the missing ones (each
        distinct key once) and returns their results in the order of ``indices`` (awaitable for the async API)."""
        preps = [self._prepare(tool, a, policy, scope, run_id, exclude) for a in items]
        return self._batch(BatchPlan(self, tool, preps), len(items), compute_missing)

    def _batch(self, plan: BatchPlan, n: int, compute_missing: Callable[[list[int]], Any]) -> Flow[list[Any]]:
        if plan.uncached:
            return plan.all_computed((yield CallerCode(lambda: compute_missing(list(range(n))))))
        plan.apply_hits((yield from self._step(self._tier.lookup(plan.calls), [NOT_CACHED] * n)))
        if plan.missing:
            started = time.perf_counter()
            computed = yield CallerCode(lambda: compute_missing(list(plan.missing)))
            entries = plan.fill(computed, time.perf_counter() - started)
            yield from self._step(self._tier.store(entries), None)
        return plan.results

    @runs
    def invalidate(
        self, tool: str | None = None, *, arguments: Mapping[str, Any] | None = None, scope: str | None = None
    ) -> Flow[int]:
        """Delete cached results of ``tool`` (all tools if ``None``) whose arguments include ``arguments``, in
        ``scope`` and the scopes nested in it (all scopes if ``None``). Returns how many were deleted."""
        return mapped(self._tier.invalidate(tool, arguments=arguments, scope=scope), int)

    @runs_cache(_zero)
    def record_write(self, tool: str, arguments: Mapping[str, Any]) -> Flow[int]:
        """Apply the invalidation rules of write tool ``tool`` (``call`` does this itself for write tools)."""
        return mapped(self._tier.after_write(tool, arguments), int)

    @runs
    def clear(self) -> Flow[int]:
        """Delete every cached tool result of this namespace."""
        return mapped(single(KvDeleteWhere(self._tier.namespace, TABLE)), int)


class ToolsAPI(_Tools, Blocking):
    """Blocking access to the tool tier."""


class AsyncToolsAPI(_Tools, Awaiting):
    """Awaitable access to the tool tier; the same operations as `ToolsAPI`."""
