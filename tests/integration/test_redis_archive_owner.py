"""Session archives on Redis: two stores (prefixes) given one ``archive_dir`` are kept apart, one store reached
by other URLs or after losing its keys keeps its archives, and the eviction warning names the store without its
password. See tests/unit/test_archive_owner.py for the embedded stores."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
import redis

from lix_integrations import Engine
from lix_integrations.errors import ConfigError
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.redis_servers import ServerUnavailable, start_valkey
from lix_integrations.tiers.sessions import SessionConfig

from .conftest import _unavailable, with_prefix


def _config(archive_dir: Path) -> SessionConfig:
    return SessionConfig(hot_window=2, archive_batch=2, archive_dir=str(archive_dir))


def _fill(engine: Engine, who: str, count: int = 8) -> None:
    for i in range(count):
        engine.sessions.add_message("s1", {"role": "user", "content": f"{who}{i}"})


def _contents(engine: Engine) -> list[str]:
    return [m["content"] for m in engine.sessions.get_full_history("s1")]


def test_two_prefixes_given_one_archive_dir_never_share_a_session(
    redis_plain_url: str, tmp_path: Path
) -> None:
    """Regression: before the owner record, prefix B's ``s1`` read A0..A5 (A's archive) followed by its own B6,
    B7, and its own first six messages were lost (measured 2026-12-05)."""
    archives = tmp_path / "archives"
    with Engine(with_prefix(redis_plain_url), embedder=FakeEmbedder(), sessions=_config(archives)) as a:
        _fill(a, "A")
        with Engine(with_prefix(redis_plain_url), embedder=FakeEmbedder(), sessions=_config(archives)) as b:
            with pytest.raises(ConfigError, match="holds the archives of another store"):
                _fill(b, "B")
        assert _contents(a) == [f"A{i}" for i in range(8)]


def test_one_store_by_other_urls_or_after_losing_its_keys_keeps_its_archives(
    redis_plain_url: str, tmp_path: Path
) -> None:
    """Another host name and other options (another address, the same store id), then every key of the prefix
    gone (a new id, the same address): the store is the directory's each time."""
    archives = tmp_path / "archives"
    url = with_prefix(redis_plain_url)
    with Engine(url, embedder=FakeEmbedder(), sessions=_config(archives)) as a:
        _fill(a, "A")
    other = url.replace("127.0.0.1", "localhost", 1) + "&socket_timeout=7"
    assert other != url
    with Engine(other, embedder=FakeEmbedder(), sessions=_config(archives)) as again:
        _fill(again, "B", 2)
        assert _contents(again) == [f"A{i}" for i in range(8)] + ["B0", "B1"]
    prefix = url.rsplit("prefix=", 1)[1]
    client = redis.Redis.from_url(redis_plain_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    assert keys
    client.delete(*keys)
    with Engine(url, embedder=FakeEmbedder(), sessions=_config(archives)) as lost:
        lost.sessions.add_message("s1", {"role": "user", "content": "after"})  # not refused
        history = _contents(lost)
        assert history[-1] == "after" and set(history) <= {f"A{i}" for i in range(8)} | {"B0", "B1", "after"}


def test_the_session_eviction_warning_never_shows_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: the WARNING that a store may evict session keys named the store by the URL that names its
    archive directory, whose query password was not redacted: ``store redis://...?password=<the password> has
    maxmemory-policy allkeys-lru`` (2026-12-05)."""
    password = "pw-" + uuid.uuid4().hex
    try:
        server = start_valkey(
            tmp_path,
            ["--requirepass", password, "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"],
        )
    except ServerUnavailable as exc:
        _unavailable("valkey-server with requirepass", exc)
        return
    try:
        caplog.set_level(logging.DEBUG, logger="lix_integrations")
        with Engine(with_prefix(server.url, password=password), embedder=FakeEmbedder()) as engine:
            engine.sessions.add_message("s", {"role": "user", "content": "hi"})
        assert "maxmemory-policy allkeys-lru" in caplog.text
        assert password not in caplog.text
    finally:
        server.stop()
