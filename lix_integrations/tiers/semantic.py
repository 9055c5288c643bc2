"""The semantic tier: LLM answers cached by prompt similarity within an exactly-matching context.

A lookup is two steps. First the exact key, a digest of (scope, model settings, context, normalized prompt): an
exact hit costs no embedding. Then a vector search restricted to the *partition*, a digest of (scope, model
settings, context). Filtering before the search, not after, matters: langchain-redis takes the single nearest
vector and then checks the model, so a near neighbour from another model hides a valid hit in this one, and a
paraphrase asked under another system prompt can be served the wrong answer.

"Context" is whatever must match exactly besides the model settings: for a chat prompt, every message except the
text of the last user turn (the adapter splits it). For a plain completion prompt it is empty and the whole
prompt is embedded.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Literal

from ..config import SamplingPolicy, SemanticConfig, check_threshold
from ..errors import InvalidInputError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet
from ..kernel.flows import Flow
from ..kernel.keys import digest
from ..kernel.ops import (
    Deferred,
    DeleteIds,
    DeleteMatching,
    Embed,
    EmbedMany,
    EvictOverflow,
    ExactGet,
    ExactOrSearch,
    Gather,
    PurgeExpired,
    SemanticRecord,
    Touch,
    Upsert,
    UpsertMany,
    Vector,
    VectorSearch,
    Verify,
    WithPromptVector,
)
from ..kernel.scope import scope_key
from ..kernel.semantic_stats import SemanticStats, ShadowDecision, TokenUsage, similarity_bin
from .semantic_entries import (
    Candidate,
    PreparedQuery,
    SemanticHit,
    build_record,
    check_utf8,
    prepare_query,
    unwrap_payload,
    wrap_payload,
)
from .semantic_reasons import explain_candidates
from .tier import Tier
from .verifier import Verifier, VerifierCandidate

__all__ = [
    "DEFAULT_THRESHOLD",
    "Candidate",
    "PreparedQuery",
    "SemanticHit",
    "SemanticTier",
    "prepare_query",
    "unwrap_payload",
    "wrap_payload",
]

logger = logging.getLogger(__name__)

#: Cosine threshold for all-MiniLM-L6-v2, chosen on the QQP dev pairs (``benchmarks/data/pairs/qqp_dev.jsonl``) (see docs/semantic.md).
DEFAULT_THRESHOLD = 0.82

#: Candidates a lookup asks the store for: with a verifier, the nearest few it may score. Without one, the best live
#: candidate decides alone, so the nearest is asked for, and the few behind it only when it has expired. Each
#: candidate fetched costs the Redis search script an HMGET and the client a decoded record: the script took
#: 123 / 109 / 89 us of server time for 4 / 2 / 1 candidates (FLAT, 1k records, commandstats, 2026-12-04, an
#: A/B in benchmarks/redis.py's set-up).
_CANDIDATES = 4
_NEAREST = 1


class SemanticTier(Tier[SemanticConfig, SemanticStats]):
    """Policy of the semantic tier; every public method returns a flow for the engine's drivers to run."""

    def __init__(
        self,
        config: SemanticConfig,
        namespace: str,
        clock: Clock,
        counters: CounterSet[SemanticStats],
        *,
        verifier: Verifier | None = None,
    ) -> None:
        super().__init__(config, namespace, clock, counters)
        #: Second opinion on candidates (tiers/verifier.py); ``None`` serves on cosine alone.
        self.verifier = verifier
        default = DEFAULT_THRESHOLD if verifier is None or verifier.floor is None else verifier.floor
        #: The cosine a candidate needs: the hit threshold, or with a verifier the floor for being verified.
        self.threshold = default if config.threshold is None else config.threshold
        #: Whether a lookup of this prompt should embed before its exact check (see ``lookup_order``); the
        #: engine replaces it with its measured policy.
        self.embed_first: Callable[[str], bool] = lambda text: config.lookup_order == "embed_first"

    def prepare(self, prompt: object, llm_string: object, *, context: str, scope: str) -> PreparedQuery:
        return prepare_query(
            prompt, llm_string, context=context, scope=scope, max_prompt_bytes=self.config.max_prompt_bytes
        )

    def _live(self, record: SemanticRecord, now: float) -> bool:
        if record.expires_at is not None and record.expires_at <= now:
            return False
        idle = self.config.idle_ttl
        return not (idle is not None and record.accessed_at + idle <= now)

    def _policy(self, query: PreparedQuery) -> SamplingPolicy:
        return self.config.sampling if query.sampling else SamplingPolicy.SERVE

    def lookup(self, query: PreparedQuery, *, threshold: float | None = None) -> Flow[SemanticHit | None]:
        """Exact key first; then, unless exact-only, the nearest live entries of the partition."""
        started = time.perf_counter()
        limit = self.threshold if threshold is None else check_threshold(threshold)
        policy = self._policy(query)
        if policy is SamplingPolicy.BYPASS:
            self.counters.add("bypassed")
            return None
        ns = self.namespace
        now = self.clock.now()
        wants_vector = limit < 1.0 and policy is not SamplingPolicy.EXACT_ONLY
        nearest = _NEAREST if self.verifier is None else _CANDIDATES
        vector: Vector | None = None
        found: list[tuple[SemanticRecord, float]] | None = None
        record: SemanticRecord | None
        if wants_vector and self.embed_first(query.text):
            # The vector costs less than a round trip: the exact check and the search travel together.
            embed_started = time.perf_counter()
            vector = yield Embed(query.text, use_store=False)
            started += time.perf_counter() - embed_started  # latency excludes embedding, as benchmarks report
            record, found = yield ExactOrSearch(ns, query.exact_key, query.partition, vector, nearest)
        else:
            exact = ExactGet(ns, query.exact_key)
            record = yield (WithPromptVector(exact, query.text) if wants_vector else exact)
        if record is not None:
            if self._live(record, now):
                yield Touch(ns, (record.id,), now)
                self.counters.add("exact_hits", sample=time.perf_counter() - started)
                return self._served(record, "exact", 1.0)
            # Deleting what expired is housekeeping nobody waits for: a lookup does not write (SQLite sends it
            # with the next write, Redis with its next command).
            yield Deferred(DeleteIds(ns, (record.id,)))
            found = None  # the exact record stood in for the search
        if not wants_vector:
            self.counters.add("misses", sample=time.perf_counter() - started)
            return None
        if vector is None:
            embed_started = time.perf_counter()
            vector = yield Embed(query.text)
            started += time.perf_counter() - embed_started
        if found is None:
            found = yield VectorSearch(ns, query.partition, vector, nearest)
        if len(found) == nearest < _CANDIDATES and not self._live(found[-1][0], now):
            # The nearest answer has expired: look further, so that it does not hide a live one behind it (rare:
            # it is deleted below, and stands in the way once).
            found = yield VectorSearch(ns, query.partition, vector, _CANDIDATES)
        expired = [rec.id for rec, _ in found if not self._live(rec, now)]
        if expired:
            yield Deferred(DeleteIds(ns, tuple(expired)))
        if self.verifier is not None:
            return (yield from self._verified(query, vector, found, expired, limit, now, started))
        shadow = self.config.shadow
        for rec, similarity in found:
            if rec.id in expired:
                continue
            score = max(0.0, min(1.0, similarity))
            self.counters.add("histogram", label=similarity_bin(score))
            if score >= limit and shadow:
                # Record what would have been served and serve nothing: false hits are measured on real
                # traffic before anyone is given a cached answer to a different question.
                payload, _ = unwrap_payload(rec.payload)
                self._shadow(
                    ShadowDecision(now, query.text, rec.prompt, score, limit, rec.id, query.scope, payload)
                )
                self.counters.add("misses", sample=time.perf_counter() - started)
                return None
            if score >= limit:
                yield Touch(ns, (rec.id,), now)
                self.counters.add("semantic_hits", sample=time.perf_counter() - started)
                return self._served(rec, "semantic", score)
            if score >= limit - self.config.near_miss_margin:
                self.counters.add("near_misses")
            break  # results are sorted: the best live candidate decides
        if shadow:
            self._shadow(None)
        self.counters.add("misses", sample=time.perf_counter() - started)
        return None

    def coalescable(self, query: PreparedQuery) -> bool:
        """Whether identical concurrent misses may wait for one call: not when the sampling policy bypasses
        the cache, nor in shadow mode (nothing is served, so a waiter would only wait)."""
        return not self.config.shadow and self._policy(query) is not SamplingPolicy.BYPASS

    def serve_filled(self, record: SemanticRecord | None) -> SemanticHit | None:
        """The hit for an exact record another call just stored (``None`` if absent or expired)."""
        if record is None or not self._live(record, self.clock.now()):
            return None
        return self._served(record, "exact", 1.0)

    def _verified(
        self,
        query: PreparedQuery,
        vector: Vector,
        found: list[tuple[SemanticRecord, float]],
        expired: list[int],
        limit: float,
        now: float,
        started: float,
    ) -> Flow[SemanticHit | None]:
        """The live candidates at or above the cosine floor are scored by the verifier; the best-scored one is
        served when its score reaches the verifier's threshold. No candidate above the floor: no verifier call."""
        verifier = self.verifier
        assert verifier is not None
        live = [(rec, max(0.0, min(1.0, sim))) for rec, sim in found if rec.id not in expired]
        if live:
            self.counters.add("histogram", label=similarity_bin(live[0][1]))
        chosen = [(rec, sim) for rec, sim in live if sim >= limit]
        shadow = self.config.shadow
        decision: ShadowDecision | None = None
        hit: tuple[SemanticRecord, float, float] | None = None
        if not chosen:
            if live and live[0][1] >= limit - self.config.near_miss_margin:
                self.counters.add("near_misses")
        else:
            scores = yield from self._scores(query.text, vector, chosen)
            if scores is not None:
                pick = max(range(len(chosen)), key=lambda i: (scores[i], -i))  # a tie goes to the nearer
                rec, sim = chosen[pick]
                if scores[pick] >= verifier.threshold:
                    hit = (rec, sim, scores[pick])
                else:
                    self.counters.add("verifier_rejections")
        if hit is not None and shadow:
            rec, sim, score = hit
            payload, _ = unwrap_payload(rec.payload)
            decision = ShadowDecision(
                now,
                query.text,
                rec.prompt,
                sim,
                limit,
                rec.id,
                query.scope,
                payload,
                verifier_score=score,
                verifier_threshold=verifier.threshold,
            )
            hit = None
        if shadow:
            self._shadow(decision)
        if hit is None:
            self.counters.add("misses", sample=time.perf_counter() - started)
            return None
        rec, sim, score = hit
        yield Touch(self.namespace, (rec.id,), now)
        self.counters.add("semantic_hits", sample=time.perf_counter() - started)
        served = self._served(rec, "semantic", sim)
        return dataclasses.replace(served, verifier_score=score)

    def _scores(
        self,
        text: str,
        vector: Vector | None,
        chosen: list[tuple[SemanticRecord, float]],
        *,
        count: bool = True,
    ) -> Flow[list[float] | None]:
        """The verifier's score of each candidate, or ``None`` when it failed (a cache fails open: a miss)."""
        verifier = self.verifier
        assert verifier is not None
        candidates: list[VerifierCandidate] = []
        for rec, sim in chosen:
            vec = rec.vector
            if vec is None and verifier.needs_vectors:
                # Not every store returns vectors with search results; the prompt's vector was stored by the
                # embedding tier when the entry was written, so this is a read, not a model call.
                vec = yield Embed(rec.prompt)
            candidates.append(VerifierCandidate(rec.prompt, vec, sim))
        try:
            scores: list[float] = yield Verify(
                functools.partial(verifier.score, text, vector, tuple(candidates)), verifier.blocking
            )
            if len(scores) != len(candidates):
                raise ValueError(f"returned {len(scores)} scores for {len(candidates)} candidates")
        except Exception as exc:
            logger.warning("verifier %s failed, the lookup is a miss: %s", verifier.name, exc)
            return None
        if count:
            self.counters.add("verified_candidates", len(candidates))
        return [float(x) for x in scores]

    def _served(
        self, record: SemanticRecord, kind: Literal["exact", "semantic"], score: float
    ) -> SemanticHit:
        payload, usage = unwrap_payload(record.payload)
        if usage is not None:  # what the hit saved, per model (``""``: unknown) for the price table
            model = usage.model or ""
            self.counters.add("input_tokens_saved", usage.input_tokens, label=model)
            self.counters.add("output_tokens_saved", usage.output_tokens, label=model)
        return SemanticHit(payload, kind, score, record.prompt, record.id, usage)

    def _shadow(self, decision: ShadowDecision | None) -> None:
        """One shadow-mode lookup; ``decision`` is the hit it would have served, if any (kept in the log)."""
        self.counters.add("shadow_lookups")
        if decision is not None:
            self.counters.add("shadow_hits", note=decision)

    def update(
        self,
        query: PreparedQuery,
        payload: str,
        *,
        ttl: float | None = None,
        usage: TokenUsage | None = None,
    ) -> Flow[int | None]:
        """Store an answer; returns its id, or ``None`` when the sampling policy bypasses the cache.

        ``usage`` is what producing the answer cost; it is stored with the entry so hits can count tokens saved.
        One answer, without `update_many`'s lists (a single insert's lean path: see `EngineCore._embed`).
        """
        _check_answer(payload, usage)
        if self._policy(query) is SamplingPolicy.BYPASS:
            return None  # counted at its lookup (see update_many)
        ttl = self._ttl(ttl)
        vector = yield Embed(query.text)
        record = build_record(query, payload, usage, vector, self.clock.now(), ttl)
        bound = self.config.max_entries
        evicted = 0
        if bound is None:
            stored = yield Upsert(self.namespace, record)
        else:  # the update and the bound check travel together (one round trip on Redis, in this order)
            stored, evicted = yield Gather(
                (Upsert(self.namespace, record), EvictOverflow(self.namespace, bound))
            )
        self._count_updates((stored,), evicted)
        return int(stored)

    def update_many(
        self, items: Sequence[tuple[PreparedQuery, str, TokenUsage | None]], *, ttl: float | None = None
    ) -> Flow[list[int | None]]:
        """Store several answers as one write (one SQLite transaction, one Redis script call per 100: `UpsertMany`);
        an id per item, ``None`` where the sampling policy bypasses the cache. Every item is checked before anything
        is stored."""
        for _, payload, usage in items:
            _check_answer(payload, usage)
        # A bypassed item is counted once per call, at its lookup (as the tool tier counts): the update that
        # follows the model's answer is the same call, not a second bypass.
        kept = [
            i for i, (query, _, _) in enumerate(items) if self._policy(query) is not SamplingPolicy.BYPASS
        ]
        results: list[int | None] = [None] * len(items)
        if not kept:
            return results
        ttl = self._ttl(ttl)
        if len(kept) == 1:
            query, payload, usage = items[kept[0]]
            results[kept[0]] = yield from self.update(query, payload, ttl=ttl, usage=usage)
            return results
        # one store read and one model call for the batch
        vectors: list[Vector] = yield EmbedMany(tuple(items[i][0].text for i in kept))
        now = self.clock.now()
        records = tuple(
            build_record(items[i][0], items[i][1], items[i][2], vec, now, ttl)
            for i, vec in zip(kept, vectors, strict=True)
        )
        stored: list[int] = list((yield UpsertMany(self.namespace, records)))
        for i, entry_id in zip(kept, stored, strict=True):
            results[i] = int(entry_id)
        self._count_updates(stored, 0)
        bound = self.config.max_entries
        if bound is not None:
            evicted = yield EvictOverflow(self.namespace, bound)
            if evicted:
                self.counters.add("evictions", evicted)
        return results

    def _ttl(self, ttl: float | None) -> float | None:
        """An update's TTL: the one given (checked), else the tier's."""
        if ttl is None:
            return self.config.ttl
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise InvalidInputError(f"ttl must be a positive number of seconds, got {ttl!r}")
        return ttl

    def _count_updates(self, stored: Sequence[int], evicted: int) -> None:
        """Count stored answers and evictions: ``evicted`` by the tier's bound, and by a store's own bound (Redis
        partition_limit), which it reports with the ids."""
        self.counters.add("updates", len(stored))
        evicted += sum(getattr(entry_id, "evicted", 0) for entry_id in stored)
        if evicted:
            self.counters.add("evictions", evicted)

    def clear(self, *, scope: str | None = None, llm_string: str | None = None) -> Flow[int]:
        """Delete entries of a scope, of a model's settings, of both, or (no filter) the whole namespace."""
        llm_key = None if llm_string is None else digest("llm", llm_string)
        stored = (
            None if scope is None else scope_key(scope)
        )  # "global" is a scope of its own, never "no scope"
        removed: int = yield DeleteMatching(self.namespace, scope=stored, llm_key=llm_key)
        return removed

    def purge_expired(self) -> Flow[int]:
        """Delete entries past their TTL now, instead of lazily when a lookup meets them."""
        removed: int = yield PurgeExpired(self.namespace, self.clock.now())
        return removed

    def explain(
        self, query: PreparedQuery, *, k: int = 5, threshold: float | None = None
    ) -> Flow[list[Candidate]]:
        """The nearest entries of the query's partition and what a lookup would do with each; changes nothing."""
        if not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        limit = self.threshold if threshold is None else check_threshold(threshold)
        now = self.clock.now()
        policy = self._policy(query)
        ns = self.namespace
        exact: SemanticRecord | None = yield ExactGet(ns, query.exact_key)
        vector: Vector = yield Embed(query.text)
        found: list[tuple[SemanticRecord, float]] = yield VectorSearch(ns, query.partition, vector, k)
        if exact is not None and all(rec.id != exact.id for rec, _ in found):
            found = [(exact, 1.0), *found][:k]
        verified: dict[int, float] = {}
        verifier = self.verifier
        if verifier is not None and policy is SamplingPolicy.SERVE and limit < 1.0 and exact is None:
            chosen = [
                (rec, max(0.0, min(1.0, sim)))
                for rec, sim in found
                if self._live(rec, now) and max(0.0, min(1.0, sim)) >= limit
            ][:_CANDIDATES]
            scores = (yield from self._scores(query.text, vector, chosen, count=False)) if chosen else None
            if scores is not None:
                verified = {rec.id: score for (rec, _), score in zip(chosen, scores, strict=True)}
        return explain_candidates(
            found, exact, policy, limit, verifier, verified, lambda rec: self._live(rec, now), _CANDIDATES
        )


def _check_answer(payload: object, usage: object) -> None:
    """An answer to store: a str that UTF-8 can hold, and its usage a `TokenUsage` or ``None``."""
    if not isinstance(payload, str):
        raise InvalidInputError(f"payload must be a str, got {type(payload).__name__}")
    check_utf8(payload, "payload", InvalidInputError)
    if usage is not None and not isinstance(usage, TokenUsage):
        raise InvalidInputError(f"usage must be a TokenUsage, got {type(usage).__name__}")
