"""The systems of benchmarks/redis.py: its data (random or MiniLM vectors), lix and its peers (redisvl,
langchain-redis) behind one insert/lookup surface, and the raw redis-py floors. Imported by benchmarks/redis.py
and benchmarks/redis_hnsw_grid.py (through redis.py); not run on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from _pairs import DATA, PrecomputedEmbedder, embed_texts

from lix_integrations import Engine
from lix_integrations.backends.redis.semantic_index import HNSW_TYPE
from lix_integrations.config.backends import DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_RUNTIME, DEFAULT_HNSW_M

FLOOR = "floor: raw FT.SEARCH KNN on redisvl's index"

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


def build_minilm_data(sizes: list[int], n_queries: int, seed: int = 7) -> Data:
    """Real MiniLM vectors (``--vectors minilm``): stored entries are questions of the Quora pairs in
    ``benchmarks/data/pairs`` (the dev set's first, then the train set's), each query a paraphrase of a stored
    question (a pair labelled duplicate, its second question not stored). A graph index's insert cost and recall
    depend on how the vectors are spread, which random vectors (the default) make the hardest case. The embeddings
    are computed once by the offline model and cached under ``benchmarks/.cache`` (about 2 minutes for 10k)."""
    import json

    def rows(name: str) -> list[dict[str, Any]]:
        with open(DATA / "pairs" / f"{name}.jsonl", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    dev, train = rows("qqp_dev"), rows("qqp_train")
    duplicates = [r for r in dev if int(r["label"]) == 1]
    order = [r["q1"] for r in duplicates] + [r["q1"] for r in dev]
    order += [q for r in train for q in (r["q1"], r["q2"])]
    asked = {r["q2"] for r in duplicates}
    stored_texts = [t for t in dict.fromkeys(order) if t not in asked][: max(sizes)]
    position = {t: i for i, t in enumerate(stored_texts)}
    pairs = [(position[r["q1"]], r["q2"]) for r in duplicates if r["q1"] in position]
    embedded = embed_texts(stored_texts + [q for _, q in pairs])
    entries = [f"entry {i}" for i in range(len(stored_texts))]
    vectors = {name: embedded[t] for name, t in zip(entries, stored_texts, strict=True)}
    rng = np.random.default_rng(seed)
    queries: dict[int, list[str]] = {}
    for size in sizes:
        usable = [q for i, q in pairs if i < size]
        picks = rng.choice(len(usable), size=min(len(usable), n_queries + WARMUP), replace=False)
        names = [f"query {size} {j}" for j in range(len(picks))]
        vectors.update({name: embedded[usable[k]] for name, k in zip(names, picks, strict=True)})
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
    insert_per_s: float | None = (
        None  # median over chunks of 1,000 inserts (one entry per call, or per batch)
    )
    # CPU per insert, us: this process's and the server's (medians over chunks), which a busy machine inflates less
    # than wall time: on an idle one, wall time per insert is about their sum plus the network's.
    client_cpu_us: float | None = None
    server_cpu_us: float | None = None
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

    def extra_lookups(self) -> list[tuple[str, Callable[[str], bool]]]:
        """More ways to look up in the same records, each measured as a system of its own (named so)."""
        return []

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class Ours(SemanticSystem):
    def __init__(self, name: str, url: str, vectors: dict[str, np.ndarray], batch: int = 1) -> None:
        self.name = name
        self.batch = batch  # > 1: update_many with this many answers per call
        self.engine = Engine(url, embedder=PrecomputedEmbedder(vectors), threshold=0.5, max_entries=None)

    def insert(self, names: list[str]) -> None:
        if self.batch > 1:
            for i in range(0, len(names), self.batch):
                self.engine.semantic.update_many([(n, LLM, n) for n in names[i : i + self.batch]])
            return
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

    def extra_lookups(self) -> list[tuple[str, Callable[[str], bool]]]:
        return [(FLOOR, self.raw_knn)]

    def raw_knn(self, name: str) -> bool:
        """The floor: the same KNN on redisvl's own FLAT index through redis-py, no framework around it."""
        client = self.cache._index.client
        reply = client.execute_command(
            "FT.SEARCH", self.cache._index.name, "*=>[KNN 1 @prompt_vector $v AS d]", "PARAMS", 2, "v",
            self.vectors[name].astype(np.float32).tobytes(), "RETURN", 2, "d", "response", "DIALECT", 2,
        )  # fmt: skip
        return bool(reply and reply[0])

    def close(self) -> None:
        self.cache.delete()


class RawIndex(SemanticSystem):
    """The floor: records written by raw redis-py ``HSET`` (one per round trip, or ``batch`` per pipelined packet)
    into an index made like lix's (``algo`` HNSW with lix's M, EF_CONSTRUCTION and vector type, or FLAT; ``m`` and
    ``efc`` set other graph parameters), searched by a raw ``FT.SEARCH`` KNN with lix's ``EF_RUNTIME``: what the
    server itself costs, with no framework around it."""

    def __init__(
        self,
        name: str,
        url: str,
        vectors: dict[str, np.ndarray],
        algo: str,
        batch: int = 1,
        ef: int = DEFAULT_EF_RUNTIME,
        m: int = DEFAULT_HNSW_M,
        efc: int = DEFAULT_EF_CONSTRUCTION,
        tag: str = "bench_raw",
    ) -> None:
        from redis import Redis

        self.name, self.vectors, self.batch, self.algo = name, vectors, batch, algo
        self.client = Redis.from_url(url, protocol=2)  # FT.SEARCH replies as flat lists
        self.index = f"{tag}_{algo}_{batch}" + (f"_{m}_{efc}" if tag != "bench_raw" else "")
        self.prefix = self.index + ":"
        extra: tuple[Any, ...] = ("M", m, "EF_CONSTRUCTION", efc) if algo == "HNSW" else ()
        kind = HNSW_TYPE if algo == "HNSW" else "FLOAT32"
        self.dtype = np.float16 if kind == "FLOAT16" else np.float32
        self.client.execute_command(
            "FT.CREATE", self.index, "ON", "HASH", "PREFIX", 1, self.prefix, "SCHEMA", "vec", "VECTOR", algo,
            6 + len(extra), "TYPE", kind, "DIM", DIM, "DISTANCE_METRIC", "COSINE", *extra,
        )  # fmt: skip
        self.knn = self.knn_of(ef) if algo == "HNSW" else "*=>[KNN 1 @vec $v AS d]"

    @staticmethod
    def knn_of(ef: int) -> str:
        return f"*=>[KNN 1 @vec $v EF_RUNTIME {ef} AS d]"

    def _fields(self, n: str) -> dict[str, Any]:
        return {"vec": self.vectors[n].astype(self.dtype).tobytes(), "prompt": n, "response": n}

    def insert(self, names: list[str]) -> None:
        if self.batch == 1:
            for n in names:
                self.client.hset(self.prefix + n, mapping=self._fields(n))
            return
        for i in range(0, len(names), self.batch):
            pipe = self.client.pipeline(transaction=False)
            for n in names[i : i + self.batch]:
                pipe.hset(self.prefix + n, mapping=self._fields(n))
            pipe.execute()

    def lookup(self, name: str) -> bool:
        return bool(self.search(name, self.knn))

    def search(self, name: str, knn: str) -> str:
        """The key of the first result of ``knn`` for ``name``'s vector, or "" when none. The answer comes back
        with it, as a cache's lookup must bring it (and as the floor on redisvl's index does)."""
        reply = self.client.execute_command(
            "FT.SEARCH", self.index, knn, "PARAMS", 2, "v", self.vectors[name].astype(self.dtype).tobytes(),
            "RETURN", 2, "d", "response", "DIALECT", 2,
        )  # fmt: skip
        return reply[1].decode() if reply and reply[0] else ""

    def close(self) -> None:
        self.client.execute_command("FT.DROPINDEX", self.index, "DD")
        self.client.close()


def index_algorithm(url: str, index: str) -> str:
    """The vector algorithm and parameters of a Query Engine index, read back with ``FT.INFO``."""
    from redis import Redis

    client = Redis.from_url(url)
    try:
        info = client.execute_command("FT.INFO", index)
    finally:
        client.close()
    pairs = info if isinstance(info, dict) else dict(zip(info[::2], info[1::2], strict=False))
    for attribute in pairs.get(b"attributes") or pairs.get("attributes") or []:
        fields = attribute if isinstance(attribute, dict) else dict(zip(attribute[::2], attribute[1::2]))
        fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
        if (fields.get("type") or b"") in (b"VECTOR", "VECTOR"):
            shown = {
                k: (v.decode() if isinstance(v, bytes) else v) for k, v in fields.items() if k != "flags"
            }
            return ", ".join(f"{k} {v}" for k, v in shown.items() if k not in ("identifier", "type"))
    return "no vector field"
