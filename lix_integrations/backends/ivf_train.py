"""Training an IVF index file's parts (`ivf_file`): the cells, the sketch projection and the probe count.

All three are learnt from a sample of the partition's rows and are deterministic for a given input, so two
processes writing a file for the same rows write the same file.

* Cells: spherical k-means, about ``sqrt(rows)`` of them, so a search ranks few centroids and scans few rows.
* Sketch projection: the top principal directions of the rows (uncentred, as the inner product is what is kept).
  A search scores the probed rows on their sketches (a twelfth or a sixth of the bytes at 384 dimensions) and rescores only
  the best few on the full vectors: the scan is bound by memory bandwidth, so fewer bytes is faster.
* Probe count: how many cells a search scans, calibrated on the rows themselves: sample rows are moved to a
  cosine of `CALIBRATION_COSINE` (a near duplicate, the kind of query a cache hit depends on) and the count is
  the one that finds the moved row's own cell for `CALIBRATION_QUANTILE` of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = [
    "CALIBRATION_COSINE",
    "CALIBRATION_QUANTILE",
    "WIDE_SKETCH_ROWS",
    "assign",
    "calibrate_probes",
    "calibrate_rows",
    "lists_for",
    "normalized",
    "projection",
    "row_products",
    "sketch_dim",
    "train",
]

F32 = npt.NDArray[np.float32]

_MAX_LISTS = 1_024
_MIN_LISTS = 16
_SAMPLE_PER_LIST = 40
_KMEANS_ROUNDS = 8
_PCA_SAMPLE = 20_000
# Sample rows the probe count is calibrated on. 1,000 let the 99.5% quantile swing by a few cells between files of
# the same rows (recall@1 at cosine 0.90 0.988-0.998 over runs of benchmarks/sqlite_scale.py at 10k and 100k);
# 4,000 gave 0.994-0.996 with the same latency (2026-12-04).
_CALIBRATION_ROWS = 4_000
_MIN_PROBES = 4
_CALIBRATION_BLOCK = 256
# Rows up to which `assign` takes one matrix-vector product a row (a batch of inserts, a replayed log tail).
_ROW_BY_ROW_MAX = 4_096
#: Rows from which a partition's file keeps 64-dimension sketches (of 384), not 32: see `sketch_dim`.
WIDE_SKETCH_ROWS = 200_000
#: Queries whose nearest entry is at this cosine must find its cell (the default threshold is 0.82; hits that
#: matter are paraphrases well above it).
CALIBRATION_COSINE = 0.9
#: Above the 0.99 recall wanted: the estimate from 1,000 rows varies by a few cells.
CALIBRATION_QUANTILE = 0.995
# Not 0: data generated with seed 0 (tests, benchmarks) would correlate with the calibration noise.
_CALIBRATION_SEED = 0x1F5_CA11B


def lists_for(rows: int) -> int:
    return max(_MIN_LISTS, min(_MAX_LISTS, int(math.sqrt(max(rows, 1)))))


def sketch_dim(dim: int, rows: int) -> int:
    """The sketch's size: 32 of 384 dimensions up to `WIDE_SKETCH_ROWS` rows, 64 from there.

    The sketch only has to rank a query's true neighbour among the best few of the rows scanned, and a search
    scans about ``sqrt(rows)`` times the probes: at 100k random rows (~10k scanned) 32 dimensions found as many
    neighbours as 64 and cost 90 us less per search (recall@1 0.998 at cosine 0.90 either way, 330 -> 237 us); at
    1M (~100k scanned) 32 lost them (recall@1 0.993 at cosine 0.95, 0.980 at 0.90, where 64 found 1.000 / 1.000;
    2026-12-04, ``benchmarks/sqlite_scale.py``). Files record their own sketch size."""
    wide = rows >= WIDE_SKETCH_ROWS
    return min(dim, max(32, dim // (6 if wide else 12)))


def normalized(m: F32) -> F32:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: F32 = (m / norms).astype(np.float32, copy=False)
    return out


def row_products(rows: F32, matrix: F32) -> F32:
    """``rows @ matrix.T``, one matrix-vector product a row: for the batch sizes of the write path.

    Why. OpenBLAS runs a matrix-matrix product of a batch's size (500 inserts against 316 centroids) on every
    core, and its helper threads then spin for a while before they sleep: each batch of ``update_many`` kept the
    second core busy, ~120 us of CPU per inserted entry on top of ~130 (2026-12-04, ``benchmarks/sqlite_scale.py``
    at 100k entries, process CPU with and without ``OPENBLAS_NUM_THREADS=1``). Its matrix-vector product stays on
    the caller's thread: 500 rows against 316 centroids cost 3.5 ms of one core where the matrix product cost 1 ms
    of it plus ~11 ms of spinning on the other (2026-12-04, timed alone)."""
    out = np.empty((rows.shape[0], matrix.shape[0]), dtype=np.float32)
    for i in range(rows.shape[0]):
        np.dot(matrix, rows[i], out=out[i])
    return out


def assign(vectors: F32, centroids: F32) -> npt.NDArray[np.intp]:
    """Nearest centroid of each row, in blocks so the score matrix stays small (a batch's rows one at a time,
    see `row_products`)."""
    if vectors.shape[0] <= _ROW_BY_ROW_MAX:
        scores = np.empty(centroids.shape[0], dtype=np.float32)
        out = np.empty(vectors.shape[0], dtype=np.intp)
        for i in range(vectors.shape[0]):
            np.dot(centroids, vectors[i], out=scores)
            out[i] = int(np.argmax(scores))
        return out
    return _assign_blocked(vectors, centroids)


def _assign_blocked(vectors: F32, centroids: F32) -> npt.NDArray[np.intp]:
    """`assign` by matrix products (a build's rows, k-means rounds: what they cost in spinning is amortised)."""
    out = np.empty(vectors.shape[0], dtype=np.intp)
    block = max(1, 4_000_000 // max(1, centroids.shape[0]))
    for start in range(0, vectors.shape[0], block):
        out[start : start + block] = np.argmax(vectors[start : start + block] @ centroids.T, axis=1)
    return out


def train(vectors: F32, lists: int, seed: int = 0) -> F32:
    """Spherical k-means on a sample of at most ``40 * lists`` rows."""
    rng = np.random.default_rng(seed)
    rows = vectors.shape[0]
    lists = max(1, min(lists, rows))
    sample = vectors[np.sort(rng.choice(rows, min(rows, _SAMPLE_PER_LIST * lists), replace=False))]
    centroids: F32 = sample[rng.choice(sample.shape[0], lists, replace=False)].copy()
    for _ in range(_KMEANS_ROUNDS):
        cells = _assign_blocked(sample, centroids)
        order = np.argsort(cells, kind="stable")
        counts = np.bincount(cells, minlength=lists)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.zeros_like(centroids)
        filled = counts > 0
        sums[filled] = np.add.reduceat(sample[order], starts[filled], axis=0)
        empty = ~filled
        sums[empty] = sample[rng.choice(sample.shape[0], int(empty.sum()))]  # restart empty cells
        centroids = normalized(sums)
    return centroids


def projection(vectors: F32, dims: int, seed: int = 0) -> F32:
    """``dims`` orthonormal rows spanning most of the rows' energy (principal directions of a sample)."""
    rng = np.random.default_rng(seed)
    rows, dim = vectors.shape
    if rows == 0:
        return np.eye(dims, dim, dtype=np.float32)
    sample = vectors[np.sort(rng.choice(rows, min(rows, _PCA_SAMPLE), replace=False))].astype(np.float64)
    _, basis = np.linalg.eigh(sample.T @ sample)  # ascending eigenvalues
    out: F32 = np.ascontiguousarray(basis[:, ::-1][:, :dims].T, dtype=np.float32)
    return out


def calibrate_probes(
    vectors: F32, cells: npt.NDArray[np.intp], centroids: F32, seed: int = _CALIBRATION_SEED
) -> int:
    """The fewest cells a search must scan so a query at `CALIBRATION_COSINE` to a stored row ranks that row's
    cell among them for `CALIBRATION_QUANTILE` of sample rows."""
    return calibrate_rows(lambda picked: vectors[picked], cells, centroids, int(vectors.shape[0]), seed)


def calibrate_rows(
    rows_at: Callable[[npt.NDArray[np.intp]], F32],
    cells: npt.NDArray[np.intp],
    centroids: F32,
    count: int,
    seed: int = _CALIBRATION_SEED,
) -> int:
    """`calibrate_probes` over ``count`` rows read by position with ``rows_at`` (a merge's rows lie in two places).

    The sample is taken in blocks of `_CALIBRATION_BLOCK` rows, drawing the same noise as one draw would: every
    temporary stays under a megabyte, where a fresh 12 MB one could cost 50 ms of page faults (2026-12-04)."""
    lists = int(centroids.shape[0])
    if count == 0 or lists <= _MIN_PROBES:
        return lists
    rng = np.random.default_rng(seed)
    pick = rng.choice(count, min(count, _CALIBRATION_ROWS), replace=False)
    ranks = np.empty(pick.shape[0], dtype=np.int64)
    c = CALIBRATION_COSINE
    for start in range(0, pick.shape[0], _CALIBRATION_BLOCK):
        block = pick[start : start + _CALIBRATION_BLOCK]
        x = rows_at(block)
        noise = rng.standard_normal(x.shape).astype(np.float32)
        noise -= (noise * x).sum(axis=1, keepdims=True) * x  # orthogonal to x, so the cosine is exact
        noise = normalized(noise)
        queries = c * x + math.sqrt(1 - c * c) * noise
        scores = row_products(queries, centroids)
        own = scores[np.arange(block.shape[0]), cells[block]]
        ranks[start : start + block.shape[0]] = (scores > own[:, None]).sum(axis=1) + 1
    needed = int(math.ceil(float(np.quantile(ranks, CALIBRATION_QUANTILE))))
    return int(max(_MIN_PROBES, min(lists, needed)))
