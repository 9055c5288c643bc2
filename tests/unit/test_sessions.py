"""The session tier on memory and SQLite, sync and async: windows, archive, re-hydration, idle migration,
retention, hostile ids, crash safety, smart_context and concurrency."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lix_integrations import Engine, InvalidIdError, InvalidInputError
from lix_integrations.archive import ArchiveCorruptError, read_archive
from lix_integrations.config import ConfigError
from lix_integrations.kernel.ops import ListDelete, ListInfo, ListStatus
from lix_integrations.testing import FakeClock, FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig, session_key

WINDOW = 4
BATCH = 3


def msg(i: int, who: str = "w") -> dict[str, Any]:
    return {"role": "user" if i % 2 == 0 else "assistant", "content": f"{who} message {i}"}


class Driver:
    """The same calls through ``engine.sessions`` (sync) or ``engine.aio.sessions`` (async)."""

    def __init__(self, engine: Engine, mode: str, clock: FakeClock) -> None:
        self.engine = engine
        self.mode = mode
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        if self.mode == "sync":
            return getattr(self.engine.sessions, name)
        method = getattr(self.engine.aio.sessions, name)
        return lambda *a, **k: asyncio.run(method(*a, **k))

    @property
    def archive_dir(self) -> Path:
        return self.engine.sessions.archive_dir

    def status(self, session_id: str) -> ListStatus | None:
        return self.engine._core.backend.execute(ListInfo("default", session_key(session_id)))  # type: ignore[no-any-return]

    def lose_hot(self, session_id: str) -> None:
        """What a Redis restart does: the store forgets the session, the archive on disk stays."""
        self.engine._core.backend.execute(ListDelete("default", session_key(session_id)))


@pytest.fixture(params=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://sessions-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path / 'sessions.db'}"


@pytest.fixture(params=["sync", "async"])
def sessions(request: pytest.FixtureRequest, store_url: str, tmp_path: Path) -> Iterator[Driver]:
    clock = FakeClock()
    config = SessionConfig(
        hot_window=WINDOW,
        archive_batch=BATCH,
        idle_after=3600,
        retention_days=10,
        archive_dir=str(tmp_path / "archive"),
    )
    engine = Engine(store_url, embedder=FakeEmbedder(), clock=clock, sessions=config)
    yield Driver(engine, str(request.param), clock)
    engine.close()


def test_window_archive_and_full_history(sessions: Driver) -> None:
    for i in range(20):
        sessions.add_message("s", msg(i))
    assert sessions.get_context("s") == [msg(i) for i in range(16, 20)]
    assert sessions.get_context("s", 6) == [msg(i) for i in range(14, 20)]
    assert sessions.get_full_history("s") == [msg(i) for i in range(20)]
    assert sessions.count("s") == 20
    status = sessions.status("s")
    assert status is not None and status.length < WINDOW + BATCH and status.archived_through > 0
    contents = read_archive(sessions.archive_dir / "s.lxa", strict=True)
    assert contents is not None and contents.meta.last_seq == status.archived_through


def test_batch_add_keeps_order_and_returns_seqs(sessions: Driver) -> None:
    seqs = sessions.add_messages("s", [msg(i) for i in range(10)])
    assert seqs == list(range(1, 11))
    assert sessions.add_messages("s", []) == []
    assert sessions.get_full_history("s") == [msg(i) for i in range(10)]


def test_empty_session(sessions: Driver) -> None:
    assert sessions.get_context("nobody") == []
    assert sessions.get_full_history("nobody") == []
    assert sessions.delete_session("nobody") is False
    assert sessions.delete_message("nobody", 0) is None


def test_rehydrates_after_the_store_lost_the_session(sessions: Driver) -> None:
    for i in range(12):
        sessions.add_message("s", msg(i))
    sessions.lose_hot("s")
    # Only what was archived survives a lost store; it comes back, in order, with its seqs.
    archived = sessions.get_full_history("s")
    assert archived == [msg(i) for i in range(len(archived))] and archived
    assert sessions.get_context("s") == archived[-WINDOW:]
    status = sessions.status("s")
    assert status is not None and status.length == WINDOW
    sessions.add_message("s", msg(99))
    history = sessions.get_full_history("s")
    assert history == [*archived, msg(99)]  # no duplicate, nothing lost, no seq reused


def test_append_after_a_lost_store_never_reuses_archived_seqs(sessions: Driver) -> None:
    for i in range(12):
        sessions.add_message("s", msg(i))
    archived = (
        len(sessions.get_full_history("s")) - (sessions.status("s") or ListStatus(0, 0, 0, 0, 0, 0, 0)).length
    )
    sessions.lose_hot("s")
    sessions.add_messages("s", [msg(50), msg(51)])  # first touch after the loss is a write
    history = sessions.get_full_history("s")
    assert history[:archived] == [msg(i) for i in range(archived)]
    assert history[archived:] == [msg(50), msg(51)]


def test_idle_migration_moves_everything_and_reads_bring_it_back(sessions: Driver) -> None:
    for i in range(6):
        sessions.add_message("idle", msg(i))
    sessions.add_message("busy", msg(0))
    sessions.clock.advance(3000)
    sessions.add_message("busy", msg(1))
    sessions.clock.advance(1000)  # idle: 4000 s > 3600; busy: 1000 s
    assert sessions.migrate_idle() == 1
    status = sessions.status("idle")
    assert status is not None and status.length == 0
    assert (sessions.status("busy") or ListStatus(0, 0, 0, 0, 0, 0, 0)).length == 2
    assert sessions.list_sessions() == ["busy", "idle"]
    assert sessions.get_context("idle") == [msg(i) for i in range(2, 6)]
    assert sessions.get_full_history("idle") == [msg(i) for i in range(6)]
    assert sessions.migrate_idle() == 0  # nothing idle now


def test_cleanup_expired_deletes_only_old_sessions(sessions: Driver) -> None:
    for i in range(10):
        sessions.add_message("old", msg(i))
    sessions.add_message("old-hot-only", msg(0))
    sessions.clock.advance(11 * 86400)
    sessions.add_message("new", msg(0))
    assert sessions.cleanup_expired() == 2
    assert sessions.list_sessions() == ["new"]
    assert sessions.get_full_history("old") == []
    assert not (sessions.archive_dir / "old.lxa").exists()
    assert sessions.get_full_history("new") == [msg(0)]


def test_delete_session_removes_store_and_archive(sessions: Driver) -> None:
    for i in range(10):
        sessions.add_message("s", msg(i))
    sessions.add_message("other", msg(0))
    assert sessions.delete_session("s") is True
    assert sessions.get_full_history("s") == []
    assert sessions.status("s") is None
    assert not (sessions.archive_dir / "s.lxa").exists()
    assert sessions.list_sessions() == ["other"]
    sessions.add_message("s", msg(7))
    assert sessions.get_full_history("s") == [msg(7)]


def test_set_messages_replaces_archive_too(sessions: Driver) -> None:
    for i in range(12):
        sessions.add_message("s", msg(i))
    sessions.set_messages("s", [msg(100), msg(101)])
    assert sessions.get_full_history("s") == [msg(100), msg(101)]
    sessions.set_messages("s", [msg(i, "n") for i in range(10)])
    assert sessions.get_full_history("s") == [msg(i, "n") for i in range(10)]
    assert sessions.get_context("s") == [msg(i, "n") for i in range(6, 10)]
    sessions.set_messages("s", [])
    assert sessions.get_full_history("s") == []


def test_delete_message_in_store_and_in_archive_keeps_order(sessions: Driver) -> None:
    for i in range(12):
        sessions.add_message("s", msg(i))
    assert sessions.delete_message("s", 1) == msg(1)  # archived
    assert sessions.delete_message("s", -1) == msg(11)  # hot
    assert sessions.delete_message("s", 50) is None
    assert sessions.delete_message("s", -50) is None
    expected = [msg(i) for i in range(12) if i not in (1, 11)]
    assert sessions.get_full_history("s") == expected
    for i in range(12, 16):
        sessions.add_message("s", msg(i))
    assert sessions.get_full_history("s") == [*expected, *[msg(i) for i in range(12, 16)]]


def test_list_sessions_by_prefix_and_limit(sessions: Driver) -> None:
    for sid in ("alice", "alice:secret", "bob", "al", "*"):
        sessions.add_message(sid, msg(0, sid))
    assert sessions.list_sessions("alice") == ["alice", "alice:secret"]
    assert sessions.list_sessions("ali", limit=1) == ["alice"]
    assert sorted(sessions.list_sessions()) == sorted(["alice", "alice:secret", "bob", "al", "*"])
    assert sessions.list_sessions("*") == ["*"]
    assert sessions.list_sessions("zzz") == []


HOSTILE = [
    "../etc/passwd",
    "..",
    ".",
    "*",
    ":",
    "a:b",
    "\x00",
    "a\x00b",
    "/abs/path",
    "C:\\x",
    "Alice",
    "alice",
    "é" * 300,
]


def test_hostile_session_ids_stay_in_their_own_space(sessions: Driver, tmp_path: Path) -> None:
    for n, sid in enumerate(HOSTILE):
        for i in range(10):
            sessions.add_message(sid, msg(i, str(n)))
    for n, sid in enumerate(HOSTILE):
        assert sessions.get_full_history(sid) == [msg(i, str(n)) for i in range(10)]
    assert sorted(sessions.list_sessions()) == sorted(HOSTILE)
    files = [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to((tmp_path / "archive" / "default").resolve()) for p in files)
    assert not (tmp_path / "etc").exists()
    assert sessions.delete_session("*") is True
    assert sessions.get_full_history("alice") == [msg(i, "11") for i in range(10)]
    assert len(sessions.list_sessions()) == len(HOSTILE) - 1


@pytest.mark.parametrize("bad", ["", 5, None, "x" * 600, "\ud800"])
def test_bad_session_ids_are_refused(sessions: Driver, bad: object) -> None:
    with pytest.raises(InvalidIdError):
        sessions.add_message(bad, msg(0))


def test_bad_messages_are_refused_and_nothing_is_stored(sessions: Driver) -> None:
    with pytest.raises(InvalidInputError, match="message 1"):
        sessions.add_messages("s", [msg(0), {"x": object()}])
    with pytest.raises(InvalidInputError, match="message 0 must be a dict"):
        sessions.add_messages("s", ["text"])
    with pytest.raises(InvalidInputError):
        sessions.add_messages("s", {"role": "user"})
    with pytest.raises(InvalidInputError):
        sessions.add_messages("s", [{"x": float("nan")}])
    assert sessions.get_full_history("s") == []


def test_crash_between_archive_write_and_trim_duplicates_nothing(sessions: Driver) -> None:
    for i in range(6):
        sessions.add_message("s", msg(i))
    tier = sessions.engine._core.sessions
    from lix_integrations.kernel.ops import ListRange

    hot = sessions.engine._core.backend.execute(ListRange("default", "s"))
    tier.archive.append("s", hot[:3], sessions.clock.now(), 0)  # archived, then "crash": never trimmed
    assert sessions.get_full_history("s") == [msg(i) for i in range(6)]
    sessions.add_message("s", msg(6))  # the next spill skips what the archive already holds
    assert sessions.get_full_history("s") == [msg(i) for i in range(7)]
    contents = read_archive(sessions.archive_dir / "s.lxa", strict=True)
    assert contents is not None
    seqs = [s for s, _ in contents.items]
    assert seqs == sorted(set(seqs))


def test_torn_append_is_ignored_and_cut_off(sessions: Driver) -> None:
    for i in range(7):
        sessions.add_message("s", msg(i))
    path = sessions.archive_dir / "s.lxa"
    good = path.read_bytes()
    with open(path, "ab") as f:  # an append the crash interrupted: a partial frame header
        f.write(b"LXFR\x10\x00\x00")
    assert sessions.get_full_history("s") == [msg(i) for i in range(7)]
    for i in range(7, 14):
        sessions.add_message("s", msg(i))
    assert sessions.get_full_history("s") == [msg(i) for i in range(14)]
    contents = read_archive(path, strict=True)
    assert contents is not None and path.read_bytes().startswith(good)


def test_truncated_archive_raises_naming_the_file(sessions: Driver) -> None:
    for i in range(14):
        sessions.add_message("s", msg(i))
        sessions.add_message("other", msg(i))
    path = sessions.archive_dir / "s.lxa"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(ArchiveCorruptError) as info:
        sessions.get_full_history("s")
    assert str(path) in str(info.value)
    assert sessions.get_full_history("other") == [msg(i) for i in range(14)]


def test_corrupt_frame_raises_naming_the_file(sessions: Driver) -> None:
    for i in range(8):
        sessions.add_message("s", msg(i))
    path = sessions.archive_dir / "s.lxa"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveCorruptError, match="checksum") as info:
        sessions.get_full_history("s")
    assert info.value.path == str(path)


def test_smart_context_recent_plus_relevant_without_duplicates(sessions: Driver) -> None:
    topics = ["weather in paris", "python generators", "chocolate cake recipe", "football scores"]
    for i in range(16):
        sessions.add_message("s", {"role": "user", "content": f"tell me about {topics[i % 4]} number {i}"})
    ctx = sessions.smart_context("s", "a recipe for chocolate cake", k_recent=3, k_relevant=2)
    assert [m["content"] for m in ctx.recent] == [
        f"tell me about {topics[i % 4]} number {i}" for i in range(13, 16)
    ]
    assert len(ctx.relevant) == 2
    assert all("chocolate" in r.message["content"] for r in ctx.relevant)
    assert [r.position for r in ctx.relevant] == sorted(r.position for r in ctx.relevant)
    assert not {r.position for r in ctx.relevant} & {13, 14, 15}
    assert ctx.messages()[-3:] == ctx.recent
    assert sessions.smart_context("s", "x", k_recent=100, k_relevant=5).relevant == []


def test_concurrent_threads_on_one_session(store_url: str, tmp_path: Path) -> None:
    config = SessionConfig(hot_window=5, archive_batch=3, archive_dir=str(tmp_path / "archive"))
    engine = Engine(store_url, embedder=FakeEmbedder(), sessions=config)
    try:

        def writer(w: int) -> None:
            for i in range(40):
                engine.sessions.add_message("shared", {"w": w, "i": i})

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        history = engine.sessions.get_full_history("shared")
        assert len(history) == 320
        for w in range(8):
            assert [m["i"] for m in history if m["w"] == w] == list(range(40))
    finally:
        engine.close()


async def test_concurrent_tasks_on_one_session(store_url: str, tmp_path: Path) -> None:
    config = SessionConfig(hot_window=5, archive_batch=3, archive_dir=str(tmp_path / "archive"))
    engine = Engine(store_url, embedder=FakeEmbedder(), sessions=config).aio
    try:

        async def writer(w: int) -> None:
            for i in range(25):
                await engine.sessions.add_message("shared", {"w": w, "i": i})

        await asyncio.gather(*(writer(w) for w in range(8)))
        history = await engine.sessions.get_full_history("shared")
        assert len(history) == 200
        for w in range(8):
            assert [m["i"] for m in history if m["w"] == w] == list(range(25))
    finally:
        await engine.aclose()


def _process_writer(url: str, archive_dir: str, w: int, count: int) -> None:
    config = SessionConfig(hot_window=5, archive_batch=3, archive_dir=archive_dir)
    engine = Engine(url, embedder=FakeEmbedder(), sessions=config)
    try:
        for i in range(count):
            engine.sessions.add_message("shared", {"w": w, "i": i, "pid": os.getpid()})
    finally:
        engine.close()


def test_two_processes_and_threads_on_one_session(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    archive_dir = str(tmp_path / "archive")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(url, archive_dir, w, 60)) for w in (100, 101)]
    for p in procs:
        p.start()
    threads = [threading.Thread(target=_process_writer, args=(url, archive_dir, w, 30)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    config = SessionConfig(hot_window=5, archive_batch=3, archive_dir=archive_dir)
    engine = Engine(url, embedder=FakeEmbedder(), sessions=config)
    try:
        history = engine.sessions.get_full_history("shared")
        assert len(history) == 2 * 60 + 4 * 30
        for w, count in [(100, 60), (101, 60), (0, 30), (1, 30), (2, 30), (3, 30)]:
            assert [m["i"] for m in history if m["w"] == w] == list(range(count))
        contents = read_archive(Path(archive_dir) / "default" / "shared.lxa", strict=True)
        assert contents is not None
        seqs = [s for s, _ in contents.items]
        assert seqs == sorted(set(seqs))  # no range archived twice
    finally:
        engine.close()


def test_two_engines_on_one_memory_store_share_sessions(tmp_path: Path) -> None:
    url = f"memory://shared-{uuid.uuid4().hex}"
    a = Engine(url, embedder=FakeEmbedder())
    b = Engine(url, embedder=FakeEmbedder())
    for i in range(45):
        a.sessions.add_message("s", msg(i))
    assert b.sessions.get_full_history("s") == [msg(i) for i in range(45)]
    assert a.sessions.archive_dir == b.sessions.archive_dir


def test_default_archive_dir_is_next_to_the_sqlite_file(tmp_path: Path) -> None:
    engine = Engine(f"sqlite:///{tmp_path / 'c.db'}", embedder=FakeEmbedder())
    assert engine.sessions.archive_dir == tmp_path / "c.db.sessions" / "default"
    engine.close()


def test_stats(sessions: Driver) -> None:
    for i in range(10):
        sessions.add_message("s", msg(i))
    stats = sessions.engine.stats().sessions
    assert stats is not None and stats.appended == 10 and stats.spills >= 1
    assert sessions.engine.stats().to_dict()["sessions"]["appended"] == 10


@pytest.mark.parametrize(
    "options",
    [
        {"hot_window": 0},
        {"archive_batch": -1},
        {"idle_after": 0},
        {"retention_days": float("inf")},
        {"codec": "lz4"},
    ],
)
def test_config_is_validated(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SessionConfig(**options)


@pytest.mark.parametrize("codec", ["zstd-dict", "zstd", "zlib", "raw"])
def test_every_codec_round_trips(codec: str, tmp_path: Path) -> None:
    config = SessionConfig(hot_window=2, archive_batch=2, codec=codec, archive_dir=str(tmp_path))
    engine = Engine("memory://", embedder=FakeEmbedder(), sessions=config)
    messages = [{"role": "user", "content": "héllo ✓ " * i, "n": i} for i in range(11)]
    engine.sessions.add_messages("s", messages[:5])
    for m in messages[5:]:
        engine.sessions.add_message("s", m)
    assert engine.sessions.get_full_history("s") == messages


def test_full_history_opens_the_archive_only_when_it_may_hold_messages(
    sessions: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    tier = sessions.engine._core.sessions
    reads: list[str] = []
    original = tier.archive.read
    monkeypatch.setattr(tier.archive, "read", lambda sid: (reads.append(sid), original(sid))[1])
    sessions.add_messages("short", [msg(0), msg(1)])  # within the hot window: never archived
    assert sessions.get_full_history("short") == [msg(0), msg(1)]
    assert reads == []
    for i in range(WINDOW + BATCH):  # spills: the archive holds the oldest messages now
        sessions.add_message("long", msg(i))
    assert sessions.get_full_history("long") == [msg(i) for i in range(WINDOW + BATCH)]
    assert reads == ["long"]
    sessions.delete_message("short", 0)
    reads.clear()
    assert sessions.get_full_history("short") == [msg(1)]
    assert reads == ["short"]  # the list no longer starts at its base: the archive is consulted
