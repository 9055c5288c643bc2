"""The LlamaIndex message codec: ``encode_keep`` writes what ``model_dump_json`` writes, and what it keeps thaws
into an equal, separate message, for one-text-block messages (its inline path) and every other shape."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock

from lix_integrations.llama_index._messages import CHAT_MESSAGES

MESSAGES = [
    ChatMessage(role="user", content="plain text"),
    ChatMessage(
        role=MessageRole.ASSISTANT, content='quotes " \\ backslash\nnewline\ttab \u2028 é 雪 \x00 \x1f'
    ),
    ChatMessage(role="tool", content=""),
    ChatMessage(role="system", blocks=[TextBlock(text="a"), TextBlock(text="b")]),
    ChatMessage(role="user", content="with kwargs", additional_kwargs={"tool_call_id": "x1"}),
    ChatMessage(role="user", blocks=[TextBlock(text="see"), ImageBlock(url="https://example.com/a.png")]),
    ChatMessage.model_construct(
        role=MessageRole.USER, additional_kwargs={}, blocks=[TextBlock(text="built")]
    ),
]


@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
def test_encode_keep_writes_the_pydantic_json_and_keeps_a_copy(message: ChatMessage) -> None:
    raw, kept = CHAT_MESSAGES.encode_keep(message)
    assert raw == message.model_dump_json().encode("utf-8")
    assert raw == CHAT_MESSAGES.encode(message)
    assert kept == CHAT_MESSAGES.keep(message) or type(kept) not in (str, tuple)
    thawed = CHAT_MESSAGES.thaw(kept)
    assert thawed == message and thawed is not message
    assert CHAT_MESSAGES.decode(raw) == message


def test_a_lone_surrogate_is_written_as_encode_writes_it() -> None:
    message = ChatMessage(role="user", content="bad \ud800 half")
    raw, kept = CHAT_MESSAGES.encode_keep(message)
    assert raw == CHAT_MESSAGES.encode(message)
    assert CHAT_MESSAGES.decode(raw).content == "bad \ud800 half"
    assert CHAT_MESSAGES.thaw(kept) == message


def test_not_a_chat_message_is_refused() -> None:
    with pytest.raises(TypeError, match="ChatMessage"):
        CHAT_MESSAGES.encode_keep({"role": "user", "content": "x"})  # type: ignore[arg-type]
