"""What ``LixCachedLLM`` stores and serves: a LlamaIndex response as a JSON payload (and back), the tokens it cost,
and a cached response replayed as a one-chunk stream. Pure translation, no cache policy."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

from llama_index.core.base.llms.types import (
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
)
from pydantic_core import PydanticSerializationError

__all__ = ["DECODERS", "areplay", "encode", "replay_chat", "replay_completion", "usage"]

logger = logging.getLogger(__name__)

_PAYLOAD_VERSION = 1


def encode(kind: str, response: ChatResponse | CompletionResponse) -> str | None:
    try:
        body = response.model_dump(mode="json", exclude={"raw", "delta"})
        return json.dumps({"v": _PAYLOAD_VERSION, "type": kind, "response": body}, ensure_ascii=False)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        logger.warning("LLM response not cached: it does not serialize to JSON: %s", exc)
        return None


_R = TypeVar("_R", ChatResponse, CompletionResponse)


def _decoder(kind: str, response_type: type[_R]) -> Callable[[str], _R]:
    """How a stored payload becomes a ``kind`` response; raises for an entry of another kind or unreadable (the
    engine then deletes it and counts a miss)."""

    def decode(payload: str) -> _R:
        data = json.loads(payload)
        if (
            not isinstance(data, dict)
            or data.get("v") != _PAYLOAD_VERSION
            or data.get("type") != kind
            or not isinstance(data.get("response"), dict)
        ):
            raise ValueError(f"not a LlamaIndex {kind} response")
        return response_type.model_validate(data["response"])

    return decode


DECODERS: dict[str, Callable[[str], Any]] = {
    "chat": _decoder("chat", ChatResponse),
    "complete": _decoder("complete", CompletionResponse),
}


def replay_chat(response: ChatResponse) -> ChatResponseGen:
    yield response.model_copy(update={"delta": response.message.content or ""})


def replay_completion(response: CompletionResponse) -> CompletionResponseGen:
    yield response.model_copy(update={"delta": response.text})


async def areplay(response: ChatResponse | CompletionResponse) -> AsyncGenerator[Any, None]:
    if isinstance(response, ChatResponse):
        yield response.model_copy(update={"delta": response.message.content or ""})
    else:
        yield response.model_copy(update={"delta": response.text})


def usage(response: ChatResponse | CompletionResponse) -> dict[str, Any] | None:
    """Tokens the response cost, from what LlamaIndex integrations report (``additional_kwargs`` token counts,
    or an OpenAI-style ``raw.usage``), so hits on it count as tokens saved; ``None`` when nothing is reported."""
    counts: dict[str, Any] = dict(response.additional_kwargs or {})
    raw = response.raw
    raw_usage = raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)
    if raw_usage is not None and not isinstance(raw_usage, dict):
        raw_usage = {k: getattr(raw_usage, k, None) for k in ("prompt_tokens", "completion_tokens")}
    if isinstance(raw_usage, dict):
        counts = {**raw_usage, **counts}
    model = raw.get("model") if isinstance(raw, dict) else getattr(raw, "model", None)
    if isinstance(model, str):
        counts["model"] = model
    keys = ("input_tokens", "prompt_tokens", "output_tokens", "completion_tokens")
    return counts if any(isinstance(counts.get(k), int) and counts.get(k) for k in keys) else None
