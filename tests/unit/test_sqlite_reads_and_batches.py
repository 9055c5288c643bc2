"""SQLite: a lookup never writes (so readers never wait for a writer), and ``update_many`` is one transaction.

Issue 19, targets 2 and 3: every semantic lookup used to write its prompt vector (a write transaction per miss),
hits flushed access times from the read path, an expired candidate was deleted by the lookup that met it, and
opening an engine took the write lock to check the stored settings even when they were all there.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from lix_integrations import AsyncEngine, Engine
from lix_integrations.testing import FakeClock, FakeEmbedder

LLM = "[('model', 'm')]"
# A read may open a deferred transaction (one consistent snapshot); a writer's starts with BEGIN IMMEDIATE.
_WRITES = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "INSERT", "UPDATE", "DELETE", "SAVEPOINT", "REPLACE")


def _engine(path: Path, embedder: FakeEmbedder, clock: FakeClock, **options: object) -> Engine:
    return Engine(
        f"sqlite:///{path}",
        embedder=embedder,
        clock=clock,
        threshold=0.7,
        fail_open=False,  # a write that waited for the lock and failed would raise, not pass as a miss
        **options,  # type: ignore[arg-type]
    )


def _statements(engine: Engine) -> list[str]:
    """Every SQL statement the engine's connection runs from now on."""
    seen: list[str] = []
    engine._core.backend._conn.set_trace_callback(seen.append)  # type: ignore[attr-defined]
    return seen


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(_WRITES)]


def test_lookups_run_no_write_statement(tmp_path: Path) -> None:
    embedder, clock = FakeEmbedder(), FakeClock()
    engine = _engine(tmp_path / "reads.db", embedder, clock, ttl=100)
    engine.semantic.update("what is the capital of france", LLM, "Paris")
    engine.semantic.update("how do I bake bread", LLM, "flour", ttl=10)
    clock.advance(20)  # the bread entry has expired
    seen = _statements(engine)
    assert engine.semantic.lookup("what is the capital of france", LLM) is not None  # exact hit
    assert engine.semantic.lookup("what's the capital of france", LLM) is not None  # semantic hit
    assert engine.semantic.lookup("how do I bake bread", LLM) is None  # expired exact record
    assert engine.semantic.lookup("how do i bake bread at home", LLM) is None  # meets the expired entry
    assert engine.semantic.lookup("a question nobody asked before", LLM) is None  # plain miss
    assert seen and not _writes(seen)
    # The held writes (access times, the expired entry's delete) go with the next write.
    calls = embedder.calls
    engine.semantic.update("a question nobody asked before", LLM, "answer")
    assert embedder.calls == calls  # the vector the miss computed was kept for the update
    assert engine.semantic.count() == 2  # the expired entry left with that write
    engine.close()


def test_a_lookup_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    embedder, clock = FakeEmbedder(), FakeClock()
    engine = _engine(db, embedder, clock)
    engine.semantic.update("what is the capital of france", LLM, "Paris")
    engine.close()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another connection holds the write lock throughout
    try:
        # busy_timeout=0 makes any statement that needs the lock fail at once instead of waiting 10 s.
        reader = _engine(db, embedder, clock)
        reader._core.backend._conn.execute("PRAGMA busy_timeout=0")  # type: ignore[attr-defined]
        for _ in range(3):
            hit = reader.semantic.lookup("what is the capital of france", LLM)
            assert hit is not None and hit.kind == "exact"
            hit = reader.semantic.lookup("what's the capital of france", LLM)
            assert hit is not None and hit.kind == "semantic"
            assert reader.semantic.lookup("a question nobody asked before", LLM) is None
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    reader.close()  # writes the held access times now that the lock is free


def test_update_many_is_one_transaction(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    engine = _engine(tmp_path / "batch.db", embedder, FakeClock())
    engine.semantic.update("question 0", LLM, "stored before")
    calls = embedder.calls
    seen = _statements(engine)
    items = [(f"question {i}", LLM, f"answer {i}") for i in range(50)] + [("question 7", LLM, "later wins")]
    ids = engine.semantic.update_many(items)
    assert len(ids) == 51 and all(isinstance(i, int) for i in ids)
    assert ids[7] == ids[50]  # the same exact key within one batch: the last answer is kept
    assert sum(1 for s in seen if s.upper().startswith("BEGIN")) == 1  # one transaction for the batch
    assert sum(1 for s in seen if s.upper().startswith("COMMIT")) == 1
    assert embedder.calls == calls + 49  # each new text embedded once ("question 0" was already)
    reads = [s for s in seen if s.startswith("SELECT key, value FROM kv_records")]
    assert len(reads) == 1  # one read of the embedding store for the batch
    assert engine.semantic.count() == 50
    hit = engine.semantic.lookup("question 7", LLM)
    assert hit is not None and hit.payload == "later wins"
    hit = engine.semantic.lookup("question 0", LLM)
    assert hit is not None and hit.payload == "answer 0"  # replaced the entry stored before
    engine.close()


def test_update_many_async_and_memory(tmp_path: Path) -> None:
    async def scenario(url: str) -> None:
        engine = AsyncEngine(url, embedder=FakeEmbedder(), threshold=0.7)
        ids = await engine.semantic.update_many([(f"q {i}", LLM, str(i)) for i in range(5)])
        assert len(set(ids)) == 5
        for i in range(5):
            hit = await engine.semantic.lookup(f"q {i}", LLM)
            assert hit is not None and hit.payload == str(i)
        await engine.aclose()

    asyncio.run(scenario(f"sqlite:///{tmp_path / 'async.db'}"))
    asyncio.run(scenario("memory://"))


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_update_many_refuses_bad_input_and_stores_nothing(tmp_path: Path, url: str) -> None:
    engine = Engine(
        f"sqlite:///{tmp_path / 'bad.db'}" if url == "sqlite" else url, embedder=FakeEmbedder(), threshold=0.7
    )
    with pytest.raises(ValueError, match="payload must be a str"):
        engine.semantic.update_many([("fine", LLM, "ok"), ("bad", LLM, 42)])  # type: ignore[list-item]
    assert engine.semantic.count() == 0
    engine.close()
