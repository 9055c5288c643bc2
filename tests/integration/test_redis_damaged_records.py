"""A semantic record damaged in Redis (a field another writer left unreadable or missing) is a miss, never an error.

A cache fails open: a lookup that meets a record it cannot read must not make the LLM call fail. Before, the
search reply's parser raised ``ValueError`` / ``AttributeError`` through ``lookup`` and LangChain's cache lookup.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from lix_integrations import Engine
from lix_integrations.langchain import LixSemanticCache
from lix_integrations.testing import FakeEmbedder

from .conftest import with_prefix

LLM = "[('_type', 'fake'), ('temperature', 0.0)]"
PROMPT = "what is the capital of France?"


@pytest.fixture(params=["query-engine", "plain"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "query-engine":
        return with_prefix(request.getfixturevalue("redis_stack_url"), index="flat")
    return with_prefix(request.getfixturevalue("redis_plain_url"), index="none")


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    e = Engine(url, embedder=FakeEmbedder())
    yield e
    e.close()


def _damage(url: str, how: str) -> None:
    client = redis.Redis.from_url(url.split("?")[0])
    prefix = url.split("prefix=")[1].split("&")[0]
    try:
        keys = [k for k in client.scan_iter(match=f"{prefix}:*r:*") if client.type(k) == b"hash"]
        assert keys, "no record stored"
        for key in keys:
            if how == "number":
                client.hset(key, "ca", "not a number")
            else:
                client.hdel(key, "ek")
    finally:
        client.close()


@pytest.mark.parametrize("how", ["number", "missing-field"])
def test_a_damaged_record_is_a_miss_not_an_error(url: str, engine: Engine, how: str) -> None:
    engine.semantic.update(PROMPT, LLM, "Paris")
    assert engine.semantic.lookup(PROMPT, LLM) is not None
    _damage(url, how)
    other = Engine(url, embedder=FakeEmbedder())  # no copy of the record in this process's memory
    try:
        assert other.semantic.lookup(PROMPT + " please", LLM) is None
        assert LixSemanticCache(other).lookup(PROMPT + " please", LLM) is None
        other.semantic.update("another prompt", LLM, "an answer")  # the store still takes writes
        assert other.semantic.lookup("another prompt", LLM) is not None
    finally:
        other.close()
