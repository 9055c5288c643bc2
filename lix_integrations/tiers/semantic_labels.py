"""What a person needs to read a stored answer (``lix inspect``, ``engine.semantic.entries()``): the model's name
and a preview of the context the answer belongs to, stored in the answer's metadata envelope.

Keys hold only digests (``llm_key``, ``partition``), which tell a person nothing. The labels are short on
purpose: the model name (at most 80 characters) and the first 200 characters of the context (system prompt and
earlier turns), so an entry grows by at most about 300 bytes. They are for reading, never for matching: lookups
still compare the full ``llm_string`` and context through the keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["answer_text", "labels_of", "model_label"]

#: Where the adapters' contexts hold the embedded prompt (shown as the entry's prompt, not in its context).
PROMPT_MARKER = "\x00lix:embedded-text\x00"
MODEL_CHARS = 80
CONTEXT_CHARS = 200
#: ``"model": "gpt-4o"`` (JSON), ``('model_name', 'gpt-4o')`` (LangChain's sorted params), ``model=gpt-4o``.
_MODEL_RE = re.compile(
    r"""["']?(?:model|model_name|model_id|deployment_name|azure_deployment)["']?\s*[:,=]\s*["']([^"']{1,200})["']"""
)
_TYPE_RE = re.compile(r"""["']?_type["']?\s*[:,=]\s*["']([^"']{1,200})["']""")


def model_label(llm_string: str) -> str:
    """The model's name in an ``llm_string`` (LangChain's or LlamaIndex's), else its beginning."""
    found = _MODEL_RE.search(llm_string) or _TYPE_RE.search(llm_string)
    text = found.group(1) if found else " ".join(llm_string.split())
    return text[:MODEL_CHARS]


def labels_of(llm_string: str, context: str) -> dict[str, str]:
    """The labels stored with an answer (pure)."""
    labels = {"model": model_label(llm_string)} if llm_string else {}
    if context:
        preview = " ".join(_readable_context(context).split())
        labels["context"] = preview[:CONTEXT_CHARS] + ("…" if len(preview) > CONTEXT_CHARS else "")
    return labels


def _readable_context(context: str) -> str:
    """``role: text | role: text`` for a context of serialized messages (what the LangChain adapters pass),
    else the context as given."""
    try:
        data = json.loads(context)
    except ValueError:
        return context
    items = data if isinstance(data, list) else [data]
    parts = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kwargs = item.get("kwargs")
        body: dict[str, Any] = kwargs if isinstance(kwargs, dict) else item
        role = body.get("type") or body.get("role") or ""
        text = " ".join(_texts(body, 0)) if not isinstance(body.get("content"), str) else body["content"]
        if text == PROMPT_MARKER:
            continue
        if text or role:
            parts.append(f"{role}: {text}" if role else text)
    return " | ".join(parts) if parts or items else context


def answer_text(payload: str) -> str:
    """The text of a stored answer: the generations' text of a LangChain cache entry (JSON of serialized
    generations), the message content of a LlamaIndex one, else the payload as stored."""
    try:
        data = json.loads(payload)
    except ValueError:
        return payload
    texts = [t for t in _texts(data, 0) if t]
    return "\n".join(texts) if texts else payload


def _texts(node: Any, depth: int) -> Iterator[str]:
    if depth > 8:
        return
    if isinstance(node, str):
        if node[:1] in ("{", "["):
            try:
                yield from _texts(json.loads(node), depth + 1)
            except ValueError:
                return
        return
    if isinstance(node, list):
        for item in node:
            yield from _texts(item, depth + 1)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("kwargs"), dict):
        yield from _texts(node["kwargs"], depth + 1)
    elif isinstance(node.get("text"), str):
        yield node["text"]
    elif isinstance(node.get("content"), str):
        yield node["content"]
    else:
        for key in ("message", "blocks", "generations", "raw"):
            if key in node:
                yield from _texts(node[key], depth + 1)
                return
