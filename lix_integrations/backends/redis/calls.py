"""What an operation asks of Redis: pure descriptions the sync and async executors carry out.

Each storage operation is a generator (like the engine's flows) that yields these and receives the raw reply,
so command building and reply parsing are written once and the two executors differ only by ``await``.
A ``redis.exceptions.ResponseError`` is thrown into the generator, which may handle it (index already exists).
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXPIRY_SLACK_SECONDS", "Call", "Cmd", "Lua", "Pipe", "RFlow", "Scan", "Script", "expiry_ms"]


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script, sent once per connection pool and then run by SHA (EVALSHA, reloaded on NOSCRIPT)."""

    name: str
    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())  # once, not per call


@dataclass(frozen=True, slots=True)
class Cmd:
    """One command. Reply: as redis-py returns it (bytes, ints, lists)."""

    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Pipe:
    """Several commands in one round trip (not a transaction). Reply: the list of replies."""

    cmds: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class Lua:
    """Run a script on the slot of ``keys[0]`` (every key it touches shares that hash tag). Reply: its result."""

    script: Script
    keys: tuple[str, ...]
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Scan:
    """Every key matching ``pattern`` (SCAN with MATCH, on every primary of a cluster). Reply: ``list[bytes]``."""

    pattern: str


Call = Cmd | Pipe | Lua | Scan
RFlow = Generator[Call, Any, Any]


def num(value: float) -> str:
    """A float as Lua's ``tonumber`` and Redis scores read it back exactly."""
    return repr(float(value))


def b2s(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


#: Redis deletes what has a TTL this long after it. Until then reads filter on the stored ``expires_at`` against
#: the engine's clock (injectable; tests use a fake one), so the slack never serves an expired entry; it only
#: keeps the server from deleting early when the clocks of the machines involved differ.
EXPIRY_SLACK_SECONDS = 60.0


def expiry_ms(now: float, expires_at: float | None) -> int:
    """PEXPIRE/PX for an entry: its TTL on the engine's clock (relative, so skew-free) plus the slack; 0: none."""
    if expires_at is None:
        return 0
    return max(1, int((max(0.0, expires_at - now) + EXPIRY_SLACK_SECONDS) * 1000))
