"""Isolation and security: scopes and sessions never read each other's entries (a property over random
interleavings), a Redis ACL user restricted to its key prefix, and ``rediss://`` against a TLS redis-server with a
self-signed certificate made here. (No pickle/eval on read paths: tests/unit/test_public_api.py scans the package.)
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lix_integrations import Engine
from lix_integrations.errors import BackendError
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.redis_servers import RedisServer, ServerUnavailable, free_port, start_plain
from lix_integrations.tiers.sessions import SessionConfig
from tests.integration.conftest import _unavailable, with_prefix

FIGURES: dict[str, int] = {"interleavings": 0, "operations": 0}

SCOPES = ["alice", "bob", "alice:x", "{alice}", "*"]
SESSIONS = ["s", "s/", "s*", "S", "{s}"]
PROMPTS = ["what is the capital of france", "what is the capital of spain", "hello there"]

op = st.one_of(
    st.tuples(st.just("update"), st.sampled_from(SCOPES), st.sampled_from(PROMPTS)),
    st.tuples(st.just("lookup"), st.sampled_from(SCOPES), st.sampled_from(PROMPTS)),
    st.tuples(st.just("append"), st.sampled_from(SESSIONS), st.sampled_from(PROMPTS)),
    st.tuples(st.just("read"), st.sampled_from(SESSIONS), st.just("")),
)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "memory":
        url = f"memory://iso-{uuid.uuid4().hex}"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'x.db'}"
    else:
        url = with_prefix(request.getfixturevalue("redis_plain_url"))
    config = SessionConfig(hot_window=2, archive_batch=2, archive_dir=str(tmp_path / "archive"))
    e = Engine(url, embedder=FakeEmbedder(), sessions=config)
    yield e
    e.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=30))
def test_scopes_and_sessions_never_read_each_other(engine: Engine, ops: list[tuple[str, str, str]]) -> None:
    run = uuid.uuid4().hex[:8]  # hypothesis reuses the engine; each interleaving gets fresh names
    answers: dict[tuple[str, str], str] = {}
    histories: dict[str, list[dict[str, str]]] = {}
    for n, (kind, who, prompt) in enumerate(ops):
        scope, session = f"{who}-{run}", f"{who}-{run}"
        if kind == "update":
            answers[(scope, prompt)] = f"{scope}|{prompt}|{n}"
            engine.semantic.update(prompt, "llm", answers[(scope, prompt)], scope=scope)
        elif kind == "lookup":
            hit = engine.semantic.lookup(prompt, "llm", scope=scope)
            if hit is not None:
                assert hit.payload.split("|")[0] == scope  # only ever this scope's own answer
                if hit.kind == "exact":
                    assert hit.payload == answers[(scope, prompt)]
            else:
                assert (scope, prompt) not in answers
        elif kind == "append":
            message = {"content": f"{session}|{prompt}|{n}"}
            engine.sessions.add_message(session, message)
            histories.setdefault(session, []).append(message)
        else:
            assert engine.sessions.get_full_history(session) == histories.get(session, [])
    for session, expected in histories.items():
        assert engine.sessions.get_full_history(session) == expected
    FIGURES["interleavings"] += 1
    FIGURES["operations"] += len(ops)


# -- Redis ACL ---------------------------------------------------------------------------------------------------


def test_acl_user_restricted_to_its_key_prefix(redis_plain_url: str, tmp_path: Path) -> None:
    admin = redis.Redis.from_url(redis_plain_url)
    prefix = "acl" + uuid.uuid4().hex[:10]
    user = "u" + prefix
    admin.execute_command(
        "ACL", "SETUSER", user, "reset", "on", ">pw-acl", f"~{prefix}:*", "+@all", "-@dangerous", "+info"
    )
    try:
        host = redis_plain_url.split("//", 1)[1].split("/", 1)[0]
        config = SessionConfig(hot_window=2, archive_batch=2, archive_dir=str(tmp_path / "archive"))
        url = f"redis://{user}:pw-acl@{host}/0?prefix={prefix}"
        with Engine(url, embedder=FakeEmbedder(), sessions=config) as engine:
            engine.semantic.update("capital of france", "llm", "Paris")
            assert engine.semantic.lookup("capital of france", "llm") is not None
            hit = engine.semantic.lookup("the capital of france", "llm")
            assert hit is None or hit.payload == "Paris"
            engine.sessions.add_messages("s", [{"content": str(i)} for i in range(7)])
            assert [m["content"] for m in engine.sessions.get_full_history("s")] == [str(i) for i in range(7)]
            assert engine.sessions.list_sessions() == ["s"]
            engine.kv.put("k", {"v": 1}, "c")
            assert engine.kv.get("k", "c") == {"v": 1}
        assert all(k.startswith(prefix.encode()) for k in admin.keys(f"{prefix}*"))
        # the same user cannot reach another prefix
        other = f"redis://{user}:pw-acl@{host}/0?prefix=other{prefix}"
        with pytest.raises(BackendError) as info:
            Engine(other, embedder=FakeEmbedder(), fail_open=False).semantic.update("x", "llm", "y")
        assert "pw-acl" not in str(info.value)
    finally:
        admin.execute_command("ACL", "DELUSER", user)


# -- TLS ---------------------------------------------------------------------------------------------------------


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl, valid one day)."""
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.crt", "s.key", "s.csr", "s.crt"))
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "1",
         "-subj", "/CN=lix test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1",
         "-extfile", ext],
    ]  # fmt: skip
    for step in steps:
        subprocess.run(["openssl", *map(str, step)], check=True, capture_output=True, timeout=60)
    return ca, cert, key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RedisServer, int, Path]]:
    try:
        ca, cert, key = _certificates(tmp_path)
    except (OSError, subprocess.SubprocessError) as exc:
        _unavailable("openssl", exc)
        raise
    tls_port = free_port()
    args = ["--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    args += ["--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
    try:
        server = start_plain(tmp_path, args)
    except ServerUnavailable as exc:
        _unavailable("redis-server with TLS", exc)
        raise
    yield server, tls_port, ca
    server.stop()


def test_rediss_with_a_self_signed_certificate(
    tls_server: tuple[RedisServer, int, Path], tmp_path: Path
) -> None:
    server, port, ca = tls_server
    config = SessionConfig(hot_window=2, archive_batch=2, archive_dir=str(tmp_path / "archive"))
    url = with_prefix(f"rediss://127.0.0.1:{port}/0", ssl_ca_certs=str(ca))
    with Engine(url, embedder=FakeEmbedder(), sessions=config) as engine:
        engine.semantic.update("capital of france", "llm", "Paris")
        hit = engine.semantic.lookup("capital of france", "llm")
        assert hit is not None and hit.payload == "Paris"
        engine.sessions.add_messages("s", [{"content": str(i)} for i in range(5)])
        assert len(engine.sessions.get_full_history("s")) == 5
    # the traffic really was TLS: the certificate is checked, so an unknown CA is refused
    strict = with_prefix(f"rediss://127.0.0.1:{port}/0")
    with pytest.raises(BackendError):
        Engine(strict, embedder=FakeEmbedder(), fail_open=False).semantic.update("x", "llm", "y")
    # and a plain client on the TLS port gets nothing
    with pytest.raises(BackendError):
        Engine(f"redis://127.0.0.1:{port}/0", embedder=FakeEmbedder(), fail_open=False).semantic.lookup(
            "x", "llm"
        )


def test_figures_reported() -> None:
    print(f"\nisolation: {FIGURES}")
