"""``LixCachedTool``: any LangChain ``BaseTool`` (``@tool`` functions, ``StructuredTool``, subclasses) behind the
lix tool tier, with the same name, description and args schema, so a model binds it exactly like the original.

The adapter only translates: the arguments the model produced (the fields of ``tool_call_schema``; injected
arguments such as ``InjectedToolCallId`` or the callback manager never reach the key) become the tier's
``arguments``, and the wrapped tool's own ``_run``/``_arun`` becomes ``compute``, called the way
``BaseTool.run`` calls it (with ``run_manager``/``config`` when it asks for them). Caching, expiry, single
flight and invalidation are the engine's. Errors, including a ``ToolException`` the tool's
``handle_tool_error`` turns into text, are never cached: the exception passes through the tier first.

Wrap every tool the agent uses, not only the cached ones: whether a tool is cached is the engine's
``ToolsConfig`` (``policy=`` overrides it per tool), and a write tool must run through the tier for its
invalidation rules to fire. Results JSON cannot hold (a ``ToolMessage``, a ``Command``) are returned uncached.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field, PrivateAttr

from ..engine.adapter import EngineBacked, jsonable, tool_engines
from ..engine.engine import AsyncEngine, Engine
from ..engine.public import ToolPolicy
from ..engine.resolve import resolve_engines
from ..errors import ConfigError

__all__ = ["LixCachedTool", "cache_tools"]


def _wants(func: Any, name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _config_param(func: Any) -> str | None:
    """The parameter ``BaseTool.run`` would fill with the ``RunnableConfig`` (found by annotation, as it does)."""
    try:
        from langchain_core.tools.base import _get_runnable_config_param
    except ImportError:  # pragma: no cover - older/newer langchain-core
        return "config" if _wants(func, "config") else None
    return _get_runnable_config_param(func)


def _call_kwargs(
    func: Any, kwargs: dict[str, Any], config: RunnableConfig, run_manager: Any
) -> dict[str, Any]:
    """``kwargs`` plus ``run_manager`` and the config, where ``func`` asks for them (as ``BaseTool.run`` does)."""
    call_kwargs = dict(kwargs)
    if _wants(func, "run_manager"):
        call_kwargs["run_manager"] = run_manager
    if param := _config_param(func):
        call_kwargs[param] = config
    return call_kwargs


class LixCachedTool(EngineBacked, BaseTool):
    """``LixCachedTool(tool, engine)``: the same tool, its results cached by the engine's tool tier.

    ``engine``: an `Engine`/`AsyncEngine` to share, a URL, or
    ``None`` (embedded default store); ``engine_options`` go to the engine built from a URL. ``policy`` caches
    this tool with that policy whatever the engine's ``ToolsConfig`` says; ``scope`` confines its entries (a
    ``lix_scope`` block narrows it further); ``exclude`` leaves more argument names out of the key.
    """

    tool: BaseTool = Field(exclude=True)
    _engine: Engine = PrivateAttr()
    _aengine: AsyncEngine = PrivateAttr()
    _options: dict[str, Any] = PrivateAttr(default_factory=dict)
    _key_fields: frozenset[str] | None = PrivateAttr(default=None)

    def __init__(
        self,
        tool: BaseTool,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        policy: ToolPolicy | None = None,
        scope: str | None = None,
        exclude: Sequence[str] = (),
        **engine_options: Any,
    ) -> None:
        if not isinstance(tool, BaseTool):
            raise ConfigError(f"tool must be a LangChain BaseTool, got {type(tool).__name__}")
        super().__init__(
            tool=tool,
            name=tool.name,
            description=tool.description,
            args_schema=tool.args_schema,
            return_direct=tool.return_direct,
            verbose=tool.verbose,
            tags=tool.tags,
            metadata=tool.metadata,
            handle_tool_error=tool.handle_tool_error,
            handle_validation_error=tool.handle_validation_error,
            response_format=tool.response_format,
            extras=getattr(tool, "extras", None),
        )
        self._engine, self._aengine, self._options = tool_engines(
            tool.name, engine, engine_options, policy=policy, scope=scope, exclude=exclude
        )
        self._key_fields = self._model_visible_fields(tool)

    @staticmethod
    def _model_visible_fields(tool: BaseTool) -> frozenset[str] | None:
        """Names the model fills in (``tool_call_schema`` leaves injected arguments out); ``None``: unknown."""
        try:
            schema: Any = tool.tool_call_schema
        except Exception:
            return None
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return frozenset(schema.model_fields)
        if isinstance(schema, dict):
            return frozenset(schema.get("properties", {}))
        return None

    def invalidate(self, **arguments: Any) -> int:
        """Forget this tool's cached results (those whose arguments include ``arguments``)."""
        return self._engine.tools.invalidate(self.name, arguments=arguments or None)

    # -- translation ---------------------------------------------------------------------------------------------

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        fields = self._key_fields
        out = {k: jsonable(v) for k, v in kwargs.items() if fields is None or k in fields}
        if args:  # a single-input tool called with a string
            out["__args__"] = [jsonable(a) for a in args]
        return out

    def _run(
        self,
        *args: Any,
        config: RunnableConfig,
        run_manager: CallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        inner = self.tool
        call_kwargs = _call_kwargs(inner._run, kwargs, config, run_manager)
        return self._engine.tools.call(
            self.name,
            self._arguments(args, kwargs),
            lambda: inner._run(*args, **call_kwargs),
            **self._options,
        )

    async def _arun(
        self,
        *args: Any,
        config: RunnableConfig,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        inner = self.tool
        # BaseTool.arun inspects _run when a tool keeps the default _arun (which runs _run in an executor).
        checked = inner._run if type(inner)._arun is BaseTool._arun else inner._arun
        call_kwargs = _call_kwargs(checked, kwargs, config, run_manager)
        return await self._aengine.tools.call(
            self.name,
            self._arguments(args, kwargs),
            lambda: inner._arun(*args, **call_kwargs),
            **self._options,
        )


def cache_tools(
    tools: Sequence[BaseTool],
    engine: Engine | AsyncEngine | str | None = None,
    *,
    policies: dict[str, ToolPolicy] | None = None,
    scope: str | None = None,
    **engine_options: Any,
) -> list[LixCachedTool]:
    """Wrap every tool of an agent over one shared engine (``policies`` by tool name override the config).

    Caching is opt-in per tool: a tool with no policy here nor in the engine's ``ToolsConfig`` runs uncached
    (and a warning is logged once for it); write tools named in ``InvalidationRule``s need none.
    """
    sync, _ = resolve_engines(engine, engine_options)
    policies = policies or {}
    return [LixCachedTool(t, sync, policy=policies.get(t.name), scope=scope) for t in tools]
