"""The in-process backend (``memory://``): dictionaries and vector indexes behind one lock.

``memory://`` gives every engine a private store; ``memory://NAME`` shares one store among the engines of a
process that use the same name (so several adapters can be pointed at the same cache by URL alone).
"""

from __future__ import annotations

import os
import socket
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any
from weakref import WeakValueDictionary

import numpy as np

from ..kernel import semantic_ops
from ..kernel.op import bind_methods
from ..kernel.ops import Op, SemanticRecord
from .base import Backend
from .leases import MemoryLeases
from .memory_kv import MemoryKv
from .memory_lists import lists_for
from .vector_index_set import IndexSet

__all__ = ["MemoryBackend", "MemoryStore"]


class _Namespace:
    """One namespace's semantic records; ``lru`` orders ids from least to most recently used."""

    def __init__(self) -> None:
        self.records: dict[int, SemanticRecord] = {}
        self.by_exact: dict[str, int] = {}
        self.lru: OrderedDict[int, None] = OrderedDict()
        self.indexes: IndexSet | None = None  # created with the dimension of the first vector


class MemoryStore:
    """The shared state of one in-process store (weakly registered by name)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.settings: dict[str, dict[str, str]] = {}
        self.namespaces: dict[str, _Namespace] = {}
        self.next_id = 1
        self.kv = MemoryKv()
        self.leases = MemoryLeases()

    def ns(self, name: str) -> _Namespace:
        space = self.namespaces.get(name)
        if space is None:
            space = self.namespaces[name] = _Namespace()
        return space


_named_stores: WeakValueDictionary[str, MemoryStore] = WeakValueDictionary()
_HOST = socket.gethostname()
_registry_lock = threading.Lock()


class MemoryBackend(Backend):
    """Thread-safe in-process storage; async calls run inline because no operation blocks on I/O."""

    @property
    def store_address(self) -> str | None:
        """A named store's URL with this process (the store of that name in this process, or one opened again
        under that name after the first was collected); ``None`` for an anonymous one, which is this engine's
        alone. Two processes' stores of one name are two stores."""
        return f"{self.url}@{_HOST}:{self._pid}" if self._named else None

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.url = f"memory://{name}"
        if name:
            with _registry_lock:
                store = _named_stores.get(name)
                if store is None:
                    store = MemoryStore()
                    _named_stores[name] = store
        else:
            store = MemoryStore()
        self._store = store
        self._named = bool(name)
        self._pid = os.getpid()
        self._handlers.update(
            {
                **bind_methods(self, semantic_ops.SEMANTIC_METHODS, prefix="_"),
                **store.kv.handlers(),  # type: ignore[dict-item]
                **lists_for(store).handlers(),  # type: ignore[dict-item]
                **store.leases.handlers(),
            }
        )

    def execute(self, op: Op) -> Any:
        with self._store.lock:
            return super().execute(op)

    async def aexecute(self, op: Op) -> Any:
        # Every operation is a few dictionary or numpy steps under a lock held for microseconds.
        return self.execute(op)

    def wait_for_index_builds(self, timeout: float | None = None) -> bool:
        with self._store.lock:
            spaces = list(self._store.namespaces.values())
            return all(space.indexes is None or space.indexes.wait_for_builds(timeout) for space in spaces)

    def close(self) -> None:
        """Nothing to release; a named store lives while any backend uses it."""

    # -- handlers (called with the lock held) -------------------------------------------------------------

    def _ensure_settings(self, op: semantic_ops.EnsureSettings) -> dict[str, str]:
        stored = self._store.settings.setdefault(op.namespace, {})
        for key, value in op.values.items():
            stored.setdefault(key, value)
        stored.update(op.replace)
        return dict(stored)

    def _exact_get(self, op: semantic_ops.ExactGet) -> SemanticRecord | None:
        space = self._store.ns(op.namespace)
        entry_id = space.by_exact.get(op.exact_key)
        return None if entry_id is None else space.records[entry_id]

    def _vector_search(self, op: semantic_ops.VectorSearch) -> list[tuple[SemanticRecord, float]]:
        space = self._store.ns(op.namespace)
        index = None if space.indexes is None else space.indexes.get(op.partition)
        if index is None:
            return []
        return [(space.records[i], score) for i, score in index.search(op.vector, op.k)]

    def _upsert(self, op: semantic_ops.Upsert) -> int:
        space = self._store.ns(op.namespace)
        previous = space.by_exact.get(op.record.exact_key)
        if previous is not None:
            self._remove(space, previous)
        entry_id = self._store.next_id
        self._store.next_id += 1
        record = replace(op.record, id=entry_id)
        space.records[entry_id] = record
        space.by_exact[record.exact_key] = entry_id
        space.lru[entry_id] = None
        if record.vector is not None:
            if space.indexes is None:
                space.indexes = IndexSet(int(record.vector.shape[0]))
            space.indexes.get_or_create(record.partition).add(
                [entry_id], np.asarray(record.vector, dtype=np.float32).reshape(1, -1)
            )
        return entry_id

    def _remove(self, space: _Namespace, entry_id: int) -> bool:
        record = space.records.pop(entry_id, None)
        if record is None:
            return False
        if space.by_exact.get(record.exact_key) == entry_id:
            del space.by_exact[record.exact_key]
        space.lru.pop(entry_id, None)
        index = None if space.indexes is None else space.indexes.get(record.partition)
        if index is not None and space.indexes is not None:
            index.remove([entry_id])
            if index.size() == 0:
                space.indexes.drop(record.partition)
        return True

    def _touch(self, op: semantic_ops.Touch) -> None:
        space = self._store.ns(op.namespace)
        for entry_id in op.ids:
            record = space.records.get(entry_id)
            if record is not None:
                space.records[entry_id] = replace(record, accessed_at=op.now)
                space.lru.move_to_end(entry_id)

    def _delete_ids(self, op: semantic_ops.DeleteIds) -> int:
        space = self._store.ns(op.namespace)
        return sum(self._remove(space, entry_id) for entry_id in op.ids)

    def _delete_matching(self, op: semantic_ops.DeleteMatching) -> int:
        space = self._store.ns(op.namespace)
        doomed = [
            rec.id
            for rec in space.records.values()
            if (op.scope is None or rec.scope == op.scope or rec.scope.startswith(op.scope + "/"))
            and (op.llm_key is None or rec.llm_key == op.llm_key)
        ]
        return sum(self._remove(space, entry_id) for entry_id in doomed)

    def _evict_overflow(self, op: semantic_ops.EvictOverflow) -> int:
        space = self._store.ns(op.namespace)
        evicted = 0
        while len(space.records) > op.max_entries:
            oldest = next(iter(space.lru))
            self._remove(space, oldest)
            evicted += 1
        return evicted

    def _purge_expired(self, op: semantic_ops.PurgeExpired) -> int:
        space = self._store.ns(op.namespace)
        doomed = [r.id for r in space.records.values() if r.expires_at is not None and r.expires_at <= op.now]
        return sum(self._remove(space, entry_id) for entry_id in doomed)

    def _count(self, op: semantic_ops.CountEntries) -> int:
        return len(self._store.ns(op.namespace).records)

    def _scan_entries(self, op: semantic_ops.ScanEntries) -> list[SemanticRecord]:
        space = self._store.ns(op.namespace)
        found: list[SemanticRecord] = []
        for entry_id in sorted(i for i in space.records if i > op.after_id):
            rec = space.records[entry_id]
            if op.scope is not None and rec.scope != op.scope and not rec.scope.startswith(op.scope + "/"):
                continue
            if op.llm_key is not None and rec.llm_key != op.llm_key:
                continue
            found.append(replace(rec, vector=None))
            if len(found) >= op.limit:
                break
        return found
