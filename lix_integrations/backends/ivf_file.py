"""A large partition's vectors as one memory-mapped file: an inverted-file (IVF) index a process opens, not builds.

Why. The SQLite backend used to build each partition's HNSW graph in every process that searched it: a fresh process
opening 100k entries answered its first lookup after ~2 s and then took 25-120 ms per lookup for ~100 s while the
graph was built in the background (issue 19). This file is written once and mapped by every later process: opening
reads a header, and a search touches only the centroids and the few cells it probes.

Layout (little-endian, every array 64-byte aligned):

    header      magic "LIXIVF02", dim, rows, lists, trained rows, probes, sketch dim, stamp, store id
    centroids   float32 [lists, dim]      unit vectors of the k-means cells
    projection  float32 [sketch, dim]     the sketch's orthonormal directions
    offsets     int64   [lists + 1]       rows of cell c are [offsets[c], offsets[c+1])
    ids         int64   [rows]            entry ids, grouped by cell
    sketches    float32 [rows, sketch]    the rows projected, grouped by cell
    vectors     float32 [rows, dim]       unit vectors, grouped by cell

The stamp names the last change-log row the file reflects (see `sqlite_vectors`); the file never changes
after it is written: a new one replaces it by rename, so a process that mapped the old one keeps a consistent view.

A search ranks the centroids, scores the rows of the ``probes`` best cells on their sketches (one BLAS product per
cell into one reused buffer), and rescores the best ``k + 60`` on their full vectors: the scan reads a twelfth
(a sixth from 200k rows) of the bytes a full-vector scan reads, which is what it costs (a scan is bound by memory
bandwidth). `ivf_train` learns the cells, the projection and the probe count.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .ivf_train import assign, calibrate_probes, lists_for, projection, sketch_dim, train
from .top_n import largest

if TYPE_CHECKING:
    from .ivf_merge import MergedRows

__all__ = ["IvfArrays", "IvfFile", "Stamp", "build_arrays", "open_ivf", "write_ivf"]

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

_MAGIC = b"LIXIVF02"
_HEADER = struct.Struct("<8sIQIQIIqqq32s")
_ALIGN = 64
# Rows beyond k rescored on full vectors: the sketch's ranking errors are local. With 32-d sketches, 60 found as
# many true neighbours as 64-d sketches with 28 (recall@1 0.9941 / 0.9945 at cosine 0.90, 28: 0.9922; 2,600
# queries on 100k random rows, 2026-12-04) for ~3 us more than 28.
_RESCORE = 60


@dataclass(frozen=True, slots=True)
class Stamp:
    """The change-log row a file reflects: its seq and what it said, so a log that was rebuilt is not mistaken."""

    seq: int
    entry_id: int
    added: int


@dataclass(frozen=True, slots=True)
class IvfArrays:
    """The index's arrays, in memory (just built) or mapped from a file."""

    centroids: F32
    projection: F32
    offsets: I64
    ids: I64
    sketches: F32
    vectors: F32
    trained: int  # rows the centroids were trained on, to know when to train again
    probes: int

    @property
    def rows(self) -> int:
        return int(self.ids.shape[0])

    def sections(self) -> tuple[Iterator[np.ndarray], Iterator[np.ndarray], Iterator[np.ndarray]]:
        """The ids, sketches and vectors sections as runs in file order (one each; a merge has many, see
        `ivf_merge.MergedRows`)."""
        return iter((self.ids,)), iter((self.sketches,)), iter((self.vectors,))

    def cells(self) -> npt.NDArray[np.intp]:
        """The cell of each row, in row order."""
        return np.repeat(np.arange(self.centroids.shape[0]), np.diff(self.offsets))


def build_arrays(
    ids: I64,
    vectors: F32,
    centroids: F32 | None = None,
    trained: int = 0,
    cells: npt.NDArray[np.intp] | None = None,
    proj: F32 | None = None,
    sketches: F32 | None = None,
) -> IvfArrays:
    """Group rows by cell. Cells and the projection are trained first when no centroids are given; ``cells`` may
    carry rows' known cells, ``-1`` where a row still needs its nearest centroid, and ``sketches`` the rows'
    sketches under ``proj`` (a merge keeps the file's: projecting every row again was most of its cost)."""
    rows, dim = int(ids.shape[0]), int(vectors.shape[1])
    if centroids is None or proj is None:
        centroids = train(vectors, lists_for(rows)) if rows else np.zeros((1, dim), np.float32)
        proj = projection(vectors, sketch_dim(dim, rows))
        trained = rows
        cells = sketches = None
    if cells is None:
        cells = assign(vectors, centroids)
    else:
        todo = np.flatnonzero(cells < 0)
        if todo.size:
            cells = cells.copy()
            cells[todo] = assign(vectors[todo], centroids)
    order = np.argsort(cells, kind="stable")
    counts = np.bincount(cells, minlength=centroids.shape[0])
    offsets = np.zeros(centroids.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    grouped = np.ascontiguousarray(vectors[order], dtype=np.float32)
    return IvfArrays(
        np.ascontiguousarray(centroids, dtype=np.float32),
        np.ascontiguousarray(proj, dtype=np.float32),
        offsets,
        np.ascontiguousarray(ids[order], dtype=np.int64),
        np.ascontiguousarray(grouped @ proj.T if sketches is None else sketches[order], dtype=np.float32),
        grouped,
        trained,
        calibrate_probes(vectors, cells, centroids),
    )


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _layout(dim: int, rows: int, lists: int, sketch: int) -> list[int]:
    """Byte offsets of centroids, projection, offsets, ids, sketches, vectors, and the file size."""
    sizes = [lists * dim * 4, sketch * dim * 4, (lists + 1) * 8, rows * 8, rows * sketch * 4, rows * dim * 4]
    at = [_aligned(_HEADER.size)]
    for size in sizes[:-1]:
        at.append(_aligned(at[-1] + size))
    return [*at, at[-1] + sizes[-1]]


def write_ivf(path: Path, arrays: IvfArrays | MergedRows, stamp: Stamp, store_id: str) -> None:
    """Write the file beside its final name and rename it into place (after fsync): a reader sees the old file or
    the whole new one, and a crash mid-write leaves only a temporary file behind."""
    lists, dim = arrays.centroids.shape
    sketch = arrays.projection.shape[0]
    *at, size = _layout(dim, arrays.rows, lists, sketch)
    header = _HEADER.pack(
        _MAGIC,
        dim,
        arrays.rows,
        lists,
        arrays.trained,
        arrays.probes,
        sketch,
        stamp.seq,
        stamp.entry_id,
        stamp.added,
        store_id.encode("ascii")[:32].ljust(32, b"\0"),
    )
    parts: tuple[Iterator[np.ndarray], ...] = (
        iter((arrays.centroids,)),
        iter((arrays.projection,)),
        iter((arrays.offsets,)),
        *arrays.sections(),
    )
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header)
            for offset, runs in zip(at, parts, strict=True):
                fh.seek(offset)
                for run in runs:
                    fh.write(np.ascontiguousarray(run).data.cast("B"))
            fh.truncate(size)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class IvfFile:
    """A mapped index file (or arrays just built, before or without a file).

    Not thread-safe (a search reuses its buffers): the backend holds its lock around every call.
    """

    def __init__(self, arrays: IvfArrays, stamp: Stamp, handle: mmap.mmap | None = None) -> None:
        self.arrays = arrays
        self.stamp = stamp
        self._handle = handle
        self.probes = max(1, min(arrays.probes, arrays.centroids.shape[0]))
        self._scores = np.empty(0, dtype=np.float32)

    def close(self) -> None:
        """Unmap (the arrays must not be used afterwards); a view still held elsewhere defers it to the GC."""
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except BufferError:
                pass

    def probe(self, query: F32) -> npt.NDArray[np.intp]:
        """The cells a search of ``query`` scans."""
        cell_scores = self.arrays.centroids @ query
        probes = self.probes
        if probes >= cell_scores.shape[0]:
            return np.arange(cell_scores.shape[0])
        return np.argpartition(cell_scores, -probes)[-probes:]

    def search(
        self, query: F32, k: int, deleted: I64 | None, cells: npt.NDArray[np.intp] | None = None
    ) -> list[tuple[int, float]]:
        """Up to ``k`` best ``(id, cosine)`` of the probed cells, ids in ``deleted`` left out."""
        a = self.arrays
        if a.rows == 0 or k <= 0:
            return []
        cells = self.probe(query) if cells is None else cells
        starts, stops = a.offsets[cells], a.offsets[cells + 1]
        sizes = stops - starts
        ends = np.cumsum(sizes)
        total = int(ends[-1])
        if total == 0:
            return []
        if self._scores.shape[0] < total:
            self._scores = np.empty(max(total, 2 * self._scores.shape[0]), dtype=np.float32)
        scores = self._scores
        sketch = a.projection @ query
        sketches = a.sketches
        at = 0
        for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
            if stop > start:
                np.dot(sketches[start:stop], sketch, out=scores[at : at + stop - start])
                at += stop - start
        want = k + _RESCORE + (0 if deleted is None else int(deleted.size))
        while True:
            n = min(total, want)
            top = largest(scores[:total], n)
            which = np.searchsorted(ends, top, side="right")
            rows = starts[which] + (top - (ends[which] - sizes[which]))
            ids = a.ids[rows]
            if deleted is not None and deleted.size:
                live = ~np.isin(ids, deleted)
                rows, ids = rows[live], ids[live]
            if ids.shape[0] >= min(k + _RESCORE, total) or n >= total:
                break
            want *= 4
        exact = a.vectors[rows] @ query
        order = np.argsort(-exact, kind="stable")[:k]
        return list(zip(ids[order].tolist(), exact[order].tolist(), strict=True))


def open_ivf(path: Path, dim: int, store_id: str) -> IvfFile | None:
    """Map an index file; ``None`` (logged) when it is missing, of another store or dimension, or damaged."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("cannot read vector index %s (%s); rebuilding it from the store", path, exc)
        return None
    try:
        size = os.fstat(fd).st_size
        if size < _HEADER.size:
            raise ValueError("shorter than its header")
        handle = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        logger.warning("vector index %s is damaged (%s); rebuilding it from the store", path, exc)
        return None
    finally:
        os.close(fd)
    magic, fdim, rows, lists, trained, probes, sketch, seq, entry_id, added, sid = _HEADER.unpack_from(
        handle, 0
    )
    problem = None
    if magic != _MAGIC:
        problem = "an older format" if magic.startswith(b"LIXIVF") else "not a lix vector index"
    elif sid.rstrip(b"\0").decode("ascii", "replace") != store_id:
        problem = "written for another store"
    elif fdim != dim:
        problem = f"dimension {fdim}, the store's is {dim}"
    elif not 0 < sketch <= fdim or lists == 0 or _layout(fdim, rows, lists, sketch)[-1] != size:
        problem = "truncated"
    if problem is not None:
        handle.close()
        logger.warning("vector index %s is unusable (%s); rebuilding it from the store", path, problem)
        return None
    c, p, o, i, s, v, _ = _layout(fdim, rows, lists, sketch)

    def f32(offset: int, *shape: int) -> F32:
        return np.frombuffer(handle, dtype=np.float32, count=shape[0] * shape[1], offset=offset).reshape(
            shape
        )

    arrays = IvfArrays(
        f32(c, lists, fdim),
        f32(p, sketch, fdim),
        np.frombuffer(handle, dtype=np.int64, count=lists + 1, offset=o),
        np.frombuffer(handle, dtype=np.int64, count=rows, offset=i),
        f32(s, rows, sketch),
        f32(v, rows, fdim),
        trained,
        probes,
    )
    if int(arrays.offsets[-1]) != rows:
        logger.warning("vector index %s is unusable (bad cell offsets); rebuilding it from the store", path)
        return None
    return IvfFile(arrays, Stamp(seq, entry_id, added), handle)
