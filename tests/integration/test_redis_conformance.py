"""Every conformance suite of the embedded backends, on plain Redis, Valkey 9, Redis Stack (HNSW and FLAT Query
Engine indexes, and the adaptive one switching from FLAT to HNSW) and a 3-node Redis Cluster, sync and async."""

from __future__ import annotations

import pytest

from lix_integrations.testing.conformance import SemanticConformance
from lix_integrations.testing.conformance_embeddings import EmbeddingConformance
from lix_integrations.testing.conformance_kv import KvConformance
from lix_integrations.testing.conformance_lists import ListConformance
from lix_integrations.testing.conformance_tools import ToolConformance

SEARCH_MODES = ["plain", "valkey", "stack-hnsw", "stack-flat", "stack-adaptive", "cluster"]
STORAGE = ["plain", "valkey", "stack-none", "cluster"]


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
    if kind == "valkey":
        return with_prefix(request.getfixturevalue("valkey_url"))
    if kind.startswith("stack-"):
        index = kind.split("-", 1)[1]
        grow = {"hnsw_from": "3"} if index == "adaptive" else {}  # most tests cross the FLAT-to-HNSW switch
        return with_prefix(request.getfixturevalue("redis_stack_url"), index=index, **grow)
    return with_prefix(request.getfixturevalue("redis_cluster_url"))


@pytest.mark.parametrize("kind", SEARCH_MODES)
def test_scan_entries_pages_by_id_without_vectors(kind: str, request: pytest.FixtureRequest) -> None:
    import numpy as np

    from lix_integrations.backends import open_backend
    from lix_integrations.kernel.ops import ScanEntries, SemanticRecord, Upsert

    request.param = kind  # type: ignore[attr-defined]
    backend = open_backend(_url(request))
    try:
        vec = np.ones(4, dtype=np.float32) / 2
        ids = []
        for i, scope in enumerate(["global", "user/a", "user/a/x", "user/b"]):
            rec = SemanticRecord(f"e{i}", "p", scope, "llm", f"q{i}", vec, "{}", 1.0, None, 1.0)
            ids.append(backend.execute(Upsert("ns", rec)))
        page = backend.execute(ScanEntries("ns", limit=2))
        assert [r.id for r in page] == ids[:2] and all(r.vector is None for r in page)
        rest = backend.execute(ScanEntries("ns", after_id=page[-1].id))
        assert [r.id for r in rest] == ids[2:]
        scoped = backend.execute(ScanEntries("ns", scope="user/a"))
        assert [r.scope for r in scoped] == ["user/a", "user/a/x"]
    finally:
        backend.close()
