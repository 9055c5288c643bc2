"""``engine.embeddings``: blocking and awaitable access to the embedding tier.

Every method takes an optional ``model`` (an :class:`~lix_integrations.tiers.embeddings.EmbeddingModel`: the
identity that goes into the keys plus the model's sync and async batch functions). Framework wrappers pass the
model they wrap; without one, the engine's own embedder is used (unit-length vectors). ``space`` separates tenants
sharing one engine (the wrappers' ``namespace=``).

Vectors come back as float32 numpy arrays from :meth:`EmbeddingsAPI.embed` (cheap to hand to numpy code) and as
lists of Python floats from the ``embed_documents`` / ``embed_query`` conveniences (what the frameworks expect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

from ..errors import InvalidInputError
from ..tiers.embeddings import EmbeddingModel, EmbeddingStats, Matrix, Vector
from .core import EngineCore
from .embedder_faults import EMBEDDER_FAULTS

__all__ = ["AsyncEmbeddingsAPI", "EmbeddingsAPI"]

VectorLike = Sequence[float] | npt.NDArray[Any]


def _default_model(core: EngineCore, model: EmbeddingModel | None) -> EmbeddingModel:
    return model if model is not None else core._prompt_model()  # same identity as the prompts' vectors


def _as_list(vec: Vector | None) -> list[float] | None:
    return None if vec is None else [float(x) for x in vec.tolist()]


class _Base:
    def __init__(self, core: EngineCore) -> None:
        self._core = core

    @property
    def default_model(self) -> EmbeddingModel:
        """The engine's embedder as a model (what every method uses when given none)."""
        return _default_model(self._core, None)

    def stats(self) -> EmbeddingStats:
        return self._core.embeddings.counters.snapshot()

    def front_usage(self) -> tuple[int, int]:
        """(vectors, bytes) held in this process's in-memory front."""
        return self._core.embeddings.front_usage()

    def clear_front(self) -> None:
        """Forget the in-process front; the store keeps every vector."""
        self._core.embeddings.clear_front()


class EmbeddingsAPI(_Base):
    """Blocking access to the embedding tier."""

    def embed(
        self,
        texts: Sequence[str],
        *,
        model: EmbeddingModel | None = None,
        role: str = "document",
        space: str = "",
        ttl: float | None = None,
    ) -> Matrix:
        """A (len(texts), dimension) float32 array in input order; only uncached distinct texts are computed.

        Under ``fail_open``, vectors the model returned unusable (NaN, wrong dimension...) or a store written by
        another embedder make this call return the model's own output, uncached (see ``embedder_faults.py``).
        """
        tier = self._core.embeddings
        resolved = _default_model(self._core, model)
        try:
            return self._core.run(tier.embed(texts, resolved, role=role, space=space, ttl=ttl))
        except EMBEDDER_FAULTS as exc:
            return self._core.faults.passthrough(  # type: ignore[no-any-return]
                exc, self._core.config.fail_open, list(texts), resolved.compute
            )

    def embed_documents(self, texts: Sequence[str], **options: Any) -> list[list[float]]:
        return self.embed(texts, role="document", **options).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str, **options: Any) -> list[float]:
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a str, got {type(text).__name__}")
        return self.embed([text], role="query", **options)[0].tolist()  # type: ignore[no-any-return]

    def get_many(
        self, keys: Sequence[str], *, model: EmbeddingModel | None = None, space: str = ""
    ) -> list[Vector | None]:
        """Vectors stored under arbitrary keys (URL, document id), ``None`` where absent."""
        tier = self._core.embeddings
        return self._core.run(tier.get_many(keys, _default_model(self._core, model), space=space))

    def get(self, key: str, *, model: EmbeddingModel | None = None, space: str = "") -> list[float] | None:
        return _as_list(self.get_many([key], model=model, space=space)[0])

    def put_many(
        self,
        items: Sequence[tuple[str, VectorLike]],
        *,
        model: EmbeddingModel | None = None,
        space: str = "",
        ttl: float | None = None,
    ) -> None:
        tier = self._core.embeddings
        self._core.run(tier.put_many(items, _default_model(self._core, model), space=space, ttl=ttl))

    def put(
        self,
        key: str,
        vector: VectorLike,
        *,
        model: EmbeddingModel | None = None,
        space: str = "",
        ttl: float | None = None,
    ) -> None:
        """Store a vector under an arbitrary key, e.g. a URL, so every session can read it back."""
        self.put_many([(key, vector)], model=model, space=space, ttl=ttl)

    def delete(self, key: str, *, model: EmbeddingModel | None = None, space: str = "") -> bool:
        tier = self._core.embeddings
        return bool(self._core.run(tier.delete_keys([key], _default_model(self._core, model), space=space)))

    def clear(self, *, model: EmbeddingModel | None = None, space: str = "") -> int:
        """Delete one model's vectors in ``space``, or every stored vector of this namespace (no model)."""
        return self._core.run(self._core.embeddings.clear(model, space=space))

    def purge_expired(self) -> int:
        return self._core.run(self._core.embeddings.purge_expired())

    def evict(self) -> int:
        return self._core.run(self._core.embeddings.evict())

    def usage(self) -> tuple[int, int]:
        """(vectors, bytes) stored in this namespace, expired ones included until purged."""
        return self._core.run(self._core.embeddings.usage())


class AsyncEmbeddingsAPI(_Base):
    """Awaitable access to the embedding tier; the same operations as :class:`EmbeddingsAPI`."""

    async def embed(
        self,
        texts: Sequence[str],
        *,
        model: EmbeddingModel | None = None,
        role: str = "document",
        space: str = "",
        ttl: float | None = None,
    ) -> Matrix:
        tier = self._core.embeddings
        resolved = _default_model(self._core, model)
        flow = tier.embed(texts, resolved, role=role, space=space, ttl=ttl)
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
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a str, got {type(text).__name__}")
        return (await self.embed([text], role="query", **options))[0].tolist()  # type: ignore[no-any-return]

    async def get_many(
        self, keys: Sequence[str], *, model: EmbeddingModel | None = None, space: str = ""
    ) -> list[Vector | None]:
        tier = self._core.embeddings
        return await self._core.arun(tier.get_many(keys, _default_model(self._core, model), space=space))

    async def get(
        self, key: str, *, model: EmbeddingModel | None = None, space: str = ""
    ) -> list[float] | None:
        return _as_list((await self.get_many([key], model=model, space=space))[0])

    async def put_many(
        self,
        items: Sequence[tuple[str, VectorLike]],
        *,
        model: EmbeddingModel | None = None,
        space: str = "",
        ttl: float | None = None,
    ) -> None:
        tier = self._core.embeddings
        await self._core.arun(tier.put_many(items, _default_model(self._core, model), space=space, ttl=ttl))

    async def put(
        self,
        key: str,
        vector: VectorLike,
        *,
        model: EmbeddingModel | None = None,
        space: str = "",
        ttl: float | None = None,
    ) -> None:
        await self.put_many([(key, vector)], model=model, space=space, ttl=ttl)

    async def delete(self, key: str, *, model: EmbeddingModel | None = None, space: str = "") -> bool:
        tier = self._core.embeddings
        return bool(
            await self._core.arun(tier.delete_keys([key], _default_model(self._core, model), space=space))
        )

    async def clear(self, *, model: EmbeddingModel | None = None, space: str = "") -> int:
        return await self._core.arun(self._core.embeddings.clear(model, space=space))

    async def purge_expired(self) -> int:
        return await self._core.arun(self._core.embeddings.purge_expired())

    async def evict(self) -> int:
        return await self._core.arun(self._core.embeddings.evict())

    async def usage(self) -> tuple[int, int]:
        return await self._core.arun(self._core.embeddings.usage())
