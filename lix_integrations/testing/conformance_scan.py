"""Storage-level conformance for `ScanEntries` (the listing behind
``engine.semantic.entries()`` and ``lix inspect``): id order, paging, scope and model filters, no vectors.

Subclass `ScanConformance` and provide a ``backend_url`` fixture returning a fresh store's URL.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernel.ops import ScanEntries, SemanticRecord, Upsert
from .drivers import OpDriver, driver_fixture
from .suite import BackendSuite

__all__ = ["ScanConformance"]

NS = "conformance-scan"


def _record(i: int, scope: str, llm_key: str, expires_at: float | None = None) -> SemanticRecord:
    vector = np.zeros(4, dtype=np.float32)
    vector[i % 4] = 1.0
    return SemanticRecord(
        exact_key=f"exact-{i}",
        partition=f"part-{scope}-{llm_key}",
        scope=scope,
        llm_key=llm_key,
        prompt=f"prompt {i}",
        vector=vector,
        payload=f"payload {i}",
        created_at=1000.0 + i,
        expires_at=expires_at,
        accessed_at=1000.0 + i,
    )


class ScanConformance(BackendSuite):
    run = driver_fixture(OpDriver)

    def _fill(self, run: Any) -> list[int]:
        specs = [
            ("global", "m1"),
            ("tenant", "m1"),
            ("tenant/user-1", "m2"),
            ("tenantx", "m1"),
            ("global", "m2"),
        ]
        ids = []
        for i, (scope, llm) in enumerate(specs):
            ids.append(run(Upsert(NS, _record(i, scope, llm, expires_at=1.0 if i == 4 else None))))
        return ids

    def test_lists_in_id_order_without_vectors(self, run: Any) -> None:
        ids = self._fill(run)
        found = run(ScanEntries(NS))
        assert [r.id for r in found] == sorted(ids)
        assert [r.payload for r in found] == [f"payload {i}" for i in range(5)]
        assert all(r.vector is None for r in found)
        assert found[4].expires_at == 1.0  # expired records are listed; the caller marks them
        assert found[1].created_at == 1001.0 and found[1].prompt == "prompt 1"

    def test_pages_with_after_id_and_limit(self, run: Any) -> None:
        ids = sorted(self._fill(run))
        first = run(ScanEntries(NS, limit=2))
        rest = run(ScanEntries(NS, after_id=first[-1].id, limit=10))
        assert [r.id for r in first + rest] == ids
        assert run(ScanEntries(NS, after_id=ids[-1])) == []

    def test_scope_filter_includes_nested_scopes_only(self, run: Any) -> None:
        self._fill(run)
        assert [r.scope for r in run(ScanEntries(NS, scope="tenant"))] == ["tenant", "tenant/user-1"]

    def test_model_filter_and_both(self, run: Any) -> None:
        self._fill(run)
        assert [r.payload for r in run(ScanEntries(NS, llm_key="m2"))] == ["payload 2", "payload 4"]
        assert [r.payload for r in run(ScanEntries(NS, scope="tenant", llm_key="m2"))] == ["payload 2"]

    def test_other_namespaces_are_not_listed(self, run: Any) -> None:
        self._fill(run)
        assert run(ScanEntries("another-namespace")) == []
