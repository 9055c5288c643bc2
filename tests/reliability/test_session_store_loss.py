"""Redis loses a session's keys (restart without persistence, FLUSHALL, a DEL of each key a session uses) while
4 threads append to 20 sessions whose older messages are archived, and to 4 sessions with nothing archived.

Guarantees checked (docs/reliability.md, "Sessions when the store loses keys"):

* every message acknowledged after the fault reads back exactly once, in each writer's order;
* every message archived before the fault reads back exactly once, in order;
* messages the store still held are kept (a lost status key, a lost seq index);
* messages truly lost (hot, not yet archived, on a server without persistence) are reported: a WARNING naming the
  session and ``stats().sessions.store_losses`` / ``lost_messages``; reads never raise a bare ``TypeError``.

Run with ``-s`` to print the figures of each fault.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from lix_integrations import AsyncEngine, Engine
from lix_integrations.backends.redis.keys import list_base
from lix_integrations.errors import BackendError
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.redis_servers import RedisServer, ServerUnavailable, start_plain
from lix_integrations.tiers.sessions import SessionConfig, session_key
from tests.integration.conftest import _unavailable, with_prefix

WRITERS = 4
ARCHIVED_SESSIONS = 20
SMALL_SESSIONS = 4
ROUNDS = 6  # messages each writer appends to each session after the fault
PRE = 30  # messages in each archived session before the fault (hot_window 4 + archive_batch 4: 24+ archived)
FAULTS = ["restart", "flushall", "del-meta", "del-seqs", "del-vals", "del-all"]
#: Faults after which the store still holds every hot message (nothing may be lost, nothing reported lost).
KEEPS_HOT = {"del-meta", "del-seqs"}


@pytest.fixture(scope="module")
def volatile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server without persistence (no RDB, no AOF): a restart loses everything."""
    try:
        server = start_plain(tmp_path_factory.mktemp("redis-volatile"))
    except ServerUnavailable as exc:
        _unavailable("redis-server", exc)
        raise
    yield server
    server.stop()


def _lose(fault: str, server: RedisServer, url: str, sessions: list[str]) -> None:
    client = redis.Redis.from_url(server.url)
    try:
        if fault == "restart":
            server.restart()
        elif fault == "flushall":
            client.flushall()
        else:
            prefix = parse_qs(urlsplit(url).query)["prefix"][0]
            parts = ["meta", "seqs", "vals"] if fault == "del-all" else [fault.removeprefix("del-")]
            for sid in sessions:
                base = list_base(prefix, "default", session_key(sid))
                client.delete(*(base + part for part in parts))
    finally:
        client.close()


def _measure(
    fault: str, server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> dict[str, Any]:
    url = with_prefix(server.url)
    config = SessionConfig(hot_window=4, archive_batch=4, archive_dir=str(tmp_path / "archive"))
    engine = Engine(url, embedder=FakeEmbedder(), sessions=config)
    archived = [f"arch-{n}" for n in range(ARCHIVED_SESSIONS)]
    small = [f"small-{n}" for n in range(SMALL_SESSIONS)]
    for sid in archived:
        for i in range(PRE):
            engine.sessions.add_message(sid, {"w": "pre", "i": i})
    for sid in small:
        for i in range(3):
            engine.sessions.add_message(sid, {"w": "pre", "i": i})
    tier = engine._core.sessions
    archived_through = {sid: (tier.archive.meta(sid).last_seq or 0) for sid in archived}
    assert all(n >= 20 for n in archived_through.values())

    _lose(fault, server, url, archived + small)
    # The pooled connection that sat through a restart fails once ("Connection closed by server": a separate
    # defect of issue 14, a read retry on a stale connection); this test is about what the store lost.
    for _ in range(3):
        try:
            engine.sessions.get_context("warm-up")
            break
        except BackendError:
            continue
    caplog.clear()
    engine.reset_stats()

    acked: dict[tuple[str, int], list[int]] = {
        (sid, w): [] for sid in archived + small for w in range(WRITERS)
    }
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        for i in range(ROUNDS):
            for sid in archived + small:
                try:
                    engine.sessions.add_message(sid, {"w": w, "i": i})
                except BaseException as exc:  # counted: no append may fail here
                    errors.append(exc)
                else:
                    acked[(sid, w)].append(i)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    lost_acked = duplicates = out_of_order = lost_archived = lost_hot = 0
    read_errors: list[BaseException] = []
    for sid in archived + small:
        try:
            history = engine.sessions.get_full_history(sid)
        except BaseException as exc:  # counted: a read must not raise
            read_errors.append(exc)
            continue
        seen = [(m["w"], m["i"]) for m in history]
        duplicates += len(seen) - len(set(seen))
        for w in range(WRITERS):
            mine = [i for who, i in seen if who == w]
            lost_acked += len(set(acked[(sid, w)]) - set(mine))
            out_of_order += mine != sorted(mine)
        pre = [i for who, i in seen if who == "pre"]
        out_of_order += pre != sorted(pre)
        cold = archived_through.get(sid, 0)
        lost_archived += len(set(range(cold)) - set(pre))
        lost_hot += len(set(range(cold, PRE if sid in archived_through else 3)) - set(pre))
    stats = engine.stats().to_dict()["sessions"]
    warned = {
        sid
        for sid in archived + small
        for record in caplog.records
        if record.levelno == logging.WARNING and repr(sid) in record.getMessage()
    }
    engine.close()
    return {
        "fault": fault,
        "acked": sum(len(v) for v in acked.values()),
        "append_errors": len(errors),
        "lost_acked": lost_acked,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "lost_archived": lost_archived,
        "lost_hot": lost_hot,
        "read_errors": [type(e).__name__ for e in read_errors][:3] + [f"({len(read_errors)} in all)"],
        "warned_archived_sessions": len(warned & set(archived)),
        "store_losses": stats.get("store_losses"),
        "lost_messages": stats.get("lost_messages"),
        "errors": errors[:3],
    }


@pytest.mark.parametrize("fault", FAULTS)
def test_store_loses_session_keys_under_four_writers(
    fault: str, volatile_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lix_integrations")
    found = _measure(fault, volatile_server, tmp_path, caplog)
    print(f"\nsession store loss: {found}")
    assert found["append_errors"] == 0, found["errors"]
    assert found["read_errors"] == ["(0 in all)"]
    assert found["lost_acked"] == 0
    assert found["duplicates"] == 0
    assert found["out_of_order"] == 0
    assert found["lost_archived"] == 0
    if fault in KEEPS_HOT:
        assert found["lost_hot"] == 0
    else:
        assert found["lost_hot"] > 0  # the fault really lost something (no persistence)
    if fault == "del-seqs":
        return  # the index is rebuilt from the values it indexes: nothing to report
    # Every archived session was damaged: each is named in a WARNING and counted.
    assert found["warned_archived_sessions"] == ARCHIVED_SESSIONS
    assert found["store_losses"] >= ARCHIVED_SESSIONS
    if fault == "del-vals":
        assert found["lost_messages"] == found["lost_hot"]  # exactly the messages whose values were lost


@pytest.mark.parametrize(
    ("policy", "maxmemory", "warns"),
    [("allkeys-lru", "100mb", True), ("noeviction", "100mb", False), ("volatile-lru", "100mb", False)],
)
def test_a_store_that_can_evict_sessions_is_named_once(
    policy: str, maxmemory: str, warns: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        server = start_plain(tmp_path, ["--maxmemory", maxmemory, "--maxmemory-policy", policy])
    except ServerUnavailable as exc:
        _unavailable("redis-server", exc)
        raise
    try:
        caplog.set_level(logging.WARNING, logger="lix_integrations")
        url = with_prefix(server.url)
        config = SessionConfig(archive_dir=str(tmp_path / "archive"))
        for _ in range(2):  # a second engine on the same URL in the same process: no second warning
            with Engine(url, embedder=FakeEmbedder(), sessions=config) as engine:
                engine.sessions.add_message("s", {"content": "hi"})
                engine.sessions.get_full_history("s")
        named = [
            r for r in caplog.records if "maxmemory-policy" in r.getMessage() and "evicts" in r.getMessage()
        ]
        assert len(named) == (1 if warns else 0)
        if warns:
            assert policy in named[0].getMessage() and "noeviction" in named[0].getMessage()
    finally:
        server.stop()


async def test_async_writers_after_flushall(volatile_server: RedisServer, tmp_path: Path) -> None:
    """The same guarantee for 4 asyncio tasks (the archive lock is polled, never blocking the loop)."""
    url = with_prefix(volatile_server.url)
    config = SessionConfig(hot_window=4, archive_batch=4, archive_dir=str(tmp_path / "archive"))
    engine = AsyncEngine(url, embedder=FakeEmbedder(), sessions=config)
    sessions = [f"arch-{n}" for n in range(ARCHIVED_SESSIONS)]
    try:
        for sid in sessions:
            await engine.sessions.add_messages(sid, [{"w": "pre", "i": i} for i in range(PRE)])
        tier = engine._core.sessions
        archived_through = {sid: tier.archive.meta(sid).last_seq or 0 for sid in sessions}
        _lose("flushall", volatile_server, url, sessions)

        async def writer(w: int) -> None:
            for i in range(ROUNDS):
                for sid in sessions:
                    await engine.sessions.add_message(sid, {"w": w, "i": i})

        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        for sid in sessions:
            seen = [(m["w"], m["i"]) for m in await engine.sessions.get_full_history(sid)]
            assert len(seen) == len(set(seen))
            for w in range(WRITERS):
                assert [i for who, i in seen if who == w] == list(range(ROUNDS))
            assert [i for who, i in seen if who == "pre"] == list(range(archived_through[sid]))
        assert engine.stats().sessions is not None
        assert engine.stats().sessions.store_losses == ARCHIVED_SESSIONS
    finally:
        await engine.aclose()
