"""A large partition: its mapped IVF file (`ivf_file`) plus what changed since the file was written.

Added vectors sit in an in-memory tail, each with the cell of the file it falls in, so a search scans the tail's
rows of the probed cells only (an exact scan of a tail of 6k rows cost as much as the file's whole search);
deleted ids sit in a set the search leaves out. When they grow past a fraction of the file the backend writes a
new file, keeping the cells and assigning only the tail (`merged`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .ivf_file import I64, IvfArrays, IvfFile
from .ivf_merge import MergedRows, merge
from .ivf_train import assign
from .vector_rows import VectorRows

__all__ = ["LargePartition", "Snapshot", "Tail"]

F32 = npt.NDArray[np.float32]
_SCAN_ALL_MAX = 256  # a tail this small is scanned whole (exact, and cheaper than selecting its cells)


class Tail:
    """Vectors added since the file, each tagged with its cell (`VectorRows`)."""

    def __init__(self, dim: int) -> None:
        self.rows = VectorRows(dim)

    def size(self) -> int:
        return self.rows.n

    def add(self, ids: Sequence[int], vectors: F32, cells: npt.NDArray[np.intp]) -> None:
        if len(set(ids)) < len(ids):  # the later row of an id wins, as two calls would
            last = sorted({entry_id: pos for pos, entry_id in enumerate(ids)}.values())
            ids, vectors, cells = [ids[p] for p in last], vectors[last], cells[last]
        self.rows.put(ids, vectors, cells)

    def remove(self, ids: Iterable[int]) -> None:
        self.rows.remove(ids)

    def items(self) -> tuple[I64, F32, npt.NDArray[np.intp]]:
        return self.rows.items()

    def search(self, query: F32, k: int, cells: npt.NDArray[np.intp]) -> list[tuple[int, float]]:
        """The best ``k`` rows among those in ``cells`` (all rows while the tail is small)."""
        rows = self.rows
        if rows.n == 0:
            return []
        if rows.n <= _SCAN_ALL_MAX:
            picked = np.arange(rows.n)
        else:
            picked = np.flatnonzero(np.isin(rows.tags, cells))
            if picked.size == 0:
                return []
        scores = rows.vecs[picked] @ query
        k = min(k, picked.shape[0])
        top = np.argpartition(scores, scores.shape[0] - k)[scores.shape[0] - k :]
        top = top[np.argsort(-scores[top], kind="stable")]
        return list(zip(rows.ids[picked[top]].tolist(), scores[top].tolist(), strict=True))


class LargePartition:
    """A partition's mapped IVF file plus what changed since it was written."""

    def __init__(self, base: IvfFile, dim: int) -> None:
        self.base = base
        self.dim = dim
        self.deleted: set[int] = set()
        self._deleted_ids: I64 | None = None  # ``deleted`` as an array, rebuilt after a change
        self.tail = Tail(dim)

    def size(self) -> int:
        return self.base.arrays.rows - len(self.deleted) + self.tail.size()

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        self.tail.add(ids, vecs, assign(vecs, self.base.arrays.centroids))

    def remove(self, ids: Iterable[int]) -> None:
        id_list = list(ids)
        self.tail.remove(id_list)
        self.deleted.update(id_list)  # a base row is left out of searches until the next file drops it
        self._deleted_ids = None

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        if self.deleted and self._deleted_ids is None:
            self._deleted_ids = np.fromiter(self.deleted, dtype=np.int64, count=len(self.deleted))
        cells = self.base.probe(query)
        found = self.base.search(query, k, self._deleted_ids, cells)
        if self.tail.size():
            found += self.tail.search(query, k, cells)
            found.sort(key=lambda pair: -pair[1])
            seen: set[int] = set()
            unique: list[tuple[int, float]] = []
            for entry_id, score in found:  # a replayed add may repeat a base row
                if entry_id not in seen:
                    seen.add(entry_id)
                    unique.append((entry_id, score))
            found = unique
        return found[:k]

    def stale(self, persist_min: int) -> bool:
        """Whether enough changed since the file that a new one is worth writing (amortised O(1) per change).

        A sixteenth of added rows (an eighth of deleted ones): a new file of 100k rows costs about 0.25 s of CPU
        on the worker, written as runs (`ivf_merge`; 2.7 s when the merge gathered the rows in memory), 40 us per
        insert so amortised (2026-12-04: ``Snapshot.merged`` and ``write_ivf`` of a 100k-row file and a 6,250-row
        tail, timed alone), and a process replaying the log after a crash reads at most that many vectors
        back."""
        rows = self.base.arrays.rows
        return self.tail.size() > max(persist_min // 2, rows // 16) or len(self.deleted) > max(
            1_024, rows // 8
        )

    def changed(self) -> int:
        """Rows added or deleted since the file: what a process opening the file would replay."""
        return self.tail.size() + len(self.deleted)

    def snapshot(self) -> Snapshot:
        """What a new file would hold, as copies (the base is a mapped file, which never changes), so it can be
        merged on another thread while this partition keeps changing."""
        tail_ids, tail_vecs, tail_cells = self.tail.items()
        return Snapshot(self.base.arrays, tail_ids, tail_vecs, tail_cells, frozenset(self.deleted))

    def carried_onto(self, base: IvfFile, since: Snapshot) -> LargePartition:
        """A partition on ``base`` (a file written from ``since``) holding what changed here after ``since``:
        rows added since (assigned to the new file's cells, which a retraining may have changed) and deletions of
        rows the new file holds."""
        out = LargePartition(base, self.dim)
        rows = self.tail.rows
        added = np.flatnonzero(~np.isin(rows.ids, since.tail_ids))
        if added.size and np.array_equal(base.arrays.centroids, self.base.arrays.centroids):
            # The cells were kept (not retrained): the rows keep theirs. Assigning them again cost ~6 us per
            # insert, the rows added while the worker merged (2026-12-04, 100k entries, batches of 500).
            out.tail.add(rows.ids[added].tolist(), rows.vecs[added], rows.tags[added])
        elif added.size:
            out.add(rows.ids[added].tolist(), rows.vecs[added])
        gone = self.deleted - since.deleted
        if gone:
            gone_ids = np.fromiter(gone, dtype=np.int64, count=len(gone))
            out.remove(gone_ids[np.isin(gone_ids, base.arrays.ids)].tolist())
        return out


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A large partition's state at one moment: its file's arrays, the tail's copies and the deleted ids."""

    base: IvfArrays
    tail_ids: I64
    tail_vecs: F32
    tail_cells: npt.NDArray[np.intp]
    deleted: frozenset[int]

    def merged(self) -> IvfArrays | MergedRows:
        """The file's live rows and the tail as a new file's content: cells kept (the tail's known) and written as
        runs of the old file and the tail (`ivf_merge`), or all retrained once the partition outgrew its
        training 4x."""
        return merge(self.base, self.tail_ids, self.tail_vecs, self.tail_cells, self.deleted)
