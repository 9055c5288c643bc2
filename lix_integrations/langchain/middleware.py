"""Caching middleware for LangChain 1.x agents (``create_agent(model, tools, middleware=[...])``).

``LixCacheMiddleware`` answers model calls from the semantic tier; ``LixToolCacheMiddleware`` answers tool calls
from the tool tier. Both work in sync and async agents (``invoke`` and ``ainvoke``). They only translate: a model
request becomes the prompt LangChain's own cache would see (every message, system prompt first, ids stripped)
and a settings string (model identity and parameters, tool schemas, ``tool_choice``, ``response_format``, the
request's ``model_settings``); the engine keys, coalesces, expires and counts. So a different system prompt,
tool list, earlier turn, model setting or scope is a different partition, and only the last human turn is
compared by similarity inside it.

Scope: ``scope=`` (fixed), then ``runtime.context[scope_key]`` (a mapping key or an attribute), then, with
``thread_scope=True``, the LangGraph thread id, then any ``lix_scope(...)`` block; each narrows the one before.

Requires the ``langchain`` package (the ``agents`` extra: ``pip install '.[agents]'`` from the repository).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from langchain.agents.middleware.types import AgentMiddleware, ModelRequest, ModelResponse, ToolCallRequest
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.outputs import ChatGeneration
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from ..engine.adapter import EngineBacked
from ..engine.engine import AsyncEngine, Engine
from ..engine.public import SemanticHit, ToolPolicy, digest, lix_scope, validate_scope, validate_scope_part
from ..engine.resolve import resolve_engines
from ..engine.semantic_api import Answer, CallKey
from ..errors import ConfigError, SerializationError
from .cache import _usage
from .prompt import split_prompt
from .serialization import deserialize_generations, serialize_generations

__all__ = ["LixCacheMiddleware", "LixToolCacheMiddleware"]

logger = logging.getLogger(__name__)


# -- scope --------------------------------------------------------------------------------------------------------


def _scope_parts(runtime: Any, scope: str | None, scope_key: str | None, thread: bool) -> list[str]:
    parts = [] if scope is None else [scope]
    context = getattr(runtime, "context", None)
    if scope_key is not None and context is not None:
        value = context.get(scope_key) if isinstance(context, Mapping) else getattr(context, scope_key, None)
        if value is not None:
            parts.append(validate_scope(str(value)))
    if thread:
        thread_id = _thread_id(runtime)
        if thread_id is not None:
            parts.append(validate_scope_part(f"thread:{thread_id}"))
    return parts


def _thread_id(runtime: Any) -> str | None:
    config = getattr(runtime, "config", None)
    if config is None:
        try:
            from langgraph.config import get_config

            config = get_config()
        except RuntimeError:  # outside a graph run
            return None
    value = (config or {}).get("configurable", {}).get("thread_id")
    return None if value is None else str(value)


class _Scoped(EngineBacked):
    """Fixed scope and where the per-request scope comes from (shared by both middlewares)."""

    def _init_scope(self, scope: str | None, scope_key: str | None, thread_scope: bool) -> None:
        self._scope = None if scope is None else validate_scope(scope)
        self._scope_key = scope_key
        self._thread_scope = thread_scope

    @contextmanager
    def _scoped(self, runtime: Any) -> Iterator[None]:
        with lix_scope(*_scope_parts(runtime, self._scope, self._scope_key, self._thread_scope)):
            yield


# -- model calls -------------------------------------------------------------------------------------------------


def _tool_schema(tool: Any) -> Any:
    return tool if isinstance(tool, dict) else convert_to_openai_tool(tool)


def _normalized(messages: list[Any]) -> list[Any]:
    """The conversation as the key sees it: message ids dropped, tool-call ids numbered by first appearance
    (a replayed answer gets fresh ids, so the same conversation must key the same), and earlier model answers
    reduced to what the model said and which tools it called (their metadata differs between a fresh answer
    and a cached one)."""
    numbers: dict[str, str] = {}

    def number(call_id: str | None) -> str:
        return numbers.setdefault(str(call_id), f"call_{len(numbers)}")

    out: list[Any] = []
    for message in messages:
        if isinstance(message, AIMessage):
            calls = [{**call, "id": number(call.get("id"))} for call in message.tool_calls]
            out.append(AIMessage(content=message.content, tool_calls=calls))
        elif isinstance(message, ToolMessage):
            out.append(
                ToolMessage(
                    content=message.content, tool_call_id=number(message.tool_call_id), status=message.status
                )
            )
        else:
            out.append(message.model_copy(update={"id": None}) if message.id is not None else message)
    return out


def _model_key(request: ModelRequest) -> CallKey | None:
    """The prompt and settings LangChain's cache would key this call on, or ``None`` when they cannot be read."""
    try:
        messages = ([request.system_message] if request.system_message is not None else []) + list(
            request.messages
        )
        prompt = dumps(_normalized(messages))
        settings = {
            "model": request.model._get_llm_string(**request.model_settings),
            "tools": [_tool_schema(t) for t in request.tools],
            "tool_choice": request.tool_choice,
            "response_format": None if request.response_format is None else repr(request.response_format),
        }
        llm_string = json.dumps(settings, sort_keys=True, default=repr)
    except Exception as exc:  # a model or tool LangChain cannot describe: run it uncached
        logger.warning("model call not cached: its settings cannot be serialized: %s", exc)
        return None
    split = split_prompt(prompt)
    return CallKey(text=split.text, context=split.context, llm_string=llm_string)


def _cacheable(result: Any, cache_tool_calls: bool) -> AIMessage | None:
    """The one AIMessage of a plain answer worth storing, or ``None``."""
    if isinstance(result, AIMessage):
        message = result
    elif isinstance(result, ModelResponse) and result.structured_response is None and len(result.result) == 1:
        message = result.result[0]  # type: ignore[assignment]
    else:
        return None
    if not isinstance(message, AIMessage) or message.invalid_tool_calls:
        return None
    if message.tool_calls and not cache_tool_calls:
        return None
    return message


def _stored_message(payload: str) -> AIMessage:
    """The answer a payload holds; raises when it holds none (the engine then deletes it: a miss)."""
    generations = deserialize_generations(payload)
    message = getattr(generations[0], "message", None) if generations else None
    if not isinstance(message, AIMessage):
        raise SerializationError("the cached answer is not a chat model's message")
    return message


def _response(answer: Answer) -> Any:
    """What the model returned, or a hit as a fresh response (see `_served`)."""
    return answer.value if answer.hit is None else _served(answer.value, answer.hit)


def _served(message: AIMessage, hit: SemanticHit) -> ModelResponse:
    """A hit as a fresh response: a new message id, fresh tool-call ids, and where it came from."""
    calls = [{**call, "id": f"call_{uuid.uuid4().hex[:24]}"} for call in message.tool_calls]
    meta = {
        **message.response_metadata,
        "lix_cache": {"hit": hit.kind, "similarity": hit.similarity, "entry_id": hit.entry_id},
    }
    fresh = message.model_copy(
        update={"id": f"lc_lix-{uuid.uuid4()}", "tool_calls": calls, "response_metadata": meta}
    )
    return ModelResponse(result=[fresh])


class LixCacheMiddleware(AgentMiddleware, _Scoped):  # type: ignore[type-arg]
    """Serve an agent's model calls from the lix semantic cache.

    ``engine``: an `Engine` / `AsyncEngine` to share, a URL, or
    ``None`` (the embedded default store); ``engine_options`` configure an engine built from a URL.
    ``cache_tool_calls``: also store answers that call tools (off by default: a stored tool call replays the
    tool's decision without its fresh result). ``coalesce``: identical calls in flight wait for one answer.
    ``threshold``/``ttl`` override the engine's for this middleware. The sampling policy of the engine applies
    to model settings with ``temperature > 0`` or ``n > 1``, as in the LLM cache.
    """

    def __init__(
        self,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        scope: str | None = None,
        scope_key: str | None = "scope",
        thread_scope: bool = False,
        threshold: float | None = None,
        ttl: float | None = None,
        cache_tool_calls: bool = False,
        coalesce: bool = True,
        **engine_options: Any,
    ) -> None:
        super().__init__()
        self._init_scope(scope, scope_key, thread_scope)
        for name, value in (("cache_tool_calls", cache_tool_calls), ("coalesce", coalesce)):
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be True or False, got {value!r}")
        self._engine, self._aengine = resolve_engines(engine, engine_options)
        self._threshold, self._ttl = threshold, ttl
        self._cache_tool_calls, self._coalesce = cache_tool_calls, coalesce

    def _payload(self, result: Any) -> tuple[str, Any] | None:
        message = _cacheable(result, self._cache_tool_calls)
        if message is None:
            return None
        generations = [ChatGeneration(message=message)]
        return serialize_generations(generations), _usage(generations)  # a SerializationError: not stored

    def _answer_options(self) -> dict[str, Any]:
        return {
            "encode": self._payload,
            "decode": _stored_message,
            "threshold": self._threshold,
            "ttl": self._ttl,
            "coalesce": self._coalesce,
        }

    def wrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], Any]) -> Any:
        key = _model_key(request)
        if key is None:
            return handler(request)
        with self._scoped(request.runtime):
            answer = self._engine.semantic.answer(key, lambda: handler(request), **self._answer_options())
        return _response(answer)

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[Any]]
    ) -> Any:
        key = _model_key(request)
        if key is None:
            return await handler(request)
        with self._scoped(request.runtime):
            answer = await self._aengine.semantic.answer(
                key, lambda: handler(request), **self._answer_options()
            )
        return _response(answer)


# -- tool calls --------------------------------------------------------------------------------------------------


def _encode_message(message: Any) -> Any:
    if not isinstance(message, ToolMessage):
        raise TypeError(f"{type(message).__name__} results are not cached")
    return {"content": message.content, "artifact": message.artifact, "name": message.name}


def _decoded(value: Any) -> Any:
    return value  # the JSON form; the ToolMessage is built per call, with that call's id


def _not_error(result: Any) -> bool:
    return isinstance(result, ToolMessage) and result.status != "error"


def _schema_version(tool: BaseTool) -> str:
    try:
        schema = convert_to_openai_tool(tool)
    except Exception:
        schema = {"name": tool.name, "description": tool.description}
    return digest("schema", json.dumps(schema, sort_keys=True, default=repr))


#: How tools marked read-only are cached unless configured otherwise: ten minutes, in the request's scope.
READ_ONLY_POLICY = ToolPolicy(ttl=600.0)


class LixToolCacheMiddleware(AgentMiddleware, _Scoped):  # type: ignore[type-arg]
    """Serve an agent's tool calls from the lix tool tier.

    A tool is cached when the engine's ``ToolsConfig`` (or ``policies`` here, by tool name) enables it, or when
    its ``metadata`` marks it read-only (MCP's ``readOnlyHint``; cached with ``read_only_policy``, ``None`` to
    turn that off); a tool marked destructive never is. Errors (exceptions and ``status="error"`` messages) and
    ``Command`` results are never cached. The key is the tool's name, a digest of its schema, its canonical
    arguments and the scope; a hit is a ``ToolMessage`` carrying the current call's ``tool_call_id``.
    """

    def __init__(
        self,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        policies: Mapping[str, ToolPolicy] | None = None,
        read_only_policy: ToolPolicy | None = READ_ONLY_POLICY,
        scope: str | None = None,
        scope_key: str | None = "scope",
        thread_scope: bool = False,
        **engine_options: Any,
    ) -> None:
        super().__init__()
        self._init_scope(scope, scope_key, thread_scope)
        self._engine, self._aengine = resolve_engines(engine, engine_options)
        self._policies = dict(policies or {})
        self._read_only = read_only_policy
        self._versions: dict[int, str] = {}

    def _plan(self, request: ToolCallRequest) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        tool = request.tool
        if tool is None:
            return None
        name = request.tool_call["name"]
        policy = self._engine.tools.policy_for_annotated(
            name, tool.metadata, explicit=self._policies.get(name), read_only=self._read_only
        )
        version = self._versions.get(id(tool))
        if version is None:
            version = self._versions[id(tool)] = _schema_version(tool)
        options = {
            "policy": policy or ToolPolicy(enabled=False),
            "version": version,
            "encode": _encode_message,
            "decode": _decoded,
            "cacheable": _not_error,
        }
        return name, dict(request.tool_call.get("args") or {}), options

    @staticmethod
    def _message(result: Any, request: ToolCallRequest) -> Any:
        call_id = request.tool_call["id"]
        if isinstance(result, dict):  # a hit: rebuilt for this call
            return ToolMessage(
                content=result.get("content", ""),
                artifact=result.get("artifact"),
                name=result.get("name") or request.tool_call["name"],
                tool_call_id=call_id,
                response_metadata={"lix_cache": {"hit": True}},
            )
        if isinstance(result, ToolMessage) and result.tool_call_id != call_id:  # another caller's, shared
            return result.model_copy(update={"tool_call_id": call_id, "id": None})
        return result

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Any]) -> Any:
        plan = self._plan(request)
        if plan is None:
            return handler(request)
        name, arguments, options = plan
        with self._scoped(request.runtime):
            result = self._engine.tools.call(name, arguments, lambda: handler(request), **options)
        return self._message(result, request)

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[Any]]
    ) -> Any:
        plan = self._plan(request)
        if plan is None:
            return await handler(request)
        name, arguments, options = plan
        with self._scoped(request.runtime):
            result = await self._aengine.tools.call(name, arguments, lambda: handler(request), **options)
        return self._message(result, request)
