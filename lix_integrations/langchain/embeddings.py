"""``LixCachedEmbeddings``: any LangChain ``Embeddings`` with its vectors cached by the lix engine.

The adapter only translates: it describes the wrapped model (name, dimension) and hands the engine the model's
own batch functions, sync and async; keys, the in-process front, the store, TTL and statistics belong to the
engine's embedding tier. Unlike ``langchain_classic``'s ``CacheBackedEmbeddings`` it also caches queries (under
their own role, so an asymmetric model's query and document vectors never mix), de-duplicates texts inside a
batch, stores float32 instead of JSON, and awaits the wrapped model's ``aembed_*`` methods instead of running
the sync ones in a thread.

Vectors are returned as float32 values (Python floats): what is computed and what is read back are identical.
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings

from ..embedders import EmbeddingsAdapter
from ..engine.adapter import CachedVectors
from ..engine.engine import AsyncEngine, Engine
from ..engine.public import EmbeddingModel
from ..engine.resolve import embedding_space, resolve_engines
from ..errors import ConfigError, InvalidInputError

__all__ = ["LixCachedEmbeddings"]


class LixCachedEmbeddings(CachedVectors, Embeddings):
    """Cache the vectors of ``underlying_embeddings`` (any LangChain ``Embeddings``).

    ``engine`` is an `Engine` / `AsyncEngine` to share, a
    backend URL (``"memory://"``, ``"sqlite:///path/cache.db"``), or ``None`` for the embedded default store;
    ``engine_options`` (``namespace=``, ``embedder=``, ``max_entries=`` ...) configure an engine built here.
    ``space`` separates vectors of one model within the engine's namespace (e.g. per tenant).
    ``model_name`` overrides the identity derived from the wrapped object (class path and its ``model`` /
    ``model_name`` attribute): set it when two differently configured instances of one class must not share
    vectors. ``ttl`` (seconds) expires this adapter's vectors; ``cache_queries=False`` passes queries through.
    ``batch_size`` (as ``CacheBackedEmbeddings``'): the texts not cached are computed that many at a time, each
    batch stored before the next, so a long job that fails keeps what it computed (default: one call).
    """

    def __init__(
        self,
        underlying_embeddings: Embeddings,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        space: str = "",
        model_name: str | None = None,
        dimension: int | None = None,
        ttl: float | None = None,
        cache_queries: bool = True,
        batch_size: int | None = None,
        **engine_options: Any,
    ) -> None:
        if not isinstance(underlying_embeddings, Embeddings):
            raise ConfigError(
                f"underlying_embeddings must be a LangChain Embeddings, got {type(underlying_embeddings).__name__}"
            )
        space = embedding_space("LixCachedEmbeddings", engine, space, engine_options)
        self._engine, self._aengine = resolve_engines(engine, engine_options)
        self.underlying_embeddings = underlying_embeddings
        described = EmbeddingsAdapter(underlying_embeddings)
        name = model_name or described.name
        dim = dimension if dimension is not None else described.dimension
        inner = underlying_embeddings

        def embed_queries(texts: list[str]) -> list[list[float]]:
            return [inner.embed_query(text) for text in texts]

        async def aembed_queries(texts: list[str]) -> list[list[float]]:
            return [await inner.aembed_query(text) for text in texts]

        self._documents = EmbeddingModel(
            name=name,
            compute=inner.embed_documents,
            acompute=inner.aembed_documents,
            dimension=dim,
            batch_size=batch_size,
        )
        self._queries = EmbeddingModel(
            name=name, compute=embed_queries, acompute=aembed_queries, dimension=dim
        )
        self._space = space
        self._ttl = ttl
        self._cache_queries = bool(cache_queries)
        self._check_options()

    # -- Embeddings ------------------------------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors in input order; only texts cached neither in memory nor in the store are computed."""
        return self._vectors(texts, "document")

    def embed_query(self, text: str) -> list[float]:
        _check_text(text)
        if not self._cache_queries:
            return self.underlying_embeddings.embed_query(text)
        return self._vectors([text], "query")[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self._avectors(texts, "document")

    async def aembed_query(self, text: str) -> list[float]:
        _check_text(text)
        if not self._cache_queries:
            return await self.underlying_embeddings.aembed_query(text)
        return (await self._avectors([text], "query"))[0]

    # -- lix extras --------------------------------------------------------------------------------------------

    def clear(self) -> int:
        """Delete this model's cached vectors in this space (queries and documents)."""
        return self._clear_vectors()

    @property
    def model_name(self) -> str:
        """The identity the vectors are stored under."""
        return self._documents.name

    @property
    def space(self) -> str:
        """The embedding space of this adapter's vectors (within the engine's namespace)."""
        return self._space

    @property
    def namespace(self) -> str:
        """The engine's namespace (it once meant the embedding space, now `space`)."""
        return self._engine.namespace

    def __repr__(self) -> str:
        return f"LixCachedEmbeddings({self.model_name!r}, engine={self._engine!r}, space={self._space!r})"


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a str, got {type(text).__name__}")
