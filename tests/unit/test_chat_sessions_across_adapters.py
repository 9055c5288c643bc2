"""LangChain histories and LlamaIndex chat stores in one engine: apart, and each readable whoever wrote it.

* Issue 14: ``LixChatMessageHistory("llama_index/k")`` and ``LixChatStore`` key ``k`` were one session (and the
  LangChain messages read back through LlamaIndex with ``content=None``).
* Issue 15, trap 3: ``LixChatMessageHistory`` raised ``KeyError: 'type'`` on messages stored by other writers
  (``.huff`` imports, plain ``{"role", "content"}`` dicts, LlamaIndex dumps).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage
from llama_index.core.base.llms.types import ChatMessage as LIChatMessage
from llama_index.core.base.llms.types import ImageBlock, TextBlock

from lix_integrations import Engine
from lix_integrations.errors import InvalidIdError, SerializationError
from lix_integrations.langchain import LixChatMessageHistory
from lix_integrations.llama_index import LixChatStore
from lix_integrations.llama_index.chat_store import LixDBChatStore
from lix_integrations.testing import FakeEmbedder


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine(f"memory://{uuid.uuid4().hex}", embedder=FakeEmbedder()) as e:
        yield e


@pytest.mark.parametrize("key", ["k", "a/b", "llama_index/k", "langchain:k"])
def test_langchain_ids_never_reach_llama_index_keys(engine: Engine, key: str) -> None:
    store = LixChatStore(engine)
    for lc_id in (f"llama_index/{key}", f"llama_index{key}", key, f"langchain:llama_index/{key}"):
        LixChatMessageHistory(lc_id, engine).add_messages([HumanMessage(f"lc {lc_id}")])
    store.add_message(key, LIChatMessage(role="user", content="li"))
    assert [m.content for m in store.get_messages(key)] == ["li"]
    assert store.get_keys() == [key]
    for lc_id in (f"llama_index/{key}", f"llama_index{key}", key, f"langchain:llama_index/{key}"):
        assert [m.content for m in LixChatMessageHistory(lc_id, engine).messages] == [f"lc {lc_id}"]
    LixChatMessageHistory(f"llama_index/{key}", engine).clear()
    assert [m.content for m in store.get_messages(key)] == ["li"]


def test_escaped_ids_are_one_to_one(engine: Engine) -> None:
    ids = [
        "x",
        "langchain:x",
        "langchain:langchain:x",
        "llama_index/x",
        "langchain:llama_index/x",
        "llama_indexx",
    ]
    for sid in ids:
        LixChatMessageHistory(sid, engine).add_user_message(sid)
    for sid in ids:
        assert [m.content for m in LixChatMessageHistory(sid, engine).messages] == [sid]
    assert len(engine.sessions.list_sessions()) == len(ids)
    with pytest.raises(InvalidIdError, match="longer than 512"):
        LixChatMessageHistory("llama_index/" + "x" * 500, engine)


def test_llama_index_prefixes_must_start_with_llama_index(engine: Engine) -> None:
    with pytest.raises(ValueError, match="must start with 'llama_index'"):
        LixChatStore(engine, prefix="tenant-a/")
    with pytest.raises(ValueError, match="must start with 'llama_index'"):
        LixDBChatStore(engine, prefix="")
    LixChatStore(engine, prefix="llama_index/tenant-a/").add_message("k", LIChatMessage(content="ok"))


def test_langchain_reads_plain_role_content_dicts(engine: Engine) -> None:
    engine.sessions.add_messages(
        "plain",
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi", "timestamp": 1.0},
            {"role": "assistant", "content": "hello", "name": "bot"},
            {"role": "tool", "content": "42", "tool_call_id": "call-1"},
            {"role": "critic", "content": "fine"},
            {"role": "user"},
        ],
    )
    messages = LixChatMessageHistory("plain", engine).messages
    assert [type(m) for m in messages] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
        ChatMessage,
        HumanMessage,
    ]
    assert [m.content for m in messages] == ["be brief", "hi", "hello", "42", "fine", ""]
    assert messages[2].name == "bot"
    assert isinstance(messages[3], ToolMessage) and messages[3].tool_call_id == "call-1"
    assert isinstance(messages[4], ChatMessage) and messages[4].role == "critic"


def test_langchain_reads_llama_index_dumps(engine: Engine) -> None:
    image = ImageBlock(url="https://example.invalid/a.png")
    written = [
        LIChatMessage(role="user", content="question"),
        LIChatMessage(role="assistant", blocks=[TextBlock(text="part 1"), TextBlock(text="part 2")]),
        LIChatMessage(role="tool", content="42", additional_kwargs={"tool_call_id": "c1"}),
        LIChatMessage(role="user", blocks=[TextBlock(text="look"), image]),
    ]
    engine.sessions.add_messages("from-li", [m.model_dump(mode="json") for m in written])
    messages = LixChatMessageHistory("from-li", engine).messages
    assert [type(m) for m in messages] == [HumanMessage, AIMessage, ToolMessage, HumanMessage]
    assert [m.content for m in messages] == ["question", "part 1\npart 2", "42", "look"]
    assert messages[3].additional_kwargs["blocks"][0]["block_type"] == "image"  # kept, not dropped


def test_langchain_reads_a_huff_import(engine: Engine, tmp_path: Path) -> None:
    lix_open_cache = pytest.importorskip("lix_open_cache")
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(5)]
    lix_open_cache.ConversationArchive(str(tmp_path)).append_turns("old", turns)
    assert engine.sessions.import_huff("imported", tmp_path / "old.huff") == 5
    messages = LixChatMessageHistory("imported", engine).messages
    assert [(type(m), m.content) for m in messages] == [
        (HumanMessage if i % 2 == 0 else AIMessage, f"turn {i}") for i in range(5)
    ]


async def test_unreadable_messages_raise_a_clear_error(engine: Engine) -> None:
    engine.sessions.add_messages("bad", [{"role": "user", "content": "fine"}, {"text": "no role"}])
    history = LixChatMessageHistory("bad", engine)
    with pytest.raises(SerializationError, match=r"session 'bad': message 1 has neither .* \['text'\]"):
        _ = history.messages
    with pytest.raises(SerializationError, match="session 'bad': message 1"):
        await history.aget_messages()
    engine.sessions.add_messages("broken", [{"type": "human", "data": {"no": "content"}}])
    with pytest.raises(SerializationError, match="session 'broken': message 0 is not a valid LangChain"):
        _ = LixChatMessageHistory("broken", engine).messages
    engine.sessions.add_messages("role", [{"role": 3, "content": "x"}])
    with pytest.raises(SerializationError, match="session 'role': message 0"):
        LixChatMessageHistory("role", engine).get_context()
