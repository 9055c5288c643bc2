"""The session tier's in-process window cache on Redis: every read checks the list's version stamp.

A process remembers the hot items (and a codec's objects) of sessions it read or wrote; these tests make sure no
change by another client, nor a key Redis lost, is ever hidden by it, and that readers get copies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_index.core.llms import ChatMessage, MessageRole
from redis import Redis, RedisCluster

from lix_integrations import Engine
from lix_integrations.backends import open_backend
from lix_integrations.kernel.list_ops import ListAppend, ListInfo, ListRange, ListSnapshot
from lix_integrations.llama_index._messages import CHAT_MESSAGES
from lix_integrations.llama_index.chat_store import LixChatStore
from lix_integrations.tiers.sessions import SessionConfig

from .conftest import with_prefix


@pytest.fixture(params=["plain", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    name = "redis_plain_url" if request.param == "plain" else "redis_cluster_url"
    return with_prefix(request.getfixturevalue(name))


@pytest.fixture
def two(url: str, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two engines (two processes, as far as the store can tell) sharing one store and archive directory."""
    config = SessionConfig(archive_dir=str(tmp_path / "archive"))
    a, b = Engine(url, sessions=config), Engine(url, sessions=config)
    yield a, b
    a.close()
    b.close()


def _msg(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.USER, content=text)


def _texts(messages: list[ChatMessage]) -> list[str | None]:
    return [m.content for m in messages]


def test_appends_by_another_client_are_seen(two: tuple[Engine, Engine]) -> None:
    a, b = two
    a.sessions.add_messages("s", [_msg("one")], codec=CHAT_MESSAGES)
    assert _texts(a.sessions.get_full_history("s", codec=CHAT_MESSAGES)) == ["one"]  # a remembers it now
    b.sessions.add_messages("s", [_msg("two")], codec=CHAT_MESSAGES)
    assert _texts(a.sessions.get_full_history("s", codec=CHAT_MESSAGES)) == ["one", "two"]
    a.sessions.add_messages("s", [_msg("three")], codec=CHAT_MESSAGES)  # a's window was stale: not extended
    assert _texts(a.sessions.get_context("s", 2, codec=CHAT_MESSAGES)) == ["two", "three"]
    assert [m["blocks"][0]["text"] for m in b.sessions.get_full_history("s")] == ["one", "two", "three"]


def test_deletes_and_replaces_by_another_client_are_seen(two: tuple[Engine, Engine]) -> None:
    a, b = two
    a.sessions.add_messages("s", [_msg("one"), _msg("two"), _msg("three")], codec=CHAT_MESSAGES)
    assert len(a.sessions.get_full_history("s", codec=CHAT_MESSAGES)) == 3
    b.sessions.delete_message("s", 1)
    assert _texts(a.sessions.get_full_history("s", codec=CHAT_MESSAGES)) == ["one", "three"]
    b.sessions.set_messages("s", [_msg("new").model_dump(mode="json")])
    assert _texts(a.sessions.get_full_history("s", codec=CHAT_MESSAGES)) == ["new"]
    b.sessions.delete_session("s")
    assert a.sessions.get_full_history("s", codec=CHAT_MESSAGES) == []


def test_readers_get_copies(two: tuple[Engine, Engine]) -> None:
    a, _ = two
    sent = _msg("original")
    a.sessions.add_messages("s", [sent], codec=CHAT_MESSAGES)
    sent.content = "changed by the caller after sending"
    first = a.sessions.get_full_history("s", codec=CHAT_MESSAGES)
    first[0].content = "changed by a reader"
    first[0].additional_kwargs["k"] = "v"
    again = a.sessions.get_full_history("s", codec=CHAT_MESSAGES)
    again[0].blocks[0].text = "changed in place"  # type: ignore[union-attr]
    assert _texts(a.sessions.get_full_history("s", codec=CHAT_MESSAGES)) == ["original"]
    assert a.sessions.get_full_history("s", codec=CHAT_MESSAGES)[0].additional_kwargs == {}


def test_a_lost_values_key_is_reported_not_served_from_memory(
    two: tuple[Engine, Engine], url: str, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = two
    a.sessions.add_messages("s", [_msg("one"), _msg("two")], codec=CHAT_MESSAGES)
    assert len(a.sessions.get_full_history("s", codec=CHAT_MESSAGES)) == 2
    base = url.split("?")[0]
    prefix = url.split("prefix=")[1].split("&")[0]
    client: Redis | RedisCluster
    if base.startswith("redis+cluster://"):
        client = RedisCluster.from_url(base.replace("redis+cluster://", "redis://"))
        keys = client.scan_iter(match=f"{prefix}:*/s}}:vals", target_nodes=RedisCluster.ALL_NODES)
    else:
        client = Redis.from_url(base)
        keys = client.scan_iter(match=f"{prefix}:*/s}}:vals")
    (vals,) = list(keys)
    client.delete(vals)  # Redis dropped the values (eviction), the seqs and the status stay
    with caplog.at_level("WARNING"):
        assert a.sessions.get_full_history("s", codec=CHAT_MESSAGES) == []
    assert "lost 2 messages" in caplog.text
    assert a.stats().sessions.lost_messages == 2
    client.close()


def test_llama_index_store_round_trips_through_the_cache(url: str, tmp_path: Path) -> None:
    engine = Engine(url, sessions=SessionConfig(archive_dir=str(tmp_path), hot_window=3, archive_batch=2))
    store = LixChatStore(engine=engine)
    sent = [_msg(f"m{i}") for i in range(9)]  # spills to the archive twice on the way
    for m in sent:
        store.add_message("k", m)
    assert store.get_messages("k") == sent
    assert store.get_messages("k") == sent  # the second read answers from the window, unchanged
    assert store.delete_message("k", 0) == sent[0]
    assert store.get_messages("k") == sent[1:]
    engine.close()


def test_cache_can_be_turned_off(url: str, tmp_path: Path) -> None:
    engine = Engine(url, sessions=SessionConfig(archive_dir=str(tmp_path), cache_messages=0))
    engine.sessions.add_messages("s", [_msg("one")], codec=CHAT_MESSAGES)
    assert _texts(engine.sessions.get_full_history("s", codec=CHAT_MESSAGES)) == ["one"]
    engine.sessions.add_messages("s", [_msg("two")], codec=CHAT_MESSAGES)
    assert _texts(engine.sessions.get_full_history("s", codec=CHAT_MESSAGES)) == ["one", "two"]
    engine.close()


def _script_calls(raw: Redis) -> int:
    stats = raw.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))


def test_a_first_append_is_one_round_trip_and_continues_another_writers_seqs(
    redis_plain_url: str, tmp_path: Path
) -> None:
    """A session this process has not seen is appended to under its archive lock at once (created, or appended
    to when another client made it), not after a refused append: one script call either way."""
    url = with_prefix(redis_plain_url)
    config = SessionConfig(archive_dir=str(tmp_path))
    a, b = Engine(url, sessions=config), Engine(url, sessions=config)
    raw = Redis.from_url(redis_plain_url)
    try:
        for engine in (a, b):  # each engine's one-time checks (settings, eviction policy) out of the way
            engine.sessions.add_messages("warm-up", [{"m": 0}])
        raw.config_resetstat()
        assert a.sessions.add_messages("new", [{"m": 1}]) == [1]
        assert _script_calls(raw) == 1
        raw.config_resetstat()
        assert b.sessions.add_messages("new", [{"m": 2}]) == [2]  # unknown to b, made by a: seqs continue
        assert _script_calls(raw) == 1
        assert a.sessions.get_full_history("new") == [{"m": 1}, {"m": 2}]
        assert b.sessions.add_messages("new", [{"m": 3}]) == [3]
    finally:
        raw.close()
        a.close()
        b.close()


def test_every_append_reports_the_stamp_a_read_then_finds(redis_plain_url: str) -> None:
    """An append's stamps chain (its ``previous`` is the last one's ``version``) and a snapshot holding its
    ``version`` is told nothing changed: on the one-value path, the several-values path and after healing."""
    prefix = "t" + uuid.uuid4().hex[:16]
    backend = open_backend(with_prefix(redis_plain_url, prefix=prefix))
    raw = Redis.from_url(redis_plain_url)
    try:
        first = backend.execute(ListAppend("ns", "k", (b'{"m":0}',), 1.0, create=True))
        assert first.created and first.version and first.seqs == (1,) and first.length == 1
        assert backend.execute(ListSnapshot("ns", "k", first.version)).items is None
        last = first
        for values in [(b'{"m":1}',), (b'{"m":2}', b'{"m":3}'), (b'{"m":4}',)]:
            result = backend.execute(ListAppend("ns", "k", values, 2.0, create=False))
            assert result.previous == last.version and result.version != last.version
            assert backend.execute(ListSnapshot("ns", "k", result.version)).items is None
            last = result
        assert [seq for seq, _ in backend.execute(ListRange("ns", "k"))] == [1, 2, 3, 4, 5]
        (seqs_key,) = raw.keys(f"{prefix}:*:seqs")
        raw.delete(seqs_key)  # Redis dropped the seq index: the next append heals it first
        healed = backend.execute(ListAppend("ns", "k", (b'{"m":5}',), 3.0, create=False))
        assert healed.seqs == (6,) and healed.length == 6
        assert backend.execute(ListSnapshot("ns", "k", healed.version)).items is None
        assert [seq for seq, _ in backend.execute(ListRange("ns", "k"))] == [1, 2, 3, 4, 5, 6]
    finally:
        raw.close()
        backend.close()


def test_a_list_made_after_its_archive_continues_its_seqs_and_stamps(redis_plain_url: str) -> None:
    """A new list's first value (one script path) and the same with two values (the general path) start at
    ``min_seq``, record ``archived_through``, and report the stamp a read then finds."""
    prefix = "t" + uuid.uuid4().hex[:16]
    backend = open_backend(with_prefix(redis_plain_url, prefix=prefix))
    try:
        for key, values in (("one", (b'{"m":5}',)), ("two", (b'{"m":5}', b'{"m":6}'))):
            made = backend.execute(
                ListAppend("ns", key, values, 1.0, min_seq=5, create=True, archived_through=4)
            )
            assert made.created and made.seqs == tuple(range(5, 5 + len(values)))
            assert backend.execute(ListSnapshot("ns", key, made.version)).items is None
            status = backend.execute(ListInfo("ns", key))
            assert (status.next_seq, status.base_seq, status.archived_through) == (5 + len(values), 0, 4)
            later = backend.execute(ListAppend("ns", key, (b'{"m":9}',), 2.0, create=False))
            assert later.previous == made.version and later.seqs == (5 + len(values),)
    finally:
        backend.close()
