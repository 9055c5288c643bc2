"""Append-only lists for the in-process backend (the session tier's hot store)."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from ..kernel import list_ops
from ..kernel.op import Op

__all__ = ["MemoryLists", "lists_for"]


@dataclass(slots=True)
class _List:
    """Items as two parallel arrays sorted by seq, so ranges and trims are bisections."""

    seqs: list[int] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    next_seq: int = 1
    updated_at: float = 0.0
    base_seq: int = 0
    archived_through: int = 0

    def status(self) -> list_ops.ListStatus:
        return list_ops.ListStatus(
            length=len(self.seqs),
            first_seq=self.seqs[0] if self.seqs else None,
            last_seq=self.seqs[-1] if self.seqs else None,
            next_seq=self.next_seq,
            updated_at=self.updated_at,
            base_seq=self.base_seq,
            archived_through=self.archived_through,
        )


class MemoryLists:
    """The list handlers; the owning backend holds its lock around every call."""

    def __init__(self) -> None:
        self._lists: dict[tuple[str, str], _List] = {}

    def handlers(self) -> dict[type[Op], Callable[[Any], Any]]:
        return list_ops.list_handlers(self)

    def _get(self, namespace: str, key: str) -> _List:
        found = self._lists.get((namespace, key))
        if found is None:
            found = self._lists[(namespace, key)] = _List()
        return found

    def append(self, op: list_ops.ListAppend) -> list_ops.ListAppended:
        lst = self._lists.get((op.namespace, op.key))
        created = lst is None
        if lst is None:
            if not op.create:
                return list_ops.ListAppended((), 0, missing=True)
            lst = self._get(op.namespace, op.key)
            lst.archived_through = op.archived_through
        start = max(lst.next_seq, op.min_seq)
        seqs = tuple(range(start, start + len(op.values)))
        lst.seqs.extend(seqs)
        lst.values.extend(op.values)
        if seqs:
            lst.next_seq = seqs[-1] + 1
        lst.updated_at = op.now
        return list_ops.ListAppended(seqs, len(lst.seqs), created=created)

    def range(self, op: list_ops.ListRange) -> list[tuple[int, bytes]]:
        lst = self._lists.get((op.namespace, op.key))
        if lst is None:
            return []
        start = 0 if op.after_seq is None else bisect.bisect_right(lst.seqs, op.after_seq)
        end = len(lst.seqs)
        if op.last_n is not None:
            start = max(start, end - op.last_n)
        if op.limit is not None:
            end = min(end, start + op.limit)
        return list(zip(lst.seqs[start:end], lst.values[start:end]))

    def restore(self, op: list_ops.ListRestore) -> int:
        lst = self._lists.get((op.namespace, op.key))
        if lst is None:
            return 0
        held = dict(zip(lst.seqs, lst.values))
        added = 0
        for seq, value in op.items:
            if seq >= lst.base_seq and seq not in held:
                held[seq] = value
                added += 1
        if added:
            order = sorted(held)
            lst.seqs = order
            lst.values = [held[s] for s in order]
        if op.items:
            lst.next_seq = max(lst.next_seq, max(seq for seq, _ in op.items) + 1)
        lst.updated_at = op.now
        return added

    def trim_through(self, op: list_ops.ListTrimThrough) -> int:
        lst = self._lists.get((op.namespace, op.key))
        if lst is None:
            return 0
        cut = bisect.bisect_right(lst.seqs, op.seq)
        del lst.seqs[:cut]
        del lst.values[:cut]
        lst.archived_through = max(lst.archived_through, op.seq)
        return cut

    def delete_seqs(self, op: list_ops.ListDeleteSeqs) -> int:
        lst = self._lists.get((op.namespace, op.key))
        if lst is None:
            return 0
        doomed = set(op.seqs)
        kept = [(s, v) for s, v in zip(lst.seqs, lst.values) if s not in doomed]
        removed = len(lst.seqs) - len(kept)
        lst.seqs = [s for s, _ in kept]
        lst.values = [v for _, v in kept]
        return removed

    def replace(self, op: list_ops.ListReplace) -> list_ops.ListAppended:
        lst = self._get(op.namespace, op.key)
        start = max(lst.next_seq, op.min_seq)
        seqs = tuple(range(start, start + len(op.values)))
        lst.seqs = list(seqs)
        lst.values = list(op.values)
        lst.next_seq = start + len(seqs)
        lst.base_seq = start
        lst.updated_at = op.now
        return list_ops.ListAppended(seqs, len(seqs))

    def delete(self, op: list_ops.ListDelete) -> int:
        lst = self._lists.pop((op.namespace, op.key), None)
        return 0 if lst is None else len(lst.seqs)

    def info(self, op: list_ops.ListInfo) -> list_ops.ListStatus | None:
        lst = self._lists.get((op.namespace, op.key))
        return None if lst is None else lst.status()

    def keys(self, op: list_ops.ListKeys) -> list[str]:
        # A sorted scan of this namespace's keys; the in-process store has no ordered index to seek in.
        found = sorted(
            key
            for (namespace, key) in self._lists
            if namespace == op.namespace
            and key.startswith(op.prefix)
            and (op.after is None or key > op.after)
        )
        return found[: op.limit]

    def idle(self, op: list_ops.ListIdle) -> list[str]:
        found = sorted(
            (lst.updated_at, key)
            for (namespace, key), lst in self._lists.items()
            if namespace == op.namespace and lst.seqs and lst.updated_at < op.older_than
        )
        return [key for _, key in found[: op.limit]]


_by_store: WeakKeyDictionary[object, MemoryLists] = WeakKeyDictionary()
_by_store_lock = threading.Lock()


def lists_for(store: object) -> MemoryLists:
    """The lists of one in-process store (created on first use), so engines sharing a store share its lists."""
    with _by_store_lock:
        found = _by_store.get(store)
        if found is None:
            found = _by_store[store] = MemoryLists()
        return found
