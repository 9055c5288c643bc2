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


def _session_keys(url: str) -> list[bytes]:
    import redis

    from lix_integrations.backends.redis import parse_redis_url

    options = parse_redis_url(url)
    client = (redis.RedisCluster if options.cluster else redis.Redis).from_url(options.client_url)
    try:
        keys = client.keys(f"{options.prefix}*l/*") if not options.cluster else []
        if options.cluster:
            keys = list(
                client.scan_iter(match=f"{options.prefix}*l/*", target_nodes=redis.RedisCluster.ALL_NODES)
            )
        return sorted(keys)
    finally:
        client.close()


def test_the_server_drops_a_session_whose_ttl_passed(url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Real expiry: the session's keys carry the TTL on the server (refreshed by each write), and Redis itself
    drops them; the history then reads empty, and writing again is a new session, not a store loss."""
    import time

    from langchain_core.messages import HumanMessage

    from lix_integrations.langchain import LixChatMessageHistory

    with Engine(url, embedder=FakeEmbedder()) as engine:
        history = LixChatMessageHistory("ttl-session", engine, ttl=0.5)
        history.add_messages([HumanMessage("a"), HumanMessage("b")])
        assert len(_session_keys(url)) == 3  # meta, seqs, vals: all three expire together
        deadline = time.monotonic() + 10  # bounded: the server expires keys within ~100 ms of their TTL
        while _session_keys(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _session_keys(url) == []
        assert history.messages == [] and len(history) == 0
        with caplog.at_level("WARNING"):
            history.add_messages([HumanMessage("again")])
        assert [m.content for m in history.messages] == ["again"]
        assert not [r for r in caplog.records if "lost" in r.getMessage()]
        assert engine.stats().sessions.store_losses == 0  # type: ignore[union-attr]
