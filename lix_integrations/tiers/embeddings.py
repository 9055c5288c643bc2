"""The embedding tier: vectors computed once, read back in microseconds from memory or the store.

Computing an embedding costs milliseconds (a local model) to hundreds of milliseconds (a remote API); reading one
back should not. Every text is stored under a key that names *what computed it*, so two models can never share an
entry:

    key = <model key> ":" <role> ":" <BLAKE2b-256 of the text>
    model key = digest(space, model name, dimension, normalization, value layout)

``role`` separates queries from documents (asymmetric models such as E5 or Cohere embed them differently) and
both from arbitrary keys (a URL or document id, the lix-open-cache "URL embedding cache"). ``space`` is the
adapter's ``namespace=``: tenants sharing one engine never read each other's vectors.

Values are raw little-endian float32 (4 bytes per component, not JSON: 4-5x smaller and no parsing), and the
length is checked against the model's dimension on read and on write, so a foreign or truncated value is an
error naming the dimension rather than a silently wrong vector.

A batch is three round trips at most, whatever its size: one ``KvGet`` for every key the in-process front does
not hold, one ``EmbedBatch`` for the distinct texts that missed (the wrapped model's own batch function, run by
the engine's driver so the async path awaits the model's async method), one ``KvPut`` for the new vectors.

The LRU front is per engine (so per backend and namespace) and keyed by the full store key, which already holds
the space and the model: it can never serve a vector another tenant or model should not see. It is bounded by
entries and by bytes and guarded by a lock, because LangChain and LlamaIndex run sync methods on worker threads.

Scopes (``lix_scope``) deliberately do not apply here: an embedding is a pure function of (model, text), so
sharing it across users leaks nothing that the text itself does not, and sharing is the point ("a page embedded
once is shared by every session"). Tenants that must not share use ``space``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

from ..config.tiers import DEFAULT_TABLE, EmbeddingConfig
from ..config.tiers import check_ttl as _check_ttl
from ..errors import InvalidInputError
from ..kernel.flows import Flow
from ..kernel.ops import (
    KvDelete,
    KvDeleteWhere,
    KvPurgeExpired,
    KvUsage,
)
from .embedding_core import _KEY_ROLE, EmbeddingCore, Role
from .embedding_model import VALUE_LAYOUT, AsyncBatchFn, BatchFn, EmbeddingModel, model_from_embedder
from .embedding_stats import EMBEDDING_COUNTERS, EmbeddingStats
from .embedding_vectors import Matrix, Vector, decode_vector, encode_vector, text_hash
from .embedding_vectors import as_matrix as _as_matrix
from .embedding_vectors import check_key as _check_key
from .embedding_vectors import check_space as _check_space
from .embedding_vectors import check_texts as _check_texts
from .embedding_vectors import normalized as _normalized

# The model identity, the vector codec, the LRU front and the counters live in their own modules (issue 16: one
# job per file); their public names are still importable from here.
__all__ = [
    "DEFAULT_TABLE",
    "VALUE_LAYOUT",
    "AsyncBatchFn",
    "BatchFn",
    "EmbeddingConfig",
    "EMBEDDING_COUNTERS",
    "EmbeddingModel",
    "EmbeddingStats",
    "EmbeddingTier",
    "Matrix",
    "Role",
    "Vector",
    "decode_vector",
    "encode_vector",
    "model_from_embedder",
    "text_hash",
]


class EmbeddingTier(EmbeddingCore):
    """Policy of the embedding tier; every public method validates eagerly and returns a flow to run."""

    # -- arbitrary keys (URL, document id) ------------------------------------------------------------------------

    def get_many(self, keys: object, model: EmbeddingModel, *, space: str = "") -> Flow[list[Vector | None]]:
        """Vectors stored under arbitrary keys by `put_many`, ``None`` where absent or expired."""
        items = [_check_key(k) for k in _check_texts(keys, "keys")]
        return self._get_many_flow(items, model, _check_space(space))

    def _get_many_flow(self, keys: list[str], model: EmbeddingModel, space: str) -> Flow[list[Vector | None]]:
        if not keys:
            return []
        model_key = model.key(space)
        store_keys = [f"{model_key}:{_KEY_ROLE}:{text_hash(k)}" for k in keys]
        unique = list(dict.fromkeys(store_keys))
        self.counters.update(lookups=len(keys), deduplicated=len(keys) - len(unique))
        found = yield from self._read(unique, self._dimension(model, model_key), model_key, self.clock.now())
        self.counters.update(misses=len(unique) - len(found))
        return [found.get(key) for key in store_keys]

    def put_many(
        self,
        items: Sequence[tuple[str, Sequence[float] | npt.NDArray[Any]]],
        model: EmbeddingModel,
        *,
        space: str = "",
        ttl: float | None = None,
    ) -> Flow[None]:
        """Store vectors under arbitrary keys, validated like computed ones (dimension, finite values)."""
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise InvalidInputError(
                f"items must be a list of (key, vector) pairs, got {type(items).__name__}"
            )
        keys = [_check_key(pair[0]) for pair in items]
        space = _check_space(space)
        ttl = _check_ttl(ttl, InvalidInputError)
        model_key = model.key(space)
        if not items:
            return self._nothing()
        matrix = _as_matrix(
            [pair[1] for pair in items], len(items), self._dimension(model, model_key), model.name
        )
        if model.normalize:
            matrix = _normalized(matrix, model.name)
        if model.dimension is None:
            self._learn(model_key, int(matrix.shape[1]))
        store_items = {
            f"{model_key}:{_KEY_ROLE}:{text_hash(k)}": matrix[i].copy() for i, k in enumerate(keys)
        }
        return self._write(list(store_items.items()), self.clock.now(), ttl)

    @staticmethod
    def _nothing() -> Flow[None]:
        return None
        yield  # pragma: no cover - makes this a generator

    def delete_keys(self, keys: object, model: EmbeddingModel, *, space: str = "") -> Flow[int]:
        """Delete vectors stored under arbitrary keys; returns how many existed."""
        items = [_check_key(k) for k in _check_texts(keys, "keys")]
        model_key = model.key(_check_space(space))
        store_keys = [f"{model_key}:{_KEY_ROLE}:{text_hash(k)}" for k in items]
        return self._delete_flow(store_keys)

    def _delete_flow(self, store_keys: list[str]) -> Flow[int]:
        self._front.discard(store_keys)
        removed: int = yield KvDelete(self.namespace, self.config.table, tuple(store_keys))
        return removed

    # -- maintenance -----------------------------------------------------------------------------------------------

    def clear(self, model: EmbeddingModel | None = None, *, space: str = "") -> Flow[int]:
        """Delete one model's vectors in ``space`` or, without a model, every vector of this namespace."""
        prefix = "" if model is None else model.key(_check_space(space)) + ":"
        return self._clear_flow(prefix)

    def _clear_flow(self, prefix: str) -> Flow[int]:
        self._front.discard_prefix(prefix)
        removed: int = yield KvDeleteWhere(self.namespace, self.config.table, prefix=prefix)
        return removed

    def purge_expired(self) -> Flow[int]:
        removed: int = yield KvPurgeExpired(self.namespace, self.config.table, self.clock.now())
        return removed

    def usage(self) -> Flow[tuple[int, int]]:
        """Stored vectors and their bytes in this namespace (expired ones included until purged)."""
        count, size = yield KvUsage(self.namespace, self.config.table)
        return int(count), int(size)

    def front_usage(self) -> tuple[int, int]:
        """Vectors and bytes held by this process's front."""
        return self._front.usage()

    def clear_front(self) -> None:
        """Forget the in-process front (the store keeps everything)."""
        self._front.discard_prefix("")
