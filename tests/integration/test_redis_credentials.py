"""Issue 14, defect 5 on a real server: a password given as a query option authenticates, and is never printed.

An ACL user with a password is created on the fixture's Redis; the engine connects with ``?username=&password=``
(and with the userinfo form), works, and its URL, reprs, errors and logs never show the password.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
import redis

from lix_integrations import AsyncEngine, Engine
from lix_integrations.errors import BackendError
from lix_integrations.testing import FakeEmbedder

PASSWORD = "pw-" + uuid.uuid4().hex


@pytest.fixture
def acl_user(redis_plain_url: str) -> tuple[str, str]:
    admin = redis.Redis.from_url(redis_plain_url)
    prefix = "cred" + uuid.uuid4().hex[:10]
    user = "u" + prefix
    admin.execute_command(
        "ACL", "SETUSER", user, "reset", "on", f">{PASSWORD}", f"~{prefix}:*", "+@all", "-@dangerous", "+info"
    )
    yield user, prefix
    admin.execute_command("ACL", "DELUSER", user)


@pytest.mark.parametrize("form", ["query", "userinfo"])
def test_password_authenticates_and_is_never_printed(
    redis_plain_url: str, acl_user: tuple[str, str], form: str, caplog: pytest.LogCaptureFixture
) -> None:
    user, prefix = acl_user
    host = redis_plain_url.split("//", 1)[1].split("/", 1)[0]
    if form == "query":
        url = f"redis://{host}/0?username={user}&password={PASSWORD}&prefix={prefix}"
    else:
        url = f"redis://{user}:{PASSWORD}@{host}/0?prefix={prefix}"
    caplog.set_level(logging.DEBUG)
    printed: list[str] = []
    with Engine(url, embedder=FakeEmbedder(), fail_open=False) as engine:
        engine.semantic.update("capital of france", "llm", "Paris")
        assert engine.semantic.lookup("capital of france", "llm") is not None
        printed += [engine.url, repr(engine), repr(engine.config)]
    # The same user under a prefix it may not write: a real error from the server.
    other = url.replace(f"prefix={prefix}", f"prefix=other{prefix}")
    with pytest.raises(BackendError) as info:
        Engine(other, embedder=FakeEmbedder(), fail_open=False).semantic.update("x", "llm", "y")
    printed.append(f"{info.value} {info.value!r} {info.value.__cause__!r}")
    lenient = AsyncEngine(other, embedder=FakeEmbedder())  # checks the store on first use, inside the lookup
    with caplog.at_level(logging.WARNING):
        assert (
            asyncio.run(lenient.semantic.lookup("x", "llm")) is None
        )  # fail open: a miss, the outage logged
    printed += [r.getMessage() for r in caplog.records]
    assert any("failed" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert all(PASSWORD not in text for text in printed), [t for t in printed if PASSWORD in t]
    assert "***" in printed[0]
