"""``engine.semantic``: blocking and awaitable access to the semantic tier (the LLM answer cache).

Each operation is written once (see `views`). Lookups and updates are cache steps: under ``fail_open`` a store
failure or an embedder fault makes them a miss (``None``); the inspection calls (``explain``, ``entries``...) raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ..calibration_apply import set_threshold_flow
from ..errors import InvalidInputError, InvalidPromptError
from ..kernel.flows import Flow
from ..kernel.keys import digest
from ..kernel.ops import CountEntries, DeleteIds, ScanEntries, SemanticRecord
from ..kernel.scope import resolve_scope, scope_key, scope_label
from ..kernel.semantic_stats import ShadowReport, TokenUsage
from ..tiers.semantic import Candidate, SemanticHit, unwrap_payload
from ..tiers.semantic_entries import stored_labels
from ..timefmt import iso_repr
from .caller_code import CallerCode
from .views import Awaiting, Blocking, Done, OrElse, View, mapped, runs, runs_cache, runs_steps, single

if TYPE_CHECKING:
    from ..tiers.semantic import PreparedQuery
    from .core import EngineCore

__all__ = ["Answer", "AsyncSemanticAPI", "CallKey", "OnInvalidPrompt", "SemanticAPI", "SemanticEntry"]

logger = logging.getLogger(__name__)

#: What a refused prompt (empty, not a string, over ``max_prompt_bytes``) does: raise
#: `InvalidPromptError`, or count as a miss (lookup) / not be stored (update),
#: logged as a WARNING. Framework caches ask for ``"miss"``: a cache must never fail a call that would have
#: succeeded without it.
OnInvalidPrompt = Literal["raise", "miss"]


#: ``update_many``'s items, ``(prompt, llm_string, payload)`` each, its TTL and its result (an id per item).
Answers = Iterable[tuple[str, str, str]]
Ttl = float | None
Ids = list[int | None]


def _none() -> None:
    return None


@dataclass(frozen=True, slots=True)
class CallKey:
    """One model call as the semantic tier keys it: ``text`` is embedded, ``context`` and ``llm_string`` must
    match exactly (an adapter derives them from its framework's prompt and model settings)."""

    text: str
    context: str
    llm_string: str


@dataclass(frozen=True, slots=True)
class Answer:
    """What ``answer`` gives: ``value`` (a hit's decoded payload, or what the model returned) and the ``hit`` it
    came from (``None``: the model was called)."""

    value: Any
    hit: SemanticHit | None = None


#: ``answer``'s ``encode``: a model's result as ``(payload, usage)`` to store, or ``None`` (not worth storing).
Encode = Callable[[Any], tuple[str, TokenUsage | Mapping[str, Any] | None] | None]


@dataclass(frozen=True, slots=True)
class _Call:
    compute: Callable[[], Any]
    encode: Encode
    decode: Callable[[str], Any]
    threshold: float | None
    ttl: float | None
    coalesce: bool


class _Semantic(View):
    """The semantic tier.

    ``scope`` is the caller's fixed scope; any scope set with `lix_integrations.lix_scope` nests inside it.
    ``context`` is what must match exactly besides ``llm_string`` (for chat prompts: everything but the last
    user turn); ``prompt`` is the text that is embedded.
    """

    @property
    def threshold(self) -> float:
        return self._core.semantic.threshold  # type: ignore[no-any-return]

    @runs
    def set_threshold(self, result: Any, *, store: bool = False) -> Flow[float]:
        """Use ``result`` (what ``calibrate`` returns, or a number) from now on; ``store`` also stores it with the
        data, for every engine opening this store without a threshold of its own (see
        `calibration_apply`). Returns the similarity threshold."""
        return set_threshold_flow(self._core, result, store)

    def _query(self, prompt: str, llm_string: str, context: str, scope: str | None) -> PreparedQuery:
        return self._core.semantic.prepare(prompt, llm_string, context=context, scope=resolve_scope(scope))

    def _accepted(
        self,
        prompt: str,
        llm_string: str,
        context: str,
        scope: str | None,
        on_invalid: OnInvalidPrompt,
        what: str,
    ) -> PreparedQuery | None:
        """The prepared query, or ``None`` for a refused prompt under ``on_invalid="miss"`` (logged)."""
        if on_invalid not in ("raise", "miss"):
            raise InvalidInputError(f"on_invalid_prompt must be 'raise' or 'miss', got {on_invalid!r}")
        try:
            return self._core.semantic.prepare(
                prompt, llm_string, context=context, scope=resolve_scope(scope)
            )
        except InvalidPromptError as exc:
            if on_invalid == "raise":
                raise
            logger.warning("%s: %s", what, exc)
            return None

    @runs_cache(_none)
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
        decode: Callable[[str], Any] | None = None,
        on_invalid_prompt: OnInvalidPrompt = "raise",
    ) -> Flow[SemanticHit | None] | Done[SemanticHit | None]:
        """The cached answer, or ``None``. With ``coalesce``, a miss of a prompt an identical call is already
        filling waits for that call (see `coalesce`); a ``None`` then makes the
        caller responsible for ``update`` (after a successful LLM call) or ``abandon`` (after a failed one).
        ``alive`` tells waiters whether this caller's LLM call is still running, for callers that cannot
        report a failure themselves.

        ``decode`` turns a hit's payload into the caller's answer (``hit.value``); a payload it cannot decode
        (it raises) is deleted, or it would keep winning for every paraphrase, and the lookup is a logged miss.
        ``on_invalid_prompt``: see `OnInvalidPrompt`."""
        query = self._accepted(
            prompt, llm_string, context, scope, on_invalid_prompt, "prompt not looked up in the cache"
        )
        if query is None:
            return Done(None)
        if coalesce:
            flow = self._core.coalescer.lookup(query, threshold=threshold, alive=alive)
        else:
            flow = self._core.semantic.lookup(query, threshold=threshold)
        return flow if decode is None else _decoded(self._core.config.namespace, flow, decode)

    @runs_steps
    def answer(
        self,
        key: CallKey,
        compute: Callable[[], Any],
        *,
        encode: Encode,
        decode: Callable[[str], Any],
        scope: str | None = None,
        threshold: float | None = None,
        ttl: float | None = None,
        coalesce: bool = False,
    ) -> Flow[Answer]:
        """A model call through the cache, the whole step a framework adapter delegates: a hit's
        ``decode(payload)``; on a miss ``compute()`` (awaited on the awaitable API), stored as
        ``encode(result)``.

        Each cache step fails open on its own. A prompt the engine refuses is a logged miss: the model is
        called, nothing is stored. An entry ``decode`` cannot read is deleted and counts as a miss; a result
        ``encode`` raises on (one that does not serialize) is returned, logged and not stored. With
        ``coalesce``, a miss waits for an identical call in flight; if this call's ``compute`` raises (or
        ``encode`` gives nothing to store), the calls waiting for it call the model themselves.
        """
        query = self._accepted(
            key.text, key.llm_string, key.context, scope, "miss", "prompt not looked up in the cache"
        )
        if query is None:
            return mapped(single(CallerCode(compute)), Answer)
        return self._answer(query, _Call(compute, encode, decode, threshold, ttl, coalesce))

    def _answer(self, query: PreparedQuery, call: _Call) -> Flow[Answer]:
        core = self._core
        if call.coalesce:
            look = core.coalescer.lookup(query, threshold=call.threshold)
        else:
            look = core.semantic.lookup(query, threshold=call.threshold)
        hit = yield from core._fail_open(_decoded(core.config.namespace, look, call.decode), None)
        if hit is not None:
            return Answer(hit.value, hit)
        try:
            result = yield CallerCode(call.compute)
        except BaseException:
            if call.coalesce:
                yield from self._released(query)
            raise
        try:
            stored = call.encode(result)
        except Exception as exc:  # fail open: an answer that cannot be stored is still the caller's answer
            logger.warning("answer not cached: %s", exc)
            stored = None
        if stored is None:  # nothing to share: whoever waits for this answer calls the model
            yield from self._released(query)
            return Answer(result)
        payload, usage = stored
        tier = core.semantic
        store = _filling(core, query, lambda: tier.update(query, payload, ttl=call.ttl, usage=_usage(usage)))
        yield from core._fail_open(store, None)
        return Answer(result)

    def _released(self, query: PreparedQuery) -> Flow[None]:
        """Release the calls waiting for this one's answer (they call the model themselves)."""
        if self._core.coalescer.in_flight(query.exact_key):
            yield from self._core._fail_open(self._core.coalescer.abandon(query.exact_key), None)

    @runs_cache(_none)
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
        on_invalid_prompt: OnInvalidPrompt = "raise",
    ) -> Flow[int | None] | Done[int | None]:
        """Store ``payload``; ``usage`` (tokens it cost, see `TokenUsage`) lets hits count savings.
        ``on_invalid_prompt``: see `OnInvalidPrompt` (``"miss"``: nothing is stored, ``None``)."""
        query = self._accepted(prompt, llm_string, context, scope, on_invalid_prompt, "answer not cached")
        if query is None:
            return Done(None)
        tier = self._core.semantic
        return _filling(self._core, query, lambda: tier.update(query, payload, ttl=ttl, usage=_usage(usage)))

    @runs_cache(_none)
    def update_many(
        self, items: Answers, *, context: str = "", scope: str | None = None, ttl: Ttl = None
    ) -> OrElse[Ids]:
        """Store many ``(prompt, llm_string, payload)`` answers as one write (one SQLite transaction): for a
        batch a framework hands over, or to warm a cache. An id per item, as ``update`` returns."""
        tier, where = self._core.semantic, resolve_scope(scope)
        batch = [(tier.prepare(p, m, context=context, scope=where), a, None) for p, m, a in items]
        return OrElse(tier.update_many(batch, ttl=ttl), [None] * len(batch))

    @runs_cache(_none)
    def abandon(
        self, prompt: str, llm_string: str, *, context: str = "", scope: str | None = None
    ) -> Flow[None] | Done[None]:
        """The LLM call after a coalescing ``lookup`` miss failed: callers waiting for it call the LLM
        themselves (an error is never shared as an answer)."""
        try:
            query = self._query(prompt, llm_string, context, scope)
        except InvalidInputError:
            return Done(None)  # a prompt the engine refuses was never looked up, so nobody waits for it
        if not self._core.coalescer.in_flight(query.exact_key):
            return Done(None)
        return self._core.coalescer.abandon(query.exact_key)  # type: ignore[no-any-return]

    @runs
    def explain(
        self,
        prompt: str,
        llm_string: str,
        *,
        context: str = "",
        scope: str | None = None,
        k: int = 5,
        threshold: float | None = None,
    ) -> Flow[list[Candidate]]:
        query = self._query(prompt, llm_string, context, scope)
        return self._core.semantic.explain(query, k=k, threshold=threshold)  # type: ignore[no-any-return]

    @runs
    def clear(self, *, scope: str | None = None, llm_string: str | None = None) -> Flow[int]:
        """Delete the entries of ``scope`` (and the scopes nested in it) and/or of one model's settings."""
        return self._core.semantic.clear(scope=scope, llm_string=llm_string)  # type: ignore[no-any-return]

    @runs
    def delete(self, entry_id: int) -> Flow[bool]:
        """Delete one entry by id (as reported by a hit or ``explain``), e.g. one the caller cannot read back."""
        return mapped(single(DeleteIds(self._core.config.namespace, (entry_id,))), bool)

    @runs
    def purge_expired(self) -> Flow[int]:
        return self._core.semantic.purge_expired()  # type: ignore[no-any-return]

    @runs
    def count(self) -> Flow[int]:
        """Stored entries of this namespace, including expired ones not yet purged."""
        return mapped(single(CountEntries(self._core.config.namespace)), int)

    @runs
    def entries(
        self,
        *,
        scope: str | None = None,
        llm_string: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> Flow[list[SemanticEntry]]:
        """Stored entries in id order (a page of at most ``limit`` after ``after_id``), for inspection tools."""
        op = _scan(self._core, scope, llm_string, after_id, limit)
        return mapped(single(op), lambda records: [_entry(rec) for rec in records])

    def shadow_report(self) -> ShadowReport:
        """What shadow mode would have served (``shadow=True``), since the last ``reset_stats()``."""
        return ShadowReport.from_counts(self._core.semantic.counters.counts())


class SemanticAPI(_Semantic, Blocking):
    """Blocking access to the semantic tier: each method runs to completion on the calling thread."""


class AsyncSemanticAPI(_Semantic, Awaiting):
    """Awaitable access to the semantic tier; the same operations as `SemanticAPI`."""


def _decoded(
    namespace: str, flow: Flow[SemanticHit | None], decode: Callable[[str], Any]
) -> Flow[SemanticHit | None]:
    """``flow``'s hit with ``decode(payload)`` as its value; an entry that cannot be decoded is deleted, a miss."""
    hit = yield from flow
    if hit is None:
        return None
    try:
        value = decode(hit.payload)
    except Exception as exc:  # whatever the caller's decoder raises: the entry is unreadable to it
        logger.warning("cache entry %d is unreadable and counts as a miss: %s", hit.entry_id, exc)
        yield DeleteIds(namespace, (hit.entry_id,))
        return None
    logger.debug("%s cache hit (similarity %.4f) on entry %d", hit.kind, hit.similarity, hit.entry_id)
    return replace(hit, value=value)


def _filling(
    core: EngineCore, query: PreparedQuery, update: Callable[[], Flow[int | None]]
) -> Flow[int | None]:
    """The flow of ``update()``, then wake the callers a coalescing lookup of the same prompt made wait, whatever
    the update's outcome (a failed store is reported to them as "call the model yourselves")."""
    try:
        return (yield from update())
    finally:
        if core.coalescer.in_flight(query.exact_key):
            yield from core.coalescer.filled(query.exact_key)


@dataclass(frozen=True, slots=True)
class SemanticEntry:
    """One stored answer as listed by ``entries()`` (``llm_key`` is a digest: model settings are not stored).

    ``scope`` is as the user wrote it (pass it back as ``scope=``); ``""`` for an entry stored without a scope.
    ``model`` and ``context`` are labels to read it by (the model's name, the start of the context it belongs
    to; empty for entries stored before they existed, see `semantic_labels`).
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
    model: str = ""
    context: str = ""

    __repr__ = iso_repr("created_at", "expires_at", "accessed_at")


def _entry(record: SemanticRecord) -> SemanticEntry:
    payload, usage = unwrap_payload(record.payload)
    labels = stored_labels(record.payload)
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
        labels.get("model", ""),
        labels.get("context", ""),
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
