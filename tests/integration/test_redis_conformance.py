"""Every conformance suite of the embedded backends, on plain Redis, Redis Stack (HNSW and FLAT Query Engine
indexes) and a 3-node Redis Cluster, sync and async."""

from __future__ import annotations

import pytest

from lix_integrations.testing.conformance import SemanticConformance
from lix_integrations.testing.conformance_embeddings import EmbeddingConformance
from lix_integrations.testing.conformance_kv import KvConformance
from lix_integrations.testing.conformance_lists import ListConformance
from lix_integrations.testing.conformance_tools import ToolConformance

SEARCH_MODES = ["plain", "stack-hnsw", "stack-flat", "cluster"]
STORAGE = ["plain", "stack-none", "cluster"]


class TestRedisSemantic(SemanticConformance):
    @pytest.fixture(params=SEARCH_MODES)
    def backend_url(self, request: pytest.FixtureRequest) -> str:
        return _url(request)


class TestRedisKv(KvConformance):
    @pytest.fixture(params=STORAGE)
    def backend_url(self, request: pytest.FixtureRequest) -> str:
        return _url(request)


class TestRedisLists(ListConformance):
    @pytest.fixture(params=STORAGE)
    def backend_url(self, request: pytest.FixtureRequest) -> str:
        return _url(request)


class TestRedisEmbeddings(EmbeddingConformance):
    @pytest.fixture(params=STORAGE)
    def backend_url(self, request: pytest.FixtureRequest) -> str:
        return _url(request)


class TestRedisTools(ToolConformance):
    @pytest.fixture(params=STORAGE)
    def backend_url(self, request: pytest.FixtureRequest) -> str:
        return _url(request)


def _url(request: pytest.FixtureRequest) -> str:
    from .conftest import with_prefix

    kind = str(request.param)
    if kind == "plain":
        return with_prefix(request.getfixturevalue("redis_plain_url"))
    if kind.startswith("stack-"):
        return with_prefix(request.getfixturevalue("redis_stack_url"), index=kind.split("-", 1)[1])
    return with_prefix(request.getfixturevalue("redis_cluster_url"))
