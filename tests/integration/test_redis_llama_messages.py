"""A LlamaIndex message read in the process that wrote it is the message any other process reads.

The session tier remembers the recent messages of a session in the writing process (on Redis; SQLite and memory
stores read their own rows) and hands readers copies of what it remembered. It remembered the object the writer
sent: ``model_dump(exclude_unset=True)`` of a text message lacked ``additional_kwargs`` and ``block_type``, and a
tool call's pydantic model in ``additional_kwargs`` came back as that model here and as its dict everywhere else.
"""

from __future__ import annotations

from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock
from pydantic import BaseModel

from lix_integrations import Engine
from lix_integrations.llama_index import LixChatStore

from .conftest import with_prefix


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: str


def _sent() -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.USER, content="hi"),
        ChatMessage(role=MessageRole.TOOL, blocks=[TextBlock(text="a"), TextBlock(text="b")]),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            content="",
            additional_kwargs={
                "tool_calls": [ToolCall(id="c1", name="weather", arguments='{"city": "Oslo"}')]
            },
        ),
        ChatMessage(
            role=MessageRole.USER, content="pair", additional_kwargs={"pair": (1, 2), "raw": b"\x00\x01"}
        ),
        ChatMessage(
            role=MessageRole.USER,
            blocks=[TextBlock(text="look"), ImageBlock(url="https://example.com/a.png")],  # type: ignore[arg-type]
        ),
    ]


def test_a_message_read_where_it_was_written_is_the_one_another_process_reads(redis_plain_url: str) -> None:
    url = with_prefix(redis_plain_url)
    with Engine(url) as writer, Engine(url) as other:
        store = LixChatStore(writer)
        for message in _sent():
            store.add_message("k", message)
        here = [store.get_messages("k"), store.get_messages("k")]  # remembered when sent; then as read
        there = LixChatStore(other).get_messages("k")  # decoded from the store
    for got in here:
        assert got == there
        assert [m.model_dump(exclude_unset=True) for m in got] == [
            m.model_dump(exclude_unset=True) for m in there
        ]
        assert [m.model_dump_json() for m in got] == [m.model_dump_json() for m in there]
