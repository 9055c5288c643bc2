"""The embedded stores losing a session while its archive survives: the same tier logic as on Redis.

A ``memory://`` store with an ``archive_dir`` loses its lists when the process ends (a restart is the store of
that name collected and opened again here, `_restarted`); a SQLite file can lose its list rows (a database replaced or rows deleted by hand). 4 threads append
right after the loss: every acknowledged and every archived message reads back once, in order, and the loss is
reported (WARNING naming the session, ``stats().sessions.store_losses``). See tests/reliability for Redis.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import uuid
from pathlib import Path

import pytest

from lix_integrations import Engine
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig

WRITERS = 4
ROUNDS = 8
PRE = 30


def _restarted(config: SessionConfig) -> tuple[str, int]:
    """A named memory store filled, then gone (its engine closed and collected: the registry holds stores weakly),
    so that its URL opens an empty store of the same name, as a restarted process would, beside the same archive
    directory (which the store's name, its address, still claims: see test_archive_owner). Its URL, and the
    messages archived."""
    url = f"memory://{uuid.uuid4().hex}"
    archived = _fill_closed(url, config)
    gc.collect()
    return url, archived


def _fill_closed(url: str, config: SessionConfig) -> int:
    with Engine(url, embedder=FakeEmbedder(), sessions=config) as engine:
        return _fill(engine, "s")


def _fill(engine: Engine, sid: str) -> int:
    for i in range(PRE):
        engine.sessions.add_message(sid, {"w": "pre", "i": i})
    meta = engine._core.sessions.archive.meta(sid)
    assert meta is not None and meta.last_seq is not None and meta.last_seq >= 20
    return meta.last_seq


def _append_concurrently(engine: Engine, sid: str) -> None:
    def writer(w: int) -> None:
        for i in range(ROUNDS):
            engine.sessions.add_message(sid, {"w": w, "i": i})

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def _check(engine: Engine, sid: str, archived: int, hot_kept: bool) -> None:
    seen = [(m["w"], m["i"]) for m in engine.sessions.get_full_history(sid)]
    assert len(seen) == len(set(seen)), "a message reads back twice"
    for w in range(WRITERS):
        assert [i for who, i in seen if who == w] == list(range(ROUNDS)), f"writer {w} lost a message"
    pre = [i for who, i in seen if who == "pre"]
    assert pre == list(range(PRE if hot_kept else archived))


@pytest.mark.parametrize("loss", ["memory-restart", "sqlite-rows", "sqlite-status-row"])
def test_embedded_store_loses_an_archived_session(
    loss: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lix_integrations")
    config = SessionConfig(hot_window=4, archive_batch=4, archive_dir=str(tmp_path / "archive"))
    if loss == "memory-restart":
        url, archived = _restarted(config)  # a new process's empty store, the same archive directory
    else:
        url = f"sqlite:///{tmp_path / 'c.db'}"
        archived = _fill_closed(url, config)
        with sqlite3.connect(tmp_path / "c.db") as conn:
            conn.execute("DELETE FROM list_meta")
            if loss == "sqlite-rows":
                conn.execute("DELETE FROM list_items")
    with Engine(url, embedder=FakeEmbedder(), sessions=config) as engine:
        _append_concurrently(engine, "s")
        _check(engine, "s", archived, hot_kept=loss == "sqlite-status-row")
        assert engine.stats().sessions is not None and engine.stats().sessions.store_losses == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "session 's'" in warnings[0]
    assert ("still held" in warnings[0]) == (loss == "sqlite-status-row")


def test_a_read_reports_the_loss_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lix_integrations")
    config = SessionConfig(hot_window=4, archive_batch=4, archive_dir=str(tmp_path / "archive"))
    url, archived = _restarted(config)
    with Engine(url, embedder=FakeEmbedder(), sessions=config) as engine:
        for _ in range(3):
            assert [m["i"] for m in engine.sessions.get_full_history("s")] == list(range(archived))
            assert [m["i"] for m in engine.sessions.get_context("s", 2)] == [archived - 2, archived - 1]
        assert engine.stats().sessions is not None and engine.stats().sessions.store_losses == 1
        assert engine.sessions.add_message("s", {"w": "new", "i": 0}) == archived + 1
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_new_session_reports_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lix_integrations")
    with Engine(f"memory://{uuid.uuid4().hex}", embedder=FakeEmbedder()) as engine:
        assert engine.sessions.add_messages("new", [{"i": 0}, {"i": 1}]) == [1, 2]
        assert engine.stats().sessions is not None and engine.stats().sessions.store_losses == 0
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []


def test_delete_message_after_the_store_lost_the_session(tmp_path: Path) -> None:
    """delete_message holds the archive lock while it reads the history; reporting the loss must not take the
    lock again (it waited for itself forever)."""
    config = SessionConfig(hot_window=4, archive_batch=4, archive_dir=str(tmp_path / "archive"))
    url, archived = _restarted(config)
    with Engine(url, embedder=FakeEmbedder(), sessions=config) as engine:
        found: list[object] = []
        worker = threading.Thread(
            target=lambda: found.append(engine.sessions.delete_message("s", 0)), daemon=True
        )
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), "delete_message waited for its own archive lock"
        assert found == [{"w": "pre", "i": 0}]
        assert [m["i"] for m in engine.sessions.get_full_history("s")] == list(range(1, archived))


def test_a_session_lost_whole_with_nothing_archived_is_reported_by_the_process_that_wrote_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Hot messages only, then the store loses the session (rows deleted by another connection): the writer's
    next append says so. It was silent: nothing archived, so the lost session looked like a new one."""
    caplog.set_level(logging.WARNING, logger="lix_integrations")
    config = SessionConfig(hot_window=50, archive_batch=10, archive_dir=str(tmp_path / "archive"))
    with Engine(f"sqlite:///{tmp_path / 'c.db'}", embedder=FakeEmbedder(), sessions=config) as engine:
        assert engine.sessions.add_messages("s", [{"i": 0}, {"i": 1}, {"i": 2}]) == [1, 2, 3]
        assert engine.sessions.add_messages("kept", [{"i": 0}]) == [1]
        assert engine.sessions.delete_session("kept")  # deleted by the user: a new session afterwards
        with sqlite3.connect(tmp_path / "c.db") as conn:
            conn.execute("DELETE FROM list_meta")
            conn.execute("DELETE FROM list_items")
        assert engine.sessions.add_message("s", {"i": 3}) == 1
        assert engine.sessions.add_message("kept", {"i": 1}) == 1
        assert engine.stats().sessions is not None and engine.stats().sessions.store_losses == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "session 's'" in warnings[0] and "through seq 3" in warnings[0]
