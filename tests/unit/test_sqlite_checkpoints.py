"""The SQLite backend's WAL checkpoints run on a thread of their own and still keep the WAL from growing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lix_integrations import Engine
from lix_integrations.backends import sqlite_checkpoints
from lix_integrations.backends.sqlite import SQLiteBackend
from lix_integrations.testing import FakeEmbedder

LLM = "[('model', 'm')]"


def _wal_bytes(db: Path) -> int:
    wal = Path(str(db) + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _wal_after_writes(db: Path, count: int, *, wait: bool) -> int:
    """Write ``count`` entries (each time waiting for the checkpoint thread if ``wait``); the WAL's size then."""
    engine = Engine(f"sqlite:///{db}", embedder=FakeEmbedder(), threshold=0.7)
    backend = engine._core.backend
    assert isinstance(backend, SQLiteBackend) and backend._checkpoints is not None
    for i in range(count):
        engine.semantic.update(f"question number {i} about {'x' * (i % 7)}", LLM, "a" * 2_000)
        if wait:
            backend._checkpoints.wait()
    size = _wal_bytes(db)
    engine.close()
    return size


def test_checkpoints_off_the_writer_keep_the_wal_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit no longer checkpoints (the writer's own distance is far), yet the log restarts: the thread's last
    pass copies what was committed meanwhile while holding the backend's lock."""
    monkeypatch.setattr(sqlite_checkpoints, "CHANGES_PER_CHECKPOINT", 30)
    with_thread = _wal_after_writes(tmp_path / "c.db", 300, wait=True)
    monkeypatch.setattr(sqlite_checkpoints, "CHANGES_PER_CHECKPOINT", 10**9)  # no thread: only the commits'
    without = _wal_after_writes(tmp_path / "n.db", 300, wait=False)
    assert with_thread * 4 < without, (with_thread, without)


def test_entries_survive_close_and_are_seen_by_another_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_checkpoints, "CHANGES_PER_CHECKPOINT", 7)
    db = tmp_path / "c.db"
    engine = Engine(f"sqlite:///{db}", embedder=FakeEmbedder(), threshold=0.7)
    for i in range(60):
        engine.semantic.update(f"question number {i}", LLM, "answer")
    other = Engine(f"sqlite:///{db}", embedder=FakeEmbedder(), threshold=0.7)
    assert other.semantic.count() == 60
    other.close()
    engine.close()
    assert not Path(str(db) + "-wal").exists()  # the last connection closed checkpointed the whole log
    assert sqlite3.connect(db).execute("SELECT count(*) FROM semantic_entries").fetchone()[0] == 60
