"""LangGraph node cache and store batteries on plain Redis, Valkey 9, Redis Stack and a 3-node Cluster, sync and
async (the embedded backends run them in tests/unit)."""

from __future__ import annotations

import pytest

pytest.importorskip("langgraph")

from lix_integrations.testing.conformance_node_cache import NodeCacheConformance
from lix_integrations.testing.conformance_store import StoreConformance

from .test_redis_conformance import STORAGE, _url


class TestRedisNodeCache(NodeCacheConformance):
    @pytest.fixture(params=STORAGE)
    def backend_url(self, request: pytest.FixtureRequest) -> str:
        return _url(request)


class TestRedisStore(StoreConformance):
    @pytest.fixture(params=STORAGE)
    def backend_url(self, request: pytest.FixtureRequest) -> str:
        return _url(request)
