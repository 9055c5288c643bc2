"""A scripted LangChain chat model that counts its calls: for agent, coalescing and benchmark runs.

``ScriptedChatModel`` answers with ``respond(messages, tools)`` (default: ``"answer: <last user text>"``),
binds tools the way real providers do (``bind_tools`` -> ``tools=`` in the call's keyword arguments, so they
are part of the model settings a cache keys on), may wait ``delay`` seconds (a slow LLM) and may raise for its
first ``fail_first`` calls. Every call is counted in ``calls`` and, when ``calls_file`` is set, appended to that
file as one line, so calls made in other processes can be counted too.

Imports ``langchain_core`` and the package's kernel (whose runtime drives a call, blocking or awaited); import
this module explicitly (``lix_integrations.testing`` does not).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from ..kernel.flows import Flow
from ..kernel.ops import Op, Sleep
from ..kernel.runtime import Runtime

__all__ = ["ReplyChatModel", "ScriptedChatModel", "last_user_text"]

Responder = Callable[[Sequence[BaseMessage], Sequence[dict[str, Any]]], AIMessage]


def last_user_text(messages: Sequence[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    return ""


def _echo(messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> AIMessage:
    return AIMessage(f"answer: {last_user_text(messages)}")


class ReplyChatModel(BaseChatModel):
    """A local chat model given by its one reply to the messages, ``_reply`` (`ScriptedChatModel`, the demo's
    canned model, the tool model of `agent_threads`): LangChain's ``_generate`` around it is written here once."""

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        """The reply to ``messages``; ``kwargs`` are the call's (``tools=`` when tools are bound)."""
        raise NotImplementedError

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return _result(self._reply(messages, kwargs))


class ScriptedChatModel(ReplyChatModel):
    """A deterministic chat model (see the module docstring); ``temperature`` is only part of its settings."""

    respond: Responder = Field(default=_echo, exclude=True)
    delay: float = 0.0
    fail_first: int = 0
    calls_file: str | None = None
    temperature: float = 0.0
    model_name: str = "scripted"
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "lix-scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature}

    @property
    def calls(self) -> int:
        return self._calls

    def bind_tools(  # type: ignore[override]
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[Any, BaseMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _count(self) -> int:
        with self._lock:
            self._calls += 1
            n = self._calls
        if self.calls_file:
            with open(self.calls_file, "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()}\n")
        return n

    def _answer(self, n: int, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        if n <= self.fail_first:
            raise RuntimeError(f"scripted failure of call {n}")
        message = self.respond(messages, kwargs.get("tools") or [])
        message.usage_metadata = UsageMetadata(input_tokens=10, output_tokens=5, total_tokens=15)  # type: ignore[typeddict-item]
        return message

    def _call(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> Flow[AIMessage]:
        """One call, written once for both ways of calling: count it, wait ``delay`` (a slow LLM: the runtime
        sleeps on a blocking caller's thread, or awaits on an event loop without blocking it), then answer."""
        n = self._count()
        if self.delay:
            yield from Sleep(self.delay)
        return self._answer(n, messages, kwargs)

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        """The blocking call (``_agenerate`` awaits the same flow)."""
        return _RUNTIME.run(self._call(messages, kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return _result(await _RUNTIME.arun(self._call(messages, kwargs)))


def _result(message: AIMessage) -> ChatResult:
    return ChatResult(generations=[ChatGeneration(message=message)])


class _NoStore:
    """The store of the scripted model's runtime: a call yields only ``Sleep``, which the runtime carries out
    itself, so a storage op reaching here is a bug."""

    def execute(self, op: Op) -> Any:
        raise TypeError(f"the scripted model has no store for {type(op).__name__}")

    async def aexecute(self, op: Op) -> Any:
        return self.execute(op)


_RUNTIME = Runtime(_NoStore())
