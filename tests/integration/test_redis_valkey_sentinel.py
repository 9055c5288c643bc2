"""Valkey URLs against Valkey 9 and ``redis+sentinel://`` against a real Sentinel (issue 21).

The plain-Redis batteries (tests/integration/test_redis_conformance.py and the others parametrized with
``valkey``) run on Valkey 9 through its ``valkey://`` URL (the ``valkey_url`` fixture); here the Sentinel:
a sentinel started by the fixture watches a password-protected Valkey primary, and the engine finds it there.
"""

from __future__ import annotations

import pytest

from lix_integrations import AsyncEngine, BackendError, Engine
from lix_integrations.testing import FakeEmbedder

from .conftest import SENTINEL_PRIMARY_PASSWORD, with_prefix


def test_the_valkey_fixture_is_a_valkey_url_on_valkey_9(valkey_url: str) -> None:
    import redis

    from lix_integrations.backends.redis import parse_redis_url

    assert valkey_url.startswith("valkey://")
    client = redis.Redis.from_url(parse_redis_url(valkey_url).client_url)
    try:
        info = client.info("server")
    finally:
        client.close()
    assert "valkey_version" in info and str(info["valkey_version"]).startswith("9.")


def test_the_engine_works_through_a_sentinel(sentinel_url: str) -> None:
    url = with_prefix(sentinel_url)
    with Engine(url, embedder=FakeEmbedder()) as engine:
        engine.semantic.update("what is the capital of France", "m", "Paris")
        hit = engine.semantic.lookup("what is the capital of France", "m")
        assert hit is not None and hit.payload == "Paris"
        engine.sessions.add_messages("chat", [{"role": "user", "content": "hello"}])
        assert engine.sessions.get_full_history("chat") == [{"role": "user", "content": "hello"}]
    with Engine(url, embedder=FakeEmbedder()) as again:  # another engine finds the same primary
        assert again.sessions.count("chat") == 1


async def test_the_async_engine_works_through_a_sentinel(sentinel_url: str) -> None:
    engine = AsyncEngine(with_prefix(sentinel_url), embedder=FakeEmbedder())
    try:
        await engine.semantic.update("q", "m", "a")
        hit = await engine.semantic.lookup("q", "m")
        assert hit is not None and hit.payload == "a"
    finally:
        await engine.aclose()


def test_sentinel_credentials_never_show(sentinel_url: str, caplog: pytest.LogCaptureFixture) -> None:
    url = with_prefix(sentinel_url)
    with Engine(url, embedder=FakeEmbedder()) as engine:
        shown = [engine.url, repr(engine), str(engine._core.backend.url)]
    assert all(SENTINEL_PRIMARY_PASSWORD not in text for text in shown)
    wrong = with_prefix(
        sentinel_url.replace(SENTINEL_PRIMARY_PASSWORD, "not-the-" + SENTINEL_PRIMARY_PASSWORD)
    )
    with caplog.at_level("DEBUG"), pytest.raises(BackendError, match="invalid username-password") as caught:
        Engine(wrong, embedder=FakeEmbedder())  # a refused password is an error at open, as for redis://
    assert "redis+sentinel://:***@" in str(caught.value)
    assert "not-the-" not in str(caught.value) and "not-the-" not in caplog.text
    assert SENTINEL_PRIMARY_PASSWORD not in str(caught.value) + caplog.text
