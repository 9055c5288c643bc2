"""``LixSemanticCache``: LangChain's ``BaseCache`` over the lix engine's semantic tier.

The adapter only translates: it splits LangChain's prompt into the text to embed and the context to match exactly
(`prompt`), turns generations into a payload string and back (`serialization`), and delegates the rest
to an `Engine`. Keys, storage, expiry and eviction belong to the engine, so a second
adapter sharing the engine sees the same entries and counters.

A cache must never make an LLM call fail that would have succeeded without it, so an entry that cannot be read
back or a prompt the engine refuses (empty, over ``max_prompt_bytes``) is a logged miss, not an exception: the
engine does this (``decode=``, ``on_invalid_prompt="miss"``), the adapter only asks for it.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Sequence
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import Generation

from ..config import check_threshold
from ..engine.adapter import EngineBacked
from ..engine.engine import AsyncEngine, Engine
from ..engine.public import Candidate, SemanticHit, caller_probe, lix_scope, scope_path, validate_scope
from ..engine.resolve import resolve_engines
from ..errors import ConfigError, SerializationError
from .events import LOOKUP_EVENT, UPDATE_EVENT, aemit, emit
from .prompt import split_prompt
from .serialization import deserialize_generations, serialize_generations

__all__ = ["LixSemanticCache"]

logger = logging.getLogger(__name__)

_CLEAR_FILTERS = frozenset({"scope", "llm_string"})


class LixSemanticCache(EngineBacked, BaseCache):
    """A semantic LLM cache for LangChain: ``set_llm_cache(LixSemanticCache())`` or a model's ``cache=`` field.

    ``engine`` is an `Engine` or `AsyncEngine` to share, a
    backend URL (``"memory://"``, ``"sqlite:///path/cache.db"``), or ``None`` for the embedded default store.
    ``engine_options`` (``embedder=``, ``namespace=``, ``max_entries=``, ``sampling=``, ``clock=`` ...) are
    passed to the engine this adapter builds; they are refused with an engine instance, whose options are fixed.

    ``scope`` confines every entry this adapter reads and writes; a ``with lix_scope(...)`` block narrows it
    further, never widens it. ``threshold`` (cosine similarity) and ``ttl`` (seconds) override the engine's
    defaults for this adapter only. ``callbacks`` are LangChain callback handlers that receive every decision as a
    custom event: ``lix_cache_lookup`` (outcome ``exact``/``semantic``/``miss``, similarity, entry id) and
    ``lix_cache_update`` (entry id). ``coalesce`` (default on): identical prompts asked while one is being
    answered wait for that answer instead of calling the model too (see ``tiers/coalesce.py``).
    """

    def __init__(
        self,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        scope: str | None = None,
        threshold: float | None = None,
        ttl: float | None = None,
        callbacks: Sequence[BaseCallbackHandler] | None = None,
        coalesce: bool = True,
        **engine_options: Any,
    ) -> None:
        self._engine, self._aengine = resolve_engines(engine, engine_options)
        self._coalesce = _flag(coalesce, "coalesce")
        self._callbacks = list(callbacks or ())
        self._scope = None if scope is None else validate_scope(scope)
        self._threshold = None if threshold is None else check_threshold(threshold)
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or math.isinf(ttl)
        ):
            raise ConfigError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
        self._ttl = ttl

    # -- BaseCache ---------------------------------------------------------------------------------------------

    def lookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        """The cached generations as a ``list``: LangChain treats any other sequence (a tuple) as a miss."""
        hit = self._engine.semantic.lookup(**self._lookup_call(prompt, llm_string, sys._getframe(1)))
        if self._callbacks:
            emit(self._callbacks, LOOKUP_EVENT, _lookup_event(hit))
        return None if hit is None else hit.value  # type: ignore[no-any-return]

    def update(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        payload = _encode(return_val)
        if payload is None:  # nothing to share: whoever waits for this answer calls the model
            return self._engine.semantic.abandon(**self._where(prompt, llm_string))
        entry_id = self._engine.semantic.update(**self._update_call(prompt, llm_string, payload, return_val))
        if self._callbacks:
            emit(self._callbacks, UPDATE_EVENT, {"entry_id": entry_id})

    def clear(self, **kwargs: Any) -> None:
        """Delete this adapter's entries; ``scope=`` and ``llm_string=`` narrow what is deleted.

        ``scope`` names a scope the way `lix_scope` does, so it is nested in this adapter's
        own scope and in any active ``lix_scope`` block. With no filters and no scope at all, the whole namespace
        is cleared (what LangChain's ``cache.clear()`` promises).
        """
        scope, llm_string = self._clear_filters(kwargs)
        self._engine.semantic.clear(scope=scope, llm_string=llm_string)

    async def alookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        hit = await self._aengine.semantic.lookup(**self._lookup_call(prompt, llm_string, sys._getframe(1)))
        if self._callbacks:
            await aemit(self._callbacks, LOOKUP_EVENT, _lookup_event(hit))
        return None if hit is None else hit.value  # type: ignore[no-any-return]

    async def aupdate(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        payload = _encode(return_val)
        if payload is None:
            return await self._aengine.semantic.abandon(**self._where(prompt, llm_string))
        entry_id = await self._aengine.semantic.update(
            **self._update_call(prompt, llm_string, payload, return_val)
        )
        if self._callbacks:
            await aemit(self._callbacks, UPDATE_EVENT, {"entry_id": entry_id})

    async def aclear(self, **kwargs: Any) -> None:
        scope, llm_string = self._clear_filters(kwargs)
        await self._aengine.semantic.clear(scope=scope, llm_string=llm_string)

    # -- translation -------------------------------------------------------------------------------------------

    def _where(self, prompt: object, llm_string: str) -> dict[str, Any]:
        """LangChain's prompt as the engine's text to embed and context to match exactly, in this scope."""
        split = split_prompt(prompt) if isinstance(prompt, str) else None
        # A non-string prompt goes to the engine unchanged so that it is refused there with the usual error.
        text = prompt if split is None else split.text
        context = "" if split is None else split.context
        return {"prompt": text, "llm_string": llm_string, "context": context, "scope": self._scope}

    def _lookup_call(self, prompt: object, llm_string: str, caller: Any) -> dict[str, Any]:
        return dict(
            self._where(prompt, llm_string),
            threshold=self._threshold,
            coalesce=self._coalesce,
            # LangChain never reports a model call that raised: waiters watch the caller's frame instead.
            alive=caller_probe(caller) if self._coalesce else None,
            decode=deserialize_generations,
            on_invalid_prompt="miss",
        )

    def _update_call(
        self, prompt: object, llm_string: str, payload: str, generations: Sequence[Generation]
    ) -> dict[str, Any]:
        where = self._where(prompt, llm_string)
        return dict(
            where, payload=payload, ttl=self._ttl, usage=_usage(generations), on_invalid_prompt="miss"
        )

    # -- lix extras ------------------------------------------------------------------------------------------

    def explain(self, prompt: str, llm_string: str, k: int = 5) -> list[Candidate]:
        """The nearest entries a lookup of this prompt would consider, and why each would be served or not."""
        return self._engine.semantic.explain(
            **self._where(prompt, llm_string), k=k, threshold=self._threshold
        )

    @property
    def scope(self) -> str | None:
        return self._scope

    def __bool__(self) -> bool:
        # Callers test ``if not cache`` to mean "no cache configured"; an empty cache is still a cache.
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(engine={self._engine!r}, scope={self._scope!r})"

    # -- helpers ---------------------------------------------------------------------------------------------

    def _clear_filters(self, kwargs: dict[str, Any]) -> tuple[str | None, str | None]:
        unknown = set(kwargs) - _CLEAR_FILTERS
        if unknown:
            raise TypeError(f"clear() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        llm_string = kwargs.get("llm_string")
        if llm_string is not None and not isinstance(llm_string, str):
            raise TypeError(f"llm_string must be a str, got {type(llm_string).__name__}")
        extra = kwargs.get("scope")
        if extra is None:
            # Neither a fixed scope nor an active lix_scope (None): the caller means every entry of the namespace.
            return scope_path(self._scope), llm_string
        if not isinstance(extra, str):
            raise TypeError(f"scope must be a str, got {type(extra).__name__}")
        with lix_scope(*extra.split("/")):  # validates each part, as a lookup under that scope would
            return scope_path(self._scope), llm_string


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


def _lookup_event(hit: SemanticHit | None) -> dict[str, Any]:
    if hit is None:
        return {"outcome": "miss", "similarity": None, "entry_id": None}
    return {"outcome": hit.kind, "similarity": hit.similarity, "entry_id": hit.entry_id}


def _encode(return_val: Sequence[Generation]) -> str | None:
    try:
        return serialize_generations(return_val)
    except SerializationError as exc:
        logger.warning("answer not cached: %s", exc)
        return None


def _usage(generations: Sequence[Generation]) -> dict[str, Any] | None:
    """Tokens the generations cost, from the chat messages' ``usage_metadata`` (summed over generations), so
    the engine can count them as saved on every later hit; ``None`` when the model reported none."""
    input_tokens = output_tokens = 0
    model: str | None = None
    for generation in generations:
        message = getattr(generation, "message", None)
        usage = getattr(message, "usage_metadata", None)
        if not usage:
            continue
        input_tokens += int(usage.get("input_tokens") or 0)
        output_tokens += int(usage.get("output_tokens") or 0)
        meta = getattr(message, "response_metadata", None) or {}
        name = meta.get("model_name") or meta.get("model")
        if isinstance(name, str) and name:
            model = name
    if not input_tokens and not output_tokens:
        return None
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "model": model}
