"""The LangGraph checkpointer on plain Redis (no modules), Valkey 9 and a Redis Cluster: the conformance suite
(base and extended), one hash slot per thread, and tombstones against a racing writer on a real server."""

from __future__ import annotations

import pytest
import redis

from lix_integrations.langgraph import LixCheckpointSaver
from lix_integrations.testing.conformance_checkpoints import assert_all_passed, run_checkpoint_conformance

from .conftest import with_prefix

KINDS = ["redis_plain_url", "valkey_url", "redis_cluster_url"]


@pytest.mark.parametrize("hot_window", [None, 2])
@pytest.mark.parametrize("kind", KINDS)
async def test_conformance_suite_passes_every_capability(
    kind: str, hot_window: int | None, request: pytest.FixtureRequest
) -> None:
    """Also with a hot window of 2: older checkpoints are read back from the thread's archive."""
    base = request.getfixturevalue(kind)
    report = await run_checkpoint_conformance(
        lambda: LixCheckpointSaver(url=with_prefix(base), hot_window=hot_window)
    )
    assert_all_passed(report)


@pytest.mark.parametrize("kind", ["redis_plain_url", "redis_cluster_url"])
def test_the_archive_keeps_every_checkpoint_on_redis(kind: str, request: pytest.FixtureRequest) -> None:
    from tests.unit.test_langgraph_checkpoint_archive import check_archive_keeps_every_checkpoint

    check_archive_keeps_every_checkpoint(with_prefix(request.getfixturevalue(kind)))


@pytest.mark.parametrize("kind", ["redis_plain_url", "redis_cluster_url"])
def test_a_fork_of_an_archived_checkpoint_keeps_its_values_on_redis(
    kind: str, request: pytest.FixtureRequest
) -> None:
    from tests.unit.test_langgraph_checkpoint_archive import check_fork_keeps_its_values

    check_fork_keeps_its_values(with_prefix(request.getfixturevalue(kind)))


@pytest.mark.parametrize("kind", ["redis_plain_url", "redis_cluster_url"])
def test_a_racing_writer_with_an_archive_never_revives_a_deleted_thread_on_redis(
    kind: str, request: pytest.FixtureRequest
) -> None:
    from tests.unit.test_langgraph_checkpoint import _race

    _race(with_prefix(request.getfixturevalue(kind)), "arace/redis", 7, hot_window=2)


def test_every_key_of_a_thread_is_in_one_cluster_slot(redis_cluster_url: str) -> None:
    from lix_integrations.testing.agent_threads import write_thread

    prefix = "t" + __import__("uuid").uuid4().hex[:12]
    saver = LixCheckpointSaver(url=with_prefix(redis_cluster_url, prefix=prefix))
    try:
        write_thread(saver, "thread/with:odd{chars}", turns=6, namespaces=("", "child:1"))
        client = redis.cluster.RedisCluster.from_url(redis_cluster_url.replace("redis+cluster", "redis"))
        keys = [
            k.decode()
            for k in client.scan_iter(match=f"{prefix}:*", target_nodes=redis.cluster.RedisCluster.ALL_NODES)
        ]
        thread_keys = [k for k in keys if "lg%2Fthread%2Fwith%3Aodd%7Bchars%7D" in k]
        assert len(thread_keys) > 10
        assert len({client.keyslot(k) for k in thread_keys}) == 1
        assert saver.get_tuple({"configurable": {"thread_id": "thread/with:odd{chars}"}}) is not None
        client.close()
    finally:
        saver.close()


@pytest.mark.parametrize("kind", ["redis_plain_url", "redis_cluster_url"])
def test_a_racing_writer_never_revives_a_deleted_thread_on_redis(
    kind: str, request: pytest.FixtureRequest
) -> None:
    from tests.unit.test_langgraph_checkpoint import _race

    _race(with_prefix(request.getfixturevalue(kind)), "race/redis", 5)


@pytest.mark.parametrize("kind", ["redis_plain_url", "valkey_url", "redis_cluster_url"])
def test_ttl_keep_last_and_prune_on_redis(kind: str, request: pytest.FixtureRequest) -> None:
    from lix_integrations.testing import FakeClock
    from lix_integrations.testing.agent_threads import write_thread

    url = with_prefix(request.getfixturevalue(kind))
    clock = FakeClock()
    saver = LixCheckpointSaver(url=url, ttl=60, keep_last=3, clock=clock)
    write_thread(saver, "kept", turns=4, words=10)
    history = list(saver.list({"configurable": {"thread_id": "kept"}}))
    assert len(history) == 3 and all(len(t.checkpoint["channel_values"]["messages"]) >= 8 for t in history)
    clock.advance(61)
    assert saver.get_tuple({"configurable": {"thread_id": "kept"}}) is None
    assert saver.sweep_expired() == 1
    saver.close()
