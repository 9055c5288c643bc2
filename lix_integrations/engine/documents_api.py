"""``engine.documents``: blocking and awaitable access to the document tier (LangGraph's ``BaseStore`` uses it).

Both views run the same flows of :class:`~lix_integrations.tiers.documents.DocumentTier`. Documents are data, not
a cache of it: store failures raise :class:`~lix_integrations.errors.BackendError` (no failing open).
``collection`` separates stores sharing one engine; paths are tuples of labels, TTLs are seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..tiers.documents import Document, DocumentWrite
from ..tiers.namespaced import Path

if TYPE_CHECKING:
    from .core import EngineCore

__all__ = ["DEFAULT_COLLECTION", "AsyncDocumentsAPI", "Document", "DocumentWrite", "DocumentsAPI"]

DEFAULT_COLLECTION = "langgraph"
Conditions = Sequence[tuple[str, Sequence[str]]]


class DocumentsAPI:
    """Blocking document operations."""

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    def get_many(
        self, wanted: Sequence[tuple[Path, str, bool]], *, collection: str = DEFAULT_COLLECTION
    ) -> list[Document | None]:
        """Documents at (path, key, refresh TTL?) in order; ``None`` for absent or expired ones."""
        return self._core.run(self._core.documents.get_many(collection, wanted))

    def put_many(self, writes: Sequence[DocumentWrite], *, collection: str = DEFAULT_COLLECTION) -> None:
        self._core.run(self._core.documents.put_many(collection, writes))

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
    ) -> list[Document]:
        flow = self._core.documents.search(
            collection, prefix, filter=filter, query=query, limit=limit, offset=offset, refresh=refresh
        )
        return self._core.run(flow)

    def list_paths(
        self,
        *,
        collection: str = DEFAULT_COLLECTION,
        conditions: Conditions = (),
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Path]:
        flow = self._core.documents.list_paths(
            collection, conditions=conditions, max_depth=max_depth, limit=limit, offset=offset
        )
        return self._core.run(flow)

    def purge_expired(self, *, collection: str = DEFAULT_COLLECTION) -> int:
        return self._core.run(self._core.documents.purge_expired(collection))


class AsyncDocumentsAPI:
    """Awaitable document operations; the same operations as :class:`DocumentsAPI`."""

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    async def get_many(
        self, wanted: Sequence[tuple[Path, str, bool]], *, collection: str = DEFAULT_COLLECTION
    ) -> list[Document | None]:
        return await self._core.arun(self._core.documents.get_many(collection, wanted))

    async def put_many(
        self, writes: Sequence[DocumentWrite], *, collection: str = DEFAULT_COLLECTION
    ) -> None:
        await self._core.arun(self._core.documents.put_many(collection, writes))

    async def search(
        self,
        prefix: Sequence[str] = (),
        *,
        collection: str = DEFAULT_COLLECTION,
        filter: Mapping[str, Any] | None = None,
        query: str | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh: bool = True,
    ) -> list[Document]:
        flow = self._core.documents.search(
            collection, prefix, filter=filter, query=query, limit=limit, offset=offset, refresh=refresh
        )
        return await self._core.arun(flow)

    async def list_paths(
        self,
        *,
        collection: str = DEFAULT_COLLECTION,
        conditions: Conditions = (),
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Path]:
        flow = self._core.documents.list_paths(
            collection, conditions=conditions, max_depth=max_depth, limit=limit, offset=offset
        )
        return await self._core.arun(flow)

    async def purge_expired(self, *, collection: str = DEFAULT_COLLECTION) -> int:
        return await self._core.arun(self._core.documents.purge_expired(collection))
