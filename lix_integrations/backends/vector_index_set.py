"""One `VectorIndex` per partition, created on demand (the in-memory backend's indexes)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from .vector_index import IndexOptions, VectorIndex

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["IndexSet"]


class IndexSet:
    """One VectorIndex per partition key (str), created on demand.

    Partitions keep unrelated cache namespaces (models, prompts, tenants) from ever matching
    each other, and a per-partition index makes dropping a namespace O(1). Not thread-safe,
    for the same reason as `VectorIndex`.
    """

    def __init__(self, dim: int, **options: Unpack[IndexOptions]) -> None:
        self._make = functools.partial(VectorIndex, dim, **options)
        self._dim = self._make().dim  # checks the dimension and the options now, not at the first write
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
            index = self._indexes[partition] = self._make()
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
