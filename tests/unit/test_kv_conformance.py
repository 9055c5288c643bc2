"""Key-value conformance on both embedded backends, sync and async."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lix_integrations.testing.conformance_kv import KvConformance


class TestMemoryKv(KvConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://kv-{uuid.uuid4().hex}"


class TestSQLiteKv(KvConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'kv.db'}"
