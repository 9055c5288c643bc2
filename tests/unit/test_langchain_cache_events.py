"""Cache decisions reach LangChain callback handlers given to the cache, sync and async."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from lix_integrations.langchain import LixSemanticCache
from lix_integrations.testing import FakeEmbedder


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.events.append((name, data))


class AsyncRecorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.events.append((name, data))


class Broken(BaseCallbackHandler):
    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        raise RuntimeError("observer failure")


def test_sync_events_follow_each_decision() -> None:
    recorder = Recorder()
    cache = LixSemanticCache(
        url="memory://", embedder=FakeEmbedder(), threshold=0.7, callbacks=[Broken(), recorder]
    )
    model = FakeListChatModel(responses=["Paris", "other"], cache=cache)
    assert model.invoke("What is the capital city of France?").content == "Paris"
    assert model.invoke("What is the capital city of France?").content == "Paris"
    assert model.invoke("what is the capital city of france please").content == "Paris"
    names = [name for name, _ in recorder.events]
    assert names == ["lix_cache_lookup", "lix_cache_update", "lix_cache_lookup", "lix_cache_lookup"]
    outcomes = [data["outcome"] for name, data in recorder.events if name == "lix_cache_lookup"]
    assert outcomes == ["miss", "exact", "semantic"]
    assert recorder.events[1][1]["entry_id"] == recorder.events[2][1]["entry_id"]
    assert 0.7 <= recorder.events[3][1]["similarity"] < 1.0


def test_async_handlers_receive_events_from_async_calls() -> None:
    sync_rec, async_rec = Recorder(), AsyncRecorder()
    cache = LixSemanticCache(url="memory://", embedder=FakeEmbedder(), callbacks=[sync_rec, async_rec])
    model = FakeListChatModel(responses=["Paris"], cache=cache)

    async def run() -> None:
        await model.ainvoke("capital of France?")
        await model.ainvoke("capital of France?")

    asyncio.run(run())
    for recorder in (sync_rec, async_rec):
        assert [data.get("outcome") for _, data in recorder.events] == ["miss", None, "exact"]
    model.invoke("capital of France?")  # a sync call skips the async handler
    assert len(async_rec.events) == 3 and len(sync_rec.events) == 4
