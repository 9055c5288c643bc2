"""One `VectorIndex` per partition, created on demand (the in-memory backend's indexes)."""

from __future__ import annotations

from .vector_index import (
    DEFAULT_BACKGROUND_BUILD_MIN,
    DEFAULT_EXACT_THRESHOLD,
    DEFAULT_HNSW,
    HnswConfig,
    VectorIndex,
)

__all__ = ["IndexSet"]


class IndexSet:
    """One VectorIndex per partition key (str), created on demand.

    Partitions keep unrelated cache namespaces (models, prompts, tenants) from ever matching
    each other, and a per-partition index makes dropping a namespace O(1). Not thread-safe,
    for the same reason as `VectorIndex`.
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
        self._dim = dim
        self._exact_threshold = exact_threshold
        self._hnsw = hnsw
        self._background_build_min = background_build_min
        self._indexes: dict[str, VectorIndex] = {}

    @property
    def dim(self) -> int:
        """Dimension shared by all partitions, since they are fed by one embedder."""
        return self._dim

    def get(self, partition: str) -> VectorIndex | None:
        """Return the partition's index without creating one, so lookups in unknown partitions stay free."""
        return self._indexes.get(partition)

    def get_or_create(self, partition: str) -> VectorIndex:
        """Return the partition's index, creating an empty one for the first write."""
        index = self._indexes.get(partition)
        if index is None:
            index = VectorIndex(
                self._dim,
                exact_threshold=self._exact_threshold,
                hnsw=self._hnsw,
                background_build_min=self._background_build_min,
            )
            self._indexes[partition] = index
        return index

    def drop(self, partition: str) -> None:
        """Forget a partition and free its memory; unknown partitions are ignored."""
        self._indexes.pop(partition, None)

    def clear(self) -> None:
        """Forget every partition, e.g. when the whole cache is cleared."""
        self._indexes.clear()

    def wait_for_builds(self, timeout: float | None = None) -> bool:
        """Finish every background graph build (see `VectorIndex.wait_for_build`); True when none is left."""
        return all(index.wait_for_build(timeout) for index in self._indexes.values())

    def partitions(self) -> list[str]:
        """Names of the partitions that have an index, in creation order."""
        return list(self._indexes)
