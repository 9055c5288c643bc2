"""Issue 14, defect 4 on Redis: adapters of one Redis URL share one engine, and the last async share to close
closes this event loop's connections (``aclose``), so 50 short-lived async adapters leave no socket open."""

from __future__ import annotations

import gc
import os

from lix_integrations.engine.resolve import resolve_engines
from lix_integrations.langchain import LixChatMessageHistory
from lix_integrations.testing import FakeEmbedder
from tests.integration.conftest import with_prefix


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_async_adapters_of_one_redis_url_share_and_close(redis_plain_url: str) -> None:
    url = with_prefix(redis_plain_url)
    embedder = FakeEmbedder()
    first = resolve_engines(None, {"url": url, "embedder": embedder})[1]
    await first.sessions.add_messages("warm-up", [{"content": "x"}])
    await first.aclose()
    gc.collect()
    start = _fds()
    for i in range(50):  # per-request histories, as an async web handler makes them
        history = LixChatMessageHistory(f"s{i % 7}", url=url, embedder=embedder)
        other = LixChatMessageHistory(f"s{i % 7}", url=url, embedder=embedder)
        assert history.engine._core is other.engine._core
        await history.aadd_messages([])
        assert (await other.aget_messages()) == []
        await history._aengine.aclose()
        assert not other.engine._core._closed  # the other share keeps the engine open
        core = other.engine._core
        await other._aengine.aclose()
        assert core._closed and core.backend._closed
    gc.collect()
    assert _fds() - start <= 10, (start, _fds())
