"""A new index file from the old one and what changed since, written as runs of rows, never gathered in memory.

Why. A large partition's file is rewritten when its tail or deletions outgrow a share of it (`ivf_partition`). The
merge used to concatenate the file's rows with the tail and gather them in cell order (two fresh copies of every
vector, 2 x 160 MB at 100k rows, plus the sketches) before writing them: 2.2 s of CPU per rewrite of 100k rows, ~350
us per inserted entry amortised, most of it the kernel faulting in fresh (transparent huge) pages for the copies
(2026-12-04, ``benchmarks/sqlite_scale.py`` profiled with py-spy; a 160 MB ``np.ones`` cost 0.02-0.9 s on this
machine, depending on whether huge pages were at hand). The old file's rows of a cell are contiguous and keep
their order, so the new file is the old file's cell runs interleaved with the tail's rows of each cell (sorted by
cell): written run by run from the mapped file and the tail (~0.1 s of CPU at 100k, most of it the copy itself).

The bytes are those the gathering merge wrote: same order, same offsets, same probe count (calibrated on the same
sample rows, read from where they lie).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .ivf_file import F32, I64, IvfArrays, build_arrays
from .ivf_train import calibrate_rows, row_products

__all__ = ["MergedRows", "merge"]

Index = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class MergedRows:
    """A file's content whose row sections are runs of two sources: the old file's rows and a cell-sorted tail.

    Run ``r`` covers ``stops[r] - starts[r]`` rows from ``starts[r]`` of the old file, or of the tail when
    ``starts[r] >= base.rows`` (then counted from ``base.rows``)."""

    centroids: F32
    projection: F32
    offsets: I64
    trained: int
    probes: int
    base: IvfArrays
    tail_ids: I64
    tail_sketches: F32
    tail_vectors: F32
    starts: I64
    stops: I64

    @property
    def rows(self) -> int:
        return int(self.offsets[-1])

    def sections(self) -> tuple[Iterator[np.ndarray], Iterator[np.ndarray], Iterator[np.ndarray]]:
        """The ids, sketches and vectors sections, each as its runs in file order."""
        return (
            self._runs(self.base.ids, self.tail_ids),
            self._runs(self.base.sketches, self.tail_sketches),
            self._runs(self.base.vectors, self.tail_vectors),
        )

    def _runs(self, old: np.ndarray, tail: np.ndarray) -> Iterator[np.ndarray]:
        split = self.base.rows
        for start, stop in zip(self.starts.tolist(), self.stops.tolist(), strict=True):
            yield old[start:stop] if start < split else tail[start - split : stop - split]

    def materialized(self) -> IvfArrays:
        """The same content as arrays in memory (for a store with no index directory, or a failed write)."""
        # Nothing left (every row deleted): no runs, and the sections are empty arrays of the old file's shapes.
        empty: tuple[np.ndarray, ...] = (self.base.ids[:0], self.base.sketches[:0], self.base.vectors[:0])
        ids, sketches, vectors = (
            np.concatenate(runs) if runs else none
            for runs, none in zip((list(section) for section in self.sections()), empty, strict=True)
        )
        return IvfArrays(
            self.centroids,
            self.projection,
            self.offsets,
            ids.astype(np.int64, copy=False),
            sketches.astype(np.float32, copy=False),
            vectors.astype(np.float32, copy=False),
            self.trained,
            self.probes,
        )


def merge(
    base: IvfArrays, tail_ids: I64, tail_vectors: F32, tail_cells: Index, deleted: frozenset[int]
) -> IvfArrays | MergedRows:
    """The file's live rows and the tail: cells kept (the tail's known), or everything retrained (in memory, as
    a first build) once the partition outgrew its training 4x."""
    keep = (
        np.flatnonzero(~np.isin(base.ids, np.fromiter(deleted, dtype=np.int64, count=len(deleted))))
        if deleted
        else np.arange(base.rows)
    )
    kept, added = int(keep.shape[0]), int(tail_ids.shape[0])
    if kept + added >= 4 * max(base.trained, 1) or base.rows == 0:
        ids = np.concatenate([base.ids[keep], tail_ids])
        return build_arrays(ids, np.concatenate([base.vectors[keep], tail_vectors]))
    cells = np.concatenate([base.cells()[keep], tail_cells])
    lists = int(base.centroids.shape[0])
    offsets = np.zeros(lists + 1, dtype=np.int64)
    np.cumsum(np.bincount(cells, minlength=lists), out=offsets[1:])
    by_cell = np.argsort(tail_cells, kind="stable")
    # Where each row of the new file comes from: an old row, or base.rows + its place in the cell-sorted tail.
    # The order is the gathering merge's: a stable sort of [kept old rows, tail] by cell.
    tail_place = np.empty(added, dtype=np.int64)
    tail_place[by_cell] = np.arange(added)
    source = np.concatenate([keep.astype(np.int64), base.rows + tail_place])[np.argsort(cells, kind="stable")]
    breaks = np.flatnonzero((np.diff(source) != 1) | (source[1:] == base.rows)) + 1
    starts = np.concatenate([source[:1], source[breaks]])
    stops = np.concatenate([source[breaks - 1] + 1, source[-1:] + 1]) if source.size else starts

    def rows_at(picked: Index) -> F32:
        """Rows of [kept old rows, tail] (the calibration's sample), read from where they lie."""
        out = np.empty((picked.shape[0], base.vectors.shape[1]), dtype=np.float32)
        old = picked < kept
        out[old] = base.vectors[keep[picked[old]]]
        out[~old] = tail_vectors[picked[~old] - kept]
        return out

    return MergedRows(
        base.centroids,
        base.projection,
        offsets,
        base.trained,
        calibrate_rows(rows_at, cells, base.centroids, kept + added),
        base,
        tail_ids[by_cell],
        row_products(tail_vectors, base.projection)[by_cell],
        np.ascontiguousarray(tail_vectors[by_cell], dtype=np.float32),
        starts,
        stops,
    )
