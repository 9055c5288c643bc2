"""What an operation sends to Redis: pure descriptions of commands, and the parser of each reply.

A handler of the per-domain modules (`kv`, `lists`, `semantic`, `leases`) turns an op into a `Step`: the call
to send and the function that makes the op's result of its reply. An op that needs a second round trip (a plain
search fetches the records it ranked, a lease renews what it holds) returns another `Step` from that function;
an op that needs none returns its result at once. The backend's executor sends the calls and hands the replies
back, so command building and reply parsing are written once, and several ops' steps can share one packet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from ...errors import BackendError, LixError
from ...kernel.op import set_init, slot_setters

__all__ = [
    "EXPIRY_SLACK_SECONDS",
    "Call",
    "Cmd",
    "Lua",
    "Pipe",
    "Plan",
    "Scan",
    "Script",
    "Step",
    "expiry_ms",
    "fields_of",
    "then",
]


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


@dataclass(frozen=True, slots=True)
class Step:
    """One round trip of an op: ``call``, and ``parse`` that makes the op's result of its reply (or the next
    `Step`). An error reply goes to ``on_error`` when given (an index that already exists, a refused CONFIG),
    else it is raised."""

    call: Call
    parse: Callable[[Any], Any]
    on_error: Callable[[ResponseError], Any] | None = None

    def reply(self, value: Any) -> Any:
        """The op's result for the reply ``value``, or its next `Step`.

        A reply the parser cannot read (a record another writer left with a field missing or not a number) is a
        `BackendError`, which caches fail open on: a ``ValueError`` from deep in a parser used to reach the
        caller of a cache lookup."""
        if isinstance(value, ResponseError):
            if self.on_error is None:
                raise value
            return self.on_error(value)
        try:
            return self.parse(value)
        except LixError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            # The type only: the exception's text may quote stored data, which a log must not carry.
            raise BackendError(
                f"Redis returned a reply lix cannot read ({type(exc).__name__}): a record written by another "
                "program or version?"
            ) from exc


# Made on every chat append: set through their slots (see `set_init`).
def _lua_init() -> Callable[..., None]:
    script_, keys_, args_ = slot_setters(Lua)

    def __init__(self: Lua, script: Script, keys: tuple[str, ...], args: tuple[Any, ...]) -> None:
        script_(self, script)
        keys_(self, keys)
        args_(self, args)

    return __init__


def _step_init() -> Callable[..., None]:
    call_, parse_, on_error_ = slot_setters(Step)

    def __init__(
        self: Step,
        call: Call,
        parse: Callable[[Any], Any],
        on_error: Callable[[ResponseError], Any] | None = None,
    ) -> None:
        call_(self, call)
        parse_(self, parse)
        on_error_(self, on_error)

    return __init__


set_init(Lua, _lua_init())
set_init(Step, _step_init())


#: What a handler returns: a `Step`, or the op's result when it needs no round trip.
Plan = Step | Any


def then(plan: Plan, rest: Callable[[Any], Plan]) -> Plan:
    """``plan``, then ``rest`` of its result: the steps of a prerequisite (detecting the Query Engine,
    creating an index) followed by the op's own."""
    if not isinstance(plan, Step):
        return rest(plan)
    on_error = plan.on_error
    return Step(
        plan.call,
        lambda value: then(plan.parse(value), rest),
        None if on_error is None else lambda exc: then(on_error(exc), rest),
    )


def num(value: float) -> str:
    """A float as Lua's ``tonumber`` and Redis scores read it back exactly."""
    return repr(float(value))


def b2s(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def fields_of(flat: Any) -> dict[str, Any]:
    """Fields of a flat [name, value, ...] reply, or of the dict RESP3 and redis-py's callbacks make of one,
    names decoded and values left as they came."""
    if isinstance(flat, dict):
        return {b2s(k): v for k, v in flat.items()}
    return {b2s(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


#: Redis deletes what has a TTL this long after it. Until then reads filter on the stored ``expires_at`` against
#: the engine's clock (injectable; tests use a fake one), so the slack never serves an expired entry; it only
#: keeps the server from deleting early when the clocks of the machines involved differ.
EXPIRY_SLACK_SECONDS = 60.0


def expiry_ms(now: float, expires_at: float | None) -> int:
    """PEXPIRE/PX for an entry: its TTL on the engine's clock (relative, so skew-free) plus the slack; 0: none."""
    if expires_at is None:
        return 0
    return max(1, int((max(0.0, expires_at - now) + EXPIRY_SLACK_SECONDS) * 1000))
