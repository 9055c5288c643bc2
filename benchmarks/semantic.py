"""Semantic tier benchmark: lookup latency by cache size and backend, exact hits, and accuracy on labelled pairs.

Run from the repository root (about 5 minutes; the first run also embeds ~27k texts with MiniLM, ~1-2 minutes):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/semantic.py [--sizes 1000,10000,100000] [--queries 2000]

What is timed. Every lookup goes through the public ``Engine.semantic.lookup`` with an embedder that returns
precomputed MiniLM vectors. "median/p99 ms" is the engine's own lookup latency, which excludes obtaining the
prompt's vector (the model, or the embedding tier's cache) as the latency target does, and includes everything
else: validation, key derivation, the exact-key read, the vector search, reading the record back, the LRU touch.
"with emb. cache" is the wall-clock median of the whole call, including the embedding tier's cache read and the
write of each new prompt's vector (the model itself still excluded). Timing starts once the partition's index is
ready ("graph ready s": first search plus any background graph build).
Stored entries are real MiniLM embeddings of the dev-pair texts; at 100k they are padded with mixtures of two real
embeddings plus noise (dense, paraphrase-like clusters). Queries are held-out paraphrase/near-miss texts and
perturbed stored vectors. Recall is the share of lookups (threshold 0, so every lookup serves its nearest entry)
whose served entry is the exact nearest by a brute-force numpy scan (ties within 1e-6 count as agreement).

Peers, measured in the same run: a brute-force numpy scan over the same vectors (the index GPTCache-style caches
use by default) and LangChain's ``InMemoryCache`` (exact match only) for exact-hit latency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pairs import FILES, PrecomputedEmbedder, embed_texts, load_pairs

from lix_integrations import DEFAULT_THRESHOLD, Engine
from lix_integrations.kernel.keys import normalize_prompt

LLM = "[('_type', 'bench-chat'), ('model', 'bench'), ('temperature', 0.0)]"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build_vectors(
    sizes: list[int], n_queries: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """All texts' vectors (keyed by normalized text), stored entry names and query names."""
    texts: list[str] = []
    for name in FILES:
        pairs = load_pairs(name)
        texts += pairs.q1 + pairs.q2
    real = embed_texts([normalize_prompt(t) for t in texts])
    pool = np.stack(list(real.values()))
    rng.shuffle(pool)
    held, pool = pool[: n_queries // 2], pool[n_queries // 2 :]
    largest = max(sizes)
    if largest > len(pool):
        extra = largest - len(pool)
        i, j = rng.integers(0, len(pool), extra), rng.integers(0, len(pool), extra)
        w = rng.uniform(0.5, 1.0, (extra, 1)).astype(np.float32)
        mix = w * pool[i] + (1 - w) * pool[j] + rng.normal(0, 0.01, (extra, pool.shape[1])).astype(np.float32)
        pool = np.concatenate([pool, mix / np.linalg.norm(mix, axis=1, keepdims=True)])
    vectors: dict[str, np.ndarray] = {f"entry {i}": pool[i] for i in range(largest)}
    queries = [f"query {i}" for i in range(n_queries)]
    for i, vec in enumerate(held):
        vectors[queries[i]] = vec
    return vectors, [f"entry {i}" for i in range(largest)], queries


def bench_size(
    url: str,
    size: int,
    vectors: dict[str, np.ndarray],
    entries: list[str],
    queries: list[str],
    rng: np.random.Generator,
) -> dict[str, float]:
    names = entries[:size]
    stored = np.stack([vectors[n] for n in names])
    # Perturbed stored vectors complete the query set for this size.
    extra = [q for q in queries if q not in vectors]
    picks = stored[rng.integers(0, size, len(extra))]
    noisy = picks + rng.normal(0, 0.023, picks.shape).astype(np.float32)
    for q, vec in zip(extra, noisy / np.linalg.norm(noisy, axis=1, keepdims=True), strict=True):
        vectors[q] = vec
    engine = Engine(url, embedder=PrecomputedEmbedder(vectors), threshold=0.0, max_entries=None)
    t0 = time.perf_counter()
    for name in names:
        engine.semantic.update(name, LLM, name)
    insert_s = time.perf_counter() - t0
    first_s = timed(lambda: engine.semantic.lookup(queries[0], LLM))  # first search loads the index
    build_s = first_s + timed(
        lambda: engine._core.backend.wait_for_index_builds()
    )  # graph ready (background)
    engine.reset_stats()
    q_matrix = np.stack([vectors[q] for q in queries])
    sims = q_matrix @ stored.T
    best = sims.max(axis=1)
    lat, agree = [], 0
    index_of = {n: i for i, n in enumerate(names)}
    for qi, q in enumerate(queries):
        start = time.perf_counter()
        hit = engine.semantic.lookup(q, LLM)
        lat.append(time.perf_counter() - start)
        if hit is not None and sims[qi, index_of[hit.payload]] >= best[qi] - 1e-6:
            agree += 1
    excl = engine.stats().semantic.latency
    exact_lat = []
    for name in names[: min(size, 2000)]:
        start = time.perf_counter()
        hit = engine.semantic.lookup(name, LLM)
        exact_lat.append(time.perf_counter() - start)
        assert hit is not None and hit.kind == "exact"
    brute = []
    for qi in range(min(len(queries), 500)):
        start = time.perf_counter()
        int(np.argmax(stored @ q_matrix[qi]))
        brute.append(time.perf_counter() - start)
    engine.close()
    return {
        "insert_s": insert_s,
        "first_s": first_s,
        "build_s": build_s,
        "median_ms": excl.median_ms,
        "p99_ms": excl.p99_ms,
        "wall_median_ms": statistics.median(lat) * 1e3,
        "recall": agree / len(queries),
        "exact_median_ms": statistics.median(exact_lat) * 1e3,
        "exact_p99_ms": percentile(exact_lat, 99) * 1e3,
        "brute_median_ms": statistics.median(brute) * 1e3,
    }


def langchain_exact_hit_ms() -> float:
    from langchain_core.caches import InMemoryCache
    from langchain_core.outputs import Generation

    cache = InMemoryCache()
    for i in range(2000):
        cache.update(f"entry {i}", LLM, [Generation(text=str(i))])
    lat = []
    for i in range(2000):
        start = time.perf_counter()
        cache.lookup(f"entry {i}", LLM)
        lat.append(time.perf_counter() - start)
    return statistics.median(lat) * 1e3


def accuracy(threshold: float) -> list[tuple[str, int, float, float, float, float]]:
    rows = []
    for name in FILES:
        pairs = load_pairs(name)
        vectors = embed_texts([normalize_prompt(t) for t in pairs.q1 + pairs.q2])
        engine = Engine(
            "memory://", embedder=PrecomputedEmbedder(vectors), threshold=threshold, max_entries=None
        )
        for q1 in pairs.q1:
            engine.semantic.update(q1, LLM, q1)
        hits = correct = 0
        for q1, q2, label in zip(pairs.q1, pairs.q2, pairs.labels, strict=True):
            hit = engine.semantic.lookup(q2, LLM)
            if hit is not None:
                hits += 1
                correct += int(label == 1 and normalize_prompt(hit.payload) == normalize_prompt(q1))
        positives = sum(pairs.labels)
        precision = correct / hits if hits else 0.0
        recall = correct / positives if positives else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append((name, len(pairs.q1), precision, recall, f1, hits / len(pairs.q1)))
        engine.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--backends", default="memory,sqlite")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(7)
    vectors, entries, queries = build_vectors(sizes, args.queries, rng)

    print("\nSemantic lookup latency, embedding excluded (Engine.semantic.lookup end to end)\n")
    header = (
        f"| {'backend':8} | {'entries':>7} | {'median ms':>9} | {'p99 ms':>7} | {'with emb. cache':>15} | "
        f"{'recall':>6} | {'exact hit ms':>12} | {'numpy scan ms':>13} | {'scan / lix':>10} | {'insert s':>8} | "
        f"{'1st search s':>12} | {'graph ready s':>13} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            for size in sizes:
                url = "memory://" if backend == "memory" else f"sqlite:///{Path(tmp) / f'bench-{size}.db'}"
                r = bench_size(url, size, vectors, entries, queries, rng)
                print(
                    f"| {backend:8} | {size:>7} | {r['median_ms']:>9.3f} | {r['p99_ms']:>7.3f} | "
                    f"{r['wall_median_ms']:>15.3f} | {r['recall']:>6.3f} | "
                    f"{r['exact_median_ms']:>12.3f} | {r['brute_median_ms']:>13.3f} | "
                    f"{r['brute_median_ms'] / r['median_ms']:>9.1f}x | {r['insert_s']:>8.1f} | {r['first_s']:>12.2f} | "
                    f"{r['build_s']:>13.2f} |",
                    flush=True,
                )
    lc = langchain_exact_hit_ms()
    print(
        f"\nLangChain InMemoryCache exact hit (in-process dict, no persistence, no semantics): median {lc:.4f} ms"
    )

    print(
        f"\nAccuracy at the default threshold {DEFAULT_THRESHOLD} (store every q1, look up every q2; a hit is"
    )
    print("correct only when it serves that pair's own q1 and the pair is labelled a duplicate)\n")
    print("| file     | pairs | precision | recall |    F1 | hit rate |")
    print("|----------|------:|----------:|-------:|------:|---------:|")
    for name, n, p, r, f1, hr in accuracy(DEFAULT_THRESHOLD):
        print(f"| {name:8} | {n:>5} | {p:>9.3f} | {r:>6.3f} | {f1:>5.3f} | {hr:>8.3f} |")


if __name__ == "__main__":
    main()
