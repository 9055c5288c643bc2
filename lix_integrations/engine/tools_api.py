"""``engine.tools``: call a tool through the tool tier (blocking `ToolsAPI`, awaitable `AsyncToolsAPI`).

The engine, not the adapters, runs the call: it looks the result up, runs the tool on a miss, stores what can be
stored, applies invalidation rules for write tools, and makes identical concurrent calls share one execution
(single flight). Adapters only translate their framework's tool objects into ``(name, arguments, compute)``.

``compute`` is a zero-argument callable (an awaitable-returning one for the async API) so the caller decides
how the arguments reach the tool; ``arguments`` is the mapping the key is derived from. ``encode``/``decode``
let an adapter store a framework object as JSON (and rebuild it); ``cacheable(result)`` may refuse to store a
result that reports an error in-band (LlamaIndex's ``ToolOutput(is_error=True)``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..kernel.flows import Flow
from ..kernel.ops import KvDelete, KvDeleteWhere
from ..tiers.tools import (
    NOT_CACHED,
    TABLE,
    PreparedCall,
    ToolPolicy,
)
from .tool_calls import BatchPlan, Cacheable, Decode, Encode, ToolCalls

if TYPE_CHECKING:
    pass

__all__ = ["AsyncToolsAPI", "ToolsAPI"]

logger = logging.getLogger(__name__)

_RETRY = object()


def _one(op: Any) -> Flow[Any]:
    result = yield op
    return result


class ToolsAPI(ToolCalls):
    """Blocking access to the tool tier."""

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
    ) -> Any:
        """The tool's result for these arguments: cached, shared with an identical call in flight, or computed.

        ``policy`` overrides the engine's configuration for this call (``None``: use the configuration).
        ``version`` (e.g. a digest of the tool's schema) joins the key: a changed tool never serves old results.
        Exceptions from ``compute`` propagate (to every caller waiting on the same flight) and are never cached.
        """
        tier = self._tier
        prep = self._prepare(tool, arguments, policy, scope, run_id, exclude, version)
        if prep is None:
            tier.counters.add(tool, "bypassed")
            try:
                return compute()
            finally:
                if tier.is_writer(tool):
                    self.record_write(tool, arguments)
        while True:
            flight, leader = tier.flights.join(prep.key)
            if leader:
                break
            started = time.perf_counter()
            flight.done.wait()
            if flight.retry:
                continue
            if flight.error is not None:
                raise flight.error
            tier.counters.add(tool, "hits", saved=flight.duration - (time.perf_counter() - started))
            tier.counters.add(tool, "coalesced")
            return flight.make()
        try:
            return self._lead(prep, flight, compute, encode, decode, cacheable)
        finally:
            tier.flights.finish(prep.key, flight)

    def _lead(
        self,
        prep: PreparedCall,
        flight: Any,
        compute: Callable[[], Any],
        encode: Encode | None,
        decode: Decode | None,
        cacheable: Cacheable | None,
    ) -> Any:
        tier = self._tier
        started = time.perf_counter()
        hit = self._core.run_cache(tier.lookup((prep,)), [NOT_CACHED])[0]
        if hit is not NOT_CACHED:
            result = self._decode(prep, hit, decode)
            if result is not NOT_CACHED:
                self._hit(prep, hit, started)
                flight.duration = hit[1]
                flight.make = self._from_hit(hit[0], decode)
                return result
            self._core.run_cache(_one(KvDelete(tier.namespace, TABLE, (prep.key,))), 0)
        tier.counters.add(prep.tool, "misses")
        started = time.perf_counter()
        try:
            result = compute()
        except Exception as exc:
            tier.counters.add(prep.tool, "errors")
            flight.error = exc
            raise
        except BaseException:
            flight.retry = True
            raise
        duration = time.perf_counter() - started
        flight.duration = duration
        raw = None
        if cacheable is None or cacheable(result):
            raw = self._encode(prep.tool, result, duration, encode)
            if raw is not None:
                self._core.run_cache(tier.store(((prep, raw),)), None)
        flight.make = self._from_raw(raw, result, decode)
        return result

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
    ) -> Any:
        """The cached result, or `NOT_CACHED` (counts a hit or a miss)."""
        prep = self._prepare(tool, arguments, policy, scope, run_id, exclude)
        if prep is None:
            self._tier.counters.add(tool, "bypassed")
            return NOT_CACHED
        started = time.perf_counter()
        hit = self._core.run_cache(self._tier.lookup((prep,)), [NOT_CACHED])[0]
        result = NOT_CACHED if hit is NOT_CACHED else self._decode(prep, hit, decode)
        if result is NOT_CACHED:
            self._tier.counters.add(tool, "misses")
        else:
            self._hit(prep, hit, started)
        return result

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
    ) -> bool:
        """Store a result computed elsewhere (a fully consumed generator); ``False`` if not stored."""
        prep = self._prepare(tool, arguments, policy, scope, run_id, exclude)
        if prep is None:
            return False
        raw = self._encode(tool, result, duration, encode)
        if raw is None:
            return False
        self._core.run_cache(self._tier.store(((prep, raw),)), None)
        return True

    def call_batch(
        self,
        tool: str,
        items: Sequence[Mapping[str, Any]],
        compute_missing: Callable[[list[int]], Sequence[Any]],
        *,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        run_id: str | None = None,
        exclude: Sequence[str] = (),
    ) -> list[Any]:
        """Results for every item's arguments; ``compute_missing(indices)`` computes only the missing ones (each
        distinct key once) and returns their results in the order of ``indices``."""
        preps = [self._prepare(tool, a, policy, scope, run_id, exclude) for a in items]
        plan = BatchPlan(self, tool, preps)
        if plan.uncached:
            return plan.all_computed(compute_missing(list(range(len(items)))))
        plan.apply_hits(self._core.run_cache(self._tier.lookup(plan.calls), [NOT_CACHED] * len(items)))
        if plan.missing:
            started = time.perf_counter()
            computed = compute_missing(list(plan.missing))
            entries = plan.fill(computed, time.perf_counter() - started)
            self._core.run_cache(self._tier.store(entries), None)
        return plan.results

    def invalidate(
        self, tool: str | None = None, *, arguments: Mapping[str, Any] | None = None, scope: str | None = None
    ) -> int:
        """Delete cached results of ``tool`` (all tools if ``None``) whose arguments include ``arguments``, in
        ``scope`` and the scopes nested in it (all scopes if ``None``). Returns how many were deleted."""
        return int(self._core.run(self._tier.invalidate(tool, arguments=arguments, scope=scope)))

    def record_write(self, tool: str, arguments: Mapping[str, Any]) -> int:
        """Apply the invalidation rules of write tool ``tool`` (``call`` does this itself for write tools)."""
        return int(self._core.run_cache(self._tier.after_write(tool, arguments), 0))

    def clear(self) -> int:
        """Delete every cached tool result of this namespace."""
        return int(self._core.run(_one(KvDeleteWhere(self._tier.namespace, TABLE))))


class AsyncToolsAPI(ToolCalls):
    """Awaitable access to the tool tier; the same operations as `ToolsAPI`."""

    async def call(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        compute: Callable[[], Awaitable[Any]],
        *,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        run_id: str | None = None,
        exclude: Sequence[str] = (),
        encode: Encode | None = None,
        decode: Decode | None = None,
        cacheable: Cacheable | None = None,
        version: str | None = None,
    ) -> Any:
        tier = self._tier
        prep = self._prepare(tool, arguments, policy, scope, run_id, exclude, version)
        if prep is None:
            tier.counters.add(tool, "bypassed")
            try:
                return await compute()
            finally:
                if tier.is_writer(tool):
                    await self.record_write(tool, arguments)
        while True:
            fut, leader = tier.flights.ajoin(prep.key)
            if leader:
                break
            started = time.perf_counter()
            outcome = await asyncio.shield(fut)
            if outcome is _RETRY:
                continue
            kind, payload, duration = outcome
            if kind == "error":
                raise payload
            tier.counters.add(tool, "hits", saved=duration - (time.perf_counter() - started))
            tier.counters.add(tool, "coalesced")
            return payload()
        try:
            return await self._lead(prep, fut, compute, encode, decode, cacheable)
        finally:
            tier.flights.afinish(prep.key, fut)
            if not fut.done():
                fut.set_result(_RETRY)

    async def _lead(
        self,
        prep: PreparedCall,
        fut: asyncio.Future[Any],
        compute: Callable[[], Awaitable[Any]],
        encode: Encode | None,
        decode: Decode | None,
        cacheable: Cacheable | None,
    ) -> Any:
        tier = self._tier
        started = time.perf_counter()
        hit = (await self._core.arun_cache(tier.lookup((prep,)), [NOT_CACHED]))[0]
        if hit is not NOT_CACHED:
            result = self._decode(prep, hit, decode)
            if result is not NOT_CACHED:
                self._hit(prep, hit, started)
                fut.set_result(("ok", self._from_hit(hit[0], decode), hit[1]))
                return result
            await self._core.arun_cache(_one(KvDelete(tier.namespace, TABLE, (prep.key,))), 0)
        tier.counters.add(prep.tool, "misses")
        started = time.perf_counter()
        try:
            result = await compute()
        except Exception as exc:
            tier.counters.add(prep.tool, "errors")
            fut.set_result(("error", exc, 0.0))
            raise
        duration = time.perf_counter() - started
        raw = None
        if cacheable is None or cacheable(result):
            raw = self._encode(prep.tool, result, duration, encode)
            if raw is not None:
                await self._core.arun_cache(tier.store(((prep, raw),)), None)
        fut.set_result(("ok", self._from_raw(raw, result, decode), duration))
        return result

    async def lookup(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        run_id: str | None = None,
        exclude: Sequence[str] = (),
        decode: Decode | None = None,
    ) -> Any:
        prep = self._prepare(tool, arguments, policy, scope, run_id, exclude)
        if prep is None:
            self._tier.counters.add(tool, "bypassed")
            return NOT_CACHED
        started = time.perf_counter()
        hit = (await self._core.arun_cache(self._tier.lookup((prep,)), [NOT_CACHED]))[0]
        result = NOT_CACHED if hit is NOT_CACHED else self._decode(prep, hit, decode)
        if result is NOT_CACHED:
            self._tier.counters.add(tool, "misses")
        else:
            self._hit(prep, hit, started)
        return result

    async def store(
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
    ) -> bool:
        prep = self._prepare(tool, arguments, policy, scope, run_id, exclude)
        if prep is None:
            return False
        raw = self._encode(tool, result, duration, encode)
        if raw is None:
            return False
        await self._core.arun_cache(self._tier.store(((prep, raw),)), None)
        return True

    async def call_batch(
        self,
        tool: str,
        items: Sequence[Mapping[str, Any]],
        compute_missing: Callable[[list[int]], Awaitable[Sequence[Any]]],
        *,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        run_id: str | None = None,
        exclude: Sequence[str] = (),
    ) -> list[Any]:
        preps = [self._prepare(tool, a, policy, scope, run_id, exclude) for a in items]
        plan = BatchPlan(self, tool, preps)
        if plan.uncached:
            return plan.all_computed(await compute_missing(list(range(len(items)))))
        plan.apply_hits(await self._core.arun_cache(self._tier.lookup(plan.calls), [NOT_CACHED] * len(items)))
        if plan.missing:
            started = time.perf_counter()
            computed = await compute_missing(list(plan.missing))
            entries = plan.fill(computed, time.perf_counter() - started)
            await self._core.arun_cache(self._tier.store(entries), None)
        return plan.results

    async def invalidate(
        self, tool: str | None = None, *, arguments: Mapping[str, Any] | None = None, scope: str | None = None
    ) -> int:
        return int(await self._core.arun(self._tier.invalidate(tool, arguments=arguments, scope=scope)))

    async def record_write(self, tool: str, arguments: Mapping[str, Any]) -> int:
        return int(await self._core.arun_cache(self._tier.after_write(tool, arguments), 0))

    async def clear(self) -> int:
        return int(await self._core.arun(_one(KvDeleteWhere(self._tier.namespace, TABLE))))
