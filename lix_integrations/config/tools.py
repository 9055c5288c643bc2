"""Configuration of the tool tier: which tools are cached, how, and which writes clear which reads.

It lives here, below the tiers, so `EngineConfig` can hold it without importing
the tier (``lix_integrations.tiers.tools`` re-exports every name).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, InvalidIdError

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "InvalidationRule",
    "ToolPolicy",
    "ToolScope",
    "ToolsConfig",
    "validate_tool_name",
]

DEFAULT_MAX_RESULT_BYTES = 1024 * 1024
_MAX_NAME = 256


class ToolScope(str, enum.Enum):
    """How far a cached result is shared (see the module docstring)."""

    GLOBAL = "global"
    SESSION = "session"
    RUN = "run"


def _check_ttl(ttl: object, what: str) -> None:
    if ttl is not None and (
        isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or math.isinf(ttl)
    ):
        raise ConfigError(f"{what} must be a positive number of seconds or None, got {ttl!r}")


def validate_tool_name(name: object) -> str:
    """Tool names become tags and statistics keys: non-empty, bounded, no control characters."""
    if not isinstance(name, str) or not name:
        raise InvalidIdError(f"tool name must be a non-empty string, got {name!r}")
    if len(name) > _MAX_NAME:
        raise InvalidIdError(f"tool name is longer than {_MAX_NAME} characters")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in name):
        raise InvalidIdError(f"tool name {name!r} contains a control character")
    return name


def _names(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (tuple, list, frozenset, set)):
        raise ConfigError(f"{what} must be a tuple of names, got {value!r}")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{what} must hold non-empty strings, got {name!r}")
    return names


@dataclass(frozen=True, kw_only=True)
class ToolPolicy:
    """How one tool is cached. ``ttl`` in seconds (``None``: until invalidated); ``exclude``: argument names left
    out of the key (a ``verbose`` flag, a request id); ``enabled=False`` opts a tool out of a matching rule."""

    enabled: bool = True
    ttl: float | None = None
    scope: ToolScope = ToolScope.SESSION
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"enabled must be True or False, got {self.enabled!r}")
        _check_ttl(self.ttl, "ttl")
        try:
            object.__setattr__(self, "scope", ToolScope(self.scope))
        except ValueError:
            choices = ", ".join(s.value for s in ToolScope)
            raise ConfigError(f"scope must be one of {choices}, got {self.scope!r}") from None
        object.__setattr__(self, "exclude", _names(self.exclude, "exclude"))


@dataclass(frozen=True, kw_only=True)
class InvalidationRule:
    """Calling ``writer`` deletes cached results of the ``clears`` tools.

    ``match`` restricts that to entries whose arguments equal the writer's: a tuple of argument names present in
    both (``("path",)``), or a mapping writer-argument -> reader-argument (``{"dest": "path"}``). Empty: every
    entry of those tools. A writer call missing a matched argument clears every entry of those tools (when in
    doubt, forget).
    """

    writer: str
    clears: tuple[str, ...]
    match: Sequence[str] | Sequence[tuple[str, str]] | Mapping[str, str] = ()
    #: ``match`` normalized to (writer argument, reader argument) pairs.
    pairs: tuple[tuple[str, str], ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        try:
            validate_tool_name(self.writer)
        except InvalidIdError as exc:
            raise ConfigError(f"invalidation rule writer: {exc}") from None
        object.__setattr__(self, "clears", _names(self.clears, "clears"))
        if not self.clears:
            raise ConfigError(f"invalidation rule for {self.writer!r} clears no tool")
        raw: Any = self.match
        if isinstance(raw, Mapping):
            pairs = tuple(raw.items())
        elif isinstance(raw, (tuple, list)) and not isinstance(raw, str):
            pairs = tuple(
                (item, item) if isinstance(item, str) else tuple(item)  # type: ignore[misc]
                for item in raw
            )
        else:
            raise ConfigError(f"match must be argument names or a mapping, got {raw!r}")
        for pair in pairs:
            if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
                raise ConfigError(f"match entries must be argument names, got {pair!r}")
        object.__setattr__(self, "pairs", pairs)


@dataclass(frozen=True, kw_only=True)
class ToolsConfig:
    """Settings of the tool tier: which tools are cached and how, and which writes clear which reads.

    ``tools``: a mapping name -> `ToolPolicy`, or a sequence of names cached with the default policy.
    ``rules``: ``(glob pattern, policy)`` pairs tried in order for tools not named in ``tools``.
    ``max_result_bytes``: larger results are returned but not stored.
    """

    tools: Mapping[str, ToolPolicy] | Sequence[str] = field(default_factory=dict)
    rules: tuple[tuple[str, ToolPolicy], ...] = ()
    invalidations: tuple[InvalidationRule, ...] = ()
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    #: ``tools`` normalized to a mapping name -> policy.
    policies: Mapping[str, ToolPolicy] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        raw: Any = self.tools
        if isinstance(raw, Mapping):
            tools = dict(raw)
        elif isinstance(raw, (tuple, list, set, frozenset)):
            tools = {name: ToolPolicy() for name in _names(raw, "tools")}
        else:
            raise ConfigError(
                f"tools must be a mapping of name -> ToolPolicy or a list of names, got {raw!r}"
            )
        for name, policy in tools.items():
            try:
                validate_tool_name(name)
            except InvalidIdError as exc:
                raise ConfigError(str(exc)) from None
            if not isinstance(policy, ToolPolicy):
                raise ConfigError(f"policy of tool {name!r} must be a ToolPolicy, got {policy!r}")
        object.__setattr__(self, "policies", tools)
        rules = tuple(self.rules)
        for rule in rules:
            if (
                not isinstance(rule, tuple)
                or len(rule) != 2
                or not isinstance(rule[0], str)
                or not isinstance(rule[1], ToolPolicy)
            ):
                raise ConfigError(f"rules must be (glob pattern, ToolPolicy) pairs, got {rule!r}")
        object.__setattr__(self, "rules", rules)
        invalidations = tuple(self.invalidations)
        for inv in invalidations:
            if not isinstance(inv, InvalidationRule):
                raise ConfigError(f"invalidations must be InvalidationRule objects, got {inv!r}")
            named = tools.get(inv.writer)
            if named is not None and named.enabled:
                raise ConfigError(
                    f"tool {inv.writer!r} writes (it has an invalidation rule) and cannot also be cached"
                )
        object.__setattr__(self, "invalidations", invalidations)
        if (
            isinstance(self.max_result_bytes, bool)
            or not isinstance(self.max_result_bytes, int)
            or self.max_result_bytes < 1
        ):
            raise ConfigError(f"max_result_bytes must be a positive integer, got {self.max_result_bytes!r}")
