"""Valkey and Sentinel URLs (issue 21): ``valkey://``, ``valkeys://``, ``valkey+cluster://`` and
``redis+sentinel://[user:pw@]host:port[,host:port]/service[/db]`` parse as their Redis twins; bad ones are a
ConfigError naming the problem, never showing the password."""

from __future__ import annotations

import pytest

from lix_integrations import ConfigError
from lix_integrations.backends.redis import parse_redis_url, redact


@pytest.mark.parametrize(
    ("url", "tls", "cluster"),
    [
        ("valkey://127.0.0.1:6379/2", False, False),
        ("valkeys://u:pw@127.0.0.1:6380/0", True, False),
        ("valkey+cluster://127.0.0.1:7000", False, True),
        ("valkeys+cluster://127.0.0.1:7000", True, True),
    ],
)
def test_valkey_schemes_are_redis_urls(url: str, tls: bool, cluster: bool) -> None:
    options = parse_redis_url(url)
    assert (options.tls, options.cluster) == (tls, cluster)
    assert options.client_url.startswith("rediss://" if tls else "redis://")
    assert options.client_url.split("://", 1)[1] == url.split("://", 1)[1]


def test_a_sentinel_url_names_its_sentinels_service_and_db() -> None:
    options = parse_redis_url(
        "redis+sentinel://app:s3cret@10.0.0.1:26379,sentinel-b:26380/orders/3?prefix=shop"
    )
    assert options.sentinels == (("10.0.0.1", 26379), ("sentinel-b", 26380))
    assert options.service == "orders" and options.prefix == "shop" and not options.cluster
    assert options.client_url == "redis://app:s3cret@localhost/3"


def test_sentinel_defaults_port_service_and_db() -> None:
    options = parse_redis_url("valkey+sentinel://sentinel-a")
    assert options.sentinels == (("sentinel-a", 26379),) and options.service == "mymaster"
    assert options.client_url == "redis://localhost/0"
    assert parse_redis_url("rediss+sentinel://s:1/svc").tls


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://:pw@h:notaport/svc", "sentinel port must be a number"),
        ("redis+sentinel://:pw@h:0/svc", "sentinel port must be 1-65535"),
        ("redis+sentinel://:pw@,h:1/svc", "needs host:port"),
        ("redis+sentinel://:pw@h:1/svc/db/extra", "path is /service_name"),
        ("redis+sentinel://:pw@h:1/svc/x", "database must be a number"),
        ("redis+sentinel://:pw@h:1/sv%20c", "service name"),
        ("redis+sentinel://:pw@h:1/svc?cluster=true", "not both"),
        ("redis+foo://:pw@h:1", "not a Redis URL"),
        ("valkey+sentinel://:pw@h:1/svc?bogus=1", "unknown Redis URL option"),
    ],
)
def test_bad_sentinel_urls_are_refused_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_redis_url(url)
    assert "pw" not in str(caught.value)


def test_a_sentinel_url_is_redacted() -> None:
    shown = redact("redis+sentinel://app:s3cret@h1:26379,h2:26380/orders/0")
    assert "s3cret" not in shown and "h1:26379,h2:26380/orders/0" in shown
