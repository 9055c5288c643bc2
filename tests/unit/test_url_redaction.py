"""Issue 14, defect 5: a credential in a store URL never shows where the URL is printed.

Every credential form (userinfo password, a bare userinfo token, ``password=``, ``pass=`` and any option whose
name holds ``password``, ``secret`` or ``token``) is checked at every place the URL is printed: ``engine.url``,
``repr(engine)``, ``repr(engine.config)``, error messages (with their chained causes) and log records. The
Redis URLs point at a port nothing listens on, so the errors are real connection failures.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from lix_integrations import AsyncEngine, BackendError, ConfigError, Engine
from lix_integrations.backends import open_backend
from lix_integrations.backends.redis.url import parse_redis_url
from lix_integrations.redaction import redact_url
from lix_integrations.testing import FakeEmbedder

SECRET = "Zq9-SEKRET-7x"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _forms(host: str) -> list[str]:
    return [
        f"redis://app:{SECRET}@{host}/0",
        f"redis://:{SECRET}@{host}/0",
        f"redis://{SECRET}@{host}/0",
        f"redis://{host}/0?username=app&password={SECRET}",
        f"redis://{host}/0?pass={SECRET}",
        f"redis://{host}/0?prefix=p&sentinel_password={SECRET}",
        f"redis://{host}/0?client_secret={SECRET}&prefix=p",
        f"redis://{host}/0?auth_token={SECRET}",
        f"redis://{host}/0?PASSWORD={SECRET}",
        f"redis://u:{SECRET}@{host}/0?password={SECRET}&token={SECRET}",
    ]


FORMS = _forms("127.0.0.1:1")


def _text(exc: BaseException) -> str:
    """An error's message and every message chained to it."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts.append(f"{seen!s} {seen!r}")
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


@pytest.mark.parametrize("url", FORMS)
def test_redact_url_removes_every_credential_form(url: str) -> None:
    redacted = redact_url(url)
    assert SECRET not in redacted and "***" in redacted
    assert "127.0.0.1:1/0" in redacted  # host, port and database still say which store it is


def test_redact_url_keeps_urls_without_credentials() -> None:
    for url in ["sqlite:///tmp/x.db", "memory://", "redis://h:6379/0?prefix=p&index=none", "not a url"]:
        assert redact_url(url) == url
    assert redact_url("redis://app@h/0?ssl_keyfile=/k.pem") == "redis://***@h/0?ssl_keyfile=/k.pem"


@pytest.mark.parametrize("url", _forms("127.0.0.1:{port}"))
def test_no_credential_in_url_reprs_errors_or_logs(url: str, caplog: pytest.LogCaptureFixture) -> None:
    url = url.format(port=_closed_port())
    caplog.set_level(logging.DEBUG)
    printed: list[str] = []
    try:
        engine = AsyncEngine(url, embedder=FakeEmbedder(), fail_open=True)
    except ConfigError as refused:  # an option redis-py does not know is refused at open, by name only
        assert SECRET not in _text(refused) and "***" in _text(refused)
        return
    printed += [engine.url, repr(engine), repr(engine.config), str(engine.config), engine.sync.url]
    printed.append(repr(engine.sync))
    # Fail open: the lookup is a miss and the outage is logged (or the option is refused); both are printed.
    try:
        asyncio.run(engine.semantic.lookup("a question", "llm"))
    except Exception as exc:
        printed.append(_text(exc))
    strict = AsyncEngine(url, embedder=FakeEmbedder(), fail_open=False)
    with pytest.raises(Exception) as info:
        asyncio.run(strict.semantic.update("a question", "llm", "an answer"))
    printed.append(_text(info.value))
    # An engine opened while Redis is down opens as a miss-only cache (issue 15, trap 9); its sessions raise
    # an error naming the store, which must not show the password either.
    # An option redis-py does not know is refused at open with a ConfigError naming it (not its value).
    try:
        down = Engine(url, embedder=FakeEmbedder())
    except ConfigError as refused:
        printed.append(_text(refused))
    else:
        printed += [down.url, repr(down)]
        with pytest.raises(BackendError) as session_error:
            down.sessions.add_message("s", {"content": "x"})
        printed.append(_text(session_error.value))
        down.close()
    printed += [record.getMessage() for record in caplog.records]
    printed += [str(record.args) for record in caplog.records]
    assert all(SECRET not in text for text in printed), [t for t in printed if SECRET in t]
    assert any("***" in text for text in printed[:3])


def test_fail_open_warning_names_the_store_without_its_password(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0?username=app&password={SECRET}"
    engine = AsyncEngine(url, embedder=FakeEmbedder())
    with caplog.at_level(logging.WARNING):
        assert asyncio.run(engine.semantic.lookup("a question", "llm")) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all(SECRET not in w for w in warnings)
    assert any("password=***" in w for w in warnings)


@pytest.mark.parametrize(
    "url",
    [
        f"redis://u:{SECRET}@h/0?password={SECRET}&partition_limit=x",
        f"redis://u:{SECRET}@h/0?password={SECRET}&cluster=maybe",
        f"redis+cluster://u:{SECRET}@h/0?password={SECRET}&index=hnsw",
        f"nosuch://u:{SECRET}@h/0?password={SECRET}",
    ],
)
def test_config_errors_do_not_print_credentials(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        if url.startswith("nosuch"):
            open_backend(url)
        else:
            parse_redis_url(url)
    assert SECRET not in _text(info.value)


def test_redis_options_repr_hides_the_client_url() -> None:
    options = parse_redis_url(f"redis://u:{SECRET}@h/0?password={SECRET}")
    assert SECRET in options.client_url  # redis-py still gets it
    assert SECRET not in repr(options)


def test_default_archive_directory_is_unchanged_by_query_redaction() -> None:
    """The default archive directory of a Redis store is named by a digest of its printed URL; redacting query
    credentials must not move it, or sessions would stop finding the archives they wrote before the upgrade."""
    from lix_integrations.redaction import redact_userinfo_password
    from lix_integrations.tiers.sessions import default_archive_root

    url = f"redis://u:{SECRET}@127.0.0.1:{_closed_port()}/0?password={SECRET}"
    engine = AsyncEngine(url, embedder=FakeEmbedder())
    before = default_archive_root(redact_userinfo_password(url), None)  # what the engine used to compute
    assert engine._core.sessions.archive.directory.parent == before


@pytest.mark.parametrize("option", ["auth_token", "client_secret", "PASSWORD", "token"])
def test_an_unknown_redis_option_is_refused_by_name_without_its_value(option: str) -> None:
    """redis-py raised a bare TypeError on the first command for these (and showed nothing of which one)."""
    with pytest.raises(ConfigError, match=repr(option)) as info:
        parse_redis_url(f"redis://127.0.0.1:1/0?{option}={SECRET}")
    assert SECRET not in str(info.value)


def test_pass_is_the_password_option() -> None:
    options = parse_redis_url(f"redis://127.0.0.1:1/0?username=app&pass={SECRET}")
    assert f"password={SECRET}" in options.client_url and "pass=" not in options.client_url.replace(
        "password", ""
    )


def test_an_unknown_plain_option_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="'no_such_option'"):
        parse_redis_url("redis://127.0.0.1:1/0?no_such_option=1")
