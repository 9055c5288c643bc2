"""The embedding tier's in-process front: an LRU of vectors already read or computed, so a repeated text costs no
store round trip.

It is per engine (so per backend and namespace) and keyed by the full store key, which already holds the space and
the model: it can never serve a vector another tenant or model should not see. It is bounded by entries and by
bytes and guarded by a lock, because LangChain and LlamaIndex run sync methods on worker threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from .embedding_vectors import Vector

__all__ = ["VectorFront"]


class VectorFront:
    """A thread-safe LRU of read-only vectors keyed by full store key, bounded by entries and bytes."""

    def __init__(self, max_entries: int, max_bytes: int | None) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[Vector, float | None]] = OrderedDict()
        self._bytes = 0

    def get(self, key: str, now: float) -> Vector | None:
        """One key's vector, ``None`` if absent or expired (`get_many` without its list and dictionary)."""
        if not self._max_entries:
            return None
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            vec, expires_at = item
            if expires_at is not None and expires_at <= now:
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return vec

    def get_many(self, keys: Sequence[str], now: float) -> dict[str, Vector]:
        found: dict[str, Vector] = {}
        if not self._max_entries:
            return found
        with self._lock:
            for key in keys:
                item = self._items.get(key)
                if item is None:
                    continue
                vec, expires_at = item
                if expires_at is not None and expires_at <= now:
                    self._drop(key)
                    continue
                self._items.move_to_end(key)
                found[key] = vec
        return found

    def put_many(self, items: Sequence[tuple[str, Vector, float | None]]) -> None:
        if not self._max_entries:
            return
        with self._lock:
            for key, vec, expires_at in items:
                if self._max_bytes is not None and vec.nbytes > self._max_bytes:
                    continue
                self._drop(key)
                vec.flags.writeable = False  # shared between callers: nobody may change it in place
                self._items[key] = (vec, expires_at)
                self._bytes += vec.nbytes
            while self._items and (
                len(self._items) > self._max_entries
                or (self._max_bytes is not None and self._bytes > self._max_bytes)
            ):
                oldest = next(iter(self._items))
                self._drop(oldest)

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self._bytes -= item[0].nbytes

    def discard(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._drop(key)

    def discard_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k.startswith(prefix)]:
                self._drop(key)

    def usage(self) -> tuple[int, int]:
        with self._lock:
            return len(self._items), self._bytes
