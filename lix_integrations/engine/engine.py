"""``Engine`` (blocking) and ``AsyncEngine`` (awaitable): the public face of one cache configuration.

Both are views over one :class:`~.core.EngineCore`. Build either from a URL; reach the other view through
``engine.aio`` or ``async_engine.sync`` when one object must serve both kinds of callers (LangChain's
``lookup`` and ``alookup`` on the same cache).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..calibration_apply import set_threshold_flow, threshold_options
from ..config import EngineConfig, ModelPrice, SamplingPolicy
from ..errors import ConfigError, InvalidInputError
from ..kernel.clock import Clock
from ..kernel.counters import ShadowReport, TokenUsage
from ..kernel.flows import Flow
from ..kernel.keys import digest
from ..kernel.ops import CountEntries, DeleteIds, ScanEntries, SemanticRecord
from ..kernel.scope import resolve_scope, scope_key, scope_label
from ..tiers.embeddings import EmbeddingConfig
from ..tiers.kv import KvConfig
from ..tiers.semantic import Candidate, SemanticHit, unwrap_payload
from ..tiers.sessions import SessionConfig
from ..tiers.tools import ToolsConfig
from .checkpoints_api import AsyncCheckpointsAPI, CheckpointsAPI
from .core import EngineCore
from .documents_api import AsyncDocumentsAPI, DocumentsAPI
from .embeddings_api import AsyncEmbeddingsAPI, EmbeddingsAPI
from .kv_api import AsyncKvAPI, KvAPI
from .node_cache_api import AsyncNodeCacheAPI, NodeCacheAPI
from .sessions_api import AsyncSessionsAPI, SessionsAPI
from .stats import EngineStats
from .tools_api import AsyncToolsAPI, ToolsAPI

if TYPE_CHECKING:
    from ..calibration import Calibration
    from .resolve import EngineLease

__all__ = ["AsyncEngine", "AsyncSemanticAPI", "Engine", "SemanticAPI", "SemanticEntry"]

#: ``update_many``'s items, ``(prompt, llm_string, payload)`` each, its TTL and its result (an id per item).
Answers = Iterable[tuple[str, str, str]]
Ttl = float | None
Ids = list[int | None]


def _build_core(
    url: str | None,
    config: EngineConfig | None,
    embedder: Any,
    clock: Clock | None,
    options: dict[str, Any],
) -> EngineCore:
    base = config or EngineConfig()
    resolved = base.with_overrides(url=url, **threshold_options(options))
    if resolved.url is not None:
        # Engine options carried by the URL (``?verifier=off``) apply to any store and are not the backend's:
        # take them out before the backend parses its own options. A keyword given explicitly wins.
        stripped, from_url = split_engine_query(resolved.url)
        if from_url or stripped != resolved.url:
            given = {k: v for k, v in from_url.items() if options.get(k) is None}
            resolved = replace(resolved, url=stripped, **given)
    return EngineCore(resolved, embedder=embedder, clock=clock)


#: Engine options a store URL may carry as query parameters, with their parsers.
_URL_OPTIONS = {"verifier": str, "verifier_threshold": float}


def split_engine_query(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` without its engine options, and those options parsed (``verifier=``, ``verifier_threshold=``).

    The backend's own parameters are kept byte for byte (not re-encoded)."""
    base, sep, query = url.partition("?")
    if not sep:
        return url, {}
    kept: list[str] = []
    found: dict[str, Any] = {}
    for segment in query.split("&"):
        pairs = parse_qsl(segment, keep_blank_values=True)
        parse = _URL_OPTIONS.get(pairs[0][0]) if len(pairs) == 1 else None
        if parse is None:
            kept.append(segment)
            continue
        key, value = pairs[0]
        try:
            found[key] = parse(value)
        except ValueError:
            raise ConfigError(f"URL option {key}={value!r} is not a valid {parse.__name__}") from None
    if not found:
        return url, {}
    return (base + "?" + "&".join(kept) if kept else base), found


class SemanticAPI:
    """Blocking access to the semantic tier.

    ``scope`` is the caller's fixed scope; any scope set with :func:`lix_integrations.lix_scope` nests inside it.
    ``context`` is what must match exactly besides ``llm_string`` (for chat prompts: everything but the last
    user turn); ``prompt`` is the text that is embedded.
    """

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    @property
    def threshold(self) -> float:
        return self._core.semantic.threshold

    def set_threshold(self, result: Any, *, store: bool = False) -> float:
        """Use ``result`` (what ``calibrate`` returns, or a number) from now on; ``store`` also stores it with the
        data, for every engine opening this store without a threshold of its own (see
        :mod:`~lix_integrations.calibration_apply`). Returns the similarity threshold."""
        return self._core.run(set_threshold_flow(self._core, result, store))

    def lookup(
        self,
        prompt: str,
        llm_string: str,
        *,
        context: str = "",
        scope: str | None = None,
        threshold: float | None = None,
        coalesce: bool = False,
        alive: Callable[[], bool] | None = None,
    ) -> SemanticHit | None:
        """The cached answer, or ``None``. With ``coalesce``, a miss of a prompt an identical call is already
        filling waits for that call (see :mod:`~lix_integrations.tiers.coalesce`); a ``None`` then makes the
        caller responsible for ``update`` (after a successful LLM call) or ``abandon`` (after a failed one).
        ``alive`` tells waiters whether this caller's LLM call is still running, for callers that cannot
        report a failure themselves."""
        tier = self._core.semantic
        query = tier.prepare(prompt, llm_string, context=context, scope=resolve_scope(scope))
        if coalesce:
            flow = self._core.coalescer.lookup(query, threshold=threshold, alive=alive)
            return self._core.run_cache(flow, None)
        return self._core.run_cache(tier.lookup(query, threshold=threshold), None)

    def update(
        self,
        prompt: str,
        llm_string: str,
        payload: str,
        *,
        context: str = "",
        scope: str | None = None,
        ttl: float | None = None,
        usage: TokenUsage | Mapping[str, Any] | None = None,
    ) -> int | None:
        """Store ``payload``; ``usage`` (tokens it cost, see :class:`TokenUsage`) lets hits count savings."""
        tier = self._core.semantic
        query = tier.prepare(prompt, llm_string, context=context, scope=resolve_scope(scope))
        try:
            return self._core.run_cache(tier.update(query, payload, ttl=ttl, usage=_usage(usage)), None)
        finally:
            if self._core.coalescer.in_flight(query.exact_key):
                self._core.run_cache(self._core.coalescer.filled(query.exact_key), None)

    def update_many(
        self, items: Answers, *, context: str = "", scope: str | None = None, ttl: Ttl = None
    ) -> Ids:
        """Store many ``(prompt, llm_string, payload)`` answers as one write (one SQLite transaction): for a
        batch a framework hands over, or to warm a cache. An id per item, as ``update`` returns."""
        flow, none = _update_many(self._core, items, context, scope, ttl)
        return self._core.run_cache(flow, none)

    def abandon(self, prompt: str, llm_string: str, *, context: str = "", scope: str | None = None) -> None:
        """The LLM call after a coalescing ``lookup`` miss failed: callers waiting for it call the LLM
        themselves (an error is never shared as an answer)."""
        try:
            query = self._core.semantic.prepare(
                prompt, llm_string, context=context, scope=resolve_scope(scope)
            )
        except InvalidInputError:
            return  # a prompt the engine refuses was never looked up, so nobody waits for it
        if self._core.coalescer.in_flight(query.exact_key):
            self._core.run_cache(self._core.coalescer.abandon(query.exact_key), None)

    def explain(
        self,
        prompt: str,
        llm_string: str,
        *,
        context: str = "",
        scope: str | None = None,
        k: int = 5,
        threshold: float | None = None,
    ) -> list[Candidate]:
        tier = self._core.semantic
        query = tier.prepare(prompt, llm_string, context=context, scope=resolve_scope(scope))
        return self._core.run(tier.explain(query, k=k, threshold=threshold))

    def clear(self, *, scope: str | None = None, llm_string: str | None = None) -> int:
        """Delete the entries of ``scope`` (and the scopes nested in it) and/or of one model's settings."""
        return self._core.run(self._core.semantic.clear(scope=scope, llm_string=llm_string))

    def delete(self, entry_id: int) -> bool:
        """Delete one entry by id (as reported by a hit or ``explain``), e.g. one the caller cannot read back."""
        return bool(self._core.run(_single(DeleteIds(self._core.config.namespace, (entry_id,)))))

    def purge_expired(self) -> int:
        return self._core.run(self._core.semantic.purge_expired())

    def count(self) -> int:
        """Stored entries of this namespace, including expired ones not yet purged."""
        return int(self._core.run(_single(CountEntries(self._core.config.namespace))))

    def entries(
        self,
        *,
        scope: str | None = None,
        llm_string: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[SemanticEntry]:
        """Stored entries in id order (a page of at most ``limit`` after ``after_id``), for inspection tools."""
        op = _scan(self._core, scope, llm_string, after_id, limit)
        return [_entry(rec) for rec in self._core.run(_single(op))]

    def shadow_report(self) -> ShadowReport:
        """What shadow mode would have served (``shadow=True``), since the last ``reset_stats()``."""
        return self._core.semantic_counters.shadow_report()


def _update_many(
    core: EngineCore, items: Answers, context: str, scope: str | None, ttl: Ttl
) -> tuple[Flow[Ids], Ids]:
    """The semantic tier's flow for ``update_many`` and its fail-open result (every item prepared first)."""
    tier, where = core.semantic, resolve_scope(scope)
    batch = [(tier.prepare(p, m, context=context, scope=where), a, None) for p, m, a in items]
    return tier.update_many(batch, ttl=ttl), [None] * len(batch)


class AsyncSemanticAPI:
    """Awaitable access to the semantic tier; the same operations as :class:`SemanticAPI`."""

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    @property
    def threshold(self) -> float:
        return self._core.semantic.threshold

    async def set_threshold(self, result: Any, *, store: bool = False) -> float:
        """See :meth:`SemanticAPI.set_threshold`."""
        return await self._core.arun(set_threshold_flow(self._core, result, store))

    async def lookup(
        self,
        prompt: str,
        llm_string: str,
        *,
        context: str = "",
        scope: str | None = None,
        threshold: float | None = None,
        coalesce: bool = False,
        alive: Callable[[], bool] | None = None,
    ) -> SemanticHit | None:
        tier = self._core.semantic
        query = tier.prepare(prompt, llm_string, context=context, scope=resolve_scope(scope))
        if coalesce:
            flow = self._core.coalescer.lookup(query, threshold=threshold, alive=alive)
            return await self._core.arun_cache(flow, None)
        return await self._core.arun_cache(tier.lookup(query, threshold=threshold), None)

    async def update(
        self,
        prompt: str,
        llm_string: str,
        payload: str,
        *,
        context: str = "",
        scope: str | None = None,
        ttl: float | None = None,
        usage: TokenUsage | Mapping[str, Any] | None = None,
    ) -> int | None:
        """Store ``payload``; ``usage`` (tokens it cost, see :class:`TokenUsage`) lets hits count savings."""
        tier = self._core.semantic
        query = tier.prepare(prompt, llm_string, context=context, scope=resolve_scope(scope))
        try:
            return await self._core.arun_cache(
                tier.update(query, payload, ttl=ttl, usage=_usage(usage)), None
            )
        finally:
            if self._core.coalescer.in_flight(query.exact_key):
                await self._core.arun_cache(self._core.coalescer.filled(query.exact_key), None)

    async def update_many(
        self, items: Answers, *, context: str = "", scope: str | None = None, ttl: Ttl = None
    ) -> Ids:
        flow, none = _update_many(self._core, items, context, scope, ttl)
        return await self._core.arun_cache(flow, none)

    async def abandon(
        self, prompt: str, llm_string: str, *, context: str = "", scope: str | None = None
    ) -> None:
        try:
            query = self._core.semantic.prepare(
                prompt, llm_string, context=context, scope=resolve_scope(scope)
            )
        except InvalidInputError:
            return
        if self._core.coalescer.in_flight(query.exact_key):
            await self._core.arun_cache(self._core.coalescer.abandon(query.exact_key), None)

    async def explain(
        self,
        prompt: str,
        llm_string: str,
        *,
        context: str = "",
        scope: str | None = None,
        k: int = 5,
        threshold: float | None = None,
    ) -> list[Candidate]:
        tier = self._core.semantic
        query = tier.prepare(prompt, llm_string, context=context, scope=resolve_scope(scope))
        return await self._core.arun(tier.explain(query, k=k, threshold=threshold))

    async def clear(self, *, scope: str | None = None, llm_string: str | None = None) -> int:
        return await self._core.arun(self._core.semantic.clear(scope=scope, llm_string=llm_string))

    async def delete(self, entry_id: int) -> bool:
        return bool(await self._core.arun(_single(DeleteIds(self._core.config.namespace, (entry_id,)))))

    async def purge_expired(self) -> int:
        return await self._core.arun(self._core.semantic.purge_expired())

    async def count(self) -> int:
        return int(await self._core.arun(_single(CountEntries(self._core.config.namespace))))

    async def entries(
        self,
        *,
        scope: str | None = None,
        llm_string: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[SemanticEntry]:
        op = _scan(self._core, scope, llm_string, after_id, limit)
        return [_entry(rec) for rec in await self._core.arun(_single(op))]

    def shadow_report(self) -> ShadowReport:
        return self._core.semantic_counters.shadow_report()


def _single(op: Any) -> Any:
    result = yield op
    return result


@dataclass(frozen=True, slots=True)
class SemanticEntry:
    """One stored answer as listed by ``entries()`` (``llm_key`` is a digest: model settings are not stored).

    ``scope`` is as the user wrote it (pass it back as ``scope=``); ``""`` for an entry stored without a scope.
    """

    id: int
    scope: str
    llm_key: str
    prompt: str
    payload: str
    usage: TokenUsage | None
    created_at: float
    expires_at: float | None
    accessed_at: float


def _entry(record: SemanticRecord) -> SemanticEntry:
    payload, usage = unwrap_payload(record.payload)
    return SemanticEntry(
        record.id,
        scope_label(record.scope),
        record.llm_key,
        record.prompt,
        payload,
        usage,
        record.created_at,
        record.expires_at,
        record.accessed_at,
    )


def _scan(
    core: EngineCore, scope: str | None, llm_string: str | None, after_id: int, limit: int
) -> ScanEntries:
    for name, value in (("after_id", after_id), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "limit" else 0):
            raise InvalidInputError(
                f"{name} must be a {'positive' if name == 'limit' else 'non-negative'} integer"
            )
    llm_key = None if llm_string is None else digest("llm", llm_string)
    # The rule every scope obeys (what cannot be stored cannot be listed either), in the stored form.
    stored = None if scope is None else scope_key(scope)
    return ScanEntries(core.config.namespace, scope=stored, llm_key=llm_key, after_id=after_id, limit=limit)


def _usage(usage: TokenUsage | Mapping[str, Any] | None) -> TokenUsage | None:
    if usage is None or isinstance(usage, TokenUsage):
        return usage
    if isinstance(usage, Mapping):
        return TokenUsage.from_mapping(usage)
    raise InvalidInputError(f"usage must be a TokenUsage or a mapping, got {type(usage).__name__}")


class _EngineBase:
    _core: EngineCore
    #: Set on the views of an engine an adapter built from a URL (see ``resolve.py``): closing such a view gives
    #: its share back, and the last share closes the engine.
    _lease: EngineLease | None = None

    @property
    def config(self) -> EngineConfig:
        return self._core.config

    @property
    def namespace(self) -> str:
        return self._core.config.namespace

    @property
    def url(self) -> str:
        """The backend URL, password removed."""
        return self._core.backend.url

    def stats(self) -> EngineStats:
        """Counters of this process's traffic through this engine (not stored)."""
        return self._core.stats()

    def reset_stats(self) -> None:
        """Start every counter of this engine over (semantic, embeddings, KV, tools, sessions, node cache)."""
        self._core.reset_stats()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, namespace={self.namespace!r})"


class Engine(_EngineBase):
    """A blocking engine. ``Engine()`` opens the embedded default store (see :func:`default_store_path`).

    Options (keyword-only) are those of :class:`~lix_integrations.config.EngineConfig`; ``embedder`` takes a
    LangChain ``Embeddings``, a callable ``text -> vector`` or an :class:`~lix_integrations.embedders.Embedder`
    (default: all-MiniLM-L6-v2, offline).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        config: EngineConfig | None = None,
        embedder: Any = None,
        clock: Clock | None = None,
        namespace: str | None = None,
        threshold: float | Calibration | None = None,
        ttl: float | None = None,
        idle_ttl: float | None = None,
        max_entries: int | None = None,
        sampling: SamplingPolicy | str | None = None,
        max_prompt_bytes: int | None = None,
        fail_open: bool | None = None,
        shadow: bool | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
        lookup_order: str | None = None,
        verifier: Any = None,
        verifier_threshold: float | None = None,
        kv: KvConfig | None = None,
        tools: ToolsConfig | None = None,
        sessions: SessionConfig | None = None,
        embeddings: EmbeddingConfig | None = None,
        _core: EngineCore | None = None,
    ) -> None:
        if _core is None:
            options = {
                "namespace": namespace,
                "threshold": threshold,
                "ttl": ttl,
                "idle_ttl": idle_ttl,
                "max_entries": max_entries,
                "sampling": sampling,
                "max_prompt_bytes": max_prompt_bytes,
                "fail_open": fail_open,
                "shadow": shadow,
                "prices": prices,
                "lookup_order": lookup_order,
                "verifier": verifier,
                "verifier_threshold": verifier_threshold,
                "kv": kv,
                "tools": tools,
                "sessions": sessions,
                "embeddings": embeddings,
            }
            _core = _build_core(url, config, embedder, clock, options)
            # A blocking engine may do blocking I/O now: refuse a mismatched store at open, not at first use.
            _core.open_settings()
        self._core = _core
        self.semantic = SemanticAPI(_core)
        self.sessions = SessionsAPI(_core)
        self.kv = KvAPI(_core)
        self.checkpoints = CheckpointsAPI(_core)
        self.tools = ToolsAPI(_core)
        self.embeddings = EmbeddingsAPI(_core)
        self.node_cache = NodeCacheAPI(_core)
        self.documents = DocumentsAPI(_core)

    @classmethod
    def from_env(cls, prefix: str = "LIX_", **kwargs: Any) -> Engine:
        """An engine configured from ``{prefix}URL``, ``{prefix}THRESHOLD`` ... (see ``EngineConfig.from_env``)."""
        return cls(config=EngineConfig.from_env(prefix), **kwargs)

    @property
    def aio(self) -> AsyncEngine:
        """The awaitable view of this same engine (same store, counters and settings)."""
        view = AsyncEngine(_core=self._core)
        view._lease = self._lease
        return view

    def close(self) -> None:
        """Close the engine (an adapter's engine built from a URL: give back this adapter's share of it)."""
        if self._lease is not None:
            self._lease.release()
        else:
            self._core.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncEngine(_EngineBase):
    """An awaitable engine; its methods never block the event loop. Same options as :class:`Engine`.

    The stored settings are checked on the first operation (a constructor cannot await).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        config: EngineConfig | None = None,
        embedder: Any = None,
        clock: Clock | None = None,
        namespace: str | None = None,
        threshold: float | Calibration | None = None,
        ttl: float | None = None,
        idle_ttl: float | None = None,
        max_entries: int | None = None,
        sampling: SamplingPolicy | str | None = None,
        max_prompt_bytes: int | None = None,
        fail_open: bool | None = None,
        shadow: bool | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
        lookup_order: str | None = None,
        verifier: Any = None,
        verifier_threshold: float | None = None,
        kv: KvConfig | None = None,
        tools: ToolsConfig | None = None,
        sessions: SessionConfig | None = None,
        embeddings: EmbeddingConfig | None = None,
        _core: EngineCore | None = None,
    ) -> None:
        if _core is None:
            options = {
                "namespace": namespace,
                "threshold": threshold,
                "ttl": ttl,
                "idle_ttl": idle_ttl,
                "max_entries": max_entries,
                "sampling": sampling,
                "max_prompt_bytes": max_prompt_bytes,
                "fail_open": fail_open,
                "shadow": shadow,
                "prices": prices,
                "lookup_order": lookup_order,
                "verifier": verifier,
                "verifier_threshold": verifier_threshold,
                "kv": kv,
                "tools": tools,
                "sessions": sessions,
                "embeddings": embeddings,
            }
            _core = _build_core(url, config, embedder, clock, options)
        self._core = _core
        self.semantic = AsyncSemanticAPI(_core)
        self.sessions = AsyncSessionsAPI(_core)
        self.kv = AsyncKvAPI(_core)
        self.checkpoints = AsyncCheckpointsAPI(_core)
        self.tools = AsyncToolsAPI(_core)
        self.embeddings = AsyncEmbeddingsAPI(_core)
        self.node_cache = AsyncNodeCacheAPI(_core)
        self.documents = AsyncDocumentsAPI(_core)

    @classmethod
    def from_env(cls, prefix: str = "LIX_", **kwargs: Any) -> AsyncEngine:
        return cls(config=EngineConfig.from_env(prefix), **kwargs)

    @property
    def sync(self) -> Engine:
        """The blocking view of this same engine."""
        view = Engine(_core=self._core)
        view._lease = self._lease
        return view

    async def open(self) -> AsyncEngine:
        """Check the stored settings now rather than on first use (a store that cannot be reached now is
        checked at the first call that reaches it, as with :class:`Engine`)."""
        await self._core.aopen_settings()
        return self

    async def aclose(self) -> None:
        if self._lease is not None:
            await self._lease.arelease()
        else:
            await self._core.aclose()

    async def __aenter__(self) -> AsyncEngine:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
