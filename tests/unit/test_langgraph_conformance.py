"""LangGraph's checkpointer conformance suite, base and extended capabilities, on the embedded backends."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lix_integrations.langgraph import LixCheckpointSaver
from lix_integrations.testing.conformance_checkpoints import assert_all_passed, run_checkpoint_conformance


@pytest.mark.parametrize("hot_window", [None, 1, 2])
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_conformance_suite_passes_every_capability(
    kind: str, hot_window: int | None, tmp_path: Path
) -> None:
    """Also with a hot window of 1 and 2 checkpoints: older ones are read back from the thread's archive."""

    def make() -> LixCheckpointSaver:
        if kind == "memory":
            return LixCheckpointSaver(url="memory://", hot_window=hot_window)
        url = f"sqlite:///{tmp_path / 'cp.db'}"
        return LixCheckpointSaver(url=url, namespace="n" + uuid.uuid4().hex[:8], hot_window=hot_window)

    report = await run_checkpoint_conformance(make)
    assert_all_passed(report)
    assert sum(r.tests_passed for r in report.results.values()) >= 80
