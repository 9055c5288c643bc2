"""The LlamaIndex message codec's remembered form (``keep``) and the new messages made of it (``thaw``).

The session tier remembers recent messages as ``keep`` returns them and hands every reader ``thaw`` of them, so a
thawed message must be the message read back from its stored JSON in every field (pydantic's fields set included:
what a reader in another process gets), belong to its reader alone, and a remembered text message must cost the
garbage collector nothing.
"""

from __future__ import annotations

import gc
import uuid
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock, ThinkingBlock

from lix_integrations import Engine
from lix_integrations.llama_index import LixChatStore
from lix_integrations.llama_index._messages import CHAT_MESSAGES

TEXT = ChatMessage(role=MessageRole.ASSISTANT, content="hello")


def _others() -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.USER, content="with kwargs", additional_kwargs={"k": [1, {"x": 2}]}),
        ChatMessage(
            role=MessageRole.USER,
            blocks=[TextBlock(text="look"), ImageBlock(url="https://example.com/a.png")],  # type: ignore[arg-type]
        ),
        ChatMessage(role=MessageRole.ASSISTANT, blocks=[ThinkingBlock(content="hmm"), TextBlock(text="yes")]),
        ChatMessage(role=MessageRole.TOOL, blocks=[TextBlock(text="a"), TextBlock(text="b")]),
    ]


def _same(thawed: ChatMessage, sent: ChatMessage) -> None:
    """``thawed`` is ``sent`` as a reader of its stored JSON gets it."""
    read = CHAT_MESSAGES.decode(CHAT_MESSAGES.encode(sent))
    assert thawed == sent == read
    assert thawed.__pydantic_fields_set__ == read.__pydantic_fields_set__
    for x, y in zip(thawed.blocks, read.blocks, strict=True):
        assert type(x) is type(y)
        assert x.__pydantic_fields_set__ == y.__pydantic_fields_set__
    assert thawed.model_dump(exclude_unset=True) == read.model_dump(exclude_unset=True)


@pytest.mark.parametrize(
    "message", [TEXT, ChatMessage.model_validate_json(TEXT.model_dump_json()), *_others()]
)
def test_thawed_messages_equal_the_kept_one_and_belong_to_their_reader(message: ChatMessage) -> None:
    read = CHAT_MESSAGES.decode(CHAT_MESSAGES.encode(message))
    for kept in (
        CHAT_MESSAGES.keep(read),
        CHAT_MESSAGES.encode_keep(message)[1],
    ):  # after a read; after a send
        first = CHAT_MESSAGES.thaw(kept)
        _same(first, message)
        first.additional_kwargs["changed"] = True
        first.blocks.append(TextBlock(text="appended by a reader"))
        first.role = MessageRole.SYSTEM
        second = CHAT_MESSAGES.thaw(kept)
        _same(second, message)
        assert second.blocks is not first.blocks


def test_a_window_thawed_at_once_is_its_messages_each_new() -> None:
    # A read thaws the whole window in one call: text and other messages mixed, each equal to its original and
    # none shared with another read's.
    window = [TEXT, *_others(), ChatMessage(role=MessageRole.USER, content="last")]
    kept = [CHAT_MESSAGES.encode_keep(m)[1] for m in window]
    first, second = CHAT_MESSAGES.thaw_all(kept), CHAT_MESSAGES.thaw_all(kept)
    assert len(first) == len(second) == len(window)
    for a, b, original in zip(first, second, window, strict=True):
        _same(a, original)
        _same(b, original)
        assert a is not b and a.blocks is not b.blocks and a.additional_kwargs is not b.additional_kwargs
        assert all(x is not y for x, y in zip(a.blocks, b.blocks, strict=True))


def test_changing_the_sent_message_does_not_change_what_was_kept() -> None:
    sent = ChatMessage(role=MessageRole.USER, content="original")
    kept = CHAT_MESSAGES.keep(sent)
    sent.blocks[0].text = "changed after sending"  # type: ignore[union-attr]
    assert CHAT_MESSAGES.thaw(kept).content == "original"


def test_a_kept_text_message_is_not_tracked_by_the_garbage_collector() -> None:
    """Thousands of remembered messages must not make every full collection longer (they cost 20 us an append
    when the cache held cloned ChatMessage objects)."""
    CHAT_MESSAGES.keep(ChatMessage(role=MessageRole.USER, content="the first of its shape"))
    gc.collect()  # the shared tuples of field names, made for the first message of a shape, are old by now
    kept = CHAT_MESSAGES.keep(ChatMessage(role=MessageRole.USER, content=f"text {uuid.uuid4()}"))
    gc.collect()
    assert not gc.is_tracked(kept)


def test_mixed_messages_round_trip_through_the_remembered_window() -> None:
    engine = Engine(f"memory://codec-{uuid.uuid4().hex}")
    store = LixChatStore(engine)
    sent = [TEXT, *_others()]
    for m in sent:
        store.add_message("k", m)
    for _ in range(2):  # the first read decodes and remembers, the second thaws what was remembered
        got = store.get_messages("k")
        assert [m.model_dump(mode="json") for m in got] == [m.model_dump(mode="json") for m in sent]
        got[0].blocks[0].text = "changed by a reader"  # type: ignore[union-attr]
    engine.close()


_AWKWARD = [
    "",
    "plain",
    'quotes " and \\ backslashes / slashes',
    "controls \n\r\t\b\f \x00 \x01 \x1f \x7f and line separators \u2028 \u2029",
    "unicode é 中文 😀 \ufeff",
    "".join(chr(c) for c in range(0, 0x3000, 7)),
]


@pytest.mark.parametrize("role", list(MessageRole))
@pytest.mark.parametrize("text", _AWKWARD)
def test_an_encoded_text_message_is_byte_for_byte_what_pydantic_writes(role: MessageRole, text: str) -> None:
    # encode_keep writes a text message's JSON itself (the append path); it must be what model_dump_json
    # writes, so stored data does not depend on which path wrote it.
    for message in (
        ChatMessage(role=role, content=text),
        ChatMessage(role=role, blocks=[TextBlock(text=text), TextBlock(text=text[::-1])]),
        ChatMessage(role=role, blocks=[]),
    ):
        raw, kept = CHAT_MESSAGES.encode_keep(message)
        assert type(kept) in (str, tuple)  # the text forms: one text block is a string (see `_shape`)
        assert raw == message.model_dump_json().encode("utf-8") == CHAT_MESSAGES.encode(message)
        assert CHAT_MESSAGES.decode(raw) == message


@pytest.mark.parametrize("message", [TEXT, *_others()], ids=lambda m: str(m)[:30])
def test_encode_keep_is_encode_and_keep(message: ChatMessage) -> None:
    raw, kept = CHAT_MESSAGES.encode_keep(message)
    assert raw == CHAT_MESSAGES.encode(message)
    _same(CHAT_MESSAGES.thaw(kept), message)


def test_a_lone_surrogate_is_encoded_as_before_and_read_back() -> None:
    message = ChatMessage(role=MessageRole.USER, content="broken \ud800 half")
    raw, kept = CHAT_MESSAGES.encode_keep(message)
    assert raw == CHAT_MESSAGES.encode(message)
    assert CHAT_MESSAGES.decode(raw).content == "broken \ud800 half"
    _same(CHAT_MESSAGES.thaw(kept), message)


def test_encode_keep_refuses_what_is_not_a_chat_message() -> None:
    with pytest.raises(TypeError, match="ChatMessage"):
        CHAT_MESSAGES.encode_keep({"role": "user", "content": "hi"})  # type: ignore[arg-type]


def test_a_batch_names_its_first_bad_message_and_stores_nothing(tmp_path: Any) -> None:
    from lix_integrations.errors import InvalidInputError
    from lix_integrations.tiers.sessions import SessionConfig

    config = SessionConfig(max_message_bytes=200, archive_dir=str(tmp_path))
    engine = Engine(f"memory://codec-{uuid.uuid4().hex}", sessions=config)
    try:
        big = ChatMessage(role=MessageRole.USER, content="x" * 500)
        with pytest.raises(InvalidInputError, match="message 0 is"):
            engine.sessions.add_messages("s", [big, "not a message"], codec=CHAT_MESSAGES)
        with pytest.raises(InvalidInputError, match="message 1 is"):
            engine.sessions.add_messages("s", [TEXT, big], codec=CHAT_MESSAGES)
        with pytest.raises(TypeError, match="ChatMessage"):
            engine.sessions.add_messages("s", [TEXT, "not a message", big], codec=CHAT_MESSAGES)
        assert engine.sessions.get_full_history("s") == []
        engine.sessions.add_messages("s", [TEXT, TEXT], codec=CHAT_MESSAGES)
        assert engine.sessions.get_full_history("s", codec=CHAT_MESSAGES) == [TEXT, TEXT]
    finally:
        engine.close()
