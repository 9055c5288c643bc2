"""Every adapter's contract: ``engine=`` an engine to share or ``url=`` a store to open; each package's exports."""

from __future__ import annotations

import warnings

import pytest

from lix_integrations import Engine
from lix_integrations.errors import ConfigError
from lix_integrations.testing.fakes import FakeEmbedder


def test_langchain_package_exports_are_pinned() -> None:
    import lix_integrations.langchain as lc

    assert sorted(lc.__all__) == [
        "EmbeddingConfig",
        "EngineConfig",
        "InvalidationRule",
        "LixCacheMiddleware",
        "LixCachedEmbeddings",
        "LixCachedTool",
        "LixChatMessageHistory",
        "LixSemanticCache",
        "LixToolCacheMiddleware",
        "SessionConfig",
        "ToolPolicy",
        "ToolsConfig",
        "cache_tools",
    ]
    for name in lc.__all__:
        if name not in ("LixCacheMiddleware", "LixToolCacheMiddleware"):  # lazy: need the agents extra
            assert getattr(lc, name) is not None


def test_llama_index_package_exports_are_pinned() -> None:
    import lix_integrations.llama_index as li

    assert sorted(li.__all__) == [
        "EmbeddingConfig",
        "EngineConfig",
        "KvConfig",
        "LixCachedEmbedding",
        "LixCachedFunctionCallingLLM",
        "LixCachedLLM",
        "LixCachedTool",
        "LixChatStore",
        "LixDBChatStore",
        "LixKVStore",
        "SessionConfig",
        "ToolPolicy",
        "ToolsConfig",
    ]
    assert all(getattr(li, name) is not None for name in li.__all__)


def test_an_adapter_opens_a_store_from_url() -> None:
    from lix_integrations.langchain import LixSemanticCache

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the supported spelling warns about nothing
        cache = LixSemanticCache(url="memory://contract-a", embedder=FakeEmbedder())
    assert cache.engine.url == "memory://contract-a"
    cache.engine.close()


def test_a_url_given_as_engine_still_works_with_a_deprecation_warning_naming_url() -> None:
    from lix_integrations.langchain import LixSemanticCache

    with pytest.warns(DeprecationWarning, match="url=") as caught:
        cache = LixSemanticCache("redis://:secret@localhost:1/0", fail_open=True, embedder=FakeEmbedder())
    assert "secret" not in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller's line
    cache.engine.close()


def test_engine_and_url_together_are_refused(engine: Engine) -> None:
    from lix_integrations.langchain import LixSemanticCache

    with pytest.raises(ConfigError, match="not both"):
        LixSemanticCache(engine, url="memory://other")


@pytest.fixture
def engine() -> Engine:
    return Engine("memory://", embedder=FakeEmbedder())
