"""The conformance suite on both embedded backends, sync and async."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lix_integrations.testing.conformance import SemanticConformance


class TestMemoryBackend(SemanticConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://conformance-{uuid.uuid4().hex}"


class TestSQLiteBackend(SemanticConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'cache.db'}"
