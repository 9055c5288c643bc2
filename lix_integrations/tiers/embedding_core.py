"""The embedding tier's core (see `embeddings`): the in-process front, model dimensions, failing open, and
vectors computed for texts, read from the front or the store first and written back after."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from ..config.tiers import EmbeddingConfig
from ..config.tiers import check_ttl as _check_ttl
from ..errors import BackendError, ConfigError, InvalidInputError, InvalidVectorError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet
from ..kernel.flows import Flow
from ..kernel.ops import (
    Deferred,
    EmbedBatch,
    KvEvict,
    KvGet,
    KvItem,
    KvPut,
    LoadModel,
)
from ..kernel.outage import OutageLog
from .embedding_front import VectorFront as _Front
from .embedding_model import EmbeddingModel
from .embedding_stats import EmbeddingStats
from .embedding_vectors import Matrix, Vector, decode_vector, encode_vector, text_hash
from .embedding_vectors import as_matrix as _as_matrix
from .embedding_vectors import check_space as _check_space
from .embedding_vectors import check_texts as _check_texts
from .embedding_vectors import normalized as _normalized
from .embedding_vectors import text_key as _text_key
from .embedding_vectors import unit_vector as _unit_vector
from .tier import Tier

logger = logging.getLogger("lix_integrations.tiers.embeddings")  # one logger for the tier

Role = Literal["query", "document"]
_ROLE_CODES = {"query": "q", "document": "d"}
_KEY_ROLE = "k"  # arbitrary keys (URL, document id) live in their own key space


class EmbeddingCore(Tier[EmbeddingConfig, EmbeddingStats]):
    """The embedding tier's state and its computed vectors (`EmbeddingTier` adds vectors under arbitrary keys and
    the store's upkeep); every public method validates eagerly and returns a flow to run."""

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
