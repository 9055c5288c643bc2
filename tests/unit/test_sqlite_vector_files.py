"""Large SQLite partitions are mapped from an index file beside the database (issue 19, target 1).

A fresh process builds nothing: it maps the file and replays the change log written after the file's stamp. A
process that committed and died before writing a file (the crash between the SQLite commit and the index write)
leaves an older file that the next process repairs from the log's tail; a damaged file, one of another store, or
one the log cannot confirm is never served: the partition is rebuilt from SQLite. ``PERSIST_MIN`` is lowered so
a few hundred entries make a large partition.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from lix_integrations import Engine
from lix_integrations.backends import ivf_file, sqlite_vectors

LLM = "[('model', 'm')]"
DIM = 32


class TableEmbedder:
    """Deterministic unit vectors: ``near:NAME`` is NAME's vector plus a little noise (cosine ~0.99)."""

    name = "table-embedder"
    dimension = DIM

    def _vector(self, text: str) -> list[float]:
        base, near = (text[5:], True) if text.startswith("near:") else (text, False)
        seed = int.from_bytes(hashlib.sha256(base.encode()).digest()[:8], "little")
        vec = np.random.default_rng(seed).standard_normal(DIM)
        if near:
            vec = vec / np.linalg.norm(vec) + np.random.default_rng(seed + 1).standard_normal(DIM) * 0.02
        return (vec / np.linalg.norm(vec)).tolist()

    def embed(self, text: str) -> list[float]:
        return self._vector(text)

    async def aembed(self, text: str) -> list[float]:
        return self._vector(text)


@pytest.fixture(autouse=True)
def _small_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_vectors, "PERSIST_MIN", 64)


def _engine(db: Path) -> Engine:
    return Engine(f"sqlite:///{db}", embedder=TableEmbedder(), threshold=0.9, max_entries=None)


def _fill(engine: Engine, names: list[str]) -> None:
    engine.semantic.update_many([(name, LLM, f"answer to {name}") for name in names])


def _files(db: Path) -> list[Path]:
    return sorted(Path(str(db) + ".lix-index").glob("*.ivf"))


def _no_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail on building an index from scratch; merging the log's tail into the mapped file's cells is allowed."""
    build = sqlite_vectors.build_arrays

    def merge_only(ids: object, vectors: object, centroids: object = None, *args: object) -> object:
        if centroids is None:
            raise AssertionError("a fresh process must map the index file, not build one")
        return build(ids, vectors, centroids, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_vectors, "build_arrays", merge_only)


def _served(engine: Engine, name: str) -> str | None:
    hit = engine.semantic.lookup(f"near:{name}", LLM)
    return None if hit is None else hit.payload


def test_a_fresh_process_maps_the_file_and_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "big.db"
    names = [f"entry {i}" for i in range(400)]
    first = _engine(db)
    _fill(first, names)
    assert _served(first, "entry 3") == "answer to entry 3"  # the first search writes the partition's file
    first.close()
    assert len(_files(db)) == 1
    _no_builds(monkeypatch)
    fresh = _engine(db)
    for name in names[::7]:
        assert _served(fresh, name) == f"answer to {name}"
    fresh.close()


def test_a_commit_whose_index_write_never_happened_is_repaired_from_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "crash.db"
    old = [f"old {i}" for i in range(300)]
    writer = _engine(db)
    _fill(writer, old)
    assert _served(writer, "old 1") is not None
    (written,) = _files(db)
    stamped = written.read_bytes()
    # The crash: from here on the writer commits to SQLite but never gets to write an index file.
    monkeypatch.setattr(sqlite_vectors.SQLiteVectors, "maintain", lambda self: None)
    new = [f"new {i}" for i in range(200)]  # more than the tail that would trigger a new file
    _fill(writer, new)
    for name in old[:40]:
        writer.semantic.delete(writer.semantic.lookup(name, LLM).entry_id)  # type: ignore[union-attr]
    writer.semantic.update_many([(name, LLM, f"replaced {name}") for name in old[40:60]])
    writer._core.backend._conn.close()  # type: ignore[attr-defined]  # dies: no close, nothing flushed
    assert written.read_bytes() == stamped  # the file on disk predates every change above
    monkeypatch.undo()
    monkeypatch.setattr(sqlite_vectors, "PERSIST_MIN", 64)
    _no_builds(monkeypatch)  # repaired from the log's tail, not rebuilt
    fresh = _engine(db)
    for name in new[::5]:
        assert _served(fresh, name) == f"answer to {name}"
    for name in old[:40]:
        assert _served(fresh, name) is None  # deleted after the file was written: never served
    for name in old[40:60]:
        assert _served(fresh, name) == f"replaced {name}"  # the replaced entry, not the file's old id
    for name in old[60::9]:
        assert _served(fresh, name) == f"answer to {name}"
    fresh.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other store", "log rebuilt"])
def test_an_unusable_file_is_rebuilt_never_served(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "damaged.db"
    names = [f"entry {i}" for i in range(300)]
    engine = _engine(db)
    _fill(engine, names)
    assert _served(engine, "entry 0") is not None
    engine.close()
    (path,) = _files(db)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "garbage":
        path.write_bytes(b"\0" * path.stat().st_size)
    elif damage == "other store":
        other = tmp_path / "other.db"
        elsewhere = _engine(other)
        _fill(elsewhere, [f"elsewhere {i}" for i in range(300)])
        assert _served(elsewhere, "elsewhere 0") is not None
        elsewhere.close()
        shutil.copy(_files(other)[0], path)
    else:  # entries changed behind the file's back and the log no longer reaches back to the file's stamp
        import sqlite3

        conn = sqlite3.connect(db)
        moved = TableEmbedder()
        for i in range(50):
            blob = np.asarray(moved.embed(f"moved {i}"), dtype=np.float32).tobytes()
            conn.execute(
                "UPDATE semantic_entries SET vector = ?, payload = ? WHERE prompt = ?",
                (blob, f"moved {i}", f"entry {i}"),
            )
        conn.execute("DELETE FROM semantic_log")
        conn.commit()
        conn.close()
    fresh = _engine(db)
    if damage == "log rebuilt":
        for i in range(0, 50, 7):
            assert _served(fresh, f"entry {i}") is None  # the file still has this vector: not trusted
            assert _served(fresh, f"moved {i}") == f"moved {i}"
        names = names[50:]
    for name in names[::11]:
        assert _served(fresh, name) == f"answer to {name}"
    fresh.close()
    assert ivf_file.open_ivf(path, DIM, _store_id(db)) is not None  # a good file replaced the bad one


def _store_id(db: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("SELECT value FROM lix_meta WHERE key = 'store_id'").fetchone()[0])
    finally:
        conn.close()


def test_two_processes_share_the_file_and_see_each_others_writes(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    a, b = _engine(db), _engine(db)
    _fill(a, [f"a {i}" for i in range(200)])
    assert _served(b, "a 7") == "answer to a 7"  # b loads the partition (and writes its file)
    _fill(b, [f"b {i}" for i in range(300)])  # past the tail limit: b writes a new file
    assert _served(a, "b 9") == "answer to b 9"  # a catches up from the log
    a.semantic.delete(a.semantic.lookup("b 9", LLM).entry_id)  # type: ignore[union-attr]
    assert _served(b, "b 9") is None
    a.close()
    b.close()
    fresh = _engine(db)
    assert _served(fresh, "a 7") == "answer to a 7"
    assert _served(fresh, "b 9") is None
    fresh.close()
