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

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..config.tiers import DEFAULT_TABLE, EmbeddingConfig
from ..config.tiers import check_ttl as _check_ttl
from ..errors import BackendError, ConfigError, InvalidInputError, InvalidVectorError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet
from ..kernel.flows import Flow
from ..kernel.ops import (
    Deferred,
    EmbedBatch,
    KvDelete,
    KvDeleteWhere,
    KvEvict,
    KvGet,
    KvItem,
    KvPurgeExpired,
    KvPut,
    KvUsage,
    LoadModel,
)
from ..kernel.outage import OutageLog
from .embedding_front import VectorFront as _Front
from .embedding_model import VALUE_LAYOUT, AsyncBatchFn, BatchFn, EmbeddingModel, model_from_embedder
from .embedding_stats import EMBEDDING_COUNTERS, EmbeddingStats
from .embedding_vectors import Matrix, Vector, decode_vector, encode_vector, text_hash
from .embedding_vectors import as_matrix as _as_matrix
from .embedding_vectors import check_key as _check_key
from .embedding_vectors import check_space as _check_space
from .embedding_vectors import check_texts as _check_texts
from .embedding_vectors import normalized as _normalized
from .embedding_vectors import text_key as _text_key
from .embedding_vectors import unit_vector as _unit_vector
from .tier import Tier

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

logger = logging.getLogger(__name__)

Role = Literal["query", "document"]
_ROLE_CODES = {"query": "q", "document": "d"}
_KEY_ROLE = "k"  # arbitrary keys (URL, document id) live in their own key space


class EmbeddingTier(Tier[EmbeddingConfig, EmbeddingStats]):
    """Policy of the embedding tier; every public method validates eagerly and returns a flow to run."""

    def __init__(
        self,
        config: EmbeddingConfig,
        namespace: str,
        clock: Clock,
        counters: CounterSet[EmbeddingStats],
        *,
        fail_open: bool = True,
        outage: OutageLog | None = None,
    ) -> None:
        super().__init__(config, namespace, clock, counters)
        self._fail_open = fail_open
        self._front = _Front(config.front_entries, config.front_bytes)
        self._lock = threading.Lock()
        self._dims: dict[str, int] = {}  # learned per model key when the model does not declare its dimension
        self._loaded: set[str] = set()  # model keys whose model was loaded (see EmbeddingModel.load)
        self._since_evict = 0
        self._outage = outage or OutageLog("embedding store")

    # -- keys and dimensions -----------------------------------------------------------------------------------

    @staticmethod
    def key(model: EmbeddingModel, role: str, text: str, space: str = "") -> str:
        """The store key of ``text`` embedded by ``model`` in ``role`` (``"query"``, ``"document"``)."""
        return _text_key(model.key(space), _ROLE_CODES[role], text)

    def _dimension(self, model: EmbeddingModel, model_key: str) -> int | None:
        if model.dimension is not None:
            return model.dimension
        with self._lock:
            return self._dims.get(model_key)

    def _learn(self, model_key: str, dimension: int) -> None:
        with self._lock:
            known = self._dims.setdefault(model_key, dimension)
        if known != dimension:
            raise InvalidVectorError(
                f"embedding has dimension {dimension}, expected {known} for this model",
                cause="wrong_dimension",
            )

    def _expiry(self, now: float, ttl: float | None) -> float | None:
        ttl = self.config.ttl if ttl is None else ttl
        return None if ttl is None else now + ttl

    # -- failing open ----------------------------------------------------------------------------------------

    def _store_failed(self, exc: BackendError, what: str) -> None:
        """A cache store failure must not fail an embedding the model can still compute."""
        if not self._fail_open:
            raise exc
        self.counters.update(store_errors=1)
        logger.debug("embedding store failed (%s); computing without the cache: %s", what, exc)
        self._outage.failed(exc, f"embedding store {what}")  # one WARNING per outage, shared by the tiers

    def _store_ok(self) -> None:
        self._outage.ok()

    # -- reads ---------------------------------------------------------------------------------------------------

    def _read(
        self,
        keys: list[str],
        dimension: int | None,
        model_key: str,
        now: float,
        checked: Mapping[str, bytes | None] | None = None,
    ) -> Flow[dict[str, Vector]]:
        """Front first, then one store round trip for the rest; store hits are copied into the front.

        ``checked`` holds what `read_stored` already read from the store for some keys (``None``: absent),
        so those need no second read.
        """
        found = self._front.get_many(keys, now)
        front_hits = len(found)
        missing = [key for key in keys if key not in found]
        store_hits = 0
        if missing:
            known = checked or {}
            unread = [key for key in missing if key not in known]
            values: list[bytes | None] = [None] * len(unread)
            if unread:
                try:
                    values = yield KvGet(
                        self.namespace, self.config.table, tuple(unread), now, touch=self.config.lru_store
                    )
                except BackendError as exc:
                    self._store_failed(exc, "read")
                    values = [None] * len(unread)
                else:
                    self._store_ok()
            by_key = dict(zip(unread, values))
            values = [known[key] if key in known else by_key[key] for key in missing]
            loaded: list[tuple[str, Vector, float | None]] = []
            for key, raw in zip(missing, values):
                if raw is None:
                    continue
                vec = decode_vector(raw, dimension)
                if dimension is None:
                    self._learn(model_key, int(vec.shape[0]))
                    dimension = int(vec.shape[0])
                found[key] = vec
                # The store does not report an entry's expiry; an entry read back lives in the front at most
                # the configured TTL (entries written by this process carry their exact expiry).
                loaded.append((key, vec, self._expiry(now, None)))
            store_hits = len(loaded)
            self._front.put_many(loaded)
        self.counters.update(front_hits=front_hits, store_hits=store_hits)
        return found

    def _write(
        self, items: list[tuple[str, Vector]], now: float, ttl: float | None, defer: bool = False
    ) -> Flow[None]:
        expires_at = self._expiry(now, ttl)
        self._front.put_many([(key, vec, expires_at) for key, vec in items])
        kv_items = tuple(KvItem(key, encode_vector(vec), expires_at) for key, vec in items)
        put = KvPut(self.namespace, self.config.table, kv_items, now)
        try:
            yield Deferred(put) if defer else put
        except BackendError as exc:
            self._store_failed(exc, "write")
            return
        self._store_ok()
        self.counters.update(stored=len(items))
        with self._lock:
            self._since_evict += len(items)
            due = self._since_evict >= self.config.evict_every
            if due:
                self._since_evict = 0
        if due and (self.config.max_entries is not None or self.config.max_bytes is not None):
            yield from self.evict()

    # -- embedding -------------------------------------------------------------------------------------------------

    def embed(
        self,
        texts: object,
        model: EmbeddingModel,
        *,
        role: str = "document",
        space: str = "",
        ttl: float | None = None,
        checked: Mapping[str, bytes | None] | None = None,
        defer_store: bool = False,
        use_store: bool = True,
    ) -> Flow[Matrix]:
        """Vectors of ``texts`` in input order, as a (len(texts), dimension) float32 array.

        Only the distinct texts that neither the front nor the store holds are computed, in one batch call.
        ``checked`` is what `read_stored` found for them; ``defer_store`` lets the backend send the
        computed vectors with its next command (the semantic tier's prompt vectors: the front serves this
        process at once, and the write only saves other processes an embedding). ``use_store=False`` skips
        the store both ways: for a model cheaper to run than a store round trip.
        """
        items = _check_texts(texts)
        if role not in _ROLE_CODES:
            raise InvalidInputError(f"role must be 'query' or 'document', got {role!r}")
        if model.compute is None and model.acompute is None:
            raise ConfigError(f"embedding model {model.name!r} has no compute function")
        ttl = _check_ttl(ttl, InvalidInputError)
        return self._embed_flow(items, model, role, _check_space(space), ttl, checked, defer_store, use_store)

    def front_vector(self, text: str, model: EmbeddingModel, *, role: str) -> Vector | None:
        """``text``'s vector if this process holds it (read-only, counted as served from memory), else ``None``
        with nothing counted: the `embed` that follows counts. A warm semantic lookup's embedding: one key and
        one probe, where `embed` builds lists, a read flow and a stacked matrix for one vector (9 us of a 58 us
        warm Redis lookup's Python, 2026-12-04, py-spy over replayed replies)."""
        vec = self._front.get(self.key(model, role, text), self.clock.now())
        if vec is not None:
            self.counters.add_each("lookups", "front_hits")
        return vec

    def in_front(self, text: str, model: EmbeddingModel, *, role: str) -> bool:
        """Whether this process holds ``text``'s vector in memory (no store round trip needed for it)."""
        return self._front.get(self.key(model, role, text), self.clock.now()) is not None

    def read_stored(
        self, texts: Sequence[str], model: EmbeddingModel, *, role: str
    ) -> Flow[dict[str, bytes | None]]:
        """What the store holds for the texts the front lacks, keyed as `embed` keys them.

        One read, no computing and no counting: the engine runs it in the round trip of a semantic lookup's
        exact check, and hands the answer to the `embed` that may follow. A failed read answers nothing.
        """
        now = self.clock.now()
        keys = list(dict.fromkeys(self._keys(texts, model.key(""), role)))
        held = self._front.get_many(keys, now)
        missing = tuple(key for key in keys if key not in held)
        if not missing:
            return {}
        try:
            values: list[bytes | None] = yield KvGet(
                self.namespace, self.config.table, missing, now, touch=self.config.lru_store
            )
        except BackendError:
            return {}  # the embed that follows reads again, and reports the failure
        return dict(zip(missing, values))

    @staticmethod
    def _keys(texts: Sequence[str], model_key: str, role: str) -> list[str]:
        code = _ROLE_CODES[role]
        return [f"{model_key}:{code}:{text_hash(text)}" for text in texts]

    def _embed_flow(
        self,
        texts: list[str],
        model: EmbeddingModel,
        role: str,
        space: str,
        ttl: float | None,
        checked: Mapping[str, bytes | None] | None = None,
        defer_store: bool = False,
        use_store: bool = True,
    ) -> Flow[Matrix]:
        if not texts:
            return np.zeros((0, model.dimension or 0), dtype=np.float32)
        model_key = model.key(space)
        keys = self._keys(texts, model_key, role)
        first_text: dict[str, str] = {}
        for key, text in zip(keys, texts):
            first_text.setdefault(key, text)
        unique = list(first_text)
        self.counters.update(lookups=len(texts), deduplicated=len(texts) - len(unique))
        now = self.clock.now()
        dimension = self._dimension(model, model_key)
        if use_store:
            found = yield from self._read(unique, dimension, model_key, now, checked)
        else:  # the front only: nothing is asked of the store
            found = self._front.get_many(unique, now)
            self.counters.update(front_hits=len(found), store_hits=0)
        missing = [key for key in unique if key not in found]
        if missing:
            self.counters.update(misses=len(missing))
            if model.load is not None and model_key not in self._loaded:
                yield from self._load(model, model_key)
            # ``batch_size``: misses computed (and stored) that many at a time, as LangChain's
            # CacheBackedEmbeddings does, so a long job that fails keeps what its earlier batches computed.
            step = model.batch_size or len(missing)
            for start in range(0, len(missing), step):
                chunk = missing[start : start + step]
                computed = yield from self._compute(
                    chunk, first_text, model, model_key, dimension, len(texts)
                )
                dimension = self._dimension(model, model_key)
                found.update(computed)
                if use_store:
                    yield from self._write(computed, now, ttl, defer_store)
                else:
                    self._front.put_many([(key, vec, self._expiry(now, ttl)) for key, vec in computed])
        if len(keys) == 1:  # a prompt's vector: np.stack costs 2.4 us for one row, a copy 0.4 (timeit)
            return np.array(found[keys[0]], dtype=np.float32, ndmin=2)
        return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)

    def compute_one(self, text: str, model: EmbeddingModel, *, role: str) -> Flow[Vector]:
        """`embed` of one text the front does not hold, with ``use_store=False``: the model's vector, checked,
        normalized, kept in the front and counted as `embed` counts it (a lookup, a miss, a computed text), without
        `embed`'s lists, dictionaries and second probe of the front. A new prompt's vector on a single insert,
        where those cost more than the model call: see `EngineCore._embed`."""
        model_key = model.key("")
        key = _text_key(model_key, _ROLE_CODES[role], text)
        self.counters.update(lookups=1, misses=1)
        if model.load is not None and model_key not in self._loaded:
            yield from self._load(model, model_key)
        now = self.clock.now()
        computed = yield from self._compute(
            [key], {key: text}, model, model_key, self._dimension(model, model_key), 1
        )
        vec = computed[0][1]
        self._front.put_many([(key, vec, self._expiry(now, None))])
        return vec

    def _load(self, model: EmbeddingModel, model_key: str) -> Flow[None]:
        loaded: float = yield LoadModel(model.load)  # type: ignore[arg-type]
        self.counters.add("load_seconds", loaded)
        with self._lock:
            self._loaded.add(model_key)

    def _compute(
        self,
        missing: list[str],
        first_text: Mapping[str, str],
        model: EmbeddingModel,
        model_key: str,
        dimension: int | None,
        asked: int,
    ) -> Flow[list[tuple[str, Vector]]]:
        """One batch call of the model for the texts of ``missing`` keys, checked and keyed."""
        batch = [first_text[key] for key in missing]
        started = time.perf_counter()
        raw = yield EmbedBatch(tuple(batch), model.compute, model.acompute)
        self.counters.update(computed=len(batch), compute_seconds=time.perf_counter() - started)
        try:
            if len(batch) == 1 and model.normalize:  # one text: no matrix (see unit_vector)
                vec = _unit_vector(raw, dimension, model.name)
                if dimension is None:
                    self._learn(model_key, int(vec.shape[0]))
                return [(missing[0], vec)]
            matrix = _as_matrix(raw, len(batch), dimension, model.name)
            if model.normalize:
                matrix = _normalized(matrix, model.name)
            if dimension is None:
                self._learn(model_key, int(matrix.shape[1]))
        except InvalidVectorError as exc:
            if len(missing) == asked:  # the model's answer covers every text: a wrapper can return it
                exc.output = raw
            raise
        if len(missing) == 1:
            return [(missing[0], matrix[0])]  # the whole (1, d) array: nothing else to let go of
        return [(key, matrix[i].copy()) for i, key in enumerate(missing)]

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

    def evict(self) -> Flow[int]:
        """Apply ``max_entries`` / ``max_bytes`` to the stored tier now."""
        if self.config.max_entries is None and self.config.max_bytes is None:
            return 0
        try:
            evicted: int = yield KvEvict(
                self.namespace, self.config.table, self.config.max_entries, self.config.max_bytes
            )
        except BackendError as exc:
            self._store_failed(exc, "evict")
            return 0
        if evicted:
            self.counters.update(evictions=evicted)
        return evicted

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
