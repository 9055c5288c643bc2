"""``LixCachedEmbedding``: any LlamaIndex ``BaseEmbedding`` with its vectors cached by the lix engine.

LlamaIndex's own ``embeddings_cache`` keys on the raw text alone, in one collection shared by queries and
documents and by every model (framework-interfaces P10): two models sharing a store get each other's vectors.
This wrapper keys by the wrapped model's identity (class name, model name, dimension), the role and the text, and
only translates: the engine's embedding tier owns keys, the in-process front, the store, TTL and statistics.

The wrapped model's *private* methods are what the tier calls (``_get_text_embeddings`` and
``_aget_text_embeddings`` in chunks of its ``embed_batch_size``, ``_get_query_embedding`` /
``_aget_query_embedding``): they compute without instrumentation or its own cache, while this wrapper's public
methods keep LlamaIndex's instrumentation. Async methods await the wrapped model's async ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import PrivateAttr

from ..engine.adapter import CachedVectors
from ..engine.engine import AsyncEngine, Engine
from ..engine.public import EmbeddingModel
from ..engine.resolve import embedding_space, resolve_engines
from ..errors import ConfigError

__all__ = ["LixCachedEmbedding"]

_CLASS = "LixCachedEmbedding"


class _ClassName:
    """``class_name()`` that names the wrapped model on an instance and this class on the class itself.

    LlamaIndex writes ``class_name()`` into ``to_dict()`` and its instrumentation; reporting the wrapped model
    there says what actually computes the vectors, while the class-level name stays ours.
    """

    def __get__(self, obj: Any, owner: type) -> Callable[[], str]:
        if obj is None:
            return lambda: _CLASS
        return lambda: f"{_CLASS}[{obj._inner.class_name()}]"


def _identity(inner: BaseEmbedding) -> str:
    return f"llama_index:{inner.class_name()}:{inner.model_name}"


class LixCachedEmbedding(CachedVectors, BaseEmbedding):
    """Cache the vectors of ``embed_model`` (any LlamaIndex ``BaseEmbedding``).

    ``engine`` is an `Engine` / `AsyncEngine` to share, a
    backend URL, or ``None`` for the embedded default store; ``engine_options`` (``namespace=``, ``embedder=`` ...)
    configure an engine built here. ``space`` separates vectors of one model within the engine's namespace (e.g.
    per tenant); ``identity`` overrides the key identity derived from the
    wrapped model (``class_name`` and ``model_name``) when two differently configured instances of one class must
    not share vectors. ``ttl`` (seconds) expires this wrapper's vectors. ``embed_batch_size`` defaults to 2048
    (the texts looked up per round trip); misses are computed in chunks of the wrapped model's own batch size.
    """

    space: str = ""
    class_name: ClassVar[Any] = _ClassName()

    _inner: BaseEmbedding = PrivateAttr()
    _engine: Engine = PrivateAttr()
    _aengine: AsyncEngine = PrivateAttr()
    _documents: EmbeddingModel = PrivateAttr()
    _queries: EmbeddingModel = PrivateAttr()
    _ttl: float | None = PrivateAttr(default=None)

    def __init__(
        self,
        embed_model: BaseEmbedding,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        space: str = "",
        identity: str | None = None,
        dimension: int | None = None,
        ttl: float | None = None,
        embed_batch_size: int = 2048,
        **engine_options: Any,
    ) -> None:
        if not isinstance(embed_model, BaseEmbedding):
            raise ConfigError(
                f"embed_model must be a LlamaIndex BaseEmbedding, got {type(embed_model).__name__}"
            )
        callback_manager = engine_options.pop("callback_manager", None)
        space = embedding_space(_CLASS, engine, space, engine_options)
        sync, aio = resolve_engines(engine, engine_options)
        super().__init__(
            model_name=embed_model.model_name,
            embed_batch_size=embed_batch_size,
            callback_manager=callback_manager,
        )
        self.space = space
        self._inner = embed_model
        self._engine, self._aengine = sync, aio
        self._ttl = ttl
        name = identity or _identity(embed_model)
        if dimension is None:
            declared = getattr(embed_model, "embed_dim", None)
            dimension = declared if isinstance(declared, int) and declared > 0 else None
        chunk = max(1, int(embed_model.embed_batch_size))
        inner = embed_model

        def texts(batch: list[str]) -> list[Embedding]:
            out: list[Embedding] = []
            for start in range(0, len(batch), chunk):
                out.extend(inner._get_text_embeddings(batch[start : start + chunk]))
            return out

        async def atexts(batch: list[str]) -> list[Embedding]:
            out: list[Embedding] = []
            for start in range(0, len(batch), chunk):
                out.extend(await inner._aget_text_embeddings(batch[start : start + chunk]))
            return out

        def queries(batch: list[str]) -> list[Embedding]:
            return [inner._get_query_embedding(q) for q in batch]

        async def aqueries(batch: list[str]) -> list[Embedding]:
            return [await inner._aget_query_embedding(q) for q in batch]

        self._documents = EmbeddingModel(name=name, compute=texts, acompute=atexts, dimension=dimension)
        self._queries = EmbeddingModel(name=name, compute=queries, acompute=aqueries, dimension=dimension)
        self._check_options()

    # -- BaseEmbedding ---------------------------------------------------------------------------------------

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._vectors([query], "query")[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._avectors([query], "query"))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._vectors([text], "document")[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._avectors([text], "document"))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._vectors(texts, "document")

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._avectors(texts, "document")

    # -- lix extras --------------------------------------------------------------------------------------------

    @property
    def embed_model(self) -> BaseEmbedding:
        """The wrapped model."""
        return self._inner

    def clear_cache(self) -> int:
        """Delete this model's cached vectors in this space (queries and documents)."""
        return self._clear_vectors()
