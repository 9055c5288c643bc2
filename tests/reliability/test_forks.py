"""An engine made before a fork (gunicorn ``--preload``, Celery's prefork pool, multiprocessing's default start
method on Linux): on the embedded SQLite store every child's acknowledged writes are kept, whatever the parent does
with its own engine meanwhile (see ``lix_integrations/backends/sqlite_forks.py``), and a session archive lock held
at the fork is not kept by the child.

Before, a child wrote through the connection it inherited: when the parent closed its engine while the child
still wrote, the parent's close (the last lock SQLite could see) checkpointed and removed the WAL, and the child's
later writes went to the removed file: of 4,000 acknowledged writes 201-296 were left, in three runs.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lix_integrations import Engine
from lix_integrations.archive.store import SessionArchive
from lix_integrations.backends import sqlite_checkpoints
from lix_integrations.errors import BackendError
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig

WRITES = 1500


def _engine(tmp_path: Path) -> Engine:
    config = SessionConfig(hot_window=3, archive_batch=2, archive_dir=str(tmp_path / "archive"))
    return Engine(f"sqlite:///{tmp_path / 'store.db'}", embedder=FakeEmbedder(), sessions=config)


def _in_child(work: Callable[[], bool]) -> tuple[int, int]:
    """Run ``work`` in a forked child: (its pid, the read end of a pipe it writes one byte to once it is at work,
    then its exit status 0 if ``work`` returned True)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read)
        status = 1
        try:
            os.write(write, b"s")
            status = 0 if work() else 2
        finally:
            os._exit(status)
    os.close(write)
    return pid, read


def _exit_status(pid: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        assert time.monotonic() < deadline, "the child never finished"
        time.sleep(0.02)
    return os.waitstatus_to_exitcode(done[1])


def _child_writes(engine: Engine, tag: str, halfway: int | None = None) -> Callable[[], bool]:
    def work() -> bool:
        for i in range(WRITES):
            engine.kv.put(f"{tag}{i}", {"i": i}, "c")
            engine.sessions.add_message(tag, {"content": f"m{i}"})
            if i % 10 == 0:
                engine.semantic.update(f"{tag} prompt {i}", "llm", f"answer {i}")
            if i == halfway:
                Path(f"{tag}.halfway").touch()
        return all(engine.kv.get(f"{tag}{i}", "c") == {"i": i} for i in range(0, WRITES, 7))

    return work


def _all_kept(tmp_path: Path, tag: str) -> None:
    with sqlite3.connect(tmp_path / "store.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with _engine(tmp_path) as engine:
        assert sum(engine.kv.get(f"{tag}{i}", "c") is not None for i in range(WRITES)) == WRITES
        assert [m["content"] for m in engine.sessions.get_full_history(tag)] == [
            f"m{i}" for i in range(WRITES)
        ]
        assert all(engine.semantic.lookup(f"{tag} prompt {i}", "llm") for i in range(0, WRITES, 10))


def test_a_childs_writes_are_kept_when_the_parent_closes_its_engine_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = _engine(tmp_path)
    engine.kv.put("before", {"i": -1}, "c")  # the parent has used its store before the fork
    pid, started = _in_child(_child_writes(engine, "child", halfway=WRITES // 4))
    os.read(started, 1)
    deadline = time.monotonic() + 60
    while not (tmp_path / "child.halfway").exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    engine.close()  # while the child goes on writing
    assert _exit_status(pid) == 0
    _all_kept(tmp_path, "child")


def test_children_and_their_parent_write_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint thread was running in the parent before the forks (its connection is one per checkpoint)."""
    monkeypatch.setattr(sqlite_checkpoints, "CHANGES_PER_CHECKPOINT", 50)
    engine = _engine(tmp_path)
    for i in range(200):
        engine.kv.put(f"warm{i}", {"i": i}, "c")
    children = [_in_child(_child_writes(engine, f"c{k}")) for k in range(2)]
    for i in range(WRITES):
        engine.kv.put(f"parent{i}", {"i": i}, "c")
        engine.sessions.add_message("parent", {"content": f"m{i}"})
        if i % 10 == 0:
            engine.semantic.update(f"parent prompt {i}", "llm", f"answer {i}")
    assert [_exit_status(pid) for pid, _ in children] == [0, 0]
    engine.close()
    for tag in ("c0", "c1", "parent"):
        _all_kept(tmp_path, tag)


def test_a_child_that_only_closes_the_engine_leaves_the_parents_store_working(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.kv.put("before", {"i": -1}, "c")

    def close_only() -> bool:
        engine.close()
        return True

    pid, _ = _in_child(close_only)
    assert _exit_status(pid) == 0
    for i in range(WRITES):
        engine.kv.put(f"after{i}", {"i": i}, "c")
    assert engine.kv.get("before", "c") == {"i": -1} and engine.kv.get(f"after{WRITES - 1}", "c") is not None
    engine.close()
    with sqlite3.connect(tmp_path / "store.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_private_in_memory_store_is_the_childs_own_copy() -> None:
    engine = Engine("sqlite:///:memory:", embedder=FakeEmbedder())
    engine.kv.put("before", {"i": 1}, "c")

    def copy() -> bool:
        engine.kv.put("child", {"i": 2}, "c")
        return engine.kv.get("before", "c") == {"i": 1} and engine.kv.get("child", "c") == {"i": 2}

    pid, _ = _in_child(copy)
    assert _exit_status(pid) == 0
    assert engine.kv.get("child", "c") is None  # the child's writes stayed in its copy
    engine.close()


def test_a_child_forked_while_its_parent_holds_an_archive_lock_does_not_keep_it(tmp_path: Path) -> None:
    """The child's inherited copy of the lock's descriptor kept the ``flock`` after the parent let it go: the
    stripe stayed locked for every process until the child exited (its own spills and new sessions waited for
    ever)."""
    archive = SessionArchive(tmp_path / "archive")
    assert archive.try_lock("s")  # a spill under way in the parent when it forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        status = 1
        try:
            os.close(write)
            os.read(read, 1)  # the parent has let the lock go
            deadline = time.monotonic() + 5
            while not archive.try_lock("s"):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            else:
                archive.unlock("s")
                status = 0
        finally:
            os._exit(status)
    os.close(read)
    archive.unlock("s")
    os.write(write, b"u")
    assert _exit_status(pid) == 0
    assert archive.try_lock("s")  # and the parent takes it again
    archive.unlock("s")


# Races around the fork, each run in a process of its own under a deadline (a hang fails the test, not the run).
_FORK_RACES = {
    "threads_first_use": """
import os, sys, threading
from lix_integrations import Engine
engine = Engine(f"sqlite:///{sys.argv[1]}/store.db")
engine.kv.put("a", {"i": 1}, "c")
bad = 0
for trial in range(10):  # a threaded worker: its threads' first calls come together
    pid = os.fork()
    if pid == 0:
        errors, start = [], threading.Barrier(8)
        def first_call():
            start.wait()
            try:
                assert engine.kv.get("a", "c") == {"i": 1}
            except BaseException as exc:
                errors.append(exc)
        threads = [threading.Thread(target=first_call) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        os._exit(1 if errors else 0)
    bad += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0
sys.exit(bad)
""",
    "fork_beside_a_writer": """
import os, sys, threading, time
from lix_integrations import Engine
from lix_integrations.backends import sqlite_checkpoints
from lix_integrations.errors import BackendError
sqlite_checkpoints.CHANGES_PER_CHECKPOINT = 1  # a checkpoint after every write
engine = Engine(f"sqlite:///{sys.argv[1]}/store.db")
def writer():
    i = 0
    while True:
        engine.kv.put(f"k{i}", {"i": i}, "c")
        i += 1
threading.Thread(target=writer, daemon=True).start()
until = time.monotonic() + 5
while time.monotonic() < until:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
""",
    "memory_store_beside_a_writer": """
import os, sys, threading, time
from lix_integrations import Engine
engine = Engine("sqlite:///:memory:")
def writer():
    i = 0
    while True:
        engine.kv.put(f"k{i % 500}", {"i": i, "pad": "x" * 2000}, "c")
        i += 1
threading.Thread(target=writer, daemon=True).start()
time.sleep(0.3)
bad = 0
for trial in range(10):
    pid = os.fork()
    if pid == 0:
        engine.close()  # a worker shutting down that never used the store
        os._exit(0)
    bad += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0
sys.exit(bad)
""",
}


@pytest.mark.parametrize("race", sorted(_FORK_RACES))
def test_races_around_a_fork_neither_hang_nor_fail(race: str, tmp_path: Path) -> None:
    """``threads_first_use``: a child's threads found the store reopened half way and used the closed connection
    (18 of 20 children raised on 13b1d2a). ``fork_beside_a_writer``: the fork's hold took the checkpoint
    thread's condition, then the store's lock, against a writer's order (a deadlock within seconds on 13b1d2a).
    ``memory_store_beside_a_writer``: a ``:memory:`` store was not held over the fork, and a child's close waited
    for ever for the lock a parent thread held (30 of 30 on 13b1d2a)."""
    done = subprocess.run(
        [sys.executable, "-c", _FORK_RACES[race], str(tmp_path)], timeout=90, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_archive_closed_while_a_lock_is_being_taken_keeps_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A garbage collection inside ``try_lock`` (on the same thread: the table's lock is re-entrant for the fork
    hooks) may run a finalizer that closes the engine and its archive. The lock being taken is given back, not
    kept in the closed archive until the process exits (found in review of 6177e50)."""
    archive = SessionArchive(tmp_path / "archive")
    opened = archive._open_lock

    def open_then_close(stripe: int) -> int:
        fd = opened(stripe)
        archive.close()  # as a finalizer would, between the open and the table's entry
        return fd

    monkeypatch.setattr(archive, "_open_lock", open_then_close)
    with pytest.raises(BackendError, match="was closed"):
        archive.try_lock("s")
    monkeypatch.undo()
    other = SessionArchive(tmp_path / "archive")  # the stripe's lock is free for everyone
    assert other.try_lock("s")
    other.unlock("s")
