"""What every backend is: an executor of storage operations, sync and async, and nothing more.

Backends hold no policy. They carry out `lix_integrations.kernel.ops` operations and report failures as
`BackendError`, so a new backend needs no change to any tier.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from ..errors import LixError
from ..kernel.ops import (
    Deferred,
    EvictionPolicy,
    ExactGet,
    ExactOrSearch,
    Gather,
    ListExpire,
    ListInfo,
    ListRange,
    ListSnapshot,
    ListSnapshotted,
    Op,
    StoreEviction,
    Upsert,
    UpsertMany,
    VectorSearch,
)

__all__ = ["Backend", "gather_each"]


class Backend(abc.ABC):
    """Executes operations; subclasses register one handler per operation type in ``_handlers``."""

    #: The URL this backend was opened from, with any password removed (safe to log).
    url: str
    #: True when operations sent together (`Gather`) share a round trip: worth batching reads for.
    pipelines: bool = False
    #: True when other processes see this store (a SQLite file, Redis): miss coalescing then takes leases.
    shared: bool = False
    #: Ops whose ``aexecute`` itself finishes what it sent when its caller is cancelled, raising
    #: `CancelledAfterOp` with the result (see `flows.finish_before_cancel`): the runtime adds no shield of its own.
    finishes_when_cancelled: frozenset[type[Op]] = frozenset()

    @property
    def store_address(self) -> str | None:
        """What names this backend's data wherever it is opened from, with no password: two backends with the same
        address reach the same data, or a store that stood there and lost it. ``None`` for a store of this
        process alone (``memory://``, ``sqlite:///:memory:``). The session tier records it with the archive
        directory it writes (`archive.owner`)."""
        return self.url

    def __init__(self) -> None:
        self._handlers: dict[type[Op], Callable[[Any], Any]] = {
            Gather: lambda op: gather_each(self.execute, op),
            # As a Gather of upserts (SQLite makes one of one transaction).
            UpsertMany: lambda op: self.execute(Gather(tuple(Upsert(op.namespace, r) for r in op.records))),
            Deferred: lambda op: self.execute(op.op),
            ExactOrSearch: lambda op: _exact_or_search(self.execute, op),
            ListSnapshot: lambda op: _snapshot(self.execute, op),
            # A store that never drops keys on its own (the embedded ones); Redis registers its own answers. Such a
            # store cannot expire a list either: the session tier enforces the TTL on reads.
            StoreEviction: lambda op: EvictionPolicy("noeviction", 0),
            ListExpire: _no_expiry,
        }

    def _handler(self, op: Op) -> Callable[[Any], Any]:
        try:
            return self._handlers[type(op)]
        except KeyError:
            raise LixError(f"{type(self).__name__} does not support {type(op).__name__}") from None

    def execute(self, op: Op) -> Any:
        """Carry out one operation, blocking the calling thread."""
        handler = self._handlers.get(type(op))  # `_handler` inline: a frame less on every storage op
        if handler is None:
            return self._handler(op)  # raises
        return handler(op)

    @abc.abstractmethod
    async def aexecute(self, op: Op) -> Any:
        """Carry out one operation without blocking the event loop."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections and files; the backend cannot be used afterwards."""

    def wait_for_index_builds(self, timeout: float | None = None) -> bool:
        """Finish background vector-index builds now (benchmarks and tests); True when none is pending.

        Backends without in-process indexes have nothing to wait for.
        """
        return True

    async def aclose(self) -> None:
        self.close()


def gather_each(execute: Callable[[Op], Any], op: Gather) -> list[Any]:
    """Run each operation in turn (a backend without round trips gains nothing from batching them)."""
    results: list[Any] = []
    failure: BaseException | None = None
    for sub in op.ops:
        try:
            results.append(execute(sub))
        except Exception as exc:  # every operation runs, as on backends that send them together
            failure = failure or exc
            results.append(None)
    if failure is not None:
        raise failure
    return results


def _exact_or_search(execute: Callable[[Op], Any], op: ExactOrSearch) -> tuple[Any, list[Any]]:
    """The two steps one after the other (backends with round trips send them as one)."""
    record = execute(ExactGet(op.namespace, op.exact_key))
    if record is not None:
        return record, []
    return None, execute(VectorSearch(op.namespace, op.partition, op.vector, op.k))


def _snapshot(execute: Callable[[Op], Any], op: ListSnapshot) -> ListSnapshotted:
    """Status, then items (a backend that keeps no version stamps always sends them; Redis keeps stamps)."""
    status = execute(ListInfo(op.namespace, op.key))
    return ListSnapshotted(status, "", execute(ListRange(op.namespace, op.key)))


def _no_expiry(op: ListExpire) -> None:
    """This store cannot drop a list on its own: the session tier enforces the TTL on reads."""
