"""The tool tier's conformance suite on both embedded backends, sync and async."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lix_integrations.testing.conformance_tools import ToolConformance


class TestMemoryTools(ToolConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://tools-{uuid.uuid4().hex}"


class TestSQLiteTools(ToolConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'tools.db'}"
