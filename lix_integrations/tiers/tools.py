"""The tool tier: results of agent tools and plain functions, cached only where that is safe.

Policy, in the order a call meets it:

* **Opt-in.** A tool is cached only when enabled, by name (``ToolsConfig(tools=...)``), by a glob rule
  (``rules=(("read_*", ToolPolicy(ttl=60)),)``) or by an explicit policy (the ``@memoize`` decorator). A tool named
  as the writer of an :class:`InvalidationRule` is never cached, whatever a rule says: serving a write from cache
  would silently skip it.
* **Key.** ``<scope>//<digest(tool name, canonical JSON of the arguments)>``. The canonical form sorts keys,
  writes ``1`` and ``1.0`` (and ``-0.0`` and ``0.0``) the same, NFC-normalizes every string, turns tuples into
  lists, and refuses anything JSON cannot express exactly (sets, bytes, NaN, objects) with an
  :class:`~lix_integrations.errors.InvalidInputError` that names the argument. Hashing ``repr`` instead would give
  two equal calls different keys (dict order, ``1`` vs ``1.0``) or two different calls the same one (objects whose
  repr hides state).
* **Scope.** ``session`` (default): the caller's fixed scope nested with any ``lix_scope(...)`` block, like the
  semantic tier. ``global``: the fixed scope only, shared by every request scope (public data such as a web
  search). ``run``: the session scope plus the run id from :func:`tool_run` or ``run_id=``; without a run id the
  call is not cached (serving it across runs is exactly what the policy forbids).
* **Values.** JSON: an envelope ``{"v": 1, "t": "json"|"tuple", "r": result, "d": seconds}``. The envelope makes
  a stored ``None`` a hit (the lookup answers :data:`NOT_CACHED` for a miss) and keeps a top-level tuple a tuple
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

import asyncio
import contextvars
import fnmatch
import json
import logging
import math
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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
from ..kernel.flows import Flow
from ..kernel.keys import digest
from ..kernel.ops import KvDelete, KvDeleteWhere, KvGet, KvItem, KvPut
from ..kernel.scope import UNSCOPED, resolve_scope, scope_key, validate_scope_part

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "NOT_CACHED",
    "TABLE",
    "InvalidationRule",
    "PreparedCall",
    "ToolCounters",
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


class _NotCached:
    """The type of :data:`NOT_CACHED`; one instance, compared with ``is``."""

    _instance: _NotCached | None = None

    def __new__(cls) -> _NotCached:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_CACHED"


#: What a lookup returns for a miss, so a tool that returned ``None`` is still a hit.
NOT_CACHED: Any = _NotCached()


# -- policy -----------------------------------------------------------------------------------------------------


# -- canonical arguments ----------------------------------------------------------------------------------------


def _canonical(value: Any, path: str) -> Any:
    """A JSON value equal for equal arguments: the heart of the key. ``path`` names the argument in errors."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return unicodedata.normalize("NFC", str.__str__(value))
    if isinstance(value, bool):  # a bool subclass that is not True/False: not JSON
        raise InvalidInputError(f"argument {path!r}: {type(value).__name__} is not JSON-representable")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"argument {path!r} is {value!r}; NaN and infinity cannot be cache keys")
        if value == 0.0:
            return 0
        if value.is_integer():
            return int(value)
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(
                    f"argument {path!r} has a {type(key).__name__} key {key!r}; JSON objects take string keys"
                )
            norm = unicodedata.normalize("NFC", str.__str__(key))
            if norm in out:
                raise InvalidInputError(
                    f"argument {path!r} has two keys equal to {norm!r} after normalization"
                )
            out[norm] = _canonical(item, f"{path}.{norm}")
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise InvalidInputError(
        f"argument {path!r} of type {type(value).__name__} is not JSON-representable; convert it to "
        "str/int/float/bool/None/list/dict or exclude it from the key"
    )


def canonical_arguments(arguments: Mapping[str, Any], exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The arguments in canonical form, the ``exclude`` names left out."""
    if not isinstance(arguments, Mapping):
        raise InvalidInputError(
            f"tool arguments must be a mapping of name -> value, got {type(arguments).__name__}"
        )
    skip = set(exclude)
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        if not isinstance(name, str):
            raise InvalidInputError(f"argument names must be strings, got {name!r}")
        if name in skip:
            continue
        out[unicodedata.normalize("NFC", name)] = _canonical(value, name)
    return out


def canonical_json(value: Any) -> str:
    """Deterministic JSON text of an already canonical value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _tool_tag(tool: str) -> str:
    return f"t={tool}"


def _arg_tag(name: str, canonical_value: Any) -> str:
    # Not tool-specific, so a writer's argument matches a reader's argument of another tool.
    return "a=" + digest("arg", name, canonical_json(canonical_value))


# -- result encoding ----------------------------------------------------------------------------------------------


def _check_keys(value: Any, depth: int = 0) -> None:
    """``json`` would turn ``{1: x}`` into ``{"1": x}`` silently; a hit must not change a result's keys."""
    if depth > 200:
        raise ValueError("result is nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"result has a {type(key).__name__} dict key {key!r}; JSON keys are strings")
            _check_keys(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_keys(item, depth + 1)


def encode_result(value: Any, duration: float, max_bytes: int) -> bytes:
    """The stored envelope; raises ``TypeError``/``ValueError`` for a value JSON cannot hold exactly."""
    _check_keys(value)
    kind = "tuple" if isinstance(value, tuple) else "json"
    body = list(value) if kind == "tuple" else value
    text = json.dumps(
        {"v": _ENVELOPE_VERSION, "t": kind, "r": body, "d": round(max(duration, 0.0), 6)},
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    raw = text.encode("utf-8")
    if len(raw) > max_bytes:
        raise ValueError(f"result is {len(raw)} bytes, over max_result_bytes={max_bytes}")
    return raw


def decode_result(raw: bytes) -> tuple[Any, float]:
    """(result, seconds the original call took) from a stored envelope; ``SerializationError`` if malformed."""
    try:
        env = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SerializationError(f"stored tool result is not JSON: {exc}") from None
    if (
        not isinstance(env, dict)
        or env.get("v") != _ENVELOPE_VERSION
        or env.get("t") not in ("json", "tuple")
    ):
        raise SerializationError("stored tool result has an unknown envelope")
    duration = env.get("d", 0.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        duration = 0.0
    body = env.get("r")
    if env["t"] == "tuple":
        if not isinstance(body, list):
            raise SerializationError("stored tuple result is not a list")
        body = tuple(body)
    return body, float(duration)


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


@dataclass(frozen=True)
class ToolStats:
    """Counters of one tool in this process. ``coalesced``: calls that waited for an identical call in flight
    instead of running (also counted in ``hits``). ``time_saved_s``: run time of the served results minus
    the time spent looking them up."""

    hits: int = 0
    misses: int = 0
    bypassed: int = 0
    errors: int = 0
    not_stored: int = 0
    coalesced: int = 0
    invalidated: int = 0
    time_saved_s: float = 0.0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "bypassed": self.bypassed,
            "errors": self.errors,
            "not_stored": self.not_stored,
            "coalesced": self.coalesced,
            "invalidated": self.invalidated,
            "time_saved_s": self.time_saved_s,
            "hit_rate": self.hit_rate,
        }


@dataclass(frozen=True)
class ToolsStats:
    """A snapshot of the tool tier's counters, per tool name."""

    tools: dict[str, ToolStats] = field(default_factory=dict)

    @property
    def hits(self) -> int:
        return sum(s.hits for s in self.tools.values())

    @property
    def misses(self) -> int:
        return sum(s.misses for s in self.tools.values())

    @property
    def time_saved_s(self) -> float:
        return sum(s.time_saved_s for s in self.tools.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "time_saved_s": self.time_saved_s,
            "tools": {name: s.to_dict() for name, s in sorted(self.tools.items())},
        }


class ToolCounters:
    """Thread-safe per-tool counters."""

    _FIELDS = ("hits", "misses", "bypassed", "errors", "not_stored", "coalesced", "invalidated")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, float]] = {}

    def add(self, tool: str, name: str, amount: int = 1, *, saved: float = 0.0) -> None:
        with self._lock:
            counts = self._counts.get(tool)
            if counts is None:
                counts = self._counts[tool] = dict.fromkeys((*self._FIELDS, "time_saved_s"), 0)
            counts[name] += amount
            if saved > 0:
                counts["time_saved_s"] += saved

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> ToolsStats:
        with self._lock:
            copied = {tool: dict(c) for tool, c in self._counts.items()}
        return ToolsStats(
            {
                tool: ToolStats(
                    **{name: int(c[name]) for name in self._FIELDS}, time_saved_s=float(c["time_saved_s"])
                )
                for tool, c in copied.items()
            }
        )


# -- single flight ------------------------------------------------------------------------------------------------


class _Flight:
    """One in-flight call that identical threaded calls wait for."""

    __slots__ = ("done", "duration", "error", "make", "retry")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.make: Callable[[], Any] = lambda: None  # gives each waiter its own copy of the result
        self.duration = 0.0
        self.error: BaseException | None = None
        self.retry = False  # the leader was interrupted (not failed): waiters run the call themselves


class _SingleFlight:
    """Per-key registries: threads wait on an event, tasks on a future of their own event loop.

    Thread and task callers do not wait for each other (a future cannot be awaited from another loop, and an
    event cannot be awaited without blocking one), so a sync and an async caller may both run the tool once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[str, _Flight] = {}
        self._tasks: dict[str, asyncio.Future[Any]] = {}

    def join(self, key: str) -> tuple[_Flight, bool]:
        """(flight, is_leader)."""
        with self._lock:
            flight = self._threads.get(key)
            if flight is not None:
                return flight, False
            flight = self._threads[key] = _Flight()
            return flight, True

    def finish(self, key: str, flight: _Flight) -> None:
        with self._lock:
            if self._threads.get(key) is flight:
                del self._threads[key]
        flight.done.set()

    def ajoin(self, key: str) -> tuple[asyncio.Future[Any], bool]:
        loop = asyncio.get_running_loop()
        with self._lock:
            fut = self._tasks.get(key)
            if fut is not None and not fut.done() and fut.get_loop() is loop:
                return fut, False
            fut = self._tasks[key] = loop.create_future()
            return fut, True

    def afinish(self, key: str, fut: asyncio.Future[Any]) -> None:
        with self._lock:
            if self._tasks.get(key) is fut:
                del self._tasks[key]


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
            _tool_tag(self.tool),
            *(_arg_tag(name, value) for name, value in sorted(self.arguments.items())),
        )


class ToolTier:
    """Policy of the tool tier; methods returning ``Flow`` are run by the engine's drivers."""

    def __init__(self, config: ToolsConfig, clock: Clock, namespace: str) -> None:
        self.config = config
        self._clock = clock
        self.namespace = namespace
        self.counters = ToolCounters()
        self.flights = _SingleFlight()
        self._writers: dict[str, list[InvalidationRule]] = {}
        for rule in config.invalidations:
            self._writers.setdefault(rule.writer, []).append(rule)
        self._warned: set[str] = set()
        self._warned_lock = threading.Lock()

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
        """Per call ``(result, original seconds)`` or :data:`NOT_CACHED`; unreadable entries are deleted."""
        if not calls:
            return []
        raws: list[bytes | None] = yield KvGet(
            self.namespace, TABLE, tuple(c.key for c in calls), self._clock.now()
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
        now = self._clock.now()
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
            tags.append(_tool_tag(validate_tool_name(tool)))
        if arguments:
            canon = canonical_arguments(arguments)
            tags.extend(_arg_tag(name, value) for name, value in sorted(canon.items()))
        prefix = ""
        if scope is not None:
            prefix = scope_key(scope) + "/"  # the stored form: "global" never means the unscoped entries
        deleted: int = yield KvDeleteWhere(self.namespace, TABLE, prefix=prefix, tags=tuple(tags))
        if tool is not None and deleted:
            self.counters.add(tool, "invalidated", deleted)
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
