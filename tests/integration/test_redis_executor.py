"""The Redis executor, written once (``executor_async.py``; the blocking one is generated from it), on a real server.

A cancelled caller must never leave its reply on a connection the next caller reads: the cancelled command's
reply would be taken for the next command's. The executor disconnects a connection whose exchange did not end
(sync and async alike, from the same source), so the next call gets a fresh one.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from lix_integrations.backends.redis.backend import RedisBackend
from lix_integrations.kernel.ops import KvGet, KvItem, KvPut

from .conftest import with_prefix


async def test_a_cancelled_read_leaves_no_reply_for_the_next_one(redis_plain_url: str) -> None:
    backend = RedisBackend(with_prefix(redis_plain_url, autopipeline="false"))
    admin = redis.Redis.from_url(redis_plain_url.split("?")[0])
    try:
        now = time.time()
        await backend.aexecute(KvPut("ns", "t", (KvItem("a", b"A"), KvItem("b", b"B")), now))
        admin.execute_command("CLIENT", "PAUSE", "300", "ALL")  # replies wait 300 ms
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(backend.aexecute(KvGet("ns", "t", ("a",), now)), 0.05)
        # Sent while the server still holds the cancelled GET's reply: it must not be read as this one's.
        assert await backend.aexecute(KvGet("ns", "t", ("b",), now)) == [b"B"]
        assert await backend.aexecute(KvGet("ns", "t", ("a",), now)) == [b"A"]
    finally:
        admin.close()
        await backend.aclose()


def test_the_blocking_executor_answers_after_a_cancelled_async_call(redis_plain_url: str) -> None:
    """The two executors share the backend's deferred writes and breaker: a cancel in one leaves the other
    working."""
    url = with_prefix(redis_plain_url, autopipeline="false")
    backend = RedisBackend(url)
    admin = redis.Redis.from_url(redis_plain_url.split("?")[0])
    try:
        now = time.time()
        backend.execute(KvPut("ns", "t", (KvItem("a", b"A"),), now))
        admin.execute_command("CLIENT", "PAUSE", "200", "ALL")

        async def cancelled() -> None:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(backend.aexecute(KvGet("ns", "t", ("a",), now)), 0.05)

        asyncio.run(cancelled())
        assert backend.execute(KvGet("ns", "t", ("a",), now)) == [b"A"]
    finally:
        admin.close()
        backend.close()
