"""The parts of a tool call through the engine that do not wait, shared by the blocking and the awaitable API:
key preparation, encoding and decoding results, counting, and the plan of a batch call (which items are hits,
which distinct keys must be computed)."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from ..tiers.tool_annotations import policy_for_annotated
from ..tiers.tools import (
    NOT_CACHED,
    PreparedCall,
    ToolPolicy,
    ToolsStats,
    ToolTier,
    decode_result,
    encode_result,
)
from .views import View

__all__ = ["BatchPlan", "Cacheable", "Decode", "Encode", "ToolCalls"]

logger = logging.getLogger(__name__)

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]
Cacheable = Callable[[Any], bool]


class ToolCalls(View):
    """The parts of a call that do not wait: key preparation, encoding, decoding and counting."""

    @property
    def _tier(self) -> ToolTier:
        return self._core.tools  # type: ignore[no-any-return]

    def policy(self, tool: str) -> ToolPolicy | None:
        """The policy the engine's configuration gives ``tool`` (``None``: not cached)."""
        return self._tier.policy_for(tool)

    def check_wrapped(self, tool: str, explicit: ToolPolicy | None) -> None:
        """Framework wrappers call this once per wrapped tool: caching is opt-in per tool, so a tool wrapped with
        no policy from anywhere runs uncached on every call. That is easy to miss (``cache_tools([...])`` alone
        caches nothing), so it is logged once per tool and engine."""
        if explicit is None and not self._tier.configured(tool):
            self._tier.warn_once(
                f"no-policy:{tool}",
                "tool %r is wrapped for caching but no ToolPolicy applies to it, so every call runs the tool: "
                "pass policies={%r: ToolPolicy(ttl=...)} to cache_tools (policy= to LixCachedTool), or name it "
                "in the engine's ToolsConfig(tools=...)",
                tool,
                tool,
            )

    def policy_for_annotated(
        self,
        tool: str,
        metadata: Mapping[str, Any] | None,
        *,
        explicit: ToolPolicy | None = None,
        read_only: ToolPolicy | None = None,
    ) -> ToolPolicy | None:
        """The policy for a tool carrying MCP-style hints (see `tool_annotations`)."""
        return policy_for_annotated(self._tier, tool, metadata, explicit=explicit, read_only=read_only)

    def stats(self) -> ToolsStats:
        return self._tier.counters.snapshot()

    def reset_stats(self) -> None:
        self._tier.counters.reset()

    def _prepare(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        policy: ToolPolicy | None,
        scope: str | None,
        run_id: str | None,
        exclude: Sequence[str],
        version: str | None = None,
    ) -> PreparedCall | None:
        return self._tier.prepare(
            tool, arguments, policy=policy, scope=scope, run_id=run_id, exclude=exclude, version=version
        )

    def _encode(self, tool: str, value: Any, duration: float, encode: Encode | None) -> bytes | None:
        try:
            return encode_result(
                encode(value) if encode is not None else value, duration, self._tier.config.max_result_bytes
            )
        except Exception as exc:  # an unstorable result is returned, just not cached
            self._tier.count(tool, "not_stored")
            self._tier.warn_once(
                f"encode:{tool}", "result of tool %r is returned but not cached: %s", tool, exc
            )
            return None

    def _decode(self, prep: PreparedCall, hit: Any, decode: Decode | None) -> Any:
        """The caller's copy of a cached value, or NOT_CACHED when the adapter cannot rebuild it."""
        value, _ = hit
        if decode is None:
            return value
        try:
            return decode(value)
        except Exception as exc:
            self._tier.warn_once(
                f"decode:{prep.tool}", "cached result of tool %r unreadable: %s", prep.tool, exc
            )
            return NOT_CACHED

    @staticmethod
    def _from_raw(raw: bytes | None, value: Any, decode: Decode | None) -> Callable[[], Any]:
        """How each waiter of a single flight gets its own copy (not an object another caller may mutate):
        decoded again from the stored bytes; a result that was not stored can only be shared."""
        if raw is None:
            return lambda: value

        def make() -> Any:
            fresh = decode_result(raw)[0]
            return decode(fresh) if decode is not None else fresh

        return make

    @staticmethod
    def _from_hit(stored: Any, decode: Decode | None) -> Callable[[], Any]:
        def make() -> Any:
            fresh = copy.deepcopy(stored)
            return decode(fresh) if decode is not None else fresh

        return make

    def _hit(self, prep: PreparedCall, hit: Any, started: float) -> None:
        self._tier.count(prep.tool, "hits", saved=hit[1] - (time.perf_counter() - started))


class BatchPlan:
    """Which items of a batch are hits, which distinct keys must be computed, and the results in order."""

    def __init__(self, api: ToolCalls, tool: str, preps: list[PreparedCall | None]) -> None:
        self._api = api
        self._tool = tool
        self._n = len(preps)
        self.uncached = any(p is None for p in preps)
        self.calls: list[PreparedCall] = [p for p in preps if p is not None]
        self.results: list[Any] = [None] * self._n
        self.missing: list[int] = []
        self._duplicates: list[tuple[int, int]] = []
        self._started = time.perf_counter()

    def all_computed(self, computed: Sequence[Any]) -> list[Any]:
        self._check(computed, self._n)
        self._api._tier.count(self._tool, "bypassed", self._n)
        return list(computed)

    def _check(self, computed: Sequence[Any], expected: int) -> None:
        if len(computed) != expected:
            raise InvalidInputError(
                f"batch function of tool {self._tool!r} returned {len(computed)} results for {expected} items"
            )

    def apply_hits(self, hits: list[Any]) -> None:
        tier = self._api._tier
        first: dict[str, int] = {}
        for i, (prep, hit) in enumerate(zip(self.calls, hits)):
            if hit is not NOT_CACHED:
                value = self._api._decode(prep, hit, None)
                self.results[i] = value
                self._api._hit(prep, hit, self._started)
                continue
            if prep.key in first:
                self._duplicates.append((i, first[prep.key]))
                continue
            first[prep.key] = i
            self.missing.append(i)
        if self.missing:
            tier.count(self._tool, "misses", len(self.missing))
        if self._duplicates:
            tier.count(self._tool, "hits", len(self._duplicates))
            tier.count(self._tool, "coalesced", len(self._duplicates))

    def fill(self, computed: Sequence[Any], duration: float) -> list[tuple[PreparedCall, bytes]]:
        self._check(computed, len(self.missing))
        share = duration / max(len(self.missing), 1)
        entries: list[tuple[PreparedCall, bytes]] = []
        raws: dict[int, bytes | None] = {}
        for index, value in zip(self.missing, computed):
            self.results[index] = value
            raw = raws[index] = self._api._encode(self._tool, value, share, None)
            if raw is not None:
                entries.append((self.calls[index], raw))
        for index, source in self._duplicates:  # its own copy where one can be made
            self.results[index] = self._api._from_raw(raws[source], self.results[source], None)()
        return entries
