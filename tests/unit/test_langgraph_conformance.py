"""LangGraph's checkpointer conformance suite, base and extended capabilities, on the embedded backends."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lix_integrations.langgraph import LixCheckpointSaver
from lix_integrations.testing.conformance_checkpoints import assert_all_passed, run_checkpoint_conformance


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_conformance_suite_passes_every_capability(kind: str, tmp_path: Path) -> None:
    def make() -> LixCheckpointSaver:
        if kind == "memory":
            return LixCheckpointSaver("memory://")
        return LixCheckpointSaver(f"sqlite:///{tmp_path / 'cp.db'}", namespace="n" + uuid.uuid4().hex[:8])

    report = await run_checkpoint_conformance(make)
    assert_all_passed(report)
    assert sum(r.tests_passed for r in report.results.values()) >= 80
