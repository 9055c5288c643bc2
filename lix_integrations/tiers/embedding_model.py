"""Which model computed a vector: its identity (part of every key of the embedding tier) and its batch functions.

Two models can never share an entry, because the key prefix is a digest of everything that defines a stored
vector: the space (a tenant's ``namespace=``), the model's name, its dimension, whether vectors are normalized and
the value layout. Adapters build an `EmbeddingModel` from the framework model they wrap; the engine's own
embedder becomes one through `model_from_embedder`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.tiers import positive_int_or_none as _positive_int_or_none
from ..errors import ConfigError
from ..kernel.keys import digest

__all__ = ["VALUE_LAYOUT", "AsyncBatchFn", "BatchFn", "EmbeddingModel", "model_from_embedder"]

#: Layout of stored values; part of the model key, so a new layout never reads an old one.
VALUE_LAYOUT = "f32le"

BatchFn = Callable[[list[str]], Sequence[Sequence[float]]]
AsyncBatchFn = Callable[[list[str]], Awaitable[Sequence[Sequence[float]]]]


@dataclass(frozen=True)
class EmbeddingModel:
    """What computes the vectors: its identity (part of every key) and its batch functions.

    Adapters build one from the framework model they wrap and pass it with every call, so the tier never imports
    a framework and the engine's own embedder is only the default. ``compute`` is the model's sync batch function
    and ``acompute`` its async one (awaited on the async path; without it the sync one runs in a worker thread).
    ``normalize`` makes the tier store unit-length vectors (what the semantic tier compares); otherwise vectors
    are stored as the model returned them, rounded to float32.
    """

    name: str
    compute: BatchFn | None = None
    acompute: AsyncBatchFn | None = None
    dimension: int | None = None
    normalize: bool = False
    #: Loads the model if it is not loaded yet and returns the seconds that took: called once before the first
    #: batch, so a lazily loaded model's load time is counted as ``load_seconds``, not as computing.
    load: Callable[[], float] | None = field(default=None, compare=False)
    #: At most this many misses per call of ``compute`` (each batch stored before the next); ``None``: one call.
    batch_size: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"embedding model name must be a non-empty string, got {self.name!r}")
        _positive_int_or_none("dimension", self.dimension)
        _positive_int_or_none("batch_size", self.batch_size)
        if not isinstance(self.normalize, bool):
            raise ConfigError(f"normalize must be True or False, got {self.normalize!r}")

    def key(self, space: str = "") -> str:
        """The key prefix of this model's vectors in ``space``."""
        return _model_key(space, self.name, self.dimension, self.normalize)


@functools.lru_cache(maxsize=256)
def _model_key(space: str, name: str, dimension: int | None, normalize: bool) -> str:
    """Derived once per model and space: it prefixes every vector key, so every lookup needs it."""
    dim = "auto" if dimension is None else str(dimension)
    norm = "unit" if normalize else "raw"
    return digest("embedding-model", space, name, dim, norm, VALUE_LAYOUT)


def model_from_embedder(
    embedder: Any, dimension: int | None = None, on_compute: Callable[[float, int], None] | None = None
) -> EmbeddingModel:
    """The engine's own embedder (one text at a time) as an `EmbeddingModel` producing unit vectors.

    Used for the semantic tier's prompts (role "query") and as the default model of the embeddings API, so a
    prompt embedded once is read back from the front or the store, in this process or the next.
    ``on_compute(seconds, texts)`` is told what each batch cost (the engine weighs it against a round trip).
    """

    many = getattr(embedder, "embed_many", None)

    def compute(texts: list[str]) -> list[Any]:
        started = time.perf_counter()
        # A model with a batch method (the default one) embeds a batch in one call: calibration sends 64 texts.
        out = (
            list(many(texts))
            if callable(many) and len(texts) > 1
            else [embedder.embed(text) for text in texts]
        )
        if on_compute is not None and texts:
            on_compute(time.perf_counter() - started, len(texts))
        return out

    async def acompute(texts: list[str]) -> list[Any]:
        started = time.perf_counter()
        out = [await embedder.aembed(text) for text in texts]
        if on_compute is not None and texts:
            on_compute(time.perf_counter() - started, len(texts))
        return out

    load = getattr(embedder, "load", None)
    return EmbeddingModel(
        name=str(embedder.name),
        compute=compute,
        acompute=acompute,
        dimension=dimension if dimension is not None else embedder.dimension,
        normalize=True,
        load=load if callable(load) else None,
    )
