"""The demo script, run fast: bag-of-words embedder instead of the model, no artificial LLM delay."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.globals import get_llm_cache

from lix_integrations import demo
from lix_integrations.testing.fakes import FakeEmbedder

EXPECTED = ["miss"] * 4 + ["semantic hit"] * 4 + ["exact hit", "miss"]


@pytest.fixture(autouse=True)
def isolated_default_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIX_CACHE_DIR", str(tmp_path))
    return tmp_path


def _run(**kwargs: object) -> list[demo.DemoRow]:
    return demo.main(embedder=FakeEmbedder(), latency=0.0, threshold=0.7, **kwargs)  # type: ignore[arg-type]


def test_hits_and_misses_pattern(isolated_default_store: Path) -> None:
    rows = _run(output=None)
    assert [row.outcome for row in rows] == EXPECTED
    assert (isolated_default_store / "cache.db").exists()
    by_question = {row.question: row.answer for row in rows[:4]}
    for original, paraphrase in zip(rows[:4], rows[4:8]):
        assert paraphrase.answer == by_question[original.question]
        assert paraphrase.similarity is not None and paraphrase.similarity >= 0.7
    assert rows[8].similarity == 1.0
    assert rows[9].answer != rows[0].answer  # the pirate got a fresh answer, not the cached one
    assert all(row.similarity is None for row in rows if row.outcome == "miss")


def test_same_table_every_run() -> None:
    first = [row.outcome for row in _run(output=None)]
    second = [row.outcome for row in _run(output=None)]
    assert first == second == EXPECTED


def test_prints_table_and_statistics_and_restores_global_cache() -> None:
    before = get_llm_cache()
    lines: list[str] = []
    _run(output=lines.append)
    text = "\n".join(lines)
    assert "semantic hit" in text and "exact hit" in text
    assert "hit rate 50%" in text
    assert "LLM calls 5 of 10" in text
    assert get_llm_cache() is before


def test_plain_table_fallback() -> None:
    rows = _run(output=None)
    table = demo._plain_table(rows)
    assert table.count("\n") == len(rows) + 1
    assert "Which city is the capital of France?" in table
