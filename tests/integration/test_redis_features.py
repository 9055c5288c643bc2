"""Issue 21's features on real servers: a threshold applied with ``store=True`` is kept with the data on Redis,
Valkey and a Cluster."""

from __future__ import annotations

import pytest

from lix_integrations import DEFAULT_THRESHOLD, Engine
from lix_integrations.testing import FakeEmbedder

from .conftest import with_prefix

SERVERS = {"plain": "redis_plain_url", "valkey": "valkey_url", "cluster": "redis_cluster_url"}


@pytest.fixture(params=list(SERVERS))
def url(request: pytest.FixtureRequest) -> str:
    return with_prefix(request.getfixturevalue(SERVERS[request.param]))


def test_a_stored_threshold_is_used_by_engines_opening_the_store(url: str) -> None:
    with Engine(url, embedder=FakeEmbedder()) as engine:
        assert engine.semantic.threshold == DEFAULT_THRESHOLD
        engine.semantic.set_threshold(0.61, store=True)
    with Engine(url, embedder=FakeEmbedder()) as reopened:
        assert reopened.semantic.threshold == 0.61
    with Engine(url, embedder=FakeEmbedder(), threshold=0.9) as explicit:
        assert explicit.semantic.threshold == 0.9
