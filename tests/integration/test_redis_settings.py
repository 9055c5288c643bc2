"""Settings stored with the data they describe, on Redis, Valkey, Redis Stack and a Cluster (issue 16 item 6).

An engine given no embedder serves key-value data, sessions, checkpoints and tools on a store whose semantic
entries another model wrote; its semantic tier is refused there. The settings hash keeps what was stored,
including the four fields an earlier release wrote at every open (see ``engine/stored_settings.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lix_integrations import AsyncEngine, Engine
from lix_integrations.errors import SettingsMismatchError
from lix_integrations.kernel.ops import EnsureSettings
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.session_base import STORE_ID
from lix_integrations.tiers.tools import ToolPolicy
from tests.integration.conftest import with_prefix
from tests.unit.test_stored_settings import _checkpoint

RETIRED = FakeEmbedder(16, name="retired/embedder-v1")
#: What the release before this change stored at the first open of any engine given no embedder (KV only).
OLD_DEFAULT_SETTINGS = {
    "embedder": "sentence-transformers/all-MiniLM-L6-v2",
    "metric": "cosine",
    "serialization": "1",
    "dimension": "384",
}


@pytest.fixture(params=["redis_plain_url", "valkey_url", "redis_stack_url", "redis_cluster_url"])
def url(request: pytest.FixtureRequest) -> str:
    return with_prefix(request.getfixturevalue(request.param))


def _stored(engine: Engine) -> dict[str, str]:
    """The settings as stored, but the store's id, which the session tier adds once (see
    tests/unit/test_stored_settings.py)."""
    result: dict[str, str] = engine._core.backend.execute(EnsureSettings(engine.namespace, {}))
    result.pop(STORE_ID, None)
    return result


@pytest.fixture
def written(url: str) -> Iterator[str]:
    with Engine(url, embedder=RETIRED) as writer:
        writer.semantic.update("what is the capital of france", "llm-a", "Paris")
        writer.kv.put("doc-1", {"title": "kept"}, "docstore/data")
        writer.sessions.add_messages("user-1", [{"role": "user", "content": "hello"}])
    yield url


def test_no_embedder_serves_kv_sessions_checkpoints_and_tools(written: str) -> None:
    from lix_integrations.langgraph import LixCheckpointSaver

    with Engine(written, fail_open=False) as engine:
        assert engine.kv.get("doc-1", "docstore/data") == {"title": "kept"}
        assert engine.sessions.add_messages("user-1", [{"role": "assistant", "content": "hi"}]) == [2]
        assert [m["content"] for m in engine.sessions.get_full_history("user-1")] == ["hello", "hi"]
        saver = LixCheckpointSaver(engine=engine)
        _checkpoint(saver, "thread-1")
        saved = saver.get_tuple({"configurable": {"thread_id": "thread-1"}})
        assert saved is not None and saved.checkpoint["channel_values"] == {"messages": ["hello"]}
        calls: list[int] = []
        for _ in range(2):
            engine.tools.call("lookup", {"q": 1}, lambda: calls.append(1) or 1, policy=ToolPolicy(ttl=None))
        assert calls == [1]
        assert engine.semantic.count() == 1
        assert engine._core._embedder is None
        with pytest.raises(SettingsMismatchError, match="embedder"):
            engine.semantic.lookup("how tall is the eiffel tower", "llm-a")
        assert _stored(engine) == {
            "embedder": RETIRED.name,
            "metric": "cosine",
            "serialization": "1",
            "dimension": "16",
        }


async def test_async_no_embedder_serves_sessions(written: str) -> None:
    engine = AsyncEngine(written, fail_open=False)
    try:
        await engine.sessions.add_messages("user-2", [{"role": "user", "content": "hi"}])
        assert await engine.sessions.count("user-2") == 1
        assert engine._core._embedder is None
    finally:
        await engine.aclose()


def test_semantic_mismatch_is_refused_and_the_same_model_hits(written: str) -> None:
    with pytest.raises(SettingsMismatchError, match="embedder"):
        Engine(written, embedder=FakeEmbedder(16, name="another-model"))
    with pytest.raises(SettingsMismatchError, match="dimension"):
        Engine(written, embedder=FakeEmbedder(8, name=RETIRED.name))
    with Engine(written, embedder=FakeEmbedder(16, name=RETIRED.name), fail_open=False) as same:
        hit = same.semantic.lookup("what is the capital of france", "llm-a")
        assert hit is not None and hit.payload == "Paris"


def test_a_kv_store_written_by_the_previous_release_keeps_its_settings(url: str) -> None:
    with Engine(url) as engine:
        engine._core.backend.execute(EnsureSettings(engine.namespace, dict(OLD_DEFAULT_SETTINGS)))
        engine.kv.put("k", {"v": 1}, "c")
    with Engine(url, fail_open=False) as engine:
        assert engine.kv.get("k", "c") == {"v": 1}
        assert _stored(engine) == OLD_DEFAULT_SETTINGS
    with pytest.raises(SettingsMismatchError, match="embedder"):
        Engine(url, embedder=RETIRED)
    with Engine(url) as engine:
        assert _stored(engine) == OLD_DEFAULT_SETTINGS


def test_a_fresh_namespace_stores_only_the_serialization_until_vectors_are_computed(url: str) -> None:
    with Engine(url, namespace="fresh") as engine:
        engine.kv.put("k", {"v": 1}, "c")
        assert _stored(engine) == {"serialization": "1"}
