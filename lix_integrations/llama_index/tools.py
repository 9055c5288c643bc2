"""``LixCachedTool``: a LlamaIndex ``FunctionTool`` (or any ``BaseTool``) behind the lix tool tier.

It keeps the wrapped tool's ``metadata`` (name, description, ``fn_schema``), so an agent sees the same tool. The
adapter only translates: the call's arguments become the tier's ``arguments``, the wrapped tool's ``call`` /
``acall`` becomes ``compute``, and a ``ToolOutput`` is stored as JSON (its text content and ``raw_output``) and
rebuilt on a hit. A ``ToolOutput`` with ``is_error=True`` (``FunctionTool`` reports exceptions that way when
asked to) and exceptions are never cached; an output whose ``raw_output`` JSON cannot hold is returned uncached.
Non-text blocks (images) are not stored either: such outputs are returned uncached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import TextBlock
from llama_index.core.tools.types import (
    AsyncBaseTool,
    BaseTool,
    ToolMetadata,
    ToolOutput,
    adapt_to_async_tool,
)

from ..engine.adapter import EngineBacked, jsonable, tool_engines
from ..engine.engine import AsyncEngine, Engine
from ..engine.public import ToolPolicy
from ..errors import ConfigError

__all__ = ["LixCachedTool"]


class LixCachedTool(EngineBacked, AsyncBaseTool):
    """``LixCachedTool(tool, engine)``: the same tool, its outputs cached by the engine's tool tier.

    ``engine``: an engine to share, a URL, or ``None`` (embedded default store); ``engine_options`` go to an
    engine built from a URL. ``policy`` caches the tool whatever the engine's ``ToolsConfig`` says; ``scope``
    confines its entries; ``exclude`` leaves argument names out of the key.
    """

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
            raise ConfigError(f"tool must be a LlamaIndex BaseTool, got {type(tool).__name__}")
        if not tool.metadata.name:
            raise ConfigError("the wrapped tool has no name (ToolMetadata.name)")
        self._tool: AsyncBaseTool = adapt_to_async_tool(tool)
        self._inner = tool
        self._engine, self._aengine, self._options = tool_engines(
            tool.metadata.name, engine, engine_options, policy=policy, scope=scope, exclude=exclude
        )

    @property
    def metadata(self) -> ToolMetadata:
        return self._inner.metadata

    @property
    def tool(self) -> BaseTool:
        return self._inner

    def invalidate(self, **arguments: Any) -> int:
        """Forget this tool's cached outputs (those whose arguments include ``arguments``)."""
        return self._engine.tools.invalidate(self._name, arguments=arguments or None)

    @property
    def _name(self) -> str:
        return str(self.metadata.name)

    # -- translation -------------------------------------------------------------------------------------------

    @staticmethod
    def _arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        out = {k: jsonable(v) for k, v in kwargs.items()}
        if args:
            out["__args__"] = [jsonable(a) for a in args]
        return out

    @staticmethod
    def _cacheable(output: Any) -> bool:
        return (
            isinstance(output, ToolOutput)
            and not output.is_error
            and all(isinstance(b, TextBlock) for b in output.blocks)
        )

    @staticmethod
    def _encode(output: ToolOutput) -> dict[str, Any]:
        return {"content": output.content, "raw_output": output.raw_output}

    def _decoder(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        def decode(stored: Any) -> ToolOutput:
            if not isinstance(stored, dict) or not isinstance(stored.get("content"), str):
                raise ValueError("not a stored ToolOutput")
            return ToolOutput(
                tool_name=self._name,
                content=stored["content"],
                raw_input={"args": args, "kwargs": kwargs},
                raw_output=stored.get("raw_output"),
            )

        return decode

    def __call__(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return self.call(*args, **kwargs)

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """What ``engine.tools.call`` takes for this call, but the tool itself."""
        return dict(
            self._options,
            tool=self._name,
            arguments=self._arguments(args, kwargs),
            encode=self._encode,
            decode=self._decoder(args, kwargs),
            cacheable=self._cacheable,
        )

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return self._engine.tools.call(  # type: ignore[no-any-return]
            compute=lambda: self._tool.call(*args, **kwargs), **self._call(args, kwargs)
        )

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return await self._aengine.tools.call(  # type: ignore[no-any-return]
            compute=lambda: self._tool.acall(*args, **kwargs), **self._call(args, kwargs)
        )
