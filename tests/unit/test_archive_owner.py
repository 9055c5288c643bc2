"""Two stores given one ``archive_dir`` never read or overwrite each other's archived sessions.

Archive files are named by session id alone: before the directory recorded its store, session ``s1`` of store B
read store A's archived messages of its ``s1`` as its own, and B's own spills went into A's file (B's first six
messages lost). A directory now records the store it belongs to (`archive.owner`), and another store is refused
with `ConfigError` before any of its sessions touches it; the same store keeps its archives when it is reached by
another path or URL, or lost its settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lix_integrations import AsyncEngine, Engine
from lix_integrations.archive.owner import OWNER_FILE
from lix_integrations.archive.store import SessionArchive
from lix_integrations.errors import ConfigError
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig


def _config(archive_dir: Path) -> SessionConfig:
    return SessionConfig(hot_window=2, archive_batch=2, archive_dir=str(archive_dir))


def _fill(engine: Engine, who: str, count: int = 8) -> None:
    for i in range(count):
        engine.sessions.add_message("s1", {"role": "user", "content": f"{who}{i}"})


def _contents(engine: Engine, session_id: str = "s1") -> list[str]:
    return [m["content"] for m in engine.sessions.get_full_history(session_id)]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_second_store_is_refused_before_it_reads_the_first_ones_archives(kind: str, tmp_path: Path) -> None:
    """Regression: on the code before the owner record, B's history of ``s1`` was A0..A5 then its own B6, B7."""
    archives = tmp_path / "archives"
    first, second = (
        (f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}")
        if kind == "sqlite"
        else (f"memory://owner-a-{tmp_path.name}", f"memory://owner-b-{tmp_path.name}")
    )
    with Engine(first, embedder=FakeEmbedder(), sessions=_config(archives)) as a:
        _fill(a, "A")
        assert list((archives / "default").glob("*.lxa"))  # A's session spilled into the shared directory
        with Engine(second, embedder=FakeEmbedder(), sessions=_config(archives)) as b:
            with pytest.raises(ConfigError, match="holds the archives of another store") as refused:
                b.sessions.add_message("s1", {"role": "user", "content": "B0"})
            assert str(archives / "default") in str(refused.value)
            with pytest.raises(ConfigError):
                b.sessions.get_full_history("s1")
        assert _contents(a) == [f"A{i}" for i in range(8)]  # nothing of A's was touched


@pytest.mark.parametrize("url", ["memory://", "sqlite:///:memory:"])
def test_stores_of_one_process_alone_are_told_apart_by_their_id(url: str, tmp_path: Path) -> None:
    """Two anonymous stores have the same URL and no address: each is its own store (review of 2857f58: both were
    let in by the URL, and each read and overwrote the other's archived messages)."""
    archives = tmp_path / "archives"
    with Engine(url, embedder=FakeEmbedder(), sessions=_config(archives)) as a:
        _fill(a, "A")
        with Engine(url, embedder=FakeEmbedder(), sessions=_config(archives)) as b:
            with pytest.raises(ConfigError, match="another store"):
                _fill(b, "B")
        assert _contents(a) == [f"A{i}" for i in range(8)]


def test_a_relative_sqlite_path_names_another_file_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sqlite:///chat.db`` from two directories is two files, with one URL (review of 2857f58)."""
    archives = tmp_path / "archives"
    for who in ("A", "B"):
        (tmp_path / who).mkdir()
    monkeypatch.chdir(tmp_path / "A")
    with Engine("sqlite:///chat.db", embedder=FakeEmbedder(), sessions=_config(archives)) as a:
        _fill(a, "A")
    monkeypatch.chdir(tmp_path / "B")
    with Engine("sqlite:///chat.db", embedder=FakeEmbedder(), sessions=_config(archives)) as b:
        with pytest.raises(ConfigError, match="another store"):
            _fill(b, "B")


def test_waiting_claims_hold_no_worker_thread(tmp_path: Path) -> None:
    """While another process holds the directory's owner lock, the first calls of more engines than the event
    loop's pool has threads wait for it in their flows, not in those threads: the pool stays free for other work
    (review of 2857f58: claims slept on the lock in all 6 worker threads, and an append that needed one to release
    the lock they waited for never ran). Fails on a claim that blocks in a worker thread (checked 2026-12-05)."""
    archives = tmp_path / "archives"
    owner = SessionArchive(archives / "default")
    held = owner.try_lock_owner()
    assert held is not None and held >= 0
    count = (os.cpu_count() or 1) + 6  # more than the default pool's min(32, cpus + 4) threads

    async def main() -> None:
        engines = [
            AsyncEngine(f"sqlite:///{tmp_path / 'a.db'}", embedder=FakeEmbedder(), sessions=_config(archives))
            for _ in range(count)
        ]
        first = asyncio.gather(*(engine.sessions.count("s") for engine in engines))
        try:
            await asyncio.sleep(0.2)
            assert await asyncio.wait_for(asyncio.to_thread(lambda: 42), 10) == 42  # a worker thread is free
            assert not first.done()  # the claims still wait for the lock
        finally:
            owner.unlock_owner(held)  # (so that a failure above does not leave threads waiting for ever)
        assert await asyncio.wait_for(first, 20) == [0] * count
        for engine in engines:
            await engine.aclose()

    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    runner = threading.Thread(target=run, daemon=True)  # a stuck loop fails the test instead of hanging it
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "the first calls waiting for the owner lock took every worker thread"
    if failures:
        raise failures[0]


def test_a_child_forked_during_a_claim_claims_on_its_own(tmp_path: Path) -> None:
    """Review of 366fb60: the mark of a claim in flight was copied into a child forked meanwhile, where no flow
    would ever clear it, and every session call of the child waited for it for ever."""
    engine = Engine(
        f"sqlite:///{tmp_path / 'a.db'}", embedder=FakeEmbedder(), sessions=_config(tmp_path / "arch")
    )
    owner = SessionArchive(engine.sessions.archive_dir)
    held = owner.try_lock_owner()  # another process claiming the directory right now
    assert held is not None
    first = threading.Thread(target=lambda: engine.sessions.count("a"), daemon=True)
    first.start()
    pid = 0
    try:
        deadline = time.monotonic() + 10
        while not engine._core.sessions._claiming and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine._core.sessions._claiming  # the first call waits for the owner lock
        pid = _in_child(lambda: engine.sessions.count("b") == 0)
        time.sleep(0.3)  # the child waits for the lock too, as a claim of its own
    finally:
        owner.unlock_owner(held)
    first.join(20)
    assert not first.is_alive()
    assert _exit_status(pid) == 0
    engine.close()


def _in_child(work: Callable[[], bool]) -> int:
    """Run ``work`` in a forked child (exit status 0 if it returned True; killed after 20 s if it hangs)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        status = 1
        try:
            signal.alarm(20)
            status = 0 if work() else 2
        finally:
            os._exit(status)
    return pid


def _exit_status(pid: int) -> int:
    deadline = time.monotonic() + 40
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the child never finished")
        time.sleep(0.02)
    return os.waitstatus_to_exitcode(done[1])


def test_a_child_forked_while_the_owner_lock_is_held_closes_its_copy(tmp_path: Path) -> None:
    """Review of 6cd95a1: a child forked during its parent's claim kept a copy of the owner lock's descriptor for
    its whole life; had the parent died in its claim, the lock would have stayed held by the child."""
    archive = SessionArchive(tmp_path / "arch" / "default")
    held = archive.try_lock_owner()
    assert held is not None and held >= 0

    def no_owner_lock() -> bool:
        fds = os.listdir("/proc/self/fd")
        return not any(os.path.realpath(f"/proc/self/fd/{fd}").endswith("owner.lock") for fd in fds)

    try:
        pid = _in_child(no_owner_lock)
    finally:
        archive.unlock_owner(held)
    assert _exit_status(pid) == 0


def test_a_named_memory_store_of_another_live_process_is_another_store(tmp_path: Path) -> None:
    """Review of 366fb60: a named memory store's address was its URL, so two running processes with their own
    ``memory://chat`` and one archive_dir were let in as one store. The address now names the process too."""
    archives = tmp_path / "archives"
    with Engine("memory://owner-chat", embedder=FakeEmbedder(), sessions=_config(archives)) as a:
        _fill(a, "A")
        script = (
            "from lix_integrations import Engine\n"
            "from lix_integrations.errors import ConfigError\n"
            "from lix_integrations.testing import FakeEmbedder\n"
            "from lix_integrations.tiers.sessions import SessionConfig\n"
            f"config = SessionConfig(hot_window=2, archive_batch=2, archive_dir={str(archives)!r})\n"
            "with Engine('memory://owner-chat', embedder=FakeEmbedder(), sessions=config) as b:\n"
            "    try:\n"
            "        b.sessions.get_full_history('s1')\n"
            "    except ConfigError:\n"
            "        print('refused')\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert done.stdout.strip() == "refused", done.stderr
        assert _contents(a) == [f"A{i}" for i in range(8)]


def test_a_relative_sqlite_path_stays_the_file_it_named_in_a_child_forked_after_a_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review of 366fb60 (older than the owner record): the backend kept the relative path, and a child forked
    after the process changed directory reopened ``chat.db`` there: an empty store, its session's messages
    reported lost, beside the first file's archives."""
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    monkeypatch.chdir(tmp_path / "A")
    with Engine("sqlite:///chat.db", embedder=FakeEmbedder(), sessions=_config(tmp_path / "arch")) as engine:
        monkeypatch.chdir(tmp_path / "B")
        _fill(engine, "A", 6)

        def child() -> bool:
            engine.sessions.add_message("s1", {"role": "user", "content": "child"})
            return _contents(engine) == [f"A{i}" for i in range(6)] + ["child"]

        assert _exit_status(_in_child(child)) == 0
    assert sorted(p.name for p in (tmp_path / "B").iterdir()) == []


def test_an_absolute_sqlite_path_opens_after_the_working_directory_was_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review of 256554b: joining every path to ``os.getcwd()`` made an absolute one fail once the process's
    working directory was deleted (a removed build or temporary directory)."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with Engine(f"sqlite:///{tmp_path / 'abs.db'}", embedder=FakeEmbedder()) as engine:
        engine.kv.put("k", {"v": 1}, "c")
    assert (tmp_path / "abs.db").exists()


def test_a_path_through_a_symlink_and_dotdot_is_the_file_sqlite_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review of 6cd95a1: made absolute by ``abspath``, ``link/../chat.db`` lost the symlink and named
    ``<cwd>/chat.db``, where SQLite (and every earlier version) opens ``chat.db`` beside the link's target."""
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "link").symlink_to(tmp_path / "real" / "sub")
    monkeypatch.chdir(tmp_path / "cwd")
    with Engine("sqlite:///link/../chat.db", embedder=FakeEmbedder()) as engine:
        engine.kv.put("k", {"v": 1}, "c")
    assert (tmp_path / "real" / "chat.db").exists()
    assert not (tmp_path / "cwd" / "chat.db").exists()


def test_a_directory_that_cannot_be_claimed_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A claim that fails on the file system (a read-only mount, no descriptors left) leaves the call working with a
    WARNING, and is tried again later rather than never (review of 366fb60)."""
    from lix_integrations.errors import BackendError
    from lix_integrations.tiers import session_base

    monkeypatch.setattr(session_base, "_CLAIM_RETRY", 0.0)
    failing = [True]
    real = SessionArchive.try_lock_owner

    def try_lock_owner(self: SessionArchive) -> int | None:
        if failing.pop() if failing else False:
            raise BackendError("cannot open the archive owner lock: [Errno 24] Too many open files")
        return real(self)

    monkeypatch.setattr(SessionArchive, "try_lock_owner", try_lock_owner)
    archives = tmp_path / "arch"
    with Engine(f"sqlite:///{tmp_path / 'a.db'}", embedder=FakeEmbedder(), sessions=_config(archives)) as a:
        with caplog.at_level("WARNING", logger="lix_integrations"):
            assert a.sessions.count("s1") == 0
        assert "not checked for another store" in caplog.text
        assert not (archives / "default" / OWNER_FILE).exists()
        assert a.sessions.count("s1") == 0  # tried again: claimed
        assert (archives / "default" / OWNER_FILE).exists()


def test_a_second_store_is_refused_on_the_awaitable_api_too(tmp_path: Path) -> None:
    archives = tmp_path / "archives"
    with Engine(f"sqlite:///{tmp_path / 'a.db'}", embedder=FakeEmbedder(), sessions=_config(archives)) as a:
        _fill(a, "A", 2)

    async def second() -> None:
        async with AsyncEngine(
            f"sqlite:///{tmp_path / 'b.db'}", embedder=FakeEmbedder(), sessions=_config(archives)
        ) as b:
            with pytest.raises(ConfigError, match="another store"):
                await b.sessions.get_full_history("s1")

    asyncio.run(second())


def test_the_same_store_reopened_and_moved_with_its_archives_keeps_them(tmp_path: Path) -> None:
    """Reopened, the store matches its id and its address; moved (file and archives together, so another path),
    its id. The owner record then names both addresses, and is never listed as a session."""
    home, moved = tmp_path / "home", tmp_path / "moved"
    home.mkdir()
    with Engine(
        f"sqlite:///{home / 'chat.db'}", embedder=FakeEmbedder(), sessions=_config(home / "arch")
    ) as a:
        _fill(a, "A")
    with Engine(
        f"sqlite:///{home / 'chat.db'}", embedder=FakeEmbedder(), sessions=_config(home / "arch")
    ) as a:
        assert _contents(a) == [f"A{i}" for i in range(8)]
        assert a.sessions.list_sessions() == ["s1"]
    shutil.move(str(home), str(moved))
    with Engine(
        f"sqlite:///{moved / 'chat.db'}", embedder=FakeEmbedder(), sessions=_config(moved / "arch")
    ) as a:
        _fill(a, "M", 4)
        assert _contents(a) == [f"A{i}" for i in range(8)] + [f"M{i}" for i in range(4)]
    record = json.loads((moved / "arch" / "default" / OWNER_FILE).read_text())
    assert len(record["ids"]) == 1 and len(record["addresses"]) == 2


def test_a_store_that_lost_its_settings_keeps_its_archives(tmp_path: Path) -> None:
    """A store whose settings were lost (Redis ``FLUSHALL``; here the row deleted) gets a new id: its address
    still names it, so its sessions go on after their archives instead of being refused."""
    db = tmp_path / "chat.db"
    with Engine(f"sqlite:///{db}", embedder=FakeEmbedder(), sessions=_config(tmp_path / "arch")) as a:
        _fill(a, "A")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM lix_settings WHERE field = 'store_id'")
    with Engine(f"sqlite:///{db}", embedder=FakeEmbedder(), sessions=_config(tmp_path / "arch")) as a:
        assert _contents(a) == [f"A{i}" for i in range(8)]
    record = json.loads((tmp_path / "arch" / "default" / OWNER_FILE).read_text())
    assert len(record["ids"]) == 2 and len(record["addresses"]) == 1


@pytest.mark.parametrize(
    "record", ["not json", '{"ids": "abc", "addresses": []}', '{"ids": [1], "addresses": []}']
)
def test_a_damaged_owner_record_is_named_and_nothing_is_written(record: str, tmp_path: Path) -> None:
    archives = tmp_path / "arch"
    (archives / "default").mkdir(parents=True)
    (archives / "default" / OWNER_FILE).write_text(record)
    with Engine(f"sqlite:///{tmp_path / 'a.db'}", embedder=FakeEmbedder(), sessions=_config(archives)) as a:
        with pytest.raises(ConfigError, match=OWNER_FILE):
            a.sessions.add_message("s1", {"role": "user", "content": "x"})
    assert (archives / "default" / OWNER_FILE).read_text() == record
    with Engine(f"sqlite:///{tmp_path / 'a.db'}", embedder=FakeEmbedder()) as elsewhere:  # its own directory
        assert elsewhere.sessions.count("s1") == 0  # the refused add stored nothing
