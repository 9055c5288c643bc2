"""In-process vector index for one cache partition, shared by the in-memory and SQLite backends.

A partition is searched with an exact numpy scan while it is small, because a scan of a few
thousand rows is both faster than an HNSW graph walk and exactly right, and with an hnswlib
graph once it is large, because the scan grows linearly (single-threaded, about 0.6 ms at 10k
and 6-10 ms at 100k rows of 384 float32) and would break the lookup budget of 0.3 ms at 10k and
1 ms at 100k entries. ``benchmarks/_index_study.py`` holds the measurements behind the defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TypedDict

import hnswlib
import numpy as np
import numpy.typing as npt

from ..config.backends import HnswConfig
from .vector_build import PendingBuild, build_graph
from .vector_rows import VectorRows, split_known

__all__ = [
    "DEFAULT_BACKGROUND_BUILD_MIN",
    "DEFAULT_EXACT_THRESHOLD",
    "DEFAULT_HNSW",
    "HnswConfig",
    "IndexOptions",
    "VectorIndex",
]

F32Array = npt.NDArray[np.float32]

logger = logging.getLogger(__name__)

_MAX_ID = 2**63 - 1
_INITIAL_ROWS = 64
# OpenBLAS (numpy's BLAS) splits a matrix-vector product over threads once rows * dim passes
# 460,800. That halves an idle machine's scan, but when the other core is busy (the embedder's
# threads, another process) the helper thread waits for a time slice: medians of 8 ms instead of
# 0.05-0.2 ms were measured for 2k-6k rows. Scanning in chunks below that size keeps the product
# on the calling thread, and the exact threshold is set where a single-threaded scan still wins.
_SCAN_CHUNK_ELEMS = 400_000
# hnswlib fills the slot of a deleted point (or updates a live one) by re-linking the old
# point's neighbourhood, measured at 4-8x the cost of inserting a point into a graph. A batch
# that would re-link more points than (live + new) / this factor rebuilds the graph instead.
_REPLACE_COST = 5
# Deleted slots stay in the graph and are still walked through; once they outnumber the live
# points by this factor a remove() compacts the graph, so a shrunken partition is not slowed
# down by its history. The rebuild costs O(live), paid for by the many removals before it.
_MAX_TOMBSTONE_RATIO = 2
# Below this many vectors per add() call hnswlib is told to stay on the calling thread:
# spawning its worker threads costs more than inserting a handful of points.
_PARALLEL_ADD_MIN = 64


DEFAULT_HNSW = HnswConfig()
# A single-threaded exact scan of this many 384-dim rows takes about 0.08 ms, where the graph
# walk (0.05-0.1 ms at ef 64) starts to win; it also keeps the one-off graph build when a
# partition crosses it to a fraction of a second.
DEFAULT_EXACT_THRESHOLD = 2048
# A synchronous graph build stalls the caller: 10k rows took 1.7 s and 100k rows 15-25 s on 2 busy cores. From this
# size on, the graph is built on a background thread while searches keep using the exact scan (about 0.3 ms at
# 4k rows, 4-10 ms at 100k), so a process opening a large SQLite store answers its first lookup at once. Below it
# (a partition crossing the exact threshold by single adds) the build takes a fraction of a second.
DEFAULT_BACKGROUND_BUILD_MIN = 4096


class IndexOptions(TypedDict, total=False):
    """`VectorIndex`'s keyword options, passed through by `IndexSet`."""

    exact_threshold: int
    hnsw: HnswConfig
    background_build_min: int


def _check_ids(ids: Sequence[int]) -> list[int]:
    """Reject ids that could not survive the round trip through int64 rows and uint64 labels."""
    out = [int(i) for i in ids]
    for i in out:
        if i < 0 or i > _MAX_ID:
            raise ValueError(f"vector ids must be in [0, 2**63-1], got {i}")
    return out


class VectorIndex:
    """Vectors of one partition.

    Not thread-safe: the backends already serialise access to a partition with their own lock,
    and a second lock here would only add cost to every lookup.

    Vectors must be unit length, so the inner product is the cosine similarity and the exact
    scan needs no normalisation. While the partition holds at most ``exact_threshold`` vectors
    they live in one contiguous float32 matrix (grown by doubling, holes filled by moving the
    last row in) so that a search is a single BLAS matrix-vector product. When an ``add`` takes
    the partition past the threshold the rows are moved into an hnswlib graph once, and the
    partition stays on the graph for good: going back would cost another rebuild for a
    partition that is likely to grow again.

    Inside the graph every stored vector gets a fresh internal label instead of using the
    caller's id. hnswlib recycles the slots of deleted points (``replace_deleted``), and when it
    does it forgets the label that was in the slot; if those labels were caller ids, an id that
    had been removed and re-added could lose its mapping. Labels that are never reused make
    that harmless.
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
        hnsw: HnswConfig = DEFAULT_HNSW,
        background_build_min: int = DEFAULT_BACKGROUND_BUILD_MIN,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self._background_build_min = background_build_min
        self._building: PendingBuild | None = None
        if exact_threshold < 0:
            raise ValueError(f"exact_threshold must be >= 0, got {exact_threshold}")
        self._dim = dim
        self._exact_threshold = exact_threshold
        self._hnsw_config = hnsw
        # Exact mode: the rows of one contiguous matrix.
        self._rows = VectorRows(dim)
        # Graph mode.
        self._graph: hnswlib.Index | None = None
        self._label_of_id: dict[int, int] = {}
        self._id_of_label: dict[int, int] = {}
        self._next_label = 0

    @property
    def dim(self) -> int:
        """Dimension every stored and query vector must have."""
        return self._dim

    @property
    def uses_graph(self) -> bool:
        """Whether searches go through the HNSW graph, exposed so tests and benchmarks can tell."""
        return self._graph is not None

    def size(self) -> int:
        """Number of live vectors; a method rather than ``__len__`` so an empty index stays truthy."""
        if self._graph is not None:
            return len(self._label_of_id)
        return self._rows.n

    def contains(self, id: int) -> bool:
        """Whether ``id`` has a live vector, so callers can skip re-embedding it."""
        if self._graph is not None:
            return id in self._label_of_id
        return id in self._rows.row_of

    def items(self) -> tuple[npt.NDArray[np.int64], F32Array]:
        """Copies of every live ``(ids, vectors)``, e.g. to write them to an index file."""
        self._adopt_build()
        if self._graph is not None:
            live_ids, live_vecs = self._live_items()
            return np.asarray(live_ids, dtype=np.int64), live_vecs
        return self._rows.ids.copy(), self._rows.vecs.copy()

    # ------------------------------------------------------------------ add

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Insert or replace vectors; replacing keeps the cache's update path a single call.

        ``vectors`` has shape ``(len(ids), dim)`` and unit-length rows. If an id occurs twice in
        one call the later row wins, as it would with two consecutive calls.
        """
        id_list = _check_ids(ids)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.ndim == 1 and len(id_list) == 1:
            vecs = vecs.reshape(1, -1)
        if vecs.ndim != 2 or vecs.shape[1] != self._dim or vecs.shape[0] != len(id_list):
            raise ValueError(
                f"expected vectors of shape ({len(id_list)}, {self._dim}), got {tuple(vectors.shape)}"
            )
        if not id_list:
            return
        self._adopt_build()
        if len(set(id_list)) != len(id_list):
            last = {i: pos for pos, i in enumerate(id_list)}
            keep = sorted(last.values())
            id_list = [id_list[p] for p in keep]
            vecs = vecs[keep]

        if self._graph is None:
            rows = self._rows
            new_count = sum(1 for i in id_list if i not in rows.row_of)
            if self._building is not None:
                rows.put(id_list, vecs)
                self._building.journal.append((True, id_list, vecs.copy()))
                return
            if rows.n + new_count <= self._exact_threshold:
                rows.put(id_list, vecs)
                return
            if rows.n + new_count >= self._background_build_min:
                rows.put(id_list, vecs)
                self._building = PendingBuild(
                    rows.ids.tolist(),
                    rows.vecs.copy(),
                    self._dim,
                    self._hnsw_config,
                    self._add_threads(rows.n),
                )
                return
            # Build the graph from everything at once: a bulk build is cheaper than building
            # from the old rows and then inserting the new ones, and it is the common case of a
            # SQLite backend loading a large partition in one call.
            rows.remove(id_list)
            ids_all = rows.ids.tolist() + id_list
            vecs_all = np.concatenate([rows.vecs, vecs])
            self._build_graph(ids_all, vecs_all)
            return
        self._add_graph(id_list, vecs)

    @property
    def building(self) -> bool:
        """Whether a graph is being built in the background (searches use the exact scan meanwhile)."""
        return self._building is not None

    def wait_for_build(self, timeout: float | None = None) -> bool:
        """Block until a background build has finished and adopt it; True when no build is pending."""
        if self._building is not None:
            self._building.wait(timeout)
        self._adopt_build()
        return self._building is None

    def _adopt_build(self) -> None:
        """Swap in a finished background graph and replay the changes made while it was built."""
        pending = self._building
        if pending is None or not pending.done():
            return
        self._building = None
        if pending.graph is None:
            logger.warning("background HNSW build failed; staying on the exact scan: %r", pending.error)
            return
        count = len(pending.ids)
        self._graph = pending.graph
        self._label_of_id = dict(zip(pending.ids, range(count), strict=True))
        self._id_of_label = dict(zip(range(count), pending.ids, strict=True))
        self._next_label = count
        self._rows = VectorRows(self._dim)
        for added, ids, vecs in pending.journal:
            if added and vecs is not None:
                self._add_graph(ids, vecs)
            else:
                self._forget_graph(ids)

    def _build_graph(self, ids: list[int], vecs: F32Array) -> None:
        """Put ``ids``/``vecs`` (distinct ids) into a new graph, or into exact mode if few enough.

        Going back to the exact scan only below half the threshold leaves a gap, so a partition
        that hovers around the threshold does not rebuild its graph on every compaction.
        """
        count = len(ids)
        self._graph = None
        self._label_of_id, self._id_of_label = {}, {}
        self._rows = VectorRows(self._dim)
        if count <= self._exact_threshold // 2:
            self._rows.put(ids, vecs)
            return
        self._graph = build_graph(vecs, self._dim, self._hnsw_config, self._add_threads(count))
        self._label_of_id = dict(zip(ids, range(count), strict=True))
        self._id_of_label = dict(zip(range(count), ids, strict=True))
        self._next_label = count

    def _forget_graph(self, ids: Iterable[int]) -> None:
        graph = self._graph
        assert graph is not None
        for i in ids:
            label = self._label_of_id.pop(i, None)
            if label is not None:
                del self._id_of_label[label]
                # The slot stays in the graph as a tombstone until an add reuses it.
                graph.mark_deleted(label)

    def _live_items(self) -> tuple[list[int], F32Array]:
        graph = self._graph
        assert graph is not None
        labels = list(self._id_of_label)
        if not labels:
            return [], np.empty((0, self._dim), dtype=np.float32)
        vecs = np.asarray(graph.get_items(labels, return_type="numpy"), dtype=np.float32)
        return [self._id_of_label[label] for label in labels], vecs

    def _tombstones(self) -> int:
        assert self._graph is not None
        return int(self._graph.get_current_count()) - len(self._label_of_id)

    def _add_threads(self, count: int) -> int:
        return self._hnsw_config.num_threads if count >= _PARALLEL_ADD_MIN else 1

    def _add_graph(self, ids: list[int], vecs: F32Array) -> None:
        graph = self._graph
        assert graph is not None
        new_pos, old_pos, old_labels = split_known(ids, self._label_of_id)
        live = len(self._label_of_id)
        # Updating a point in place costs about as much as filling a deleted slot.
        relinked = len(old_pos) + min(len(new_pos), self._tombstones())
        if relinked * _REPLACE_COST > live + len(new_pos):
            self._forget_graph(ids)
            live_ids, live_vecs = self._live_items()
            self._build_graph(live_ids + ids, np.concatenate([live_vecs, vecs]))
            return
        if old_pos:
            # A live label is updated in place; replace_deleted must stay off for it, or hnswlib
            # would put the new vector in some vacant slot and leave the old one live too.
            graph.add_items(
                vecs[old_pos],
                np.asarray(old_labels, dtype=np.uint64),
                num_threads=self._add_threads(len(old_pos)),
            )
        if not new_pos:
            return
        # Vacant (deleted) slots are filled first, so the graph needs room only beyond them.
        needed = max(graph.get_current_count(), live + len(new_pos))
        if needed > graph.get_max_elements():
            graph.resize_index(max(needed, 2 * graph.get_max_elements()))
        first = self._next_label
        labels = range(first, first + len(new_pos))
        self._next_label = first + len(new_pos)
        graph.add_items(
            vecs[new_pos],
            np.asarray(labels, dtype=np.uint64),
            num_threads=self._add_threads(len(new_pos)),
            replace_deleted=True,
        )
        new_ids = [ids[p] for p in new_pos]
        self._label_of_id.update(zip(new_ids, labels, strict=True))
        self._id_of_label.update(zip(labels, new_ids, strict=True))

    # --------------------------------------------------------------- remove

    def remove(self, ids: Iterable[int]) -> None:
        """Delete vectors; ids that are not present are ignored so eviction can be idempotent."""
        self._adopt_build()
        if self._graph is None:
            id_list = list(ids)
            self._rows.remove(id_list)
            if self._building is not None:
                self._building.journal.append((False, id_list, None))
            return
        self._forget_graph(ids)
        live = len(self._label_of_id)
        if self._tombstones() > _MAX_TOMBSTONE_RATIO * max(live, _INITIAL_ROWS):
            live_ids, live_vecs = self._live_items()
            self._build_graph(live_ids, live_vecs)

    # --------------------------------------------------------------- search

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Return up to ``k`` ``(id, cosine)`` pairs, most similar first.

        Fewer than ``k`` pairs come back only when the partition holds fewer vectors, so a
        caller can ask for a generous ``k`` without checking the size first.
        """
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self._dim:
            raise ValueError(f"expected a query of dimension {self._dim}, got {query.shape[0]}")
        self._adopt_build()
        k = min(int(k), self.size())
        if k <= 0:
            return []
        if self._graph is not None:
            return self._search_graph(query, k)
        return self._search_exact(query, k)

    def _search_exact(self, query: F32Array, k: int) -> list[tuple[int, float]]:
        n, vecs, row_ids = self._rows.n, self._rows.vecs, self._rows.ids
        chunk = max(1, _SCAN_CHUNK_ELEMS // self._dim)
        if n <= chunk:
            scores = vecs @ query
        else:
            scores = np.empty(n, dtype=np.float32)
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                np.dot(vecs[start:stop], query, out=scores[start:stop])
        if k == 1:
            # argmax is one pass; argpartition would cost a copy and a partial sort.
            best = int(np.argmax(scores))
            return [(int(row_ids[best]), float(scores[best]))]
        if k < n:
            top = np.argpartition(scores, n - k)[n - k :]
        else:
            top = np.arange(n)
        # A stable sort keeps the order of equal scores deterministic for a given index state.
        top = top[np.argsort(-scores[top], kind="stable")]
        return list(zip(row_ids[top].tolist(), scores[top].tolist(), strict=True))

    def _search_graph(self, query: F32Array, k: int) -> list[tuple[int, float]]:
        graph = self._graph
        assert graph is not None
        try:
            labels, dists = graph.knn_query(query, k=k, num_threads=1)
        except RuntimeError:
            # hnswlib raises when the walk found fewer than k live points, which can only happen
            # with k close to the partition size or a graph full of tombstones: scan instead.
            return self._scan_graph(query, k)
        id_of_label = self._id_of_label
        # hnswlib's "ip" distance is 1 - dot.
        return [
            (id_of_label[label], 1.0 - dist)
            for label, dist in zip(labels[0].tolist(), dists[0].tolist(), strict=True)
        ]

    def _scan_graph(self, query: F32Array, k: int) -> list[tuple[int, float]]:
        ids, vecs = self._live_items()
        scores = vecs @ query
        top = np.argsort(-scores, kind="stable")[:k]
        return [(ids[t], float(scores[t])) for t in top.tolist()]
