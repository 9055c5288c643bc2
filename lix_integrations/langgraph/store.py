"""``LixStore``: LangGraph's long-term memory store (``BaseStore``) on the lix engine's document tier.

``create_agent(..., store=LixStore(url))`` (or ``graph.compile(store=...)``) gives tools and nodes a store that
lives in memory, SQLite, Redis or Valkey (no modules needed), or a Redis Cluster, sync and async from one object.
The adapter translates LangGraph's operations into `DocumentsAPI`
calls; storage, filters, ranking and TTLs are the tier's (see `lix_integrations.tiers.documents`).

* ``index=`` as LangGraph's ``IndexConfig`` (``fields``; ``embed`` only when the store builds its own engine) or
  ``True`` (whole values): documents are embedded by the engine's embedder when written, and ``search(query=...)``
  ranks by meaning. Without ``index`` nothing is embedded and a query is ignored, as in LangGraph's own stores.
  Which texts an item contributes follows LangGraph's path language (``"a.b"``, ``"a[*].b"``, ``"$"``).
* ``ttl=`` as LangGraph's ``TTLConfig`` (``default_ttl`` minutes, ``refresh_on_read``); ``put(..., ttl=)`` in
  minutes. Expired items are never returned (``omit_expired`` is always on); ``sweep_ttl()`` deletes them now,
  Redis frees them by itself.
* Operations in one ``batch`` run in order: a read sees the writes before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from ..engine.documents_api import DEFAULT_COLLECTION, Document, DocumentWrite
from ..engine.engine import AsyncEngine, Engine
from ..engine.resolve import resolve_engines
from ..errors import ConfigError, InvalidInputError

__all__ = ["LixStore"]

_SECONDS_PER_MINUTE = 60.0


class LixStore(BaseStore):
    """A LangGraph store kept in a lix engine.

    ``engine`` is an `Engine` / `AsyncEngine` to share, a URL or
    ``None`` (the embedded default store); ``engine_options`` configure an engine built from a URL.
    ``collection`` separates stores sharing one engine.
    """

    supports_ttl = True

    def __init__(
        self,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        index: IndexConfig | bool | None = None,
        ttl: TTLConfig | None = None,
        collection: str = DEFAULT_COLLECTION,
        **engine_options: Any,
    ) -> None:
        config: dict[str, Any] | None = {} if index is True else (dict(index) if index else None)
        if config is not None and config.get("embed") is not None:
            if isinstance(engine, (Engine, AsyncEngine)):
                raise ConfigError(
                    "index['embed'] cannot change the embedder of an engine passed in; give it to Engine()"
                )
            from langgraph.store.base.embed import ensure_embeddings

            engine_options.setdefault("embedder", ensure_embeddings(config["embed"]))
        self._engine, self._aengine = resolve_engines(engine, engine_options)
        self._owns_engine = not isinstance(engine, (Engine, AsyncEngine))
        self._collection = collection
        self.index_config = config
        self.ttl_config = ttl
        fields = (config.get("fields") or ["$"]) if config is not None else []
        self._fields = [(field, "$" if field == "$" else tokenize_path(field)) for field in fields]

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- translation ---------------------------------------------------------------------------------------

    def _texts(self, op: PutOp) -> tuple[str, ...]:
        if self.index_config is None or op.value is None or op.index is False:
            return ()
        paths = self._fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        texts: list[str] = []
        for _, tokens in paths:
            texts.extend(get_text_at_path(op.value, tokens))
        return tuple(dict.fromkeys(texts))

    def _write(self, op: PutOp) -> DocumentWrite:
        ttl = None if op.ttl is None else op.ttl * _SECONDS_PER_MINUTE
        return DocumentWrite(tuple(op.namespace), str(op.key), op.value, self._texts(op), ttl)

    def _search_args(self, op: SearchOp) -> dict[str, Any]:
        return {
            "collection": self._collection,
            "filter": op.filter,
            "query": op.query if self.index_config is not None else None,
            "limit": op.limit,
            "offset": op.offset,
            "refresh": op.refresh_ttl,
        }

    def _list_args(self, op: ListNamespacesOp) -> dict[str, Any]:
        conditions = [(c.match_type, tuple(c.path)) for c in op.match_conditions or ()]
        return {
            "collection": self._collection,
            "conditions": conditions,
            "max_depth": op.max_depth,
            "limit": op.limit,
            "offset": op.offset,
        }

    @staticmethod
    def _groups(ops: Iterable[Op]) -> list[tuple[type, list[Any]]]:
        """Consecutive gets (and consecutive puts) form one engine call; order across kinds is kept."""
        groups: list[tuple[type, list[Any]]] = []
        for op in ops:
            if not isinstance(op, (GetOp, PutOp, SearchOp, ListNamespacesOp)):
                raise InvalidInputError(f"unknown store operation {type(op).__name__}")
            validate_op_namespace(op)
            kind = type(op)
            if groups and groups[-1][0] is kind and kind in (GetOp, PutOp):
                groups[-1][1].append(op)
            else:
                groups.append((kind, [op]))
        return groups

    # -- BaseStore -----------------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        api = self._engine.documents
        results: list[Result] = []
        for kind, group in self._groups(ops):
            if kind is GetOp:
                wanted = [(tuple(o.namespace), str(o.key), o.refresh_ttl) for o in group]
                results.extend(_item(d) for d in api.get_many(wanted, collection=self._collection))
            elif kind is PutOp:
                api.put_many([self._write(o) for o in group], collection=self._collection)
                results.extend(None for _ in group)
            elif kind is SearchOp:
                op = group[0]
                found = api.search(tuple(op.namespace_prefix), **self._search_args(op))
                results.append([_search_item(d) for d in found])
            else:
                results.append(api.list_paths(**self._list_args(group[0])))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        api = self._aengine.documents
        results: list[Result] = []
        for kind, group in self._groups(ops):
            if kind is GetOp:
                wanted = [(tuple(o.namespace), str(o.key), o.refresh_ttl) for o in group]
                results.extend(_item(d) for d in await api.get_many(wanted, collection=self._collection))
            elif kind is PutOp:
                await api.put_many([self._write(o) for o in group], collection=self._collection)
                results.extend(None for _ in group)
            elif kind is SearchOp:
                op = group[0]
                found = await api.search(tuple(op.namespace_prefix), **self._search_args(op))
                results.append([_search_item(d) for d in found])
            else:
                results.append(await api.list_paths(**self._list_args(group[0])))
        return results

    # -- maintenance ---------------------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete expired items now; returns how many. (Reads never return them either way.)"""
        return self._engine.documents.purge_expired(collection=self._collection)

    async def asweep_ttl(self) -> int:
        return await self._aengine.documents.purge_expired(collection=self._collection)

    def close(self) -> None:
        """Close the engine this store built (an engine passed in belongs to its owner)."""
        if self._owns_engine:
            self._engine.close()


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _item(doc: Document | None) -> Item | None:
    if doc is None:
        return None
    return Item(
        value=doc.value,
        key=doc.key,
        namespace=doc.path,
        created_at=_when(doc.created_at),
        updated_at=_when(doc.updated_at),
    )


def _search_item(doc: Document) -> SearchItem:
    return SearchItem(doc.path, doc.key, doc.value, _when(doc.created_at), _when(doc.updated_at), doc.score)
