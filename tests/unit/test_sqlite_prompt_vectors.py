"""On SQLite a semantic prompt's vector is stored once, in the entry (issue 19, target 3).

The embedding tier still serves it to other engines (the conformance test
``test_semantic_prompts_are_embedded_once_across_engines`` holds on every backend); here the storage is checked:
no second copy in the embedding store, and deleting or clearing the embedding store's record drops the entry's
reference, so the vector is computed again as if the record had been there.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lix_integrations import Engine
from lix_integrations.testing.fakes import FakeEmbedder

LLM_A = "[('model', 'a'), ('temperature', 0)]"
LLM_B = "[('model', 'b'), ('temperature', 0)]"


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_the_vector_is_stored_in_the_entry_only_and_served_to_another_engine(tmp_path: Path) -> None:
    db, embedder = tmp_path / "c.db", FakeEmbedder()
    first = Engine(f"sqlite:///{db}", embedder=embedder)
    first.semantic.update_many([(f"question {i}", LLM_A, f"answer {i}") for i in range(5)])
    first.semantic.update("what is the capital of france", LLM_A, "Paris")
    first.close()
    assert _rows(db, "SELECT count(*) FROM kv_records") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM semantic_entries WHERE vector_key IS NOT NULL") == [(6,)]
    calls = embedder.calls
    second = Engine(f"sqlite:///{db}", embedder=embedder)
    assert second.semantic.lookup("what is the capital of france", LLM_B) is None  # other model: not exact
    assert embedder.calls == calls  # the vector came from the entry
    second.close()


def test_clearing_the_embedding_store_drops_the_entries_references(tmp_path: Path) -> None:
    db, embedder = tmp_path / "c.db", FakeEmbedder()
    first = Engine(f"sqlite:///{db}", embedder=embedder)
    first.semantic.update("what is the capital of france", LLM_A, "Paris")
    first.semantic.update("what is the capital of spain", LLM_A, "Madrid")
    assert first.embeddings.clear() == 2
    first.close()
    assert _rows(db, "SELECT count(*) FROM semantic_entries WHERE vector_key IS NOT NULL") == [(0,)]
    calls = embedder.calls
    second = Engine(f"sqlite:///{db}", embedder=embedder)
    assert second.semantic.lookup("what is the capital of france", LLM_B) is None
    assert embedder.calls == calls + 1  # computed again: the store no longer holds it
    hit = second.semantic.lookup("what is the capital of spain", LLM_A)  # the entry itself is intact
    assert hit is not None and hit.payload == "Madrid"
    second.close()


def test_a_store_written_before_the_column_gains_it_with_its_entries(tmp_path: Path) -> None:
    db, embedder = tmp_path / "old.db", FakeEmbedder()
    first = Engine(f"sqlite:///{db}", embedder=embedder)
    first.semantic.update("what is the capital of france", LLM_A, "Paris")
    first.close()
    with sqlite3.connect(db) as conn:  # as an older version wrote it: no vector_key column or index
        conn.execute("DROP INDEX semantic_vector_key")
        conn.execute("ALTER TABLE semantic_entries DROP COLUMN vector_key")
        conn.execute("DELETE FROM lix_meta WHERE key = 'schema_digest'")
    again = Engine(f"sqlite:///{db}", embedder=embedder)
    hit = again.semantic.lookup("what is the capital of france", LLM_A)
    assert hit is not None and hit.payload == "Paris"
    again.semantic.update("what is the capital of spain", LLM_A, "Madrid")
    again.close()
    assert _rows(db, "SELECT count(*) FROM semantic_entries WHERE vector_key IS NOT NULL") == [(1,)]
