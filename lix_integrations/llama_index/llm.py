"""``LixCachedLLM``: a semantic response cache around any LlamaIndex LLM (LlamaIndex has none of its own).

``Settings.llm = LixCachedLLM(OpenAI(model="gpt-4o-mini"))`` caches ``complete``, ``chat``, ``acomplete`` and
``achat`` in the lix engine's semantic tier with the LangChain cache's context-aware keys (see `prompt`): the
last user message is compared by meaning, everything else (system prompt, earlier turns, model, its settings and
the call's arguments) must match exactly. Scopes (``scope=`` and ``with lix_scope(...)``), TTL, thresholds,
statistics and ``explain`` are the engine's, so they behave exactly as with ``LixSemanticCache``, and both adapters
can share one engine.

What the wrapper preserves: ``metadata`` (the wrapped model's), its prompt settings (``system_prompt``,
``messages_to_prompt``, ``completion_to_prompt``, ``output_parser``, so ``predict`` formats prompts the same way),
and callbacks/instrumentation: every call, hit or miss, emits the usual LLM start/end events through the
wrapped model's callback manager; a miss additionally emits the wrapped model's own events.

Streaming (``stream_chat``, ``stream_complete`` and their async forms) passes through uncached by default: a
stream's consumer may stop early and the cache would then hold half an answer. With ``cache_streaming=True`` a
hit is replayed as a one-chunk stream and a stream consumed to its end is stored (one stopped early is not).

Responses are stored as JSON (``ChatResponse``/``CompletionResponse`` without ``raw`` and ``delta``) and restored
with ``model_validate``; nothing read from the store is unpickled. A store failure or an unreadable entry is a
logged miss (the LLM is called), never an exception, as with the LangChain cache.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection
from pydantic import BaseModel, Field, PrivateAttr, SerializeAsAny

from ..config import check_threshold
from ..engine.adapter import EngineBacked
from ..engine.engine import AsyncEngine, Engine
from ..engine.public import Candidate, lix_scope, scope_path, validate_scope
from ..engine.resolve import resolve_engines
from ..errors import ConfigError
from ._llm_payloads import DECODERS as _DECODERS
from ._llm_payloads import areplay as _areplay
from ._llm_payloads import encode as _encode
from ._llm_payloads import replay_chat as _replay_chat
from ._llm_payloads import replay_completion as _replay_completion
from ._llm_payloads import usage as _usage
from .prompt import CallKey, chat_key, completion_key

__all__ = ["LixCachedFunctionCallingLLM", "LixCachedLLM"]

logger = logging.getLogger(__name__)


class LixCachedLLM(EngineBacked, LLM):
    """Wrap ``llm`` so its calls are answered from the lix semantic cache when a similar call was seen.

    ``engine`` is an `Engine` / `AsyncEngine` to share, a backend
    URL (``"memory://"``, ``"sqlite:///path/cache.db"``), or ``None`` for the embedded default store;
    ``engine_options`` (``embedder=``, ``namespace=``, ``sampling=``, ``clock=`` ...) configure an engine built from
    a URL. ``scope``, ``threshold`` and ``ttl`` apply to this wrapper only, as on ``LixSemanticCache``.
    """

    llm: SerializeAsAny[LLM] = Field(description="The wrapped LLM.")
    scope: str | None = Field(
        default=None, description="Scope confining every entry this wrapper reads/writes."
    )
    threshold: float | None = Field(default=None, description="Cosine similarity needed for a semantic hit.")
    ttl: float | None = Field(
        default=None, description="Seconds an answer stays cached (None: engine default)."
    )
    cache_streaming: bool = Field(default=False, description="Cache streams that are consumed to the end.")
    coalesce: bool = Field(
        default=True, description="Identical calls in flight wait for one answer (streams excepted)."
    )

    _engine: Engine = PrivateAttr()
    _aengine: AsyncEngine = PrivateAttr()

    def __new__(cls, llm: Any = None, *args: Any, **kwargs: Any) -> LixCachedLLM:
        # Agents (FunctionAgent) require a FunctionCallingLLM: wrapping one gives the function-calling wrapper, so
        # ``LixCachedLLM(OpenAI(...))`` works wherever the wrapped model does. Pydantic calls ``cls.__new__(cls)``
        # without arguments when copying, hence the defaults.
        if cls is LixCachedLLM and isinstance(llm, FunctionCallingLLM):
            cls = LixCachedFunctionCallingLLM
        return super().__new__(cls)

    def __init__(
        self,
        llm: LLM,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        scope: str | None = None,
        threshold: float | None = None,
        ttl: float | None = None,
        cache_streaming: bool = False,
        coalesce: bool = True,
        callback_manager: CallbackManager | None = None,
        **engine_options: Any,
    ) -> None:
        if not isinstance(llm, LLM):
            raise ConfigError(f"llm must be a LlamaIndex LLM, got {type(llm).__name__}")
        if scope is not None:
            validate_scope(scope)
        if threshold is not None:
            threshold = check_threshold(threshold)
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or math.isinf(ttl)
        ):
            raise ConfigError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
        if not isinstance(cache_streaming, bool):
            raise ConfigError(f"cache_streaming must be True or False, got {cache_streaming!r}")
        if not isinstance(coalesce, bool):
            raise ConfigError(f"coalesce must be True or False, got {coalesce!r}")
        sync, aio = resolve_engines(engine, engine_options)
        super().__init__(  # type: ignore[call-arg]  # our own pydantic fields
            llm=llm,
            scope=scope,
            threshold=threshold,
            ttl=ttl,
            cache_streaming=cache_streaming,
            coalesce=coalesce,
            # Handlers attached to the wrapped model keep seeing every call, hits included.
            callback_manager=callback_manager or llm.callback_manager,
            system_prompt=llm.system_prompt,
            messages_to_prompt=llm.messages_to_prompt,
            completion_to_prompt=llm.completion_to_prompt,
            output_parser=llm.output_parser,
            pydantic_program_mode=llm.pydantic_program_mode,
            query_wrapper_prompt=llm.query_wrapper_prompt,
        )
        self._engine, self._aengine = sync, aio

    @classmethod
    def class_name(cls) -> str:
        return "LixCachedLLM"

    def __getstate__(self) -> dict[Any, Any]:
        """Pickle the configuration, never the engine (it holds locks and connections) nor any cached data.

        ``IngestionPipeline(num_workers>1)`` pickles its transformations, and an extractor may hold this LLM. The
        copy reopens the same store by URL with the same embedder (which must itself be picklable), so a private
        ``memory://`` store, which exists only inside this engine, is refused.
        """
        # pydantic's own state, not BaseComponent's: that one pickles every attribute to probe it and drops (with a
        # root-logger warning) whatever fails, which would silently lose the engine.
        state = dict(BaseModel.__getstate__(self))
        private = dict(state.get("__pydantic_private__") or {})
        private.pop("_engine", None)
        private.pop("_aengine", None)
        state["__pydantic_private__"] = private
        state["__lix_engine__"] = self._engine.spec()  # refuses a private memory:// store
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        state = dict(state)
        spec = state.pop("__lix_engine__")
        BaseModel.__setstate__(
            self, state
        )  # not BaseComponent's, which re-runs __init__ with the stored fields
        engine = spec.open()
        self._engine, self._aengine = engine, engine.aio

    @property
    def metadata(self) -> LLMMetadata:
        return self.llm.metadata

    # -- cache plumbing (translate, delegate) ----------------------------------------------------------------

    def _where(self, key: CallKey) -> dict[str, Any]:
        return {"prompt": key.text, "llm_string": key.llm_string, "context": key.context, "scope": self.scope}

    def _lookup_call(self, key: CallKey, kind: str) -> dict[str, Any]:
        return dict(
            self._where(key), threshold=self.threshold, decode=_DECODERS[kind], on_invalid_prompt="miss"
        )

    def _update_call(
        self, key: CallKey, payload: str, response: ChatResponse | CompletionResponse
    ) -> dict[str, Any]:
        return dict(
            self._where(key), payload=payload, ttl=self.ttl, usage=_usage(response), on_invalid_prompt="miss"
        )

    def _store(self, key: CallKey, kind: str, response: ChatResponse | CompletionResponse) -> None:
        payload = _encode(kind, response)
        if payload is None:  # nothing to share: whoever waits for this answer calls the model
            return self._engine.semantic.abandon(**self._where(key))
        self._engine.semantic.update(**self._update_call(key, payload, response))

    async def _astore(self, key: CallKey, kind: str, response: ChatResponse | CompletionResponse) -> None:
        payload = _encode(kind, response)
        if payload is None:
            return await self._aengine.semantic.abandon(**self._where(key))
        await self._aengine.semantic.update(**self._update_call(key, payload, response))

    def _cached(self, key: CallKey | None, kind: str) -> Any:
        """A stream's cached response (streams never wait for an identical call: they replay or record)."""
        hit = None if key is None else self._engine.semantic.lookup(**self._lookup_call(key, kind))
        return None if hit is None else hit.value

    async def _acached(self, key: CallKey | None, kind: str) -> Any:
        hit = None if key is None else await self._aengine.semantic.lookup(**self._lookup_call(key, kind))
        return None if hit is None else hit.value

    def _answer_options(self, kind: str) -> dict[str, Any]:
        def encode(response: ChatResponse | CompletionResponse) -> tuple[str, Any] | None:
            payload = _encode(kind, response)
            return None if payload is None else (payload, _usage(response))

        return {
            "encode": encode,
            "decode": _DECODERS[kind],
            "scope": self.scope,
            "threshold": self.threshold,
            "ttl": self.ttl,
            "coalesce": self.coalesce,
        }

    def _through(self, key: CallKey | None, kind: str, compute: Callable[[], Any]) -> Any:
        """The model call through the engine's cache (``engine.semantic.answer``); uncached without a key."""
        if key is None:
            return compute()
        return self._engine.semantic.answer(key, compute, **self._answer_options(kind)).value

    async def _athrough(self, key: CallKey | None, kind: str, compute: Callable[[], Awaitable[Any]]) -> Any:
        if key is None:
            return await compute()
        return (await self._aengine.semantic.answer(key, compute, **self._answer_options(kind))).value

    # -- chat ------------------------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        key = chat_key(self.llm, messages, kwargs)
        return self._through(key, "chat", lambda: self.llm.chat(messages, **kwargs))  # type: ignore[no-any-return]

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        key = chat_key(self.llm, messages, kwargs)
        return await self._athrough(key, "chat", lambda: self.llm.achat(messages, **kwargs))  # type: ignore[no-any-return]

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        if not self.cache_streaming:
            return self.llm.stream_chat(messages, **kwargs)
        key = chat_key(self.llm, messages, kwargs)
        cached = self._cached(key, "chat")
        if cached is not None:
            return _replay_chat(cached)
        stream = self.llm.stream_chat(messages, **kwargs)
        return stream if key is None else self._recording(stream, key, "chat")

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        if not self.cache_streaming:
            return await self.llm.astream_chat(messages, **kwargs)
        key = chat_key(self.llm, messages, kwargs)
        cached = await self._acached(key, "chat")
        if cached is not None:
            return _areplay(cached)
        stream = await self.llm.astream_chat(messages, **kwargs)
        return stream if key is None else self._arecording(stream, key, "chat")

    # -- completion ------------------------------------------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        key = completion_key(self.llm, prompt, formatted, kwargs)
        return self._through(  # type: ignore[no-any-return]
            key, "complete", lambda: self.llm.complete(prompt, formatted=formatted, **kwargs)
        )

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        key = completion_key(self.llm, prompt, formatted, kwargs)
        return await self._athrough(  # type: ignore[no-any-return]
            key, "complete", lambda: self.llm.acomplete(prompt, formatted=formatted, **kwargs)
        )

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        if not self.cache_streaming:
            return self.llm.stream_complete(prompt, formatted=formatted, **kwargs)
        key = completion_key(self.llm, prompt, formatted, kwargs)
        cached = self._cached(key, "complete")
        if cached is not None:
            return _replay_completion(cached)
        stream = self.llm.stream_complete(prompt, formatted=formatted, **kwargs)
        return stream if key is None else self._recording(stream, key, "complete")

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        if not self.cache_streaming:
            return await self.llm.astream_complete(prompt, formatted=formatted, **kwargs)
        key = completion_key(self.llm, prompt, formatted, kwargs)
        cached = await self._acached(key, "complete")
        if cached is not None:
            return _areplay(cached)
        stream = await self.llm.astream_complete(prompt, formatted=formatted, **kwargs)
        return stream if key is None else self._arecording(stream, key, "complete")

    # -- streaming helpers -----------------------------------------------------------------------------------

    def _recording(
        self, stream: Generator[Any, None, None], key: CallKey, kind: str
    ) -> Generator[Any, None, None]:
        """Pass chunks through; store the last one (the whole answer) only if the stream ran to its end."""
        last = None
        for chunk in stream:
            last = chunk
            yield chunk
        if last is not None:
            self._store(key, kind, last)

    async def _arecording(
        self, stream: AsyncGenerator[Any, None], key: CallKey, kind: str
    ) -> AsyncGenerator[Any, None]:
        last = None
        async for chunk in stream:
            last = chunk
            yield chunk
        if last is not None:
            await self._astore(key, kind, last)

    # -- lix extras ------------------------------------------------------------------------------------------

    def explain(self, prompt: str | Sequence[ChatMessage], k: int = 5, **kwargs: Any) -> list[Candidate]:
        """The nearest entries a ``complete(prompt)`` (a string) or ``chat(messages)`` call would consider, and
        why each would be served or not. ``kwargs`` are the call's keyword arguments (part of the key)."""
        if isinstance(prompt, str):
            key = completion_key(self.llm, prompt, bool(kwargs.pop("formatted", False)), kwargs)
        else:
            key = chat_key(self.llm, prompt, kwargs)
        if key is None:
            return []
        return self._engine.semantic.explain(
            key.text, key.llm_string, context=key.context, scope=self.scope, k=k, threshold=self.threshold
        )

    def clear(self, *, scope: str | None = None) -> int:
        """Delete cached answers: this wrapper's scope (nested in any active ``lix_scope``), narrowed by ``scope``.

        With no scope anywhere, the whole namespace is cleared, like ``LixSemanticCache.clear()``.
        """
        if scope is None:
            target = scope_path(self.scope)  # None: no scope anywhere, the whole namespace
        else:
            with lix_scope(*scope.split("/")):
                target = scope_path(self.scope)
        return self._engine.semantic.clear(scope=target)


class LixCachedFunctionCallingLLM(LixCachedLLM, FunctionCallingLLM):
    """``LixCachedLLM`` around a ``FunctionCallingLLM`` (built automatically by ``LixCachedLLM(...)``).

    ``chat_with_tools`` and friends prepare the provider's arguments with the wrapped model, then go through the
    cached ``chat``; the tools offered are part of the key, so a different tool set is a miss. Tool calls in a
    cached response are read back by the wrapped model's ``get_tool_calls_from_response``.
    """

    @classmethod
    def class_name(cls) -> str:
        return "LixCachedFunctionCallingLLM"

    @property
    def _inner(self) -> FunctionCallingLLM:
        assert isinstance(self.llm, FunctionCallingLLM)
        return self.llm

    def _prepare_chat_with_tools(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._inner._prepare_chat_with_tools_compat(*args, **kwargs)

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[Any],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        return self._inner._validate_chat_with_tools_response(
            response, tools, allow_parallel_tool_calls=allow_parallel_tool_calls, **kwargs
        )

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        return self._inner.get_tool_calls_from_response(
            response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
        )
