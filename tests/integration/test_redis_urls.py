"""Redis URL handling: options, cluster flags, redaction, ACL users, database numbers, hostile key parts."""

from __future__ import annotations

import pytest
import redis

from lix_integrations.backends import open_backend
from lix_integrations.backends.redis import parse_redis_url, redact
from lix_integrations.backends.redis.keys import esc, kv_base, list_base, unesc
from lix_integrations.errors import BackendError, ConfigError
from lix_integrations.kernel.ops import KvGet, KvItem, KvPut, ListAppend, ListKeys

from .conftest import with_prefix


def test_options_are_parsed_and_removed() -> None:
    opts = parse_redis_url(
        "rediss://u:pw@h:6380/2?index=flat&prefix=app&partition_limit=64&ssl_cert_reqs=none"
    )
    assert (opts.tls, opts.cluster, opts.index, opts.prefix, opts.partition_limit) == (
        True,
        False,
        "flat",
        "app",
        64,
    )
    assert opts.client_url == "rediss://u:pw@h:6380/2?ssl_cert_reqs=none"
    assert parse_redis_url("redis+cluster://h:7000").cluster
    assert parse_redis_url("redis://h?cluster=true").cluster
    assert parse_redis_url("redis://h?cluster=true").index == "none"
    tuned = parse_redis_url("redis://h?ef_runtime=64&autopipeline=false&socket_timeout=5")
    assert (tuned.ef_runtime, tuned.autopipeline, tuned.client_url, tuned.socket_timeout) == (
        64,
        False,
        "redis://h",
        5.0,
    )
    default = parse_redis_url("redis://h")
    assert (default.ef_runtime, default.hnsw_m, default.ef_construction, default.autopipeline) == (
        50,
        12,
        40,
        True,
    )
    graph = parse_redis_url("redis://h?hnsw_m=16&ef_construction=100")
    assert (graph.hnsw_m, graph.ef_construction, graph.client_url) == (16, 100, "redis://h")


@pytest.mark.parametrize(
    "url",
    ["redis://h?index=ivf", "redis://h?prefix=a:b", "redis://h?partition_limit=0", "redis://h?cluster=maybe",
     "redis+cluster://h?index=hnsw", "redis+cluster://h/3", "redis://h?ef_runtime=0", "redis://h?ef_runtime=x",
     "redis://h?autopipeline=sometimes", "redis://h?hnsw_m=1", "redis://h?hnsw_m=513", "redis://h?hnsw_m=x"],
)  # fmt: skip
def test_bad_options_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_backend(url)


def test_password_is_redacted() -> None:
    assert redact("redis://alice:s3cret@h:6379/0") == "redis://alice:***@h:6379/0"
    assert redact("redis://:s3cret@h") == "redis://:***@h"
    backend = open_backend("redis://alice:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in backend.url
    with pytest.raises(BackendError) as info:
        backend.execute(KvGet("n", "t", ("k",), 0.0))
    assert "s3cret" not in str(info.value)


def test_hostile_key_parts_stay_in_their_unit() -> None:
    for text in ["a}b", "{x}", "*", "a/b:c", "%41", "ключ 🔑", "\x00\n"]:
        assert unesc(esc(text)) == text
        assert not any(c in esc(text) for c in "{}*?[]/: ")
    assert kv_base("lix", "n}", "t") != kv_base("lix", "n", "}t")
    assert list_base("lix", "n", "a/b").count("{") == 1


def test_acl_user_and_database_number(redis_plain_url: str) -> None:
    admin = redis.Redis.from_url(redis_plain_url)
    admin.execute_command("ACL", "SETUSER", "lixuser", "on", ">pw-123", "~*", "+@all")
    try:
        host = redis_plain_url.split("//", 1)[1].split("/", 1)[0]
        url = with_prefix(f"redis://lixuser:pw-123@{host}/3")
        backend = open_backend(url)
        backend.execute(KvPut("n", "t", (KvItem("k", b"v"),), 0.0))
        assert backend.execute(KvGet("n", "t", ("k",), 0.0)) == [b"v"]
        assert redis.Redis.from_url(f"redis://{host}/3").dbsize() > 0
        backend.execute(ListAppend("n", "a}*", (b"x",), 0.0))
        assert backend.execute(ListKeys("n")) == ["a}*"]
        wrong = open_backend(f"redis://lixuser:wrong@{host}/3")
        with pytest.raises(BackendError):
            wrong.execute(KvGet("n", "t", ("k",), 0.0))
    finally:
        admin.execute_command("ACL", "DELUSER", "lixuser")
