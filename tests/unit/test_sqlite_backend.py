"""SQLite specifics: several processes on one file, bad files and paths, WAL, and a free event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lix_integrations import AsyncEngine, BackendError, ConfigError, Engine
from lix_integrations.testing import FakeEmbedder

LLM = "[('model', 'm')]"


def _engine(path: Path, **options: object) -> Engine:
    return Engine(f"sqlite:///{path}", embedder=FakeEmbedder(), threshold=0.7, **options)  # type: ignore[arg-type]


def _run_child(path: Path, body: str) -> str:
    script = textwrap.dedent(
        f"""
        from lix_integrations import Engine
        from lix_integrations.testing import FakeEmbedder
        LLM = {LLM!r}
        engine = Engine("sqlite:///{path}", embedder=FakeEmbedder(), threshold=0.7)
        """
    ) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_second_process_sees_entries_without_restarting(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    engine = _engine(db)
    engine.semantic.update("how tall is the eiffel tower", LLM, "330 m")
    assert engine.semantic.lookup("what is the speed of light in vacuum", LLM) is None  # index now loaded

    _run_child(db, 'engine.semantic.update("what is the speed of light in vacuum", LLM, "c")\n')
    hit = engine.semantic.lookup("what is the speed of light in a vacuum", LLM)
    assert hit is not None and hit.payload == "c" and hit.kind == "semantic"
    exact = engine.semantic.lookup("what is the speed of light in vacuum", LLM)
    assert exact is not None and exact.kind == "exact"

    out = _run_child(
        db,
        """
        hit = engine.semantic.lookup("how tall is the eiffel tower please", LLM)
        print(hit.payload if hit else "miss")
        print(engine.semantic.clear())
        """,
    )
    assert out.splitlines() == ["330 m", "2"]
    # The other process's deletes reach this process's in-memory index too.
    assert engine.semantic.lookup("what is the speed of light in a vacuum", LLM) is None
    assert engine.semantic.count() == 0
    engine.close()


def test_concurrent_writers_in_two_processes_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "race.db"
    _engine(db).close()
    body = """
        import sys
        for i in range(150):
            engine.semantic.update(f"process {sys.argv[1]} question {i}", LLM, f"{sys.argv[1]}-{i}")
    """
    script_head = textwrap.dedent(
        f"""
        from lix_integrations import Engine
        from lix_integrations.testing import FakeEmbedder
        LLM = {LLM!r}
        engine = Engine("sqlite:///{db}", embedder=FakeEmbedder(), threshold=0.7)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script_head + textwrap.dedent(body), name], stderr=subprocess.PIPE
        )
        for name in ("a", "b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    engine = _engine(db)
    assert engine.semantic.count() == 300
    for name in ("a", "b"):
        for i in (0, 77, 149):
            hit = engine.semantic.lookup(f"process {name} question {i}", LLM, threshold=1.0)
            assert hit is not None and hit.payload == f"{name}-{i}"


def test_threads_share_one_engine(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "threads.db")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(40):
                engine.semantic.update(f"thread {n} item {i}", LLM, str(i))
                assert engine.semantic.lookup(f"thread {n} item {i}", LLM) is not None
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert engine.semantic.count() == 320


def test_wal_mode_is_on(tmp_path: Path) -> None:
    db = tmp_path / "wal.db"
    _engine(db).close()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_file_is_a_clear_error_and_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "corrupt.db"
    garbage = b"this is not a database" * 400
    db.write_bytes(garbage)
    with pytest.raises(BackendError, match="corrupt or not SQLite"):
        _engine(db)
    assert db.read_bytes() == garbage


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        _engine(tmp_path / "missing" / "dir" / "cache.db")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    "url", ["mysql://localhost/db", "memcached://x", "nonsense", "", "sqlite://relative.db"]
)
def test_unknown_or_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        Engine(url, embedder=FakeEmbedder())


def test_async_engine_does_not_block_the_event_loop(tmp_path: Path) -> None:
    """While SQLite works on a thread, the loop keeps running other tasks."""
    engine = AsyncEngine(f"sqlite:///{tmp_path / 'async.db'}", embedder=FakeEmbedder(), threshold=0.7)

    async def scenario() -> int:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        for i in range(30):
            await engine.semantic.update(f"async question {i}", LLM, str(i))
            assert await engine.semantic.lookup(f"async question {i}", LLM) is not None
        stop.set()
        await task
        await engine.aclose()
        return ticks

    ticks = asyncio.run(scenario())
    assert ticks > 60  # the ticker ran while every operation was awaited


def test_busy_file_waits_for_the_lock_instead_of_failing(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    engine = _engine(db)
    blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")

    def release() -> None:
        time.sleep(0.5)
        blocker.execute("COMMIT")

    threading.Thread(target=release).start()
    engine.semantic.update("written once the lock is free", LLM, "ok")
    assert engine.semantic.lookup("written once the lock is free", LLM) is not None


def test_cache_fails_open_when_the_store_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = _engine(tmp_path / "failing.db")
    engine.semantic.update("stored before the outage", LLM, "x")
    engine._core.backend.close()  # every later operation now raises BackendError inside the engine
    with caplog.at_level("WARNING", logger="lix_integrations"):
        assert engine.semantic.lookup("stored before the outage", LLM) is None
        assert engine.semantic.update("during the outage", LLM, "y") is None
        assert asyncio.run(engine.aio.semantic.lookup("stored before the outage", LLM)) is None
    outage_logs = [r for r in caplog.records if "serving misses until it recovers" in r.getMessage()]
    assert len(outage_logs) == 1  # once per outage, not per request


def test_cache_can_be_asked_to_raise_instead(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "strict.db", fail_open=False)
    engine._core.backend.close()
    with pytest.raises(BackendError, match="closed"):
        engine.semantic.lookup("anything at all", LLM)
