"""The adapters' own test batteries on Redis: LangChain's standard cache suites and the chat-history batteries
(LangChain message history, LlamaIndex chat stores, memory buffers, agents) on plain Redis and Redis Cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.caches import BaseCache
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from lix_integrations import AsyncEngine, Engine
from lix_integrations.langchain import LixSemanticCache
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig
from tests.unit import test_chat_adapters as chat

from .conftest import with_prefix

# Re-collect the chat batteries here, with the ``engine`` fixture below (Redis) instead of memory/SQLite.
for _name in dir(chat):
    if _name.startswith("test_"):
        globals()[_name] = getattr(chat, _name)
langchain_messages = chat.langchain_messages
li_messages = chat.li_messages


@pytest.fixture(params=["plain", "cluster"])
def redis_url(request: pytest.FixtureRequest) -> str:
    name = "redis_plain_url" if request.param == "plain" else "redis_cluster_url"
    return with_prefix(request.getfixturevalue(name))


@pytest.fixture
def engine(redis_url: str, tmp_path: Path) -> Iterator[Engine]:
    config = SessionConfig(hot_window=3, archive_batch=2, archive_dir=str(tmp_path / "archive"))
    e = Engine(redis_url, embedder=FakeEmbedder(), sessions=config)
    yield e
    e.close()


class TestRedisCacheSync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, redis_url: str) -> BaseCache:
        return LixSemanticCache(url=redis_url, embedder=FakeEmbedder())


class TestRedisCacheAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self, redis_url: str) -> BaseCache:
        return LixSemanticCache(AsyncEngine(redis_url, embedder=FakeEmbedder()))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_kv_keys_of_any_length(redis_url: str, mode: str) -> None:
    """Issue 15, trap 2 on Redis: keys past 4,096 characters (a chunk's text) stored under a digest, read back whole."""
    from lix_integrations.llama_index import LixKVStore
    from tests.unit.test_llama_index_kvstore import Driver, test_long_keys_round_trip

    store = LixKVStore(url=redis_url, embedder=FakeEmbedder())
    test_long_keys_round_trip(Driver(store, mode))
    store._engine.close()
