"""``engine.documents``: blocking and awaitable access to the document tier (LangGraph's ``BaseStore`` uses it).

Each operation is written once (see `views`) over the flows of
`DocumentTier`. Documents are data, not a cache of it: store failures
raise `BackendError` (no failing open).

``collection`` separates stores sharing one engine; paths are tuples of labels, TTLs are seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..kernel.flows import Flow
from ..tiers.documents import Document, DocumentWrite
from ..tiers.namespaced import Path
from .views import Awaiting, Blocking, View, runs

__all__ = ["DEFAULT_COLLECTION", "AsyncDocumentsAPI", "Document", "DocumentWrite", "DocumentsAPI"]

DEFAULT_COLLECTION = "langgraph"

Conditions = Sequence[tuple[str, Sequence[str]]]


class _Documents(View):
    """Document operations."""

    @runs
    def get_many(
        self, wanted: Sequence[tuple[Path, str, bool]], *, collection: str = DEFAULT_COLLECTION
    ) -> Flow[list[Document | None]]:
        """Documents at (path, key, refresh TTL?) in order; ``None`` for absent or expired ones."""
        return self._core.documents.get_many(collection, wanted)

    @runs
    def put_many(
        self, writes: Sequence[DocumentWrite], *, collection: str = DEFAULT_COLLECTION
    ) -> Flow[None]:
        return self._core.documents.put_many(collection, writes)

    @runs
    def search(
        self,
        prefix: Sequence[str] = (),
        *,
        collection: str = DEFAULT_COLLECTION,
        filter: Mapping[str, Any] | None = None,
        query: str | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh: bool = True,
    ) -> Flow[list[Document]]:
        return self._core.documents.search(
            collection, prefix, filter=filter, query=query, limit=limit, offset=offset, refresh=refresh
        )

    @runs
    def list_paths(
        self,
        *,
        collection: str = DEFAULT_COLLECTION,
        conditions: Conditions = (),
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Flow[list[Path]]:
        return self._core.documents.list_paths(
            collection, conditions=conditions, max_depth=max_depth, limit=limit, offset=offset
        )

    @runs
    def purge_expired(self, *, collection: str = DEFAULT_COLLECTION) -> Flow[int]:
        return self._core.documents.purge_expired(collection)


class DocumentsAPI(_Documents, Blocking):
    """Blocking document operations."""


class AsyncDocumentsAPI(_Documents, Awaiting):
    """Awaitable document operations; the same operations as `DocumentsAPI`."""
