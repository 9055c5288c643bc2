"""Plain mode's in-process copy of partitions' vectors, and the ranking of a query against them.

Plain Redis has no vector search: a search fetches the partition's vectors (only the ids above the highest one
this process holds, see ``lua/vectors.lua``) and ranks them here with numpy.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from .commands import b2s

__all__ = ["CACHED_PARTITIONS", "Partition", "VectorCache", "scores"]

_CHUNK = 1024


def scores(matrix: np.ndarray[Any, Any], query: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``matrix @ query`` in blocks of 1024 rows: one big product lets OpenBLAS start its threads, and on a
    busy 2-core machine a 10k x 384 product then took 7 ms instead of 0.6 ms (measured)."""
    if matrix.shape[0] <= _CHUNK:
        out: np.ndarray[Any, Any] = matrix @ query
        return out
    return np.concatenate([matrix[i : i + _CHUNK] @ query for i in range(0, matrix.shape[0], _CHUNK)])


#: Plain mode keeps the vectors of this many partitions in process (least recently searched dropped first).
CACHED_PARTITIONS = 64


class Partition:
    """One partition's vectors as this process last saw them: id -> vector, and the stacked matrix."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.vectors: dict[int, np.ndarray[Any, Any]] = {}
        self.max_id = -1
        self._matrix: tuple[int, np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None

    def replace_ids(self, ids: list[int], new: dict[int, np.ndarray[Any, Any]]) -> None:
        keep = set(ids)
        self.vectors = {i: v for i, v in self.vectors.items() if i in keep}
        self.vectors.update(new)
        self.max_id = max([self.max_id, *new]) if new else self.max_id
        self._matrix = None

    def matrix(self, dim: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(rows, ids) of the vectors with the query's dimension (others cannot be compared)."""
        if self._matrix is None or self._matrix[0] != dim:
            items = [(i, v) for i, v in self.vectors.items() if v.shape[0] == dim]
            ids = np.array([i for i, _ in items], dtype=np.int64)
            rows = np.stack([v for _, v in items]) if items else np.zeros((0, dim), dtype=np.float32)
            self._matrix = (dim, rows, ids)
        return self._matrix[1], self._matrix[2]


class VectorCache:
    """Plain mode's in-process copy of partitions' vectors, checked against the server on every search.

    The check is the search script itself: it answers with only the version when nothing changed, so a search
    transfers a few bytes instead of ``partition_limit x dimension x 4``. Several threads may search at once.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: OrderedDict[tuple[str, str], Partition] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, namespace: str, ph: str) -> Partition | None:
        with self._lock:
            part = self._parts.get((namespace, ph))
            if part is not None:
                self._parts.move_to_end((namespace, ph))
            return part

    def update(self, namespace: str, ph: str, cached: Partition | None, reply: list[Any]) -> Partition:
        version = b2s(reply[0])
        if len(reply) == 1 and cached is not None:
            return cached  # unchanged
        ids = [int(b2s(i)) for i in (reply[1] if len(reply) > 1 else [])]
        new = {
            int(b2s(reply[j])): np.frombuffer(reply[j + 1], dtype=np.float32).copy()
            for j in range(2, len(reply), 2)
        }
        same_epoch = cached is not None and cached.version.split(":")[0] == version.split(":")[0]
        part = Partition(version)
        if same_epoch and cached is not None:
            part.vectors, part.max_id = dict(cached.vectors), cached.max_id
        part.replace_ids(ids, new)
        with self._lock:
            self._parts[(namespace, ph)] = part
            self._parts.move_to_end((namespace, ph))
            while len(self._parts) > self._limit:
                self._parts.popitem(last=False)
        return part
