"""The SQLite checkpoint thread works on the store its backend opened, wherever the process has moved since."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lix_integrations import Engine
from lix_integrations.backends import sqlite_checkpoints, sqlite_vectors
from lix_integrations.backends.sqlite import SQLiteBackend
from lix_integrations.testing import FakeEmbedder

LLM = "[('model', 'm')]"


def test_a_relative_store_path_is_checkpointed_after_the_process_changed_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sqlite:///cache.db`` opened in one directory, then the process moved (a notebook's ``%cd``): the thread's
    connection, opened at its first checkpoint, named the relative path again. It made an empty ``cache.db`` in the
    new directory and checkpointed that, while the store's own log grew until the writer's far safety net."""
    monkeypatch.setattr(sqlite_checkpoints, "CHANGES_PER_CHECKPOINT", 9)
    home, elsewhere = _two_directories(tmp_path, monkeypatch)
    engine = Engine("sqlite:///cache.db", embedder=FakeEmbedder(), threshold=0.7)
    backend = engine._core.backend
    assert isinstance(backend, SQLiteBackend) and backend._checkpoints is not None
    try:
        monkeypatch.chdir(elsewhere)
        for i in range(200):
            engine.semantic.update(f"question number {i}", LLM, "answer")
            backend._checkpoints.wait()
        assert sorted(p.name for p in elsewhere.iterdir()) == []  # no stray store made here
        # The store's own log restarts after the thread's checkpoints: a few updates' pages, not 200 updates'.
        with sqlite3.connect(home / "cache.db") as other:
            _, log_pages, _ = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert log_pages < 100, log_pages
        assert engine.semantic.count() == 200
    finally:
        engine.close()


def test_a_relative_store_path_keeps_its_index_files_beside_it_after_the_process_changed_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partitions' vector index files live in ``<store>.lix-index``. Named from the relative path as given,
    that directory followed the process: after a move, a partition's file was written under the new directory,
    and a process opening the store where it is found no file and rebuilt the partition from SQLite."""
    monkeypatch.setattr(sqlite_vectors, "PERSIST_MIN", 64)
    home, elsewhere = _two_directories(tmp_path, monkeypatch)
    engine = Engine("sqlite:///cache.db", embedder=FakeEmbedder(), threshold=0.7)
    try:
        monkeypatch.chdir(elsewhere)
        engine.semantic.update_many([(f"question number {i}", LLM, "answer") for i in range(100)])
        assert (
            engine.semantic.lookup("question number 7", LLM) is not None
        )  # the first search writes the file
    finally:
        engine.close()
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # nothing of the store made here
    assert list((home / "cache.db.lix-index").glob("*.ivf"))


def _two_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """``home`` (the process's directory now, where a relative store opens) and ``elsewhere`` (where it moves)."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(home)
    return home, elsewhere
