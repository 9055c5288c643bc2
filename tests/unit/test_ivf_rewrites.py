"""A large partition's new index file is merged and written on a worker thread (issue 19, target 3: fast inserts).

The writer that crosses the rewrite line only takes a snapshot; the partition keeps serving and changing while the
worker merges, and adopts the file at its next search, carrying over what changed after the snapshot. Tests hold
the worker's jobs and run them when they choose, so the changes in between are exact.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from lix_integrations import Engine
from lix_integrations.backends import ivf_file, sqlite_vectors
from lix_integrations.backends.ivf_file import IvfArrays
from lix_integrations.backends.ivf_merge import MergedRows
from lix_integrations.backends.ivf_partition import LargePartition
from lix_integrations.backends.ivf_train import assign

from .test_sqlite_vector_files import LLM, TableEmbedder, _engine, _files, _fill, _no_builds, _served


@pytest.fixture(autouse=True)
def _small_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_vectors, "PERSIST_MIN", 64)


class HeldJobs:
    """A runner for the rewrite worker that runs nothing until told."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], Future[Any]]] = []

    def __call__(self, work: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self.jobs.append((work, future))
        return future

    def run(self, fail: bool = False) -> None:
        jobs, self.jobs = self.jobs, []
        for work, future in jobs:
            if fail:
                future.set_exception(OSError("disk full"))
            else:
                future.set_result(work())


def _hold_jobs(engine: Engine) -> HeldJobs:
    held = HeldJobs()
    engine._core.backend._vectors._rewrites._submit = held  # type: ignore[attr-defined]
    return held


def _partition_index(engine: Engine) -> LargePartition:
    (index,) = engine._core.backend._vectors._indexes.values()  # type: ignore[attr-defined]
    assert isinstance(index, LargePartition)
    return index


def _entry_id(engine: Engine, name: str) -> int:
    hit = engine.semantic.lookup(name, LLM)
    assert hit is not None
    return hit.entry_id


def test_changes_made_while_the_worker_merges_are_carried_onto_the_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "rewrite.db"
    engine = _engine(db)
    old = [f"old {i}" for i in range(300)]
    _fill(engine, old)
    assert _served(engine, "old 1") == "answer to old 1"  # the partition's first file, written in place
    held = _hold_jobs(engine)
    mid = [f"mid {i}" for i in range(200)]
    _fill(engine, mid)  # the tail outgrows its share: a rewrite starts, and the write returns without it
    assert len(held.jobs) == 1
    before = _partition_index(engine)
    assert before.base.arrays.rows == 300
    # After the snapshot: additions, deletions of rows of the file and of the snapshot's tail, replacements.
    late = [f"late {i}" for i in range(50)]
    _fill(engine, late)
    gone = old[:10] + mid[:5]
    for name in gone:
        engine.semantic.delete(_entry_id(engine, name))
    engine.semantic.update_many([(name, LLM, f"replaced {name}") for name in old[10:20] + mid[5:10]])
    assert len(held.jobs) == 1  # one rewrite per partition at a time
    held.run()
    assert _served(engine, "late 3") == "answer to late 3"  # this search adopts the new file
    after = _partition_index(engine)
    assert after is not before and after.base.arrays.rows == 500  # the snapshot: old and mid, as they were
    assert after.tail.size() == 50 + 15  # the late rows and the replacements
    tail = after.tail.rows  # in the new file's cells (kept from the old file: the rows kept theirs)
    assert (tail.tags == assign(tail.vecs, after.base.arrays.centroids)).all()
    assert len(after.deleted) == len(gone) + 15  # rows of the new file deleted or replaced since
    for name in gone:
        assert _served(engine, name) is None
    for name in old[10:20] + mid[5:10]:
        assert _served(engine, name) == f"replaced {name}"
    for name in old[20::17] + mid[10::13] + late[::7]:
        assert _served(engine, name) == f"answer to {name}"
    engine.close()
    _no_builds(monkeypatch)  # the next process maps the file and replays the log from its stamp
    fresh = _engine(db)
    for name in gone:
        assert _served(fresh, name) is None
    for name in old[10:20]:
        assert _served(fresh, name) == f"replaced {name}"
    for name in old[20::17] + mid[10::13] + late[::7]:
        assert _served(fresh, name) == f"answer to {name}"
    fresh.close()


def test_a_failed_rewrite_keeps_the_old_file_serving_and_is_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _engine(tmp_path / "fails.db")
    _fill(engine, [f"old {i}" for i in range(300)])
    assert _served(engine, "old 1") is not None
    held = _hold_jobs(engine)
    _fill(engine, [f"mid {i}" for i in range(200)])
    held.run(fail=True)
    assert _served(engine, "mid 7") == "answer to mid 7"
    assert "could not write the vector index" in caplog.text
    assert _partition_index(engine).base.arrays.rows == 300
    _fill(engine, ["one more"])  # still stale: the next write starts another
    assert len(held.jobs) == 1
    held.run()
    assert _served(engine, "one more") == "answer to one more"
    assert _partition_index(engine).base.arrays.rows == 501
    engine.close()


def test_the_file_is_written_on_the_worker_and_close_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "worker.db"
    engine = _engine(db)
    _fill(engine, [f"old {i}" for i in range(300)])
    assert _served(engine, "old 1") is not None
    writers: list[str] = []
    write = ivf_file.write_ivf

    def record(*args: Any) -> None:
        writers.append(threading.current_thread().name)
        write(*args)

    monkeypatch.setattr(sqlite_vectors, "write_ivf", record)
    _fill(engine, [f"mid {i}" for i in range(200)])
    engine.close()  # waits for the worker: the file holds every entry
    assert writers and writers[0].startswith("lix-index-file")
    (path,) = _files(db)
    with open(path, "rb") as fh:
        rows = ivf_file._HEADER.unpack(fh.read(ivf_file._HEADER.size))[2]
    assert rows == 500


def test_a_file_another_process_put_in_place_meanwhile_is_not_taken_for_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between writing its file and mapping it, another process may rename its own file (another stamp, other
    rows) over it: the partition keeps the arrays it merged, so it serves exactly its own rows."""
    engine = _engine(tmp_path / "race.db")
    old = [f"old {i}" for i in range(300)]
    _fill(engine, old)
    assert _served(engine, "old 1") is not None
    held = _hold_jobs(engine)
    mid = [f"mid {i}" for i in range(200)]
    _fill(engine, mid)
    (path,) = _files(tmp_path / "race.db")
    foreign = ivf_file.open_ivf(path, 32, engine._core.backend._vectors._store_id)  # type: ignore[attr-defined]
    assert foreign is not None
    foreign_bytes = path.read_bytes()  # the 300-row file, as a slower process would write it again
    real_open = sqlite_vectors.open_ivf

    def raced(*args: Any) -> Any:
        path.write_bytes(foreign_bytes)
        return real_open(*args)

    monkeypatch.setattr(sqlite_vectors, "open_ivf", raced)
    held.run()
    monkeypatch.undo()
    for name in mid[::9] + old[::23]:
        assert _served(engine, name) == f"answer to {name}"
    assert _partition_index(engine).base.arrays.rows == 500
    foreign.close()
    engine.close()


def test_a_store_without_files_keeps_a_rewrite_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sqlite:///:memory:`` has no index directory: a rewrite's merge (runs of the old arrays and the tail) is
    materialized in memory and serves every entry, deleted ones left out."""
    materialized: list[int] = []
    real = MergedRows.materialized

    def spy(self: MergedRows) -> IvfArrays:
        materialized.append(self.rows)
        return real(self)

    monkeypatch.setattr(MergedRows, "materialized", spy)
    engine = Engine("sqlite:///:memory:", embedder=TableEmbedder(), threshold=0.9, max_entries=None)
    old = [f"old {i}" for i in range(300)]
    _fill(engine, old)
    assert _served(engine, "old 1") == "answer to old 1"  # the partition becomes a large one (in memory)
    engine.semantic.delete(_entry_id(engine, old[0]))
    mid = [f"mid {i}" for i in range(200)]
    _fill(engine, mid)  # a rewrite on the worker; the next search adopts it
    held = engine._core.backend._vectors._rewrites  # type: ignore[attr-defined]
    held.adopt(engine._core.backend._vectors._indexes, wait=True)  # type: ignore[attr-defined]
    after = _partition_index(engine)
    assert materialized == [499] and after.base.arrays.rows == 499 and after.tail.size() == 0
    assert _served(engine, old[0]) is None
    for name in old[1::23] + mid[::17]:
        assert _served(engine, name) == f"answer to {name}"
    engine.close()


def test_a_child_forked_while_a_rewrite_is_under_way_closes_without_waiting_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine made before a server forks its workers: a rewrite in flight at the fork is the parent's, and
    its worker thread does not exist in the child. The child's close waited for it for ever."""
    engine = _engine(tmp_path / "forked.db")
    _fill(engine, [f"old {i}" for i in range(300)])
    assert _served(engine, "old 1") is not None
    write, started = ivf_file.write_ivf, threading.Event()

    def slow(*args: Any) -> None:
        started.set()
        time.sleep(2.0)
        write(*args)

    monkeypatch.setattr(sqlite_vectors, "write_ivf", slow)
    _fill(engine, [f"mid {i}" for i in range(200)])  # a rewrite starts on the worker
    assert started.wait(10)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            ok = _served(engine, "mid 7") == "answer to mid 7"
            engine.close()
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's close never returned")
    assert os.WIFEXITED(done[1]) and os.WEXITSTATUS(done[1]) == 0
    engine.close()  # the parent's own rewrite lands
    fresh = _engine(tmp_path / "forked.db")
    assert _served(fresh, "mid 7") == "answer to mid 7"
    fresh.close()
