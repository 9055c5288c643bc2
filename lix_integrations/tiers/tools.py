"""The tool tier: results of agent tools and plain functions, cached only where that is safe.

Policy, in the order a call meets it:

* **Opt-in.** A tool is cached only when enabled, by name (``ToolsConfig(tools=...)``), by a glob rule
  (``rules=(("read_*", ToolPolicy(ttl=60)),)``) or by an explicit policy (the ``@memoize`` decorator). A tool named
  as the writer of an `InvalidationRule` is never cached, whatever a rule says: serving a write from cache
  would silently skip it.
* **Key.** ``<scope>//<digest(tool name, canonical JSON of the arguments)>``. The canonical form sorts keys,
  writes ``1`` and ``1.0`` (and ``-0.0`` and ``0.0``) the same, NFC-normalizes every string, turns tuples into
  lists, and refuses anything JSON cannot express exactly (sets, bytes, NaN, objects) with an
  `InvalidInputError` that names the argument. Hashing ``repr`` instead would give
  two equal calls different keys (dict order, ``1`` vs ``1.0``) or two different calls the same one (objects whose
  repr hides state).
* **Scope.** ``session`` (default): the caller's fixed scope nested with any ``lix_scope(...)`` block, like the
  semantic tier. ``global``: the fixed scope only, shared by every request scope (public data such as a web
  search). ``run``: the session scope plus the run id from `tool_run` or ``run_id=``; without a run id the
  call is not cached (serving it across runs is exactly what the policy forbids).
* **Values.** JSON: an envelope ``{"v": 1, "t": "json"|"tuple", "r": result, "d": seconds}``. The envelope makes
  a stored ``None`` a hit (the lookup answers `NOT_CACHED` for a miss) and keeps a top-level tuple a tuple
  (LangChain's ``content_and_artifact`` tools return one); nested tuples come back as lists. A result JSON cannot
  hold, or one over ``max_result_bytes``, is **returned but not stored**, with a warning logged once per tool: a
  cache must never make a tool call fail that would have succeeded without it. Nothing is ever pickled.
* **Errors** (exceptions) are never stored.
* **Invalidation.** Entries carry tags: ``t=<tool>`` and, per argument, ``a=<digest(name, canonical value)>``,
  so ``file_write(path=X)`` deletes exactly the ``file_read`` entries with ``path=X`` in one
  ``KvDeleteWhere``. A write invalidates across **all scopes**: it changed the world, not one user's view of it.
  Invalidation runs after the write returns or raises (a failed write may have written half).
"""

from __future__ import annotations

import contextvars
import fnmatch
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..config.tools import (
    DEFAULT_MAX_RESULT_BYTES,
    InvalidationRule,
    ToolPolicy,
    ToolsConfig,
    ToolScope,
    validate_tool_name,
)
from ..errors import InvalidInputError, SerializationError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet
from ..kernel.flows import Flow
from ..kernel.keys import digest
from ..kernel.ops import KvDelete, KvDeleteWhere, KvGet, KvItem, KvPut
from ..kernel.scope import UNSCOPED, resolve_scope, scope_key, validate_scope_part
from .tier import Tier
from .tool_flights import SingleFlight
from .tool_stats import TOOL_COUNTERS, ToolsStats, ToolStats
from .tool_values import (
    NOT_CACHED,
    arg_tag,
    canonical_arguments,
    canonical_json,
    decode_result,
    encode_result,
    tool_tag,
)

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "NOT_CACHED",
    "TABLE",
    "InvalidationRule",
    "PreparedCall",
    "TOOL_COUNTERS",
    "ToolPolicy",
    "ToolScope",
    "ToolStats",
    "ToolTier",
    "ToolsConfig",
    "ToolsStats",
    "canonical_arguments",
    "canonical_json",
    "current_run",
    "decode_result",
    "encode_result",
    "tool_run",
]

logger = logging.getLogger(__name__)

TABLE = "tools"
_ENVELOPE_VERSION = 1


# -- run ids ------------------------------------------------------------------------------------------------------

_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("lix_tool_run", default=None)


@contextmanager
def tool_run(run_id: str) -> Iterator[str]:
    """Mark the block as one agent run: tools with ``scope="run"`` share results inside it only."""
    validate_scope_part(run_id)
    token = _run_id.set(run_id)
    try:
        yield run_id
    finally:
        _run_id.reset(token)


def current_run() -> str | None:
    return _run_id.get()


# -- statistics -----------------------------------------------------------------------------------------------


# -- single flight ------------------------------------------------------------------------------------------------


# -- the tier ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A cacheable call with its key derived; pure, tested without a backend."""

    tool: str
    scope: str
    key: str
    arguments: dict[str, Any]  # canonical
    ttl: float | None

    @property
    def tags(self) -> tuple[str, ...]:
        """Invalidation tags, derived only when the result is stored (a hit never needs them)."""
        return (
            tool_tag(self.tool),
            *(arg_tag(name, value) for name, value in sorted(self.arguments.items())),
        )


class ToolTier(Tier[ToolsConfig, ToolsStats]):
    """Policy of the tool tier; methods returning ``Flow`` are run by the engine's drivers."""

    def __init__(
        self, config: ToolsConfig, namespace: str, clock: Clock, counters: CounterSet[ToolsStats]
    ) -> None:
        super().__init__(config, namespace, clock, counters)
        self.flights = SingleFlight()
        self._writers: dict[str, list[InvalidationRule]] = {}
        for rule in config.invalidations:
            self._writers.setdefault(rule.writer, []).append(rule)
        self._warned: set[str] = set()
        self._warned_lock = threading.Lock()

    def count(self, tool: str, name: str, amount: int = 1, *, saved: float = 0.0) -> None:
        """Count ``amount`` under ``name`` for ``tool``; ``saved`` (seconds a served result saved) if positive."""
        self.counters.add(name, amount, label=tool)
        if saved > 0:
            self.counters.add("time_saved_s", saved, label=tool)

    # -- policy ---------------------------------------------------------------------------------------------

    def is_writer(self, tool: str) -> bool:
        return tool in self._writers

    def configured(self, tool: str) -> bool:
        """Whether the configuration says anything of ``tool``: a policy (enabled or not), a rule, a write."""
        return (
            tool in self._writers
            or tool in self.config.policies
            or any(fnmatch.fnmatchcase(tool, pattern) for pattern, _ in self.config.rules)
        )

    def policy_for(self, tool: str, explicit: ToolPolicy | None = None) -> ToolPolicy | None:
        """The policy that applies to ``tool``, or ``None`` when it must not be cached."""
        if tool in self._writers:
            return None
        policy = explicit
        if policy is None:
            policy = self.config.policies.get(tool)
        if policy is None:
            for pattern, rule_policy in self.config.rules:
                if fnmatch.fnmatchcase(tool, pattern):
                    policy = rule_policy
                    break
        if policy is None or not policy.enabled:
            return None
        return policy

    def scope_for(self, policy: ToolPolicy, fixed: str | None, run_id: str | None) -> str | None:
        if policy.scope is ToolScope.GLOBAL:
            return scope_key(fixed) if fixed is not None else UNSCOPED
        scope = resolve_scope(fixed)
        if policy.scope is ToolScope.RUN:
            run = run_id if run_id is not None else current_run()
            if run is None:
                return None
            scope = f"{scope}/run:{validate_scope_part(run)}"
        return scope

    def prepare(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        run_id: str | None = None,
        exclude: Sequence[str] = (),
        version: str | None = None,
    ) -> PreparedCall | None:
        """Key and tags of a call, or ``None`` when the call must run uncached (disabled, writer, no run id).

        ``version`` (a digest of the tool's schema, say) is part of the key when given."""
        validate_tool_name(tool)
        resolved = self.policy_for(tool, policy)
        if resolved is None:
            return None
        where = self.scope_for(resolved, scope, run_id)
        if where is None:
            self.warn_once(f"run:{tool}", "tool %r has scope='run' but no run id is set; not cached", tool)
            return None
        canon = canonical_arguments(arguments, (*resolved.exclude, *exclude))
        named = tool if version is None else f"{tool}\x00{version}"
        key = f"{where}//{digest('tool', named, canonical_json(canon))}"
        return PreparedCall(tool=tool, scope=where, key=key, arguments=canon, ttl=resolved.ttl)

    def warn_once(self, what: str, message: str, *args: Any) -> None:
        with self._warned_lock:
            if what in self._warned:
                return
            self._warned.add(what)
        logger.warning(message, *args)

    # -- flows ----------------------------------------------------------------------------------------------

    def lookup(self, calls: Sequence[PreparedCall]) -> Flow[list[tuple[Any, float] | Any]]:
        """Per call ``(result, original seconds)`` or `NOT_CACHED`; unreadable entries are deleted."""
        if not calls:
            return []
        raws: list[bytes | None] = yield KvGet(
            self.namespace, TABLE, tuple(c.key for c in calls), self.clock.now()
        )
        out: list[Any] = []
        bad: list[str] = []
        for call, raw in zip(calls, raws):
            if raw is None:
                out.append(NOT_CACHED)
                continue
            try:
                out.append(decode_result(raw))
            except SerializationError as exc:
                logger.warning("dropping unreadable cached result of tool %r: %s", call.tool, exc)
                bad.append(call.key)
                out.append(NOT_CACHED)
        if bad:
            yield KvDelete(self.namespace, TABLE, tuple(bad))
        return out

    def store(self, entries: Sequence[tuple[PreparedCall, bytes]]) -> Flow[None]:
        if not entries:
            return None
        now = self.clock.now()
        items = tuple(
            KvItem(call.key, raw, expires_at=None if call.ttl is None else now + call.ttl, tags=call.tags)
            for call, raw in entries
        )
        yield KvPut(self.namespace, TABLE, items, now)
        return None

    def invalidate(
        self,
        tool: str | None = None,
        *,
        arguments: Mapping[str, Any] | None = None,
        scope: str | None = None,
    ) -> Flow[int]:
        """Delete entries of ``tool`` (any tool if ``None``) whose arguments include ``arguments`` (a subset,
        compared in canonical form), in ``scope`` and the scopes nested in it (every scope if ``None``)."""
        tags: list[str] = []
        if tool is not None:
            tags.append(tool_tag(validate_tool_name(tool)))
        if arguments:
            canon = canonical_arguments(arguments)
            tags.extend(arg_tag(name, value) for name, value in sorted(canon.items()))
        prefix = ""
        if scope is not None:
            prefix = scope_key(scope) + "/"  # the stored form: "global" never means the unscoped entries
        deleted: int = yield KvDeleteWhere(self.namespace, TABLE, prefix=prefix, tags=tuple(tags))
        if tool is not None and deleted:
            self.count(tool, "invalidated", deleted)
        return deleted

    def after_write(self, writer: str, arguments: Mapping[str, Any]) -> Flow[int]:
        """Apply the invalidation rules of ``writer`` for one call with these arguments."""
        total = 0
        for rule in self._writers.get(writer, ()):
            subset: dict[str, Any] | None = {}
            for writer_arg, reader_arg in rule.pairs:
                if writer_arg not in arguments:
                    subset = None
                    break
                assert subset is not None
                subset[reader_arg] = arguments[writer_arg]
            if subset is not None:
                try:
                    canonical_arguments(subset)
                except InvalidInputError as exc:
                    logger.warning("write %r: %s; clearing every entry of %s", writer, exc, rule.clears)
                    subset = None
            for reader in rule.clears:
                total += yield from self.invalidate(reader, arguments=subset or None)
        return total
