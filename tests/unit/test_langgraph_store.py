"""LixStore on the embedded backends, sync and async (Redis, Valkey, Stack and Cluster: tests/integration)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytest.importorskip("langgraph")

from lix_integrations.testing.conformance_store import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://store-{uuid.uuid4().hex}"


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'store.db'}"
