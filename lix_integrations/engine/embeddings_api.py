"""``engine.embeddings``: blocking and awaitable access to the embedding tier.

Every method takes an optional ``model`` (an `EmbeddingModel`: the
identity that goes into the keys plus the model's sync and async batch functions). Framework wrappers pass the
model they wrap; without one, the engine's own embedder is used (unit-length vectors). ``space`` separates tenants
sharing one engine (the wrappers' ``namespace=``).

Vectors come back as float32 numpy arrays from `EmbeddingsAPI.embed` (cheap to hand to numpy code) and as
lists of Python floats from the ``embed_documents`` / ``embed_query`` conveniences (what the frameworks expect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import numpy.typing as npt

from ..errors import InvalidInputError
from ..kernel.flows import Flow
from ..tiers.embeddings import EmbeddingModel, EmbeddingStats, Matrix, Vector
from .core import EngineCore
from .embedder_faults import EMBEDDER_FAULTS
from .views import Awaiting, Blocking, View, mapped, runs

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AsyncEmbeddingsAPI", "EmbeddingsAPI"]

VectorLike = Sequence[float] | npt.NDArray[Any]


class EmbedOptions(TypedDict, total=False):
    """The keyword options of ``embed`` (and of ``embed_documents`` / ``embed_query``, which set ``role``)."""

    model: EmbeddingModel | None
    role: str
    space: str
    ttl: float | None


def _default_model(core: EngineCore, model: EmbeddingModel | None) -> EmbeddingModel:
    return model if model is not None else core._prompt_model()  # same identity as the prompts' vectors


def _as_list(vec: Vector | None) -> list[float] | None:
    return None if vec is None else [float(x) for x in vec.tolist()]


class _Embeddings(View):
    """Embedding-tier operations other than ``embed`` (whose fault fallback calls the model in the caller's mode)."""

    @property
    def default_model(self) -> EmbeddingModel:
        """The engine's embedder as a model (what every method uses when given none)."""
        return _default_model(self._core, None)

    def stats(self) -> EmbeddingStats:
        return self._core.embeddings.counters.snapshot()  # type: ignore[no-any-return]

    def front_usage(self) -> tuple[int, int]:
        """(vectors, bytes) held in this process's in-memory front."""
        return self._core.embeddings.front_usage()  # type: ignore[no-any-return]

    def clear_front(self) -> None:
        """Forget the in-process front; the store keeps every vector."""
        self._core.embeddings.clear_front()

    @runs
    def get_many(
        self, keys: Sequence[str], *, model: EmbeddingModel | None = None, space: str = ""
    ) -> Flow[list[Vector | None]]:
        """Vectors stored under arbitrary keys (URL, document id), ``None`` where absent."""
        return self._core.embeddings.get_many(keys, _default_model(self._core, model), space=space)

    @runs
    def get(
        self, key: str, *, model: EmbeddingModel | None = None, space: str = ""
    ) -> Flow[list[float] | None]:
        flow = self._core.embeddings.get_many([key], _default_model(self._core, model), space=space)
        return mapped(flow, lambda vectors: _as_list(vectors[0]))

    @runs
    def put_many(
        self,
        items: Sequence[tuple[str, VectorLike]],
        *,
        model: EmbeddingModel | None = None,
        space: str = "",
        ttl: float | None = None,
    ) -> Flow[None]:
        return self._core.embeddings.put_many(items, _default_model(self._core, model), space=space, ttl=ttl)

    @runs
    def put(
        self,
        key: str,
        vector: VectorLike,
        *,
        model: EmbeddingModel | None = None,
        space: str = "",
        ttl: float | None = None,
    ) -> Flow[None]:
        """Store a vector under an arbitrary key, e.g. a URL, so every session can read it back."""
        tier = self._core.embeddings
        return tier.put_many([(key, vector)], _default_model(self._core, model), space=space, ttl=ttl)

    @runs
    def delete(self, key: str, *, model: EmbeddingModel | None = None, space: str = "") -> Flow[bool]:
        flow = self._core.embeddings.delete_keys([key], _default_model(self._core, model), space=space)
        return mapped(flow, bool)

    @runs
    def clear(self, *, model: EmbeddingModel | None = None, space: str = "") -> Flow[int]:
        """Delete one model's vectors in ``space``, or every stored vector of this namespace (no model)."""
        return self._core.embeddings.clear(model, space=space)

    @runs
    def purge_expired(self) -> Flow[int]:
        return self._core.embeddings.purge_expired()

    @runs
    def evict(self) -> Flow[int]:
        return self._core.embeddings.evict()

    @runs
    def usage(self) -> Flow[tuple[int, int]]:
        """(vectors, bytes) stored in this namespace, expired ones included until purged."""
        return self._core.embeddings.usage()

    def _embed_flow(self, texts: Sequence[str], options: EmbedOptions) -> tuple[EmbeddingModel, Flow[Matrix]]:
        """The model ``embed`` uses and the tier flow it runs (unknown options raise ``TypeError`` here)."""
        unknown = set(options) - set(EmbedOptions.__annotations__)
        if unknown:
            raise TypeError(f"embed() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        model = _default_model(self._core, options.get("model"))
        role, space, ttl = options.get("role", "document"), options.get("space", ""), options.get("ttl")
        return model, self._core.embeddings.embed(texts, model, role=role, space=space, ttl=ttl)


def _query_text(text: str) -> list[str]:
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a str, got {type(text).__name__}")
    return [text]


class EmbeddingsAPI(_Embeddings, Blocking):
    """Blocking access to the embedding tier."""

    def embed(self, texts: Sequence[str], **options: Unpack[EmbedOptions]) -> Matrix:
        """A (len(texts), dimension) float32 array in input order; only uncached distinct texts are computed.

        Options: ``model`` (default: the engine's embedder), ``role`` (``"document"`` or ``"query"``), ``space``,
        ``ttl``. Under ``fail_open``, vectors the model returned unusable (NaN, wrong dimension...) or a store
        written by another embedder make this call return the model's own output, uncached (see
        ``embedder_faults.py``).
        """
        resolved, flow = self._embed_flow(texts, options)
        try:
            return self._core.run(flow)
        except EMBEDDER_FAULTS as exc:
            return self._core.faults.passthrough(  # type: ignore[no-any-return]
                exc, self._core.config.fail_open, list(texts), resolved.compute
            )

    def embed_documents(self, texts: Sequence[str], **options: Any) -> list[list[float]]:
        return self.embed(texts, role="document", **options).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str, **options: Any) -> list[float]:
        return self.embed(_query_text(text), role="query", **options)[0].tolist()  # type: ignore[no-any-return]


class AsyncEmbeddingsAPI(_Embeddings, Awaiting):
    """Awaitable access to the embedding tier; the same operations as `EmbeddingsAPI`."""

    async def embed(self, texts: Sequence[str], **options: Unpack[EmbedOptions]) -> Matrix:
        resolved, flow = self._embed_flow(texts, options)
        try:
            return await self._core.arun(flow)
        except EMBEDDER_FAULTS as exc:
            output = getattr(exc, "output", None)
            if output is None and self._core.config.fail_open:  # a settings mismatch: ask the model itself
                if resolved.acompute is not None:
                    output = await resolved.acompute(list(texts))
                elif resolved.compute is not None:
                    output = await asyncio.to_thread(resolved.compute, list(texts))
            computed = output
            return self._core.faults.passthrough(  # type: ignore[no-any-return]
                exc,
                self._core.config.fail_open,
                list(texts),
                None if computed is None else lambda _: computed,
            )

    async def embed_documents(self, texts: Sequence[str], **options: Any) -> list[list[float]]:
        return (await self.embed(texts, role="document", **options)).tolist()  # type: ignore[no-any-return]

    async def embed_query(self, text: str, **options: Any) -> list[float]:
        return (await self.embed(_query_text(text), role="query", **options))[0].tolist()  # type: ignore[no-any-return]
