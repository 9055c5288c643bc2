"""Faults of the embedded store: a SQLite file locked by another process, a full disk under the session archive,
and ``kill -9`` of a writer in the middle of archive writes and SQLite transactions (50 times)."""

from __future__ import annotations

import errno
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

import lix_integrations.archive.format as archive_format
import lix_integrations.backends.sqlite as sqlite_backend
from lix_integrations import Engine
from lix_integrations.archive.format import read_archive, read_meta
from lix_integrations.errors import BackendError
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig

FIGURES: dict[str, dict[str, Any]] = {}

_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("CREATE TABLE IF NOT EXISTS holder_junk (x)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def _hold_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the database's write lock (``BEGIN EXCLUSIVE``) for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_sqlite_locked_longer_than_busy_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real timeout is 10 s; a shorter one keeps this test quick and exercises the same code path.
    monkeypatch.setattr(sqlite_backend, "_BUSY_TIMEOUT_S", 0.3)
    db = tmp_path / "x.db"
    engine = Engine(f"sqlite:///{db}", embedder=FakeEmbedder())
    engine.semantic.update("before", "llm", "A")
    engine.sessions.add_message("s", {"content": "m0"})
    engine.kv.put("k0", {"v": 0}, "c")

    holder = _hold_lock(db, 2.0)
    started = time.monotonic()
    engine.semantic.update("during", "llm", "B")  # a cache fails open: no exception, nothing stored
    assert engine.semantic.lookup("before", "llm") is not None  # WAL readers are not blocked
    with pytest.raises(BackendError) as info:
        engine.sessions.add_message("s", {"content": "refused"})
    assert "locked" in str(info.value) and str(db) in str(info.value)  # clear error naming the file
    with pytest.raises(BackendError):
        engine.kv.put("k1", {"v": 1}, "c")
    assert time.monotonic() - started < 2.0  # each write gave up after the busy timeout, it did not hang
    holder.wait(10)

    engine.sessions.add_message("s", {"content": "m1"})
    engine.semantic.update("after", "llm", "C")
    engine.kv.put("k1", {"v": 1}, "c")
    assert [m["content"] for m in engine.sessions.get_full_history("s")] == ["m0", "m1"]
    assert engine.semantic.lookup("after", "llm") is not None
    assert engine.kv.get("k0", "c") == {"v": 0} and engine.kv.get("k1", "c") == {"v": 1}
    engine.close()
    assert _integrity(db) == "ok"


def test_sqlite_lock_shorter_than_busy_timeout_is_waited_out(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    engine = Engine(f"sqlite:///{db}", embedder=FakeEmbedder())
    engine.sessions.add_message("s", {"content": "m0"})
    holder = _hold_lock(db, 0.5)
    engine.sessions.add_message("s", {"content": "m1"})  # waits for the lock (busy timeout 10 s), then writes
    engine.semantic.update("q", "llm", "A")
    holder.wait(10)
    assert [m["content"] for m in engine.sessions.get_full_history("s")] == ["m0", "m1"]
    assert engine.semantic.lookup("q", "llm") is not None
    engine.close()
    assert _integrity(db) == "ok"


class _FullDisk:
    """``os`` as the archive module sees it on a full disk: writes and syncs fail with ENOSPC.

    ``partial`` lets a ``pwrite`` put half its bytes on disk before failing, as a real full disk can.
    """

    def __init__(self, partial: bool) -> None:
        self.partial = partial
        self.failures = 0

    def module(self) -> types.SimpleNamespace:
        real = os

        def fail(*_: object) -> Any:
            self.failures += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def pwrite(fd: int, data: bytes, offset: int) -> int:
            if self.partial:
                real.pwrite(fd, data[: len(data) // 2], offset)
            return fail()

        namespace = types.SimpleNamespace(
            **{k: getattr(real, k) for k in dir(real) if not k.startswith("__")}
        )
        namespace.pwrite = pwrite
        namespace.fsync = fail
        namespace.fdatasync = fail
        return namespace


@pytest.mark.parametrize("partial", [False, True], ids=["nothing-written", "half-written"])
def test_disk_full_while_archiving_keeps_previous_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partial: bool, caplog: pytest.LogCaptureFixture
) -> None:
    config = SessionConfig(hot_window=2, archive_batch=2, archive_dir=str(tmp_path / "archive"))
    engine = Engine(f"sqlite:///{tmp_path / 'x.db'}", embedder=FakeEmbedder(), sessions=config)
    acked: list[str] = []
    for i in range(6):  # spills twice: a fresh archive file, then an appended frame
        engine.sessions.add_message("s", {"content": f"m{i}"})
        acked.append(f"m{i}")
    archive_path = engine.sessions.archive_dir / "s.lxa"
    before = read_archive(archive_path, strict=True)
    assert before is not None and len(before.items) >= 2

    disk = _FullDisk(partial)
    monkeypatch.setattr(archive_format, "os", disk.module())
    for i in range(6, 12):
        # The append itself succeeds (the store has room); the failed spill is logged and retried later, so the
        # caller is not told a stored message was refused (a retry would have stored it twice).
        engine.sessions.add_message("s", {"content": f"m{i}"})
        acked.append(f"m{i}")
        assert read_archive(archive_path) is not None  # the previous archive stays readable
        assert [m["content"] for m in engine.sessions.get_full_history("s")] == acked
    fresh = [{"content": f"t{i}"} for i in range(5)]  # a session whose first archive file cannot be written
    for message in fresh:
        engine.sessions.add_message("t", message)
    assert engine.sessions.get_full_history("t") == fresh
    assert not list(engine.sessions.archive_dir.glob(".tmp-*"))  # no temporary file left behind
    assert "No space left" in caplog.text
    assert disk.failures > 0
    meta = read_meta(archive_path)
    assert meta is not None and meta.last_seq is not None and meta.last_seq >= before.meta.last_seq  # type: ignore[operator]

    monkeypatch.undo()  # space freed: the next spill succeeds and cuts off any torn tail
    for i in range(12, 16):
        engine.sessions.add_message("s", {"content": f"m{i}"})
        acked.append(f"m{i}")
    assert [m["content"] for m in engine.sessions.get_full_history("s")] == acked
    assert engine.sessions.get_full_history("t") == fresh
    after = read_archive(archive_path, strict=True)
    assert after is not None and after.meta.last_seq > before.meta.last_seq  # type: ignore[operator]
    FIGURES[f"disk_full_{'partial' if partial else 'none'}"] = {
        "enospc_injected": disk.failures,
        "messages_verified": len(acked),
    }
    print(f"\ndisk full: {FIGURES}")
    engine.close()


# -- kill -9 -------------------------------------------------------------------------------------------------

KILLS = 50


def _writer(db: str, archive: str, start: int, out_fd: int) -> None:
    """The child: append messages (archiving every few), cache updates and KV puts; report each acknowledged one."""
    config = SessionConfig(hot_window=3, archive_batch=2, archive_dir=archive)
    engine = Engine(f"sqlite:///{db}", embedder=FakeEmbedder(), sessions=config)
    i = start
    while True:
        engine.sessions.add_message("s", {"content": f"m{i}"})
        os.write(out_fd, f"m {i}\n".encode())
        engine.semantic.update(f"prompt {i}", "llm", f"answer {i}")
        engine.kv.put(f"k{i % 50}", {"i": i}, "c")
        os.write(out_fd, f"c {i}\n".encode())
        i += 1


def test_kill_9_writer_fifty_times(tmp_path: Path) -> None:
    db, archive = tmp_path / "x.db", tmp_path / "archive"
    rng = random.Random(9)
    acked: list[int] = []
    cached: list[int] = []
    next_i = 0
    torn = 0  # kills that landed in the middle of an archive append
    for _ in range(KILLS):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(read_fd)
            try:
                _writer(str(db), str(archive), next_i, write_fd)
            finally:
                os._exit(1)
        os.close(write_fd)
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, "the writer died by itself"
        with os.fdopen(read_fd, "rb") as pipe:
            lines = pipe.read().decode().splitlines()
        for line in lines:
            kind, _, number = line.partition(" ")
            if not number.isdigit():
                continue  # a line cut off by the kill was never fully reported
            (acked if kind == "m" else cached).append(int(number))
        next_i += 100_000  # a child may have stored a message it never reported: never reuse its number

        # everything still opens; nothing acknowledged is missing
        assert _integrity(db) == "ok"
        config = SessionConfig(hot_window=3, archive_batch=2, archive_dir=str(archive))
        with Engine(f"sqlite:///{db}", embedder=FakeEmbedder(), sessions=config) as engine:
            history = [int(m["content"][1:]) for m in engine.sessions.get_full_history("s")]
            assert [i for i in history if i in set(acked)] == acked
            assert history == sorted(history) and len(history) == len(set(history))
            for i in cached[-20:]:
                assert engine.semantic.lookup(f"prompt {i}", "llm") is not None
                assert engine.kv.get(f"k{i % 50}", "c") is not None
        for path in archive.rglob("*.lxa"):
            meta = read_meta(path)
            assert meta is not None
            torn += meta.torn_bytes > 0
    assert len(acked) > KILLS  # the children did real work between kills
    archives = list(archive.rglob("*.lxa"))
    assert archives and read_archive(archives[0]) is not None
    FIGURES["kill9"] = {
        "kills": KILLS,
        "messages_verified": len(acked),
        "cache_and_kv_writes_acknowledged": len(cached),
        "torn_archive_tails_seen": torn,
    }
    print(f"\nkill -9: {FIGURES['kill9']}")
