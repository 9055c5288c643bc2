"""Turn a LlamaIndex LLM call into the semantic tier's three strings: text to embed, context, model settings.

The rules are the LangChain cache's (`lix_integrations.langchain.prompt`), applied to LlamaIndex objects:

* ``chat``: only the text of the **last user message** is embedded. Every message (system prompt, earlier turns,
  non-text blocks, ``additional_kwargs``) with that text replaced by a marker is the *context*, which must match
  byte for byte (canonical JSON). A paraphrase asked under another system prompt is then a miss, not a hit.
* ``complete``: the prompt is embedded; the context records that it was a completion and whether it was already
  formatted (``formatted=False`` lets the provider apply its own template, so the model sees another prompt).
* the ``llm_string``: the wrapped model's class, ``metadata.model_name`` and every pydantic field that shapes
  its output (temperature, max_tokens, top_p, additional_kwargs ...) plus the call's keyword arguments, as
  canonical JSON. Secrets (``*key*``, ``*token``, ``*secret*`` ...) and transport settings (timeouts, retries,
  clients) are left out. The engine's sampling policy reads ``"temperature":0.7`` from it.

This module is LlamaIndex-specific; the LangChain module parses LangChain's serialized strings instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.llm import LLM
from llama_index.core.tools.types import BaseTool
from pydantic_core import PydanticSerializationError, to_jsonable_python

from ..engine.semantic_api import CallKey

__all__ = ["NO_TEXT_MARKER", "TEXT_MARKER", "CallKey", "chat_key", "completion_key", "llm_string"]

logger = logging.getLogger(__name__)

#: Same markers as the LangChain adapter: the context records where the embedded text was and its shape.
TEXT_MARKER = "\x00lix:embedded-text\x00"
NO_TEXT_MARKER = "[lix: no text in the last human message]"

#: Fields of ``BaseLLM``/``LLM`` that never change what the model answers, and common transport settings.
_IGNORED_FIELDS = frozenset(
    {
        "callback_manager",
        "rate_limiter",
        "messages_to_prompt",
        "completion_to_prompt",
        "output_parser",
        "query_wrapper_prompt",
        "pydantic_program_mode",
        "timeout",
        "request_timeout",
        "max_retries",
        "retries",
        "reuse_client",
        "http_client",
        "async_http_client",
        "num_workers",
        "show_progress",
        "verbose",
    }
)
_SECRET_PARTS = ("key", "secret", "password", "passwd", "credential", "auth", "header", "cookie")


def _canonical(value: object) -> str:
    # Key order and whitespace carry no meaning; a context must not differ because of them.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_PARTS) or lowered.endswith("token")


def _tool_identity(value: Any) -> Any:
    """Tools offered to a function-calling model are keyed by what the model sees: name, description, schema."""
    if isinstance(value, BaseTool):
        meta = value.metadata
        return {
            "tool": meta.get_name(),
            "description": meta.description,
            "parameters": meta.get_parameters_dict(),
        }
    raise TypeError(f"{type(value).__name__} is not JSON")


def _jsonable(value: object) -> object:
    """JSON-compatible form of a value, or raise ``ValueError`` (pydantic handles models, enums, dates...)."""
    try:
        data = to_jsonable_python(value, fallback=_tool_identity)
        json.dumps(data)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    return data


def model_settings(llm: LLM) -> dict[str, Any]:
    """The wrapped model's output-shaping settings as JSON values (fields that cannot be JSON are skipped)."""
    settings: dict[str, Any] = {}
    for name in type(llm).model_fields:
        if name in _IGNORED_FIELDS or _is_secret(name):
            continue
        value = getattr(llm, name, None)
        if callable(value) and not isinstance(value, type):
            continue
        try:
            settings[name] = _jsonable(value)
        except ValueError:
            logger.debug(
                "LLM field %s of %s is not JSON; not part of the cache key", name, type(llm).__name__
            )
    return settings


def llm_string(llm: LLM, call_kwargs: Mapping[str, Any]) -> str | None:
    """The model-identity string, or ``None`` when a call argument cannot be compared (then the call is uncached)."""
    try:
        call = _jsonable(dict(call_kwargs))
    except ValueError as exc:
        logger.debug("call arguments are not JSON (%s); calling the LLM without the cache", exc)
        return None
    try:
        model_name = llm.metadata.model_name
    except Exception:  # a provider's metadata property may need a client; identity falls back to the fields
        model_name = None
    cls = type(llm)
    return _canonical(
        {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "class_name": llm.class_name(),
            "model": model_name,
            "settings": model_settings(llm),
            "call": call,
        }
    )


def _message_dict(message: ChatMessage) -> dict[str, Any]:
    return message.model_dump(mode="json")


def chat_key(llm: LLM, messages: Sequence[ChatMessage], call_kwargs: Mapping[str, Any]) -> CallKey | None:
    """Split a chat call at the last user message; ``None`` if the call cannot be keyed (then it is uncached)."""
    identity = llm_string(llm, call_kwargs)
    if identity is None:
        return None
    try:
        dumped = [_message_dict(m) for m in messages]
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        logger.debug("messages are not JSON (%s); calling the LLM without the cache", exc)
        return None
    for index in range(len(dumped) - 1, -1, -1):
        if messages[index].role == MessageRole.USER:
            texts: list[str] = []
            blocks = []
            for block in dumped[index].get("blocks", []):
                if (
                    isinstance(block, dict)
                    and block.get("block_type") == "text"
                    and isinstance(block.get("text"), str)
                ):
                    texts.append(block["text"])
                    blocks.append({**block, "text": TEXT_MARKER})
                else:
                    blocks.append(block)  # images, documents, tool calls: context, never embedded
            text = "\n".join(texts)
            if not text.strip():
                break
            replaced = {**dumped[index], "blocks": blocks}
            context = _canonical(
                {"kind": "chat", "messages": [*dumped[:index], replaced, *dumped[index + 1 :]]}
            )
            return CallKey(text, context, identity)
    # No user message with text: only an identical conversation may match.
    return CallKey(NO_TEXT_MARKER, _canonical({"kind": "chat", "messages": dumped}), identity)


def completion_key(llm: LLM, prompt: str, formatted: bool, call_kwargs: Mapping[str, Any]) -> CallKey | None:
    identity = llm_string(llm, call_kwargs)
    if identity is None:
        return None
    return CallKey(prompt, _canonical({"kind": "complete", "formatted": bool(formatted)}), identity)
