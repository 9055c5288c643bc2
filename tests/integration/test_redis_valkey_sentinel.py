"""Valkey URLs against Valkey 9 and ``redis+sentinel://`` against a real Sentinel (issue 21).

The plain-Redis batteries (tests/integration/test_redis_conformance.py and the others parametrized with
``valkey``) run on Valkey 9 through its ``valkey://`` URL (the ``valkey_url`` fixture); here the Sentinel:
a sentinel started by the fixture watches a password-protected Valkey primary, and the engine finds it there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from lix_integrations import AsyncEngine, BackendError, Engine
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.redis_servers import start_sentinel, start_valkey

from .conftest import SENTINEL_PRIMARY_PASSWORD, with_prefix

APP_PASSWORD = "app-Only-pw"


@pytest.fixture(scope="module")
def acl_user_sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A primary whose ACL user ``app`` the URL names, behind a sentinel that has no such user: the sentinel
    refuses the URL's credentials (WRONGPASS) and must be asked without them."""
    work: Path = tmp_path_factory.mktemp("acl-sentinel")
    primary = start_valkey(work, ["--user", "app", "on", f">{APP_PASSWORD}", "~*", "&*", "+@all"])
    sentinel = start_sentinel(primary, "aclprimary", work / "sentinel")
    yield f"redis+sentinel://app:{APP_PASSWORD}@127.0.0.1:{sentinel.port}/aclprimary/0"
    sentinel.stop()
    primary.stop()


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


def test_the_engine_works_through_a_sentinel_that_requires_the_primarys_password(
    locked_sentinel_url: str,
) -> None:
    """Regression: the sentinels were always asked without credentials, so a sentinel with its own requirepass
    (Bitnami's chart sets the primary's) answered NOAUTH and no primary was found. They are offered the URL's
    credentials now, as langchain-community's get_client does, and asked without them when they refuse."""
    url = with_prefix(locked_sentinel_url)
    with Engine(url, embedder=FakeEmbedder()) as engine:
        engine.sessions.add_messages("chat", [{"role": "user", "content": "hello"}])
        assert engine.sessions.get_full_history("chat") == [{"role": "user", "content": "hello"}]
        assert SENTINEL_PRIMARY_PASSWORD not in repr(engine) + engine.url


async def test_the_async_engine_works_through_a_sentinel_that_requires_the_primarys_password(
    locked_sentinel_url: str,
) -> None:
    engine = AsyncEngine(with_prefix(locked_sentinel_url), embedder=FakeEmbedder())
    try:
        await engine.sessions.add_messages("chat", [{"role": "user", "content": "hi"}])
        assert await engine.sessions.get_full_history("chat") == [{"role": "user", "content": "hi"}]
    finally:
        await engine.aclose()


def test_a_sentinel_that_refuses_the_urls_credentials_is_asked_without_them(
    acl_user_sentinel_url: str,
) -> None:
    with Engine(with_prefix(acl_user_sentinel_url), embedder=FakeEmbedder()) as engine:
        engine.kv.put("k", {"v": 1}, "c")
        assert engine.kv.get("k", "c") == {"v": 1}
        assert APP_PASSWORD not in repr(engine) + engine.url


async def test_an_async_sentinel_that_refuses_the_urls_credentials_is_asked_without_them(
    acl_user_sentinel_url: str,
) -> None:
    engine = AsyncEngine(with_prefix(acl_user_sentinel_url), embedder=FakeEmbedder())
    try:
        await engine.kv.put("k", {"v": 1}, "c")
        assert await engine.kv.get("k", "c") == {"v": 1}
    finally:
        await engine.aclose()


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


async def test_concurrent_first_calls_through_a_sentinel_that_refuses_the_credentials(
    acl_user_sentinel_url: str,
) -> None:
    """Regression (review of 5d5dfc0): each discovery that found no primary switched one way shared by all and
    switched it back when its retry failed, so discoveries at once undid each other (70 of 160 failed with "No
    master found"). Each sentinel now keeps both clients and switches only on its own refusal."""
    for _ in range(5):
        engine = AsyncEngine(
            with_prefix(acl_user_sentinel_url, autopipeline="false"), embedder=FakeEmbedder()
        )
        try:
            results = await asyncio.gather(
                *(engine.kv.put(f"k{i}", {"v": i}, "c") for i in range(16)), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            assert not errors, errors[:1]
        finally:
            await engine.aclose()


def test_concurrent_first_calls_on_a_second_event_loop(acl_user_sentinel_url: str) -> None:
    """Each event loop has its own async client, hence its own sentinel manager that learns the way anew."""
    engine = AsyncEngine(with_prefix(acl_user_sentinel_url, autopipeline="false"), embedder=FakeEmbedder())

    async def burst() -> list[BaseException]:
        results = await asyncio.gather(
            *(engine.kv.put(f"k{i}", {"v": i}, "c") for i in range(16)), return_exceptions=True
        )
        return [r for r in results if isinstance(r, BaseException)]

    try:
        first = asyncio.run(burst())
        second = asyncio.run(burst())
        third = asyncio.run(burst())
        assert (first, second, third) == ([], [], []), (first[:1], second[:1], third[:1])
    finally:
        asyncio.run(engine.aclose())
