"""``engine.semantic.answer``: the model-call step adapters delegate (lookup, call on a miss, store or release),
one flow for the blocking and the awaitable view."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from lix_integrations import AsyncEngine, Engine
from lix_integrations.engine.semantic_api import CallKey
from lix_integrations.testing.fakes import FakeEmbedder

KEY = CallKey(text="what is the capital of france", context="", llm_string="m")


def _encode(value: Any) -> tuple[str, None] | None:
    return None if value is None else (json.dumps(value), None)


OPTIONS: dict[str, Any] = {"encode": _encode, "decode": json.loads}


def _counting(value: Any) -> tuple[Callable[[], Any], list[int]]:
    calls: list[int] = []

    def compute() -> Any:
        calls.append(1)
        return value

    return compute, calls


def test_miss_calls_and_stores_then_hit_serves_decoded() -> None:
    with Engine("memory://", embedder=FakeEmbedder()) as engine:
        compute, calls = _counting({"a": "paris"})
        first = engine.semantic.answer(KEY, compute, **OPTIONS)
        second = engine.semantic.answer(KEY, compute, **OPTIONS)
        assert (first.value, first.hit) == ({"a": "paris"}, None)
        assert second.value == {"a": "paris"} and second.hit is not None and second.hit.kind == "exact"
        assert len(calls) == 1


async def test_awaitable_view_awaits_the_call() -> None:
    async def compute() -> Any:
        await asyncio.sleep(0)
        return {"a": "paris"}

    async with AsyncEngine("memory://", embedder=FakeEmbedder()) as engine:
        assert (await engine.semantic.answer(KEY, compute, coalesce=True, **OPTIONS)).hit is None
        assert (await engine.semantic.answer(KEY, compute, **OPTIONS)).value == {"a": "paris"}


def test_nothing_to_store_and_refused_prompt_call_the_model_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Engine("memory://", embedder=FakeEmbedder()) as engine:
        compute, calls = _counting(None)  # encode gives nothing to store
        engine.semantic.answer(KEY, compute, coalesce=True, **OPTIONS)
        engine.semantic.answer(KEY, compute, coalesce=True, **OPTIONS)
        refused = CallKey(text="   ", context="", llm_string="m")
        with caplog.at_level(logging.WARNING):
            assert engine.semantic.answer(refused, lambda: 1, **OPTIONS).value == 1
        assert len(calls) == 2 and engine.semantic.count() == 0
        assert any("prompt not looked up" in r.getMessage() for r in caplog.records)


def test_unreadable_entry_is_deleted_and_the_model_called() -> None:
    with Engine("memory://", embedder=FakeEmbedder()) as engine:
        engine.semantic.update(KEY.text, KEY.llm_string, "{not json")
        compute, calls = _counting({"a": "paris"})
        assert engine.semantic.answer(KEY, compute, **OPTIONS).hit is None
        assert len(calls) == 1
        assert engine.semantic.answer(KEY, compute, **OPTIONS).hit is not None


def test_a_failed_call_is_not_stored_and_releases_its_flight() -> None:
    with Engine("memory://", embedder=FakeEmbedder()) as engine:

        def boom() -> Any:
            raise RuntimeError("model down")

        with pytest.raises(RuntimeError, match="model down"):
            engine.semantic.answer(KEY, boom, coalesce=True, **OPTIONS)
        compute, calls = _counting({"a": "paris"})
        # Not left waiting for the failed call: this one leads and calls the model.
        assert engine.semantic.answer(KEY, compute, coalesce=True, **OPTIONS).hit is None
        assert len(calls) == 1


def test_a_result_encode_raises_on_is_returned_and_not_stored(caplog: pytest.LogCaptureFixture) -> None:
    """Caches fail open: ``encode`` raising (an answer that does not serialize) must not fail a model call that
    succeeded. The engine logs it and stores nothing, so every adapter gets this once instead of each catching its
    own serializer's error (the LangChain middleware did)."""

    def broken(value: Any) -> tuple[str, None]:
        raise ValueError("not JSON: a socket")

    with Engine("memory://", embedder=FakeEmbedder()) as engine:
        compute, calls = _counting({"a": "paris"})
        with caplog.at_level(logging.WARNING, logger="lix_integrations"):
            first = engine.semantic.answer(KEY, compute, encode=broken, decode=json.loads, coalesce=True)
        second = engine.semantic.answer(KEY, compute, **OPTIONS)
        assert (first.value, first.hit, second.hit) == ({"a": "paris"}, None, None)
        assert len(calls) == 2
        assert any("answer not cached: not JSON: a socket" in r.getMessage() for r in caplog.records)
