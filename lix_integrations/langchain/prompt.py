"""Split the prompt string LangChain hands a ``BaseCache`` into the text to embed and the context to match exactly.

A chat model passes ``langchain_core.load.dumps(messages)``; a plain LLM passes its raw prompt. Embedding the whole
serialized conversation would make two different conversations look alike whenever their last questions do, so a
paraphrase asked under another system prompt, other earlier turns or other tools would be served the wrong
answer. Instead only the text of the last human turn is embedded and everything else (with that text replaced by
a marker) must match byte for byte.

This module parses with `json` only: it runs on every lookup and must not depend on how LangChain revives
objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["NO_TEXT_MARKER", "TEXT_MARKER", "SplitPrompt", "split_prompt"]

#: Stands in the context for the text that is embedded, so the context records *where* the text was and what
#: shape it had (one string or several text blocks) while the text itself is compared by similarity.
TEXT_MARKER = "\x00lix:embedded-text\x00"

#: Embedded when the last human turn has no text (an image alone): the whole conversation then goes into the
#: context, so only an identical prompt can match, and nothing unrelated can be rated "similar" to it.
NO_TEXT_MARKER = "[lix: no text in the last human message]"

_HUMAN_IDS = frozenset({"HumanMessage", "HumanMessageChunk"})


@dataclass(frozen=True, slots=True)
class SplitPrompt:
    """What the engine needs: ``text`` is embedded, ``context`` must match exactly (empty for a plain prompt)."""

    text: str
    context: str


def split_prompt(prompt: str) -> SplitPrompt:
    """Split a cache prompt; anything that is not a serialized LangChain message list is a plain prompt."""
    messages = _parse_messages(prompt)
    if messages is None:
        return SplitPrompt(prompt, "")
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["id"][-1] in _HUMAN_IDS:
            return _split_at(messages, index)
    # A conversation with no human turn (a system prompt alone) has no question to compare by meaning.
    return SplitPrompt(prompt, "")


def _parse_messages(prompt: str) -> list[dict[str, Any]] | None:
    if not prompt.startswith("["):  # cheap rejection of every plain prompt that is not a JSON list
        return None
    try:
        data = json.loads(prompt)
    except ValueError:
        return None
    if not isinstance(data, list) or not data:
        return None
    for item in data:
        if not (
            isinstance(item, dict)
            and item.get("lc") == 1
            and item.get("type") == "constructor"
            and isinstance(item.get("id"), list)
            and item["id"]
            and all(isinstance(part, str) for part in item["id"])
            and isinstance(item.get("kwargs"), dict)
        ):
            return None
    return data


def _split_at(messages: list[dict[str, Any]], index: int) -> SplitPrompt:
    message = messages[index]
    kwargs = message["kwargs"]
    content = kwargs.get("content", "")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
        new_content: Any = TEXT_MARKER
    elif isinstance(content, list):
        new_content = []
        for block in content:
            if isinstance(block, str):
                texts.append(block)
                new_content.append(TEXT_MARKER)
            elif (
                isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
            ):
                texts.append(block["text"])
                new_content.append({**block, "text": TEXT_MARKER})
            else:
                new_content.append(block)  # images, files, tool results: part of the context, never embedded
    else:
        return SplitPrompt(NO_TEXT_MARKER, _canonical(messages))
    text = "\n".join(texts)
    if not text.strip():
        return SplitPrompt(NO_TEXT_MARKER, _canonical(messages))
    replaced = {**message, "kwargs": {**kwargs, "content": new_content}}
    return SplitPrompt(text, _canonical([*messages[:index], replaced, *messages[index + 1 :]]))


def _canonical(value: object) -> str:
    # Key order and whitespace carry no meaning; a context must not differ because of them.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
