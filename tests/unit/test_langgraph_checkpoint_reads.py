"""The checkpointer's process-local shortcuts never change what a read returns: every read hands out its own
message objects, a message edited after a read is stored as edited, and a list that is not an extension of the
previous one is stored whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint

from lix_integrations.langgraph import LixCheckpointSaver

from .test_langgraph_checkpoint import _put, cfg


@pytest.fixture(params=["memory", "sqlite"])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    made = LixCheckpointSaver(
        url="memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'r.db'}"
    )
    yield made
    made.close()


def _messages(saver: LixCheckpointSaver, thread_id: str) -> list[Any]:
    return saver.get_tuple(cfg(thread_id)).checkpoint["channel_values"]["messages"]


def test_each_read_gets_its_own_messages(saver: LixCheckpointSaver) -> None:
    _put(saver, "own", None, [HumanMessage("a", id="1"), AIMessage("b", id="2")])
    first, second = _messages(saver, "own"), _messages(saver, "own")
    assert [m.content for m in first] == ["a", "b"]
    assert all(x is not y for x, y in zip(first, second))
    first[0].content = "changed by the caller"
    assert [m.content for m in _messages(saver, "own")] == ["a", "b"]


def test_a_message_edited_after_a_read_is_stored_as_edited(saver: LixCheckpointSaver) -> None:
    parent = _put(saver, "edit", None, [HumanMessage("a", id="1"), AIMessage("b", id="2")])
    messages = _messages(saver, "edit")
    messages[1].content = "b, edited"
    _put(saver, "edit", parent, [*messages, HumanMessage("c", id="3")])
    reopened = LixCheckpointSaver(saver._engine)  # a new saver: nothing remembered, read from the store
    assert [m.content for m in _messages(reopened, "edit")] == ["a", "b, edited", "c"]


def test_lists_that_shrink_or_change_order_are_stored_as_given(saver: LixCheckpointSaver) -> None:
    a, b, c = HumanMessage("a", id="1"), AIMessage("b", id="2"), HumanMessage("c", id="3")
    parent = _put(saver, "order", None, [a, b, c])
    parent = _put(saver, "order", parent, [c, a])
    assert [m.content for m in _messages(saver, "order")] == ["c", "a"]
    _put(saver, "order", parent, [c, a, b])
    reopened = LixCheckpointSaver(saver._engine)
    assert [m.content for m in _messages(reopened, "order")] == ["c", "a", "b"]


def test_a_read_follows_the_store_not_what_this_process_wrote_last(saver: LixCheckpointSaver) -> None:
    """The newest read sends along the reads of the checkpoint this process wrote last; it must still return what
    another process stored since: a newer checkpoint, or the same id written again with other values."""
    parent = _put(saver, "other", None, [HumanMessage("mine", id="1")])
    elsewhere = LixCheckpointSaver(saver._engine)  # another process: its own memory of the thread
    assert [m.content for m in _messages(elsewhere, "other")] == ["mine"]
    newer = _put(elsewhere, "other", parent, [HumanMessage("mine", id="1"), AIMessage("theirs", id="2")])
    assert [m.content for m in _messages(saver, "other")] == ["mine", "theirs"]
    assert saver.get_tuple(cfg("other")).config == newer
    checkpoint = empty_checkpoint()
    for writer, text, version in ((saver, "first", "1"), (elsewhere, "rewritten", "2")):
        checkpoint["channel_values"] = {"messages": [HumanMessage(text, id=version)]}
        checkpoint["channel_versions"] = {"messages": version}
        writer.put(cfg("same", checkpoint_ns=""), checkpoint, {"step": 0}, {"messages": version})
    assert [m.content for m in _messages(saver, "same")] == ["rewritten"]
