"""Redis stopped and restarted while 4 threads use every adapter.

Caches (LangChain LLM cache, both embedding wrappers, the cached tool) must fail open: no exception reaches the
caller during the outage. Chat history (LangChain and LlamaIndex) and the LlamaIndex key-value store may refuse a
write loudly (``BackendError``) but must keep every write they acknowledged. After the restart every adapter
works again. The server runs with AOF ``appendfsync always``, so what Redis acknowledged survives its restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import HumanMessage
from langchain_core.outputs import Generation
from langchain_core.tools import tool
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.embeddings import MockEmbedding

from lix_integrations import Engine
from lix_integrations.errors import BackendError
from lix_integrations.langchain import (
    LixCachedEmbeddings,
    LixCachedTool,
    LixChatMessageHistory,
    LixSemanticCache,
)
from lix_integrations.llama_index import LixCachedEmbedding, LixChatStore, LixKVStore
from lix_integrations.testing import FakeEmbedder
from lix_integrations.testing.redis_servers import RedisServer, ServerUnavailable, start_plain
from lix_integrations.tiers.sessions import SessionConfig
from tests.integration.conftest import _unavailable, with_prefix

THREADS = 4


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    try:
        server = start_plain(tmp_path, ["--appendonly", "yes", "--appendfsync", "always"])
    except ServerUnavailable as exc:
        _unavailable("redis-server", exc)
        raise
    yield server
    server.stop()


@tool
def square(x: int) -> int:
    """Square a number."""
    return x * x


def check_history(stored: list[str], acked: list[str], refused: set[str]) -> None:
    """Every acknowledged message, once, in order. A write that failed with a lost connection is ambiguous (the
    server may have applied it before it went away), so a refused message may appear, once, in its place."""
    assert len(stored) == len(set(stored)), "a message was stored twice"
    assert [m for m in stored if m not in refused] == acked
    assert set(stored) <= set(acked) | refused


@dataclass
class Worker:
    """What one thread did and saw."""

    n: int
    ops: int = 0
    cache_errors: list[BaseException] = field(default_factory=list)
    refused: int = 0  # writes refused with BackendError (not acknowledged)
    refused_texts: set[str] = field(default_factory=set)
    acked_lc: list[str] = field(default_factory=list)
    acked_li: list[str] = field(default_factory=list)
    acked_kv: dict[str, int] = field(default_factory=dict)
    other_errors: list[BaseException] = field(default_factory=list)
    ok_after_restart: set[str] = field(default_factory=set)


def test_redis_restart_under_four_threads_every_adapter(own_server: RedisServer, tmp_path: Path) -> None:
    url = with_prefix(own_server.url)
    config = SessionConfig(hot_window=4, archive_batch=3, archive_dir=str(tmp_path / "archive"))
    engine = Engine(url, embedder=FakeEmbedder(), sessions=config)
    cache = LixSemanticCache(engine)
    lc_emb = LixCachedEmbeddings(DeterministicFakeEmbedding(size=16), engine)
    li_emb = LixCachedEmbedding(MockEmbedding(embed_dim=16), engine)
    cached_tool = LixCachedTool(square, engine)
    chat_store = LixChatStore(engine)
    kv = LixKVStore(engine)
    cache.update("warm prompt", "llm", [Generation(text="warm")])

    phase = {"name": "before"}
    stop = threading.Event()
    workers = [Worker(i) for i in range(THREADS)]

    def cache_op(w: Worker, name: str, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # any exception from a cache is a failure
            w.cache_errors.append(exc)
            return
        if phase["name"] == "after":
            w.ok_after_restart.add(name)

    def store_op(w: Worker, name: str, fn: Callable[..., object], *args: object) -> bool:
        try:
            fn(*args)
        except BackendError:
            w.refused += 1
            return False
        except BaseException as exc:
            w.other_errors.append(exc)
            return False
        if phase["name"] == "after":
            w.ok_after_restart.add(name)
        return True

    def run(w: Worker) -> None:
        history = LixChatMessageHistory(f"lc-{w.n}", engine)
        i = 0
        while not stop.is_set():
            i += 1
            p = f"t{w.n} q{i % 7}"
            cache_op(w, "cache.lookup", cache.lookup, p, "llm")
            cache_op(w, "cache.update", cache.update, p, "llm", [Generation(text=p)])
            cache_op(w, "lc_emb", lc_emb.embed_documents, [p, "shared text"])
            cache_op(w, "li_emb", li_emb.get_text_embedding, p)
            cache_op(w, "tool", cached_tool.invoke, {"x": i % 5})
            text = f"{w.n}:{i}"
            lc_text, li_text = "lc" + text, "li" + text
            if store_op(w, "lc_history", history.add_messages, [HumanMessage(content=lc_text)]):
                w.acked_lc.append(lc_text)
            else:
                w.refused_texts.add(lc_text)
            if store_op(w, "li_store", chat_store.add_message, f"li-{w.n}", ChatMessage(content=li_text)):
                w.acked_li.append(li_text)
            else:
                w.refused_texts.add(li_text)
            key = f"k{w.n}-{i % 11}"
            if store_op(w, "kv", kv.put, key, {"i": i}):
                w.acked_kv[key] = i
            w.ops += 8

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    time.sleep(1.5)
    phase["name"] = "outage"
    own_server.stop()
    time.sleep(1.5)
    own_server.start()
    phase["name"] = "after"
    time.sleep(2.5)
    stop.set()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)

    assert [e for w in workers for e in w.cache_errors] == []  # caches failed open
    assert [e for w in workers for e in w.other_errors] == []  # stores refused only with BackendError
    assert sum(w.refused for w in workers) > 0  # the outage really happened under load
    everything = {"cache.lookup", "cache.update", "lc_emb", "li_emb", "tool", "lc_history", "li_store", "kv"}
    for w in workers:
        assert w.ok_after_restart == everything, (
            f"thread {w.n} did not resume: {everything - w.ok_after_restart}"
        )
        history = LixChatMessageHistory(f"lc-{w.n}", engine)
        check_history([str(m.content) for m in history.messages], w.acked_lc, w.refused_texts)
        check_history(
            [str(m.content) for m in chat_store.get_messages(f"li-{w.n}")], w.acked_li, w.refused_texts
        )
        for key, value in w.acked_kv.items():
            assert kv.get(key) == {"i": value}
    assert cache.lookup("warm prompt", "llm") == [Generation(text="warm")]

    FIGURES.update(
        operations=sum(w.ops for w in workers),
        refused_writes=sum(w.refused for w in workers),
        messages_verified=sum(len(w.acked_lc) + len(w.acked_li) for w in workers),
        kv_verified=sum(len(w.acked_kv) for w in workers),
    )
    print(f"\nredis restart under load: {FIGURES}")
    engine.close()


FIGURES: dict[str, int] = {}
