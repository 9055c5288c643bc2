"""Vectors by id in one contiguous float32 matrix, for exact scans (a small partition, an index file's tail).

Rows ``[0, n)`` are live, so a scan is one BLAS product over ``vecs``. The matrix grows by doubling (a stream of
single adds costs amortised O(1) copies) and a removal moves the last row into the hole. Each row also carries an
integer ``tag`` (the IVF tail keeps the row's cell there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["VectorRows", "split_known"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
_INITIAL_ROWS = 64


def split_known(ids: Sequence[int], known: Mapping[int, int]) -> tuple[list[int], list[int], list[int]]:
    """Positions in ``ids`` of unknown ids, positions of known ones, and the known ones' values."""
    new_pos: list[int] = []
    old_pos: list[int] = []
    old_values: list[int] = []
    for pos, entry_id in enumerate(ids):
        value = known.get(entry_id)
        if value is None:
            new_pos.append(pos)
        else:
            old_pos.append(pos)
            old_values.append(value)
    return new_pos, old_pos, old_values


class VectorRows:
    """Not thread-safe: its owners are called under their backend's lock."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids: I64 = np.empty(0, dtype=np.int64)
        self._vecs: F32 = np.empty((0, dim), dtype=np.float32)
        self._tags: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
        self.row_of: dict[int, int] = {}
        self.n = 0

    @property
    def ids(self) -> I64:
        return self._ids[: self.n]

    @property
    def vecs(self) -> F32:
        return self._vecs[: self.n]

    @property
    def tags(self) -> npt.NDArray[np.intp]:
        return self._tags[: self.n]

    def items(self) -> tuple[I64, F32, npt.NDArray[np.intp]]:
        """Copies of every live row's id, vector and tag."""
        return self.ids.copy(), self.vecs.copy(), self.tags.copy()

    def put(self, ids: Sequence[int], vecs: F32, tags: npt.NDArray[np.intp] | None = None) -> None:
        """Insert or replace rows (distinct ids)."""
        new_pos, old_pos, old_rows = split_known(ids, self.row_of)
        if old_pos:
            self._vecs[old_rows] = vecs[old_pos]
            if tags is not None:
                self._tags[old_rows] = tags[old_pos]
        if not new_pos:
            return
        self._reserve(self.n + len(new_pos))
        start, stop = self.n, self.n + len(new_pos)
        self._vecs[start:stop] = vecs[new_pos]
        self._tags[start:stop] = 0 if tags is None else tags[new_pos]
        new_ids = [ids[p] for p in new_pos]
        self._ids[start:stop] = new_ids
        self.row_of.update(zip(new_ids, range(start, stop), strict=True))
        self.n = stop

    def _reserve(self, needed: int) -> None:
        capacity = self._ids.shape[0]
        if needed <= capacity:
            return
        size = max(_INITIAL_ROWS, capacity)
        while size < needed:
            size *= 2
        vecs = np.empty((size, self.dim), dtype=np.float32)
        vecs[: self.n] = self.vecs
        self._vecs = vecs
        self._ids = np.resize(self._ids, size)
        self._tags = np.resize(self._tags, size)

    def remove(self, ids: Iterable[int]) -> None:
        """Delete rows; unknown ids are ignored."""
        for entry_id in ids:
            row = self.row_of.pop(entry_id, None)
            if row is None:
                continue
            last = self.n - 1
            if row != last:
                moved = int(self._ids[last])
                self._ids[row], self._tags[row] = moved, self._tags[last]
                self._vecs[row] = self._vecs[last]
                self.row_of[moved] = row
            self.n = last
