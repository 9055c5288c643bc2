"""SQLite at scale: a fresh process's open and first lookup, lookup latency, inserts, RSS and file sizes.

Run from the repository root (10k and 100k take about 3 minutes on a busy 2-core machine; 1M about 15)::

    .venv/bin/python benchmarks/sqlite_scale.py [--sizes 10000,100000,1000000] [--queries 1000]

Data: deterministic random unit vectors (384 dimensions, seeded per block of rows), one partition (one model and
context, as a busy application's cache). Queries are stored vectors plus noise (cosine about 0.95 to the original),
so each has a clear nearest entry. The embedder returns those vectors, so no timing includes a model.

Per size, the store is built with ``update_many`` (batches of 1,000), one lookup writes the partition's index file,
and the engine closes. Then a **fresh process** opens the store and measures:

* open: ``Engine(url)`` (connect, schema and settings check);
* first lookup: the first ``semantic.lookup`` after open, wall clock (maps the index file, replays the log's tail);
* p50/p99: the engine's own lookup latency over ``--queries`` lookups (excludes obtaining the prompt's vector);
* recall: share of lookups whose served entry is the exact nearest by a brute-force scan;
* RSS after the lookups, and the sizes of the database (+WAL) and of the index directory.

Peer measured in the same run: an in-process brute-force numpy scan over the same vectors (what a process without
a persisted index must load from SQLite first: "load" is reading every vector back, "scan" one matrix product).

Inserts (into the store of each size, before the fresh process): ``update`` one at a time and ``update_many`` in
batches of 500, through the engine; the floor is a bare ``sqlite3`` ``executemany`` of the same rows into a table
of the same shape (no engine, no log, no index).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lix_integrations import Engine
from lix_integrations.config import EngineConfig
from lix_integrations.kernel.ops import DeleteIds, VectorSearch
from lix_integrations.kernel.scope import resolve_scope

LLM = "[('_type', 'bench-chat'), ('model', 'bench'), ('temperature', 0.0)]"
DIM = 384
BLOCK = 10_000


class ScaleEmbedder:
    """``e<i>`` -> stored vector i; ``q<i>`` -> vector i plus noise; anything else -> a vector from its hash."""

    name = "bench-random-384"
    dimension = DIM

    def __init__(self) -> None:
        self._block: tuple[int, np.ndarray] | None = None

    def row(self, i: int) -> np.ndarray:
        b = i // BLOCK
        if self._block is None or self._block[0] != b:
            m = np.random.default_rng(b).standard_normal((BLOCK, DIM), dtype=np.float32)
            self._block = (b, m / np.linalg.norm(m, axis=1, keepdims=True))
        return self._block[1][i % BLOCK]

    def embed(self, text: str) -> list[float]:
        kind, num = text[0], int(text[1:]) if text[1:].isdigit() else -1
        if kind == "e" and num >= 0:
            return self.row(num).tolist()
        if kind == "q" and num >= 0:
            vec = (
                self.row(num)
                + np.random.default_rng(10**9 + num).standard_normal(DIM).astype(np.float32) * 0.017
            )
            return (vec / np.linalg.norm(vec)).tolist()
        vec = np.random.default_rng(abs(hash(text)) % 2**32).standard_normal(DIM)
        return (vec / np.linalg.norm(vec)).tolist()

    async def aembed(self, text: str) -> list[float]:
        return self.embed(text)


def _engine(db: Path) -> Engine:
    # Unbounded through the config: ``max_entries=None`` as a keyword means "the default" (100,000), which made
    # every insert into the 100k store an insert plus an eviction, and evicted entries the queries then missed.
    return Engine(
        f"sqlite:///{db}", embedder=ScaleEmbedder(), config=EngineConfig(max_entries=None), threshold=0.0
    )


def _sizes(db: Path) -> tuple[int, int]:
    main = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    index = sum(p.stat().st_size for p in Path(str(db) + ".lix-index").glob("*.ivf"))
    return main, index


def build(db: Path, size: int) -> dict[str, float]:
    engine = _engine(db)
    started = time.perf_counter()
    for start in range(0, size, 1_000):
        engine.semantic.update_many(
            [(f"e{i}", LLM, f"answer {i}") for i in range(start, min(size, start + 1_000))]
        )
    built = time.perf_counter() - started
    engine.semantic.lookup("q0", LLM)  # the first search writes the partition's index file
    out = {"build_s": built}
    # Inserts into the store of this size (then removed again, so the fresh process sees exactly `size`).
    single, many = 1_000, 5_000
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(single):
        engine.semantic.update(f"x{i}", LLM, "single")
    out["single_per_s"] = single / (time.perf_counter() - started)
    out["single_per_cpu_s"] = single / (time.process_time() - cpu)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, many, 500):
        engine.semantic.update_many([(f"y{i}", LLM, "batched") for i in range(start, start + 500)])
    out["batched_per_s"] = many / (time.perf_counter() - started)
    out["batched_per_cpu_s"] = many / (time.process_time() - cpu)
    engine.close()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE floor (id INTEGER PRIMARY KEY, k TEXT UNIQUE, p TEXT, v BLOB, payload TEXT)")
    rows = [(f"z{i}", "partition", os.urandom(DIM * 4), "payload") for i in range(many)]
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, many, 500):
        with conn:
            conn.executemany(
                "INSERT INTO floor (k, p, v, payload) VALUES (?, ?, ?, ?)", rows[start : start + 500]
            )
    out["floor_per_s"] = many / (time.perf_counter() - started)
    out["floor_per_cpu_s"] = many / (time.process_time() - cpu)
    conn.execute("DROP TABLE floor")
    conn.commit()
    conn.close()
    engine = _engine(db)  # the inserted extras go again (a normal write: the log and index file follow)
    ids = [e.id for e in engine.semantic.entries(after_id=size, limit=10**7) if e.prompt[0] in "xy"]
    engine._core.backend.execute(DeleteIds(engine.namespace, tuple(ids)))  # one transaction
    engine.semantic.lookup("q1", LLM)
    engine.close()
    return out


def _partition(engine: Engine) -> str:
    return engine._core.semantic.prepare("q0", LLM, context="", scope=resolve_scope(None)).partition


def _query(emb: ScaleEmbedder, i: int) -> np.ndarray:
    return np.asarray(emb.embed(f"q{i}"), dtype=np.float32)


def fresh(db: Path, size: int, queries: int) -> dict[str, float]:
    """Runs in a fresh process: open, first lookup, then timed lookups."""
    started = time.perf_counter()
    engine = _engine(db)
    opened = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), time.process_time()
    hit = engine.semantic.lookup("q0", LLM)
    first = time.perf_counter() - started
    first_cpu = time.process_time() - cpu_started
    assert hit is not None and hit.payload == "answer 0", hit
    engine.reset_stats()
    emb = ScaleEmbedder()
    picks = np.random.default_rng(7).integers(0, size, queries)
    agree = 0
    wall, cpu = [], []
    for i in picks.tolist():
        started, cpu_started = time.perf_counter(), time.process_time()
        hit = engine.semantic.lookup(f"q{i}", LLM)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        agree += hit is not None and hit.payload == f"answer {i}"
    latency = engine.stats().semantic.latency
    # The vector search alone (the backend's VectorSearch: index search and reading the k records back), wall and
    # CPU time: on a machine shared with other work the CPU time is what the code costs.
    search_wall, search_cpu = [], []
    backend, partition = engine._core.backend, _partition(engine)
    for i in picks.tolist():
        op = VectorSearch(engine.namespace, partition, _query(emb, i), 4)
        started, cpu_started = time.perf_counter(), time.process_time()
        backend.execute(op)
        search_wall.append(time.perf_counter() - started)
        search_cpu.append(time.process_time() - cpu_started)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine.close()
    # The peer: brute force over the same vectors, loaded from SQLite as a process without a file must.
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    blobs = [row[0] for row in conn.execute("SELECT vector FROM semantic_entries")]
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), DIM)
    load = time.perf_counter() - started
    conn.close()
    scans = []
    for i in picks[:200].tolist():
        q = np.asarray(emb.embed(f"q{i}"), dtype=np.float32)
        started = time.perf_counter()
        int(np.argmax(matrix @ q))
        scans.append(time.perf_counter() - started)
    return {
        "open_ms": opened * 1e3,
        "first_ms": first * 1e3,
        "first_cpu_ms": first_cpu * 1e3,
        "p50_ms": latency.median_ms,
        "p99_ms": latency.p99_ms,
        "search_p50_ms": statistics.median(search_wall) * 1e3,
        "search_cpu_p50_ms": statistics.median(search_cpu) * 1e3,
        "search_cpu_p99_ms": float(np.percentile(search_cpu, 99)) * 1e3,
        "wall_p50_ms": statistics.median(wall) * 1e3,
        "cpu_p50_ms": statistics.median(cpu) * 1e3,
        "recall": agree / queries,
        "rss_mb": rss,
        "brute_load_ms": load * 1e3,
        "brute_scan_ms": statistics.median(scans) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--fresh", nargs=2, metavar=("DB", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fresh:
        print(json.dumps(fresh(Path(args.fresh[0]), int(args.fresh[1]), args.queries)))
        return
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "scale.db"
            built = build(db, size)
            db_bytes, index_bytes = _sizes(db)
            done = subprocess.run(
                [sys.executable, __file__, "--fresh", str(db), str(size), "--queries", str(args.queries)],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(
                {
                    "size": size,
                    **built,
                    **json.loads(done.stdout),
                    "db_mb": db_bytes / 2**20,
                    "index_mb": index_bytes / 2**20,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    print(
        "\nFresh process opening a SQLite store (one partition, random 384-d vectors; latency excludes embedding)"
    )
    print(
        "| entries | open ms | first lookup ms (CPU ms) | lookup p50 / p99 ms | vector search p50 ms "
        "(CPU p50 / p99) | recall | RSS MB | db+WAL MB | index MB | brute force: load ms / scan ms "
        "| scan vs search (CPU) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size']:,} | {r['open_ms']:.1f} | {r['first_ms']:.1f} ({r['first_cpu_ms']:.1f}) "
            f"| {r['p50_ms']:.3f} / {r['p99_ms']:.2f} "
            f"| {r['search_p50_ms']:.3f} ({r['search_cpu_p50_ms']:.3f} / {r['search_cpu_p99_ms']:.3f}) "
            f"| {r['recall']:.3f} | {r['rss_mb']:.0f} | {r['db_mb']:.0f} | {r['index_mb']:.0f} "
            f"| {r['brute_load_ms']:.0f} / {r['brute_scan_ms']:.2f} "
            f"| {r['brute_scan_ms'] / r['search_cpu_p50_ms']:.1f}x |"
        )
    print("\nSemantic inserts into a store of that size, per second of wall clock / per CPU second")
    print(
        "| entries | one at a time | update_many, batches of 500 | bare sqlite3 executemany (floor) "
        "| batched vs floor (CPU) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size']:,} | {r['single_per_s']:,.0f} / {r['single_per_cpu_s']:,.0f} "
            f"| {r['batched_per_s']:,.0f} / {r['batched_per_cpu_s']:,.0f} "
            f"| {r['floor_per_s']:,.0f} / {r['floor_per_cpu_s']:,.0f} "
            f"| {r['batched_per_cpu_s'] / r['floor_per_cpu_s']:.2f}x |"
        )


if __name__ == "__main__":
    main()
