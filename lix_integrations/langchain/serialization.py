"""Generations to and from the payload string the engine stores.

Each generation is dumped on its own with LangChain's ``dumps``: dumping the list at once skips the fix-up of
pydantic objects inside ``additional_kwargs`` (they would come back as ``not_implemented``). Storing only the text
would lose what a chat model's answer carries besides it (tool calls, usage, metadata), since LangChain rebuilds
a bare ``AIMessage(content=text)`` from a plain ``Generation``.

Reading back revives only an explicit list of output and message classes: a store may be shared or tampered with,
and nothing read from it may construct arbitrary objects. Nothing is ever unpickled.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from langchain_core._api import LangChainBetaWarning
from langchain_core.load import dumps, loads
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

from ..errors import SerializationError

__all__ = ["ALLOWED_CLASSES", "deserialize_generations", "serialize_generations"]

#: The only classes a payload may revive.
ALLOWED_CLASSES: tuple[type[Any], ...] = (
    Generation,
    GenerationChunk,
    ChatGeneration,
    ChatGenerationChunk,
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    FunctionMessage,
    ChatMessage,
)


def serialize_generations(generations: Sequence[Generation]) -> str:
    """A JSON list holding one LangChain ``dumps`` string per generation."""
    if isinstance(generations, (str, bytes)) or not isinstance(generations, Sequence):
        raise SerializationError(f"expected a sequence of Generation, got {type(generations).__name__}")
    parts: list[str] = []
    for generation in generations:
        if not isinstance(generation, Generation):
            raise SerializationError(f"expected a Generation, got {type(generation).__name__}")
        try:
            parts.append(dumps(generation))
        except Exception as exc:  # dumps raises whatever a field's serializer raises
            raise SerializationError(f"cannot serialize {type(generation).__name__}: {exc}") from exc
    return json.dumps(parts)


def deserialize_generations(payload: str) -> list[Generation]:
    """The generations of a payload; `SerializationError` if it is malformed or names another class."""
    try:
        parts = json.loads(payload)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"cache payload is not JSON: {exc}") from exc
    if not isinstance(parts, list) or not all(isinstance(part, str) for part in parts):
        raise SerializationError("cache payload is not a JSON list of serialized generations")
    generations: list[Generation] = []
    for part in parts:
        try:
            revived = _loads(part)
        except Exception as exc:  # loads raises ValueError, KeyError, TypeError, NotImplementedError ...
            raise SerializationError(f"cannot revive a cached generation: {exc}") from exc
        if not isinstance(revived, Generation):
            raise SerializationError(f"cached item is a {type(revived).__name__}, not a Generation")
        generations.append(revived)
    return generations


@lru_cache(maxsize=1)
def _loads_options() -> dict[str, Any]:
    # ``allowed_objects`` appeared in langchain-core 1.3; older cores revive only their own namespaces anyway,
    # and the isinstance check above still rejects anything that is not a generation.
    params = inspect.signature(loads).parameters
    options: dict[str, Any] = {}
    if "allowed_objects" in params:
        options["allowed_objects"] = list(ALLOWED_CLASSES)
    if "ignore_unserializable_fields" in params:
        # A value ``dumps`` could not serialize (an arbitrary object in additional_kwargs) comes back as None
        # instead of making every later lookup of this entry fail.
        options["ignore_unserializable_fields"] = True
    return options


def _loads(text: str) -> Any:
    with warnings.catch_warnings():
        # ``loads`` is @beta and warns on every call; silence that one category here, nothing else.
        warnings.filterwarnings("ignore", category=LangChainBetaWarning)
        return loads(text, **_loads_options())
