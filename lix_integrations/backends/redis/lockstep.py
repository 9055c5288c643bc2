"""Several operations' steps advanced together, so each round's calls can share one packet.

Also which operations only read (`LOOKUPS`) and which may run twice (`IDEMPOTENT`): what the executor may batch
behind, or send once more after a connection closed under it; and which deferred writes wait in the backend's
queue (`queueable`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from ...kernel import ops
from ...kernel.ops import Deferred, Gather, Op, Touch
from .commands import Call, Plan, Step

if TYPE_CHECKING:
    from .backend import RedisBackend

__all__ = ["IDEMPOTENT", "LOOKUPS", "UNCANCELLABLE", "Lockstep", "kind_of", "queueable"]


#: Operations that only read: recorded uses may wait behind them (their results show them, see _lookup_result).
LOOKUPS: frozenset[type[Op]] = frozenset({ops.ExactGet, ops.ExactOrSearch, ops.VectorSearch, ops.KvGet})
#: Operations whose commands may run twice with the same outcome (reads; EnsureSettings only sets what is
#: missing): sent once more when their connection was closed under them, and through the cluster pipeline.
#: The deferred writes riding with them (uses, stored vectors) may run twice as well.
IDEMPOTENT: frozenset[type[Op]] = LOOKUPS | frozenset(
    {
        ops.EnsureSettings, ops.CountEntries, ops.ScanEntries, ops.KvScan, ops.KvUsage, ops.ListRange,
        ops.ListSnapshot, ops.ListInfo, ops.ListKeys, ops.ListIdle, ops.StoreEviction, ops.ListExpire,
    }
)  # fmt: skip


#: Operations whose reply must reach their waiter even when it is cancelled (the session tier undoes an append
#: it learns was stored): the auto-pipeline hands them a `PinnedFuture`.
UNCANCELLABLE: frozenset[type[Op]] = frozenset({ops.ListAppend})


def kind_of(backend: RedisBackend, op: Op) -> tuple[Callable[[Any], Plan], bool, bool, bool]:
    """What the executor remembers of ``op``'s type: its planner, and whether it is in `LOOKUPS`, `IDEMPOTENT`
    and `UNCANCELLABLE`."""
    kind = type(op)
    return backend._planner(op), kind in LOOKUPS, kind in IDEMPOTENT, kind in UNCANCELLABLE


def queueable(op: Op) -> bool:
    """Whether the deferred-write queue can hold ``op``: uses and KV puts. Another deferred write (the delete of
    an expired candidate a lookup found) is sent at once, as it was before lookups deferred it."""
    inner = op.op if isinstance(op, Deferred) else op
    return isinstance(inner, (Touch, ops.KvPut))


class Lockstep:
    """Several operations' steps advanced together, so each round's calls can share a packet."""

    def __init__(self, backend: RedisBackend, gather: Gather) -> None:
        self._ops = gather.ops
        n = len(self._ops)
        self._results: list[Any] = [None] * n
        self._errors: list[BaseException | None] = [None] * n
        self._steps: list[Step | None] = [None] * n
        self._backend = backend
        self.lookup = all(type(op) in LOOKUPS for op in self._ops)
        self.idempotent = all(type(op) in IDEMPOTENT or isinstance(op, (Touch, Deferred)) for op in self._ops)
        makers: list[tuple[int, Op, Callable[[Any], Plan]]] = []
        for i, op in enumerate(self._ops):
            if isinstance(op, Deferred) and not queueable(op):
                op = op.op  # a write this backend sends with the others rather than queueing it
            if isinstance(op, (Touch, Deferred)):
                backend._defer(op)  # sent in this gather's first packet
            else:
                makers.append((i, op, backend._planner(op)))
        for i, op, make in makers:
            self._advance(i, make, op)

    def _advance(self, i: int, step: Callable[[Any], Plan], value: Any) -> None:
        """Op ``i``'s next step, ``step(value)``, or its result (or error) when it has none."""
        try:
            plan = step(value)
        except Exception as exc:
            self._errors[i] = self._backend._failure(self._ops[i], exc)
            plan = None
        if isinstance(plan, Step):
            self._steps[i] = plan
        else:
            self._steps[i] = None
            if self._errors[i] is None:
                self._results[i] = self._backend._lookup_result(self._ops[i], plan)

    def next_calls(self) -> list[Call]:
        """The calls of this round: one per op still under way."""
        return [step.call for step in self._steps if step is not None]

    def deliver(self, replies: list[Any]) -> None:
        live = [i for i, step in enumerate(self._steps) if step is not None]
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                raise reply
        for i, reply in zip(live, replies):
            step = self._steps[i]
            assert step is not None
            self._advance(i, step.reply, reply)

    def results(self) -> list[Any]:
        for error in self._errors:
            if error is not None:
                raise error
        return self._results
