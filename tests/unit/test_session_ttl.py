"""Per-session TTL and ``len(history)`` (issue 21): a session with ``ttl=`` is forgotten once it went that long
without a write, each write refreshing it; checked with a fake clock on memory and SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from llama_index.core.llms import ChatMessage

from lix_integrations import Engine, InvalidInputError
from lix_integrations.langchain import LixChatMessageHistory
from lix_integrations.llama_index import LixChatStore
from lix_integrations.testing import FakeClock, FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'c.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(url: str, clock: FakeClock, tmp_path: Path) -> Engine:
    sessions = SessionConfig(hot_window=2, archive_batch=2, archive_dir=str(tmp_path / "archives"))
    return Engine(url, embedder=FakeEmbedder(), clock=clock, sessions=sessions)


def test_a_history_expires_ttl_seconds_after_its_last_write(engine: Engine, clock: FakeClock) -> None:
    history = LixChatMessageHistory("s1", engine, ttl=60)
    history.add_messages([HumanMessage("hi"), AIMessage("hello")])
    clock.advance(59)
    assert len(history) == 2
    history.add_messages([HumanMessage("still there?")])  # a write refreshes the TTL
    clock.advance(59)
    assert [m.content for m in history.messages] == ["hi", "hello", "still there?"]
    clock.advance(2)  # 61 s after the last write (reads do not refresh)
    assert history.messages == [] and len(history) == 0
    assert engine.stats().sessions.expired_sessions == 1  # type: ignore[union-attr]
    history.add_messages([HumanMessage("new start")])  # the session starts over
    assert [m.content for m in history.messages] == ["new start"]


def test_an_expired_session_loses_its_archive_too(engine: Engine, clock: FakeClock) -> None:
    history = LixChatMessageHistory("s2", engine, ttl=10)
    history.add_messages([HumanMessage(f"m{i}") for i in range(6)])  # past hot window + batch: archived
    assert len(history) == 6
    assert list(engine.sessions.archive_dir.glob("*.lxa"))  # some of it lives in the archive
    clock.advance(11)
    assert history.messages == []
    assert engine.sessions.get_full_history("s2") == []  # gone for readers without a TTL too
    # (the directory's owner record, which names the store, stays: see test_archive_owner)
    assert not [p for p in engine.sessions.archive_dir.glob("*.lxa") if p.stat().st_size]


def test_sessions_without_a_ttl_are_untouched(engine: Engine, clock: FakeClock) -> None:
    LixChatMessageHistory("short", engine, ttl=5).add_messages([HumanMessage("a")])
    forever = LixChatMessageHistory("long", engine)
    forever.add_messages([HumanMessage("b")])
    clock.advance(3600)
    assert len(forever) == 1 and len(LixChatMessageHistory("short", engine, ttl=5)) == 0


async def test_async_history_and_llama_index_store_take_a_ttl(engine: Engine, clock: FakeClock) -> None:
    history = LixChatMessageHistory("s3", engine.aio, ttl=30)
    await history.aadd_messages([HumanMessage("x")])
    store = LixChatStore(engine, ttl=30)
    store.add_message("k", ChatMessage(role="user", content="y"))
    await store.async_add_message("k2", ChatMessage(role="user", content="z"))
    clock.advance(29)
    assert len(await history.aget_messages()) == 1 and len(store.get_messages("k")) == 1
    clock.advance(2)
    assert await history.aget_messages() == []
    assert store.get_messages("k") == [] and await store.aget_messages("k2") == []


def test_engine_sessions_take_a_ttl(engine: Engine, clock: FakeClock) -> None:
    engine.sessions.add_messages("raw", [{"role": "user", "content": "q"}], ttl=1.5)
    assert engine.sessions.count("raw", ttl=1.5) == 1
    clock.advance(1.5)
    assert engine.sessions.get_context("raw", ttl=1.5) == []


@pytest.mark.parametrize("ttl", [0, -1, float("inf"), float("nan"), "60", True])
def test_a_bad_ttl_is_refused(engine: Engine, ttl: object) -> None:
    with pytest.raises(InvalidInputError, match="ttl must be a positive number of seconds"):
        LixChatMessageHistory("s", engine, ttl=ttl)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="ttl must be a positive number of seconds"):
        engine.sessions.add_messages("s", [{"role": "user", "content": "q"}], ttl=ttl)  # type: ignore[arg-type]
    assert engine.sessions.count("s") == 0  # nothing stored


def test_len_counts_the_whole_history(engine: Engine) -> None:
    history = LixChatMessageHistory("s4", engine)
    assert len(history) == 0
    history.add_messages([HumanMessage(f"m{i}") for i in range(7)])
    assert len(history) == 7 == len(history.messages)
