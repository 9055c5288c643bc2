"""LixNodeCache on the embedded backends, sync and async (Redis, Valkey and Cluster: tests/integration)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytest.importorskip("langgraph")

from lix_integrations.testing.conformance_node_cache import NodeCacheConformance


class TestMemoryNodeCache(NodeCacheConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://nodecache-{uuid.uuid4().hex}"


class TestSQLiteNodeCache(NodeCacheConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'cache.db'}"
