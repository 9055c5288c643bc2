"""The state one configuration owns (backend, embedder, tiers, counters) and the runtime that runs its flows.

`Engine` and `AsyncEngine` are thin views over one ``EngineCore``; an adapter that
needs both ``lookup`` and ``alookup`` holds one engine and reaches the other view through ``.aio`` / ``.sync``,
so both paths share the same store, counters and stored-settings check (see `stored_settings`: the embedder's
settings are checked only where vectors are computed, so an engine given no embedder serves every other tier
without one).
"""

from __future__ import annotations

import functools
from typing import Any

from ..backends import Backend, open_backend
from ..calibration_apply import adopt_stored
from ..config import EngineConfig, default_store_url
from ..embedders import DEFAULT_EMBEDDER_NAME, Embedder, as_embedder, default_embedder
from ..errors import BackendError, LixError
from ..kernel.clock import Clock, SystemClock
from ..kernel.counters import CounterRegistry
from ..kernel.flows import Flow, T, before_each
from ..kernel.ops import (
    Embed,
    EmbedMany,
    ExactGet,
    Gather,
    ListAppend,
    Op,
    RunLocal,
    Sleep,
    Upsert,
    UpsertMany,
    Vector,
    WithPromptVector,
)
from ..kernel.outage import OutageLog
from ..kernel.runtime import SLOW, Handler, Runtime, to_store
from ..kernel.semantic_stats import LATENCY_SAMPLES, SEMANTIC_COUNTERS, SemanticStats
from ..redaction import redact_url, redact_userinfo_password
from ..tiers.checkpoint_state import CheckpointStats
from ..tiers.checkpoints import CheckpointConfig, CheckpointTier
from ..tiers.coalesce import Coalescer
from ..tiers.document_stats import DocumentStats
from ..tiers.documents import DocumentTier
from ..tiers.embeddings import EMBEDDING_COUNTERS, EmbeddingStats, EmbeddingTier, model_from_embedder
from ..tiers.kv import KvStats, KvTier
from ..tiers.node_cache import NodeCacheStats, NodeCacheTier
from ..tiers.semantic import SemanticTier
from ..tiers.sessions import SessionStats, SessionTier
from ..tiers.tools import TOOL_COUNTERS, ToolsStats, ToolTier
from ..tiers.verifier import resolve_verifier
from .caller_code import CALLER_CODE, CallerCode
from .embedder_faults import EMBEDDER_FAULTS, FAULTS, EmbedderFaults, faults_by_cause
from .running_cost import RunningCost, one_write
from .stats import EngineStats
from .stored_settings import StoredSettings

__all__ = ["EngineCore"]


class EngineCore:
    """Backend, embedder, tiers and counters of one engine configuration."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        embedder: Any = None,
        clock: Clock | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.config = config
        #: The embedder this engine was given; ``None``: the default local model, made when a tier first embeds
        #: (see ``embedder``). Key-value, session, checkpoint and tool operations never ask for one.
        self.given_embedder: Embedder | None = None if embedder is None else as_embedder(embedder)
        self._embedder = self.given_embedder
        self.clock: Clock = clock or SystemClock()
        raw_url: str | None = None
        if backend is None:
            raw_url = config.url or default_store_url()
            backend = open_backend(raw_url)
        self.backend: Backend = backend
        #: Every tier's counters, by tier name: what ``stats()`` shows and ``reset_stats()`` zeroes.
        self.counters = CounterRegistry()
        embedder_name = DEFAULT_EMBEDDER_NAME if self.given_embedder is None else self.given_embedder.name
        verifier = resolve_verifier(config.verifier, embedder_name, config.verifier_threshold)
        semantic_counters = self.counters.new(
            "semantic",
            SEMANTIC_COUNTERS,
            functools.partial(SemanticStats.from_counts, prices=config.prices),
            samples=LATENCY_SAMPLES,
            log=config.shadow_log_size,
        )
        ns = config.namespace
        self.semantic = SemanticTier(config.semantic, ns, self.clock, semantic_counters, verifier=verifier)
        self.coalescer = Coalescer(self.semantic, shared=self.backend.shared, settings=config.coalesce)
        self.outage = OutageLog(self.backend.url)  # shared with the embedding tier: one log line per outage
        self.embeddings = EmbeddingTier(
            config.embeddings,
            ns,
            self.clock,
            self.counters.new("embeddings", EMBEDDING_COUNTERS, EmbeddingStats.from_counts),
            fail_open=config.fail_open,
            outage=self.outage,
        )
        self.kv = KvTier(config.kv, ns, self.clock, self.counters.new("kv", KvStats))
        self.tools = ToolTier(
            config.tools, ns, self.clock, self.counters.new("tools", TOOL_COUNTERS, ToolsStats.from_counts)
        )
        self.sessions = SessionTier(
            config.sessions,
            ns,
            self.clock,
            self.counters.new("sessions", SessionStats),
            _archive_url(self.backend.url, raw_url),
            label=self.backend.url,
            address=self.backend.store_address,
        )
        #: Shared by every checkpoint tier of this engine (`checkpoint_tier`: one per retention policy).
        self._checkpoint_counters = self.counters.new("checkpoints", CheckpointStats)
        self.checkpoints = self.checkpoint_tier(CheckpointConfig())
        self.node_cache = NodeCacheTier(ns, self.clock, self.counters.new("node_cache", NodeCacheStats))
        self.documents = DocumentTier(
            ns, self.clock, self._document_vectors, self.counters.new("documents", DocumentStats)
        )
        self.settings = StoredSettings(config.namespace, self._identity, self._adopt)
        self._model: Any = None
        self._embed_cost = RunningCost()  # seconds per prompt embedding
        self._trip_cost = RunningCost()  # seconds per exact check (one store round trip)
        self._record_write_cost = (
            RunningCost()
        )  # seconds per record of a batched upsert (its round trip shared)
        self._probe = 0
        self.semantic.embed_first = self.embed_first
        # Prompt vectors go through the embedding tier (front + store), so LangChain's lookup-then-update embeds a
        # missed prompt once, in this process or any later one.
        self._closed = False
        self.faults = EmbedderFaults(self.counters.new("embedder_faults", (FAULTS,), faults_by_cause))
        self.runtime = Runtime(self.backend, self._handlers())

    # -- the embedder and the stored settings ----------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedder given to this engine, else the default local model: made on first use (it loads its
        model only when it first computes), by the tiers that embed. A `ConfigError` says how to give one when
        the default model is not installed."""
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def _identity(self) -> tuple[str, int | None]:
        return self.embedder.name, self.embedder.dimension

    def _adopt(self, stored: dict[str, str]) -> None:
        adopt_stored(self.semantic, self.config, stored)

    def _checked(self, flow: Flow[T]) -> Flow[T]:
        if not self.settings.data_checked:
            yield from self.settings.check(vectors=False)
        return (yield from flow)

    # -- embedding -----------------------------------------------------------------------------------------

    def _prompt_model(self) -> Any:
        """The engine's embedder as an embedding-tier model, built once.

        Its key carries the dimension the embedder *declares* (none: "auto"), never the one learned from the
        first vector: a key that changed once the size was known would miss the vector just computed, and the
        first prompt of every process would be embedded twice (lookup, then update). The embedding tier learns
        and checks an undeclared model's size itself, and the stored settings check it against the store.
        """
        if self._model is None:
            self._model = model_from_embedder(self.embedder, None, self._embed_cost.add_batch)
        return self._model

    def embed_first(self, text: str) -> bool:
        """The semantic tier's lookup order for ``text`` under ``lookup_order="auto"``: on a store with round
        trips, embed first when the vector is already in memory, or when embedding costs under a quarter of the
        round trip it saves (an exact check first costs one round trip on a hit and two on a miss; embedding
        first, one plus the embedding, always). An embedded store has no round trip to save."""
        order = self.config.lookup_order
        if order != "auto":
            return order == "embed_first"
        if not self.backend.pipelines:
            return (
                False  # no round trip to save (an embedded store): an exact hit would only pay the embedding
            )
        embed, trip = self._embed_cost.value, self._trip_cost.value
        if embed is not None and trip is not None and embed * 4 < trip:
            # Embedding first, the engine no longer times a bare round trip: every 64th lookup checks the exact
            # key first again, so a store that got slower or faster moves the decision.
            self._probe = (self._probe + 1) % 64
            return self._probe != 0
        # Only now is the text hashed to look in memory (the Embed that follows finds its key kept: `text_key`).
        return self.embeddings.in_front(text, self._prompt_model(), role="query")

    def _prompt_vector(self, text: str, checked: dict[str, bytes | None] | None) -> Flow[Any]:
        """The embedding tier's flow for one prompt through the store, with the engine's embedder in the query
        role (``_embed`` decides when the store is worth it).

        The store write of a computed vector is deferred: this process's front serves it at once, and the
        backend sends it with its next command (the search or the upsert that follows). An embedder measured
        cheaper than a quarter of a round trip skips the store (a read would cost more than it saves: one
        round trip per insert of a prompt never looked up, as a cache warm-up or a batch inserts).
        """
        matrix = yield from self.embeddings.embed(
            [text], self._prompt_model(), role="query", checked=checked, defer_store=True
        )
        return matrix[0]

    def _store_pays(self, batch: bool = False) -> bool:
        """Whether prompt vectors go through the embedding store: not on a store with round trips once the
        embedder is measured cheaper than a quarter of one, for a batch too: storing its vectors cost more than
        computing them again (update_many x100 of precomputed vectors into Redis Stack at 3k-10k records, this
        rule alone: 47 -> 36 us of this process and about 210 -> 170 us of the server per insert, 2026-12-04,
        the set-up of benchmarks/redis.py).

        A process that only inserts batches (a cache warm-up) never times a single round trip; for a batch, an
        embedder cheaper than one record's share of a batched write is cheaper than that write too, so its
        vectors are not stored either."""
        if not self.backend.pipelines:
            return True
        embed, trip = self._embed_cost.value, self._trip_cost.value
        if batch and embed is not None and trip is None:
            per_record = self._record_write_cost.value
            return per_record is None or embed >= per_record
        return embed is None or trip is None or embed * 4 >= trip

    def _prompt_vectors(self, texts: tuple[str, ...]) -> Flow[list[Vector]]:
        """`_prompt_vector` for a batch (``EmbedMany``), with the settings checks around it (see ``_embed``)."""
        yield from self.settings.vectors()
        matrix = yield from self.embeddings.embed(
            list(texts),
            self._prompt_model(),
            role="query",
            defer_store=True,
            use_store=self._store_pays(batch=True),
        )
        if len(texts):  # the rows of one matrix share their size: one check (a flow per row cost 1 us each)
            yield from self.settings.remember(matrix[0])
        return list(matrix)

    def _with_prompt_vector(
        self, op: WithPromptVector, checked: dict[str, dict[str, bytes | None]]
    ) -> Flow[Any]:
        """``op`` and the read of ``op.text``'s stored vector as one `Gather` (see WithPromptVector)."""
        if not self.backend.pipelines:
            return (yield op.op)  # no round trip to share: the Embed that may follow reads the store itself
        read = self.embeddings.read_stored([op.text], self._prompt_model(), role="query")
        try:
            first = next(read)
        except StopIteration:
            return (yield op.op)  # the front holds the vector
        try:
            result, stored = yield Gather((op.op, first))
        except BackendError:
            read.close()
            return (yield op.op)  # raises again if the store is down; the embed reports its own failure
        try:
            read.send(stored)
        except StopIteration as stop:
            checked[op.text] = stop.value
        else:  # pragma: no cover - read_stored yields once
            read.close()
        return result

    def _document_vectors(self, texts: list[str], role: str) -> Flow[Any]:
        """Unit vectors of ``texts`` from the engine's embedder (the document tier's embedding flow). Kept out of
        the store: a document holds its own vectors, and a second copy would only cost a write. Those vectors
        are the namespace's too, so the embedder's stored settings are checked first."""
        yield from self.settings.vectors()
        return (yield from self.embeddings.embed(texts, self._prompt_model(), role=role, use_store=False))

    # -- running flows -------------------------------------------------------------------------------------

    def _handlers(self) -> dict[type[Op], Handler]:
        """What this engine adds to the runtime's table: the model through the embedding tier (``Embed``,
        ``EmbedMany``), and the storage ops whose time teaches ``embed_first`` what a round trip costs."""
        timed = to_store(self.backend, timer=self._trip)
        return {
            Embed: Handler(self._embed, flow=True, quick=self._embed_quick),
            EmbedMany: Handler(self._embed_many, flow=True),
            WithPromptVector: Handler(self._with_prompt_vector, flow=True, timer=self._trip),
            # An upsert sent with its bound check is one round trip as well.
            Gather: to_store(self.backend, timer=self._trip_if_one_write),
            ExactGet: timed,
            Upsert: timed,  # one round trip too: what an embedding-store read would cost
            UpsertMany: to_store(
                self.backend, timer=self._batch_write
            ),  # what storing a record costs in a batch
            # An append already sent completes under a cancelled caller; the session tier learns its seqs and
            # undoes it (see the tier). A backend that finishes it itself needs no shield around it.
            ListAppend: to_store(self.backend, shield=ListAppend not in self.backend.finishes_when_cancelled),
            CallerCode: CALLER_CODE,  # a tool or a model call run by a facade flow
        }

    def _trip(self, op: Op, seconds: float) -> None:
        self._trip_cost.add(seconds)

    def _batch_write(self, op: UpsertMany, seconds: float) -> None:
        if op.records:
            self._record_write_cost.add_batch(seconds, len(op.records))

    def _trip_if_one_write(self, op: Op, seconds: float) -> None:
        if one_write(op):
            self._trip_cost.add(seconds)

    def _embed(self, op: Embed, scratch: dict[str, dict[str, bytes | None]]) -> Flow[Vector]:
        """A prompt's vector through the embedding tier. The embedder's stored settings are checked before the
        first one (a store written by another model is refused before its model computes anything); the first
        vector of an embedder that did not declare its size fixes the dimension, which the store then checks."""
        if not self.settings.vectors_checked:  # tested here: a warm lookup makes no generator for it
            yield from self.settings.vectors()
        checked = scratch.pop(op.text, None)
        model = self._prompt_model()
        vec = self.embeddings.front_vector(op.text, model, role="query")
        if vec is None:
            if op.use_store and (checked is not None or self._store_pays()):
                vec = yield from self._prompt_vector(op.text, checked)
            else:  # the model alone: one text's lean path (see `EmbeddingTier.compute_one`)
                vec = yield from self.embeddings.compute_one(op.text, model, role="query")
        return (yield from self.settings.remember(vec))

    def _embed_quick(self, op: Embed, scratch: dict[str, dict[str, bytes | None]]) -> Any:
        """`_embed` when the vector is in this process's front and every settings check is done: the vector,
        with no flow (a warm lookup's embedding); else `SLOW`, and `_embed` runs."""
        settings = self.settings
        if not settings.vectors_checked or not settings.dimension_checked:
            return SLOW
        vec = self.embeddings.front_vector(op.text, self._prompt_model(), role="query")
        if vec is None:
            return SLOW  # nothing counted yet: `_embed` reads the scratch and counts
        if scratch:
            scratch.pop(op.text, None)
        settings.sized(vec)  # checked already: raises on a vector of another size, as `remember` does
        return vec

    def _embed_many(self, op: EmbedMany, scratch: dict[str, dict[str, bytes | None]]) -> Flow[list[Vector]]:
        return self._prompt_vectors(op.texts)

    def _ensure_open(self) -> None:
        if self._closed:
            raise LixError("this engine is closed")

    def run(self, flow: Flow[T]) -> T:
        """Run a flow to completion on this thread (the stored settings are checked first, once)."""
        self._ensure_open()
        return self.runtime.run(self._checked(flow))

    async def arun(self, flow: Flow[T]) -> T:
        """Run a flow to completion without blocking the event loop."""
        self._ensure_open()
        return await self.runtime.arun(self._checked(flow))

    def each_checked(self, flow: Flow[T]) -> Flow[T]:
        """``flow`` with every storage op waiting for the stored settings to be checked, so a store that could
        not be reached at open fails the op (the flow sees the error and may keep the data elsewhere) instead
        of the whole call (the session tier's way); for ``runtime.run`` / ``runtime.arun``. Once the settings
        were checked, the flow as it is: a layer around each op of every chat call cost more than the check it
        no longer makes (2026-12-04, benchmarks/redis_chat.py)."""
        self._ensure_open()
        return flow if self.settings.data_checked else before_each(flow, self._settle)

    def _settle(self, op: Op) -> Flow[None]:
        """Before one op of a session flow: the settings check ``_checked`` does before a whole flow (sessions
        need only the serialization; local work needs nothing)."""
        if type(op) in _LOCAL:
            return
        self._ensure_open()
        if not self.settings.data_checked:
            yield from self.settings.check(vectors=False)

    # -- failing open ----------------------------------------------------------------------------------------

    def _fail_open(self, flow: Flow[T], fallback: T) -> Flow[T]:
        """``flow``; with ``fail_open``, a store failure or an embedder fault (see `embedder_faults`)
        gives ``fallback`` instead of an exception."""
        try:
            result = yield from self._checked(flow)
        except _CACHE_FAILURES as exc:
            return self._fallen_back(exc, fallback)
        self._recovered()
        return result

    def run_cache(self, flow: Flow[T], fallback: T) -> T:
        """Run a cache flow, failing open (see ``_fail_open``). Once the settings are checked, the flow as it is:
        ``_fail_open``'s two generators passed each op of a lookup through two more frames (a few us of a warm
        Redis lookup's Python at 10k, 2026-12-04, timed in the set-up of benchmarks/redis.py)."""
        self._ensure_open()
        if not self.settings.data_checked:
            return self.runtime.run(self._fail_open(flow, fallback))
        try:
            result = self.runtime.run(flow)
        except _CACHE_FAILURES as exc:
            return self._fallen_back(exc, fallback)
        self._recovered()
        return result

    async def arun_cache(self, flow: Flow[T], fallback: T) -> T:
        self._ensure_open()
        if not self.settings.data_checked:
            return await self.runtime.arun(self._fail_open(flow, fallback))
        try:
            result = await self.runtime.arun(flow)
        except _CACHE_FAILURES as exc:
            return self._fallen_back(exc, fallback)
        self._recovered()
        return result

    def _fallen_back(self, exc: LixError, fallback: T) -> T:
        """What a cache step that raised ``exc`` (one of ``_CACHE_FAILURES``) gives under ``fail_open``."""
        if isinstance(exc, BackendError):
            return self._failed(exc, fallback)
        return self.faults.handle(exc, self.config.fail_open, fallback, "a cache step")  # type: ignore[no-any-return]

    def _failed(self, exc: BackendError, fallback: T) -> T:
        if not self.config.fail_open:
            raise exc
        self.outage.failed(exc)  # logged once per outage, not once per request
        return fallback

    def _recovered(self) -> None:
        self.outage.ok()

    def open_settings(self) -> None:
        """Check the stored settings at open: the serialization, and the embedder's settings when this engine was
        given one (an engine given none opens a store whatever model wrote it). A store that cannot be reached now
        is not an error yet: caches serve misses and every flow checks the settings first until one gets through
        (see ``_checked``); session calls raise `BackendError` naming the store. A mismatch still raises at once."""
        self._ensure_open()
        try:
            self.runtime.run(self.settings.check(vectors=self.given_embedder is not None))
        except BackendError as exc:
            if not exc.unavailable:
                raise
            self.outage.failed(exc, "opening")

    async def aopen_settings(self) -> None:
        self._ensure_open()
        try:
            await self.runtime.arun(self.settings.check(vectors=self.given_embedder is not None))
        except BackendError as exc:
            if not exc.unavailable:
                raise
            self.outage.failed(exc, "opening")

    # -- lifecycle -----------------------------------------------------------------------------------------

    def checkpoint_tier(self, config: CheckpointConfig) -> CheckpointTier:
        """A checkpoint tier with its own retention policy, counting in the engine's checkpoint counters."""
        return CheckpointTier(config, self.config.namespace, self.clock, self._checkpoint_counters)

    def reset_stats(self) -> None:
        """Every counter of this engine's tiers back to zero: what ``stats()`` and each tier's ``stats()`` show."""
        self.counters.reset()

    def stats(self) -> EngineStats:
        """Every registered snapshot (see `CounterRegistry`): the tiers and the embedder faults."""
        return EngineStats(
            namespace=self.config.namespace,
            **self.counters.snapshot(),
        )

    def close(self) -> None:
        """Release the store and the session archive's lock files (one descriptor per lock stripe used)."""
        if not self._closed:
            self._closed = True
            try:
                self.backend.close()
            finally:
                self.sessions.archive.close()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self.backend.aclose()
            finally:
                self.sessions.archive.close()


#: What a cache step fails open on: a store failure, an embedder fault (see `embedder_faults`).
_CACHE_FAILURES: tuple[type[LixError], ...] = (BackendError, *EMBEDDER_FAULTS)

#: Ops of a session flow that need no stored settings: local file work and back-off.
_LOCAL: frozenset[type[Op]] = frozenset({RunLocal, Sleep})


def _archive_url(backend_url: str, raw_url: str | None) -> str:
    """The URL that names a store's default session-archive directory (a digest of it).

    That was the backend's printed URL, which redacted only a userinfo password; query credentials
    (``?password=``) are redacted now too, so for such URLs the old form is rebuilt and the sessions keep finding
    the archives they wrote before the upgrade (only a digest of it is ever written).
    """
    if raw_url is not None and backend_url == redact_url(raw_url):
        return redact_userinfo_password(raw_url)
    return backend_url
