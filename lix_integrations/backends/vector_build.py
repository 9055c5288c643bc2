"""A graph being built on another thread, so a large in-memory partition never stalls its caller."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import hnswlib
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ..config.backends import HnswConfig

__all__ = ["PendingBuild", "build_graph"]

F32Array = npt.NDArray[np.float32]
_INITIAL_ROWS = 64


def build_graph(vecs: F32Array, dim: int, cfg: HnswConfig, threads: int) -> hnswlib.Index:
    """An HNSW graph of ``vecs`` labelled 0..n-1, with room to grow by half."""
    count = len(vecs)
    graph = hnswlib.Index(space="ip", dim=dim)
    graph.init_index(
        max_elements=max(count + count // 2, _INITIAL_ROWS),
        M=cfg.m,
        ef_construction=cfg.ef_construction,
        allow_replace_deleted=True,
    )
    graph.set_ef(cfg.ef_search)
    graph.add_items(vecs, np.arange(count, dtype=np.uint64), num_threads=threads)
    return graph


class PendingBuild:
    """A graph being built on another thread from a snapshot, plus the changes made since the snapshot.

    The thread touches only its own hnswlib index and its private copy of the vectors, so the index's
    "callers hold the lock" contract still holds; the result is adopted by the next call that holds the lock.
    """

    def __init__(self, ids: list[int], vecs: F32Array, dim: int, cfg: HnswConfig, threads: int) -> None:
        self.ids = ids
        self.journal: list[tuple[bool, list[int], F32Array | None]] = []
        self.graph: hnswlib.Index | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(vecs, dim, cfg, threads), name="lix-hnsw-build", daemon=True
        )
        self._thread.start()

    def _run(self, vecs: F32Array, dim: int, cfg: HnswConfig, threads: int) -> None:
        try:
            self.graph = build_graph(vecs, dim, cfg, threads)
        except BaseException as exc:  # reported by the adopting call; the exact scan keeps working
            self.error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.done()
