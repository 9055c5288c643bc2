"""A large partition's vectors as one memory-mapped file: an inverted-file (IVF) index a process opens, not builds.

Why. The SQLite backend used to build each partition's HNSW graph in every process that searched it: a fresh process
opening 100k entries answered its first lookup after ~2 s and then took 25-120 ms per lookup for ~100 s while the
graph was built in the background (issue 19). This file is written once and mapped by every later process: opening
reads a header, and a search touches only the centroids and the few lists it probes.

Layout (little-endian, every array 64-byte aligned):

    header   magic "LIXIVF01", dim, rows, lists, trained rows, stamp (seq, entry id, added), store id
    centroids  float32 [lists, dim]      unit vectors of the k-means cells
    offsets    int64   [lists + 1]       rows of cell c are [offsets[c], offsets[c+1])
    ids        int64   [rows]            entry ids, grouped by cell
    vectors    float32 [rows, dim]       unit vectors, grouped by cell

The stamp names the last change-log row the file reflects (see `sqlite_vectors`); the file never changes
after it is written: a new one replaces it by rename, so a process that mapped the old one keeps a consistent view.

A search ranks the centroids, scans the ``probes`` best cells with one BLAS product each, and returns the best
rows. Cells are trained by spherical k-means on a sample, with about ``2 * sqrt(rows)`` cells (at most 256) so a
search scans a few thousand rows.
"""

from __future__ import annotations

import logging
import math
import mmap
import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["IvfArrays", "IvfFile", "Stamp", "build_arrays", "open_ivf", "write_ivf"]

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

_MAGIC = b"LIXIVF01"
_HEADER = struct.Struct("<8sIQIQqqq32s")
_ALIGN = 64
_MAX_LISTS = 256
_MIN_LISTS = 16
_SAMPLE_PER_LIST = 40
_KMEANS_ROUNDS = 8
#: Rows a search aims to scan: about 0.2-0.4 ms of single-threaded BLAS at 384 dimensions; top-1 recall of
#: near-duplicate queries on random 384-d vectors was 0.93 at 100k with 3,000 (benchmarks/sqlite_scale.py,
#: 2026-12-04).
_SCAN_ROWS = 4_000
_MAX_PROBES = 32
_MIN_PROBES = 4


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
    offsets: I64
    ids: I64
    vectors: F32
    trained: int  # rows the centroids were trained on, to know when to train again

    @property
    def rows(self) -> int:
        return int(self.ids.shape[0])


def _lists_for(rows: int) -> int:
    return max(_MIN_LISTS, min(_MAX_LISTS, int(2 * math.sqrt(max(rows, 1)))))


def _normalized(m: F32) -> F32:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: F32 = (m / norms).astype(np.float32, copy=False)
    return out


def _assign(vectors: F32, centroids: F32) -> npt.NDArray[np.intp]:
    """Nearest centroid of each row, in blocks so the score matrix stays small."""
    out = np.empty(vectors.shape[0], dtype=np.intp)
    block = max(1, 4_000_000 // max(1, centroids.shape[0]))
    for start in range(0, vectors.shape[0], block):
        out[start : start + block] = np.argmax(vectors[start : start + block] @ centroids.T, axis=1)
    return out


def train(vectors: F32, lists: int, seed: int = 0) -> F32:
    """Spherical k-means on a sample of at most ``40 * lists`` rows (deterministic for a given input)."""
    rng = np.random.default_rng(seed)
    rows = vectors.shape[0]
    lists = max(1, min(lists, rows))
    sample = vectors[np.sort(rng.choice(rows, min(rows, _SAMPLE_PER_LIST * lists), replace=False))]
    centroids: F32 = sample[rng.choice(sample.shape[0], lists, replace=False)].copy()
    for _ in range(_KMEANS_ROUNDS):
        cells = _assign(sample, centroids)
        order = np.argsort(cells, kind="stable")
        counts = np.bincount(cells, minlength=lists)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.zeros_like(centroids)
        filled = counts > 0
        sums[filled] = np.add.reduceat(sample[order], starts[filled], axis=0)
        empty = ~filled
        sums[empty] = sample[rng.choice(sample.shape[0], int(empty.sum()))]  # restart empty cells
        centroids = _normalized(sums)
    return centroids


def build_arrays(
    ids: I64,
    vectors: F32,
    centroids: F32 | None = None,
    trained: int = 0,
    cells: npt.NDArray[np.intp] | None = None,
) -> IvfArrays:
    """Group rows by cell. Cells are trained first when none are given; ``cells`` may carry rows' known cells,
    ``-1`` where a row still needs its nearest centroid."""
    rows = int(ids.shape[0])
    if centroids is None:
        centroids = train(vectors, _lists_for(rows)) if rows else np.zeros((1, vectors.shape[1]), np.float32)
        trained = rows
        cells = None
    if cells is None:
        cells = _assign(vectors, centroids)
    else:
        todo = np.flatnonzero(cells < 0)
        if todo.size:
            cells = cells.copy()
            cells[todo] = _assign(vectors[todo], centroids)
    order = np.argsort(cells, kind="stable")
    counts = np.bincount(cells, minlength=centroids.shape[0])
    offsets = np.zeros(centroids.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return IvfArrays(
        np.ascontiguousarray(centroids, dtype=np.float32),
        offsets,
        np.ascontiguousarray(ids[order], dtype=np.int64),
        np.ascontiguousarray(vectors[order], dtype=np.float32),
        trained,
    )


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _layout(dim: int, rows: int, lists: int) -> tuple[int, int, int, int, int]:
    """Byte offsets of centroids, offsets, ids, vectors, and the file size."""
    c = _aligned(_HEADER.size)
    o = _aligned(c + lists * dim * 4)
    i = _aligned(o + (lists + 1) * 8)
    v = _aligned(i + rows * 8)
    return c, o, i, v, v + rows * dim * 4


def write_ivf(path: Path, arrays: IvfArrays, stamp: Stamp, store_id: str) -> None:
    """Write the file beside its final name and rename it into place (after fsync): a reader sees the old file or
    the whole new one, and a crash mid-write leaves only a temporary file behind."""
    lists, dim = arrays.centroids.shape
    c, o, i, v, size = _layout(dim, arrays.rows, lists)
    header = _HEADER.pack(
        _MAGIC,
        dim,
        arrays.rows,
        lists,
        arrays.trained,
        stamp.seq,
        stamp.entry_id,
        stamp.added,
        store_id.encode("ascii")[:32].ljust(32, b"\0"),
    )
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            for at, blob in (
                (0, header),
                (c, arrays.centroids.tobytes()),
                (o, arrays.offsets.tobytes()),
                (i, arrays.ids.tobytes()),
                (v, np.ascontiguousarray(arrays.vectors).data.cast("B")),
            ):
                fh.seek(at)
                fh.write(blob)
            fh.truncate(size)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class IvfFile:
    """A mapped index file (or arrays just built, before or without a file)."""

    def __init__(self, arrays: IvfArrays, stamp: Stamp, handle: mmap.mmap | None = None) -> None:
        self.arrays = arrays
        self.stamp = stamp
        self._handle = handle
        lists = arrays.centroids.shape[0]
        per_list = arrays.rows / max(lists, 1)
        self.probes = int(
            min(lists, max(_MIN_PROBES, min(_MAX_PROBES, math.ceil(_SCAN_ROWS / max(per_list, 1)))))
        )

    def close(self) -> None:
        """Unmap (the arrays must not be used afterwards); a view still held elsewhere defers it to the GC."""
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except BufferError:
                pass

    def search(self, query: F32, k: int, deleted: I64 | None) -> list[tuple[int, float]]:
        """Up to ``k`` best ``(id, cosine)`` of the probed cells, ids in ``deleted`` left out."""
        a = self.arrays
        if a.rows == 0:
            return []
        cell_scores = a.centroids @ query
        probes = self.probes
        cells = (
            np.argpartition(cell_scores, -probes)[-probes:]
            if probes < cell_scores.shape[0]
            else range(probes)
        )
        ids_parts: list[I64] = []
        score_parts: list[F32] = []
        for cell in cells:
            start, stop = int(a.offsets[cell]), int(a.offsets[cell + 1])
            if stop > start:
                score_parts.append(a.vectors[start:stop] @ query)
                ids_parts.append(a.ids[start:stop])
        if not score_parts:
            return []
        scores = np.concatenate(score_parts)
        ids = np.concatenate(ids_parts)
        if deleted is not None and deleted.size:
            live = ~np.isin(ids, deleted)
            scores, ids = scores[live], ids[live]
        n = scores.shape[0]
        k = min(k, n)
        if k <= 0:
            return []
        top = np.argpartition(scores, n - k)[n - k :] if k < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        return list(zip(ids[top].tolist(), scores[top].tolist(), strict=True))


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
    magic, fdim, rows, lists, trained, seq, entry_id, added, sid = _HEADER.unpack_from(handle, 0)
    problem = None
    if magic != _MAGIC:
        problem = "not a lix vector index"
    elif sid.rstrip(b"\0").decode("ascii", "replace") != store_id:
        problem = "written for another store"
    elif fdim != dim:
        problem = f"dimension {fdim}, the store's is {dim}"
    elif _layout(fdim, rows, lists)[4] != size:
        problem = "truncated"
    if problem is not None:
        handle.close()
        logger.warning("vector index %s is unusable (%s); rebuilding it from the store", path, problem)
        return None
    c, o, i, v, _ = _layout(fdim, rows, lists)
    arrays = IvfArrays(
        np.frombuffer(handle, dtype=np.float32, count=lists * fdim, offset=c).reshape(lists, fdim),
        np.frombuffer(handle, dtype=np.int64, count=lists + 1, offset=o),
        np.frombuffer(handle, dtype=np.int64, count=rows, offset=i),
        np.frombuffer(handle, dtype=np.float32, count=rows * fdim, offset=v).reshape(rows, fdim),
        trained,
    )
    if int(arrays.offsets[-1]) != rows:
        logger.warning("vector index %s is unusable (bad cell offsets); rebuilding it from the store", path)
        return None
    return IvfFile(arrays, Stamp(seq, entry_id, added), handle)
