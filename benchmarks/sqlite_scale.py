"""SQLite at scale: a fresh process's open and first lookup, lookup latency and recall, inserts, RSS and file sizes.

Run from the repository root (10k and 100k take about 5 minutes on a busy 2-core machine; 1M about 40)::

    .venv/bin/python benchmarks/sqlite_scale.py [--sizes 10000,100000,1000000] [--queries 1000] [--json FILE]

Data: deterministic random unit vectors (384 dimensions, one seed per row), one partition (one model and context,
as a busy application's cache). Random vectors are the hardest case for the IVF index (no cluster structure).
Queries are stored vectors moved to a cosine of about 0.95 (``q``) or exactly 0.90 (``r``, the cosine the probe
count is calibrated at) from the original. The embedder returns those vectors, so no timing includes a model.

Per size, the store is built with ``update_many`` (batches of 1,000; its time is reported), one lookup writes the
partition's index file, inserts are measured, and the engine closes. Then a **fresh process** opens the store:

* open: ``Engine(url)`` (connect, schema and settings check);
* first lookup: the first ``semantic.lookup`` after open, wall clock and CPU (maps the index file);
* p50/p99: the engine's own lookup latency over ``--queries`` lookups (excludes obtaining the prompt's vector,
  includes the exact-key check, the vector search and reading the candidates' records);
* vector search: the backend's ``VectorSearch`` alone (index search and the records read back), CPU time;
* recall@1: share of lookups whose served entry is the exact nearest by a brute-force scan of every vector;
* RSS after the lookups, and the sizes of the database (+WAL) and of the index directory.

Peer measured in the same run: an in-process brute-force numpy scan over the same vectors (what a process without
a persisted index must load from SQLite first: "load" is reading every vector back, "scan" one matrix product).

Inserts (into the store of each size, before the fresh process; removed again afterwards): 3,000 ``update`` one
at a time and 10,000 by ``update_many`` in batches of 500, through the engine (embedding included: a table lookup).
Floors: bare ``sqlite3`` inserts of rows like the engine's into the store's own tables at that size (same indexes
and pragmas, a change-log row each), one transaction per row and ``executemany`` per 500 rows (no engine, no index
file). Rates are given per second of wall clock (the chart's) and per CPU second of the process, which counts every
thread's (the index-file worker's included).
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
_POOL = np.random.default_rng(2**31).standard_normal((4_096, DIM)).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = (v / np.linalg.norm(v)).astype(np.float32)
    return out


class ScaleEmbedder:
    """``e<i>`` -> stored vector i; ``q<i>`` -> vector i moved to cosine ~0.95, ``r<i>`` to exactly 0.90; anything
    else -> a mix of two pool vectors chosen by its hash (cheap: insert timings include embedding)."""

    name = "bench-random-384"
    dimension = DIM

    @staticmethod
    def row(i: int) -> np.ndarray:
        return _unit(np.random.default_rng(i).standard_normal(DIM, dtype=np.float32))

    def vector(self, text: str) -> np.ndarray:
        kind, num = text[0], int(text[1:]) if text[1:].isdigit() else -1
        if kind == "e" and num >= 0:
            return self.row(num)
        if kind in "qr" and num >= 0:
            base = self.row(num)
            noise = np.random.default_rng(10**12 + num).standard_normal(DIM).astype(np.float32)
            if kind == "q":
                return _unit(base + noise * 0.017)
            noise = _unit(noise - float(noise @ base) * base)
            return _unit(0.9 * base + np.sqrt(1 - 0.81) * noise)
        h = hash(text) & 0xFFFFFFFF
        return _unit(_POOL[h % 4_096] + 0.5 * _POOL[(h >> 12) % 4_096])

    def embed(self, text: str) -> list[float]:
        out: list[float] = self.vector(text).tolist()
        return out

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


def _rate(count: int, started: float, cpu: float) -> tuple[float, float]:
    return count / (time.perf_counter() - started), count / (time.process_time() - cpu)


def _floors(db: Path, single: int, many: int) -> dict[str, float]:
    """Bare sqlite3 inserts of rows like the engine's into its own tables of this size (same indexes, same
    pragmas, a change-log row each; no engine, no embedding, no index file; its WAL checkpoints in the commits,
    as SQLite makes them, where the engine's run on a thread), removed again afterwards."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=10000")
    conn.execute("PRAGMA cache_size=-16384")  # the engine's 16 MiB (lix_integrations/backends/sqlite.py)
    (top,) = conn.execute("SELECT max(id) FROM semantic_entries").fetchone()
    now = time.time()

    def row(i: int) -> tuple[object, ...]:
        return (
            "default", os.urandom(16).hex(), "floor", "", LLM, f"floor {i}", os.urandom(DIM * 4),
            "defaultembeddings" + os.urandom(16).hex() + ":q:" + os.urandom(32).hex(), "payload", now, None, now,
        )  # fmt: skip

    rows = [row(i) for i in range(single + many)]
    sql = (
        "INSERT INTO semantic_entries (namespace, exact_key, partition, scope, llm_key, prompt, vector, "
        "vector_key, payload, created_at, expires_at, accessed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    log = "INSERT INTO semantic_log (namespace, partition, entry_id, added) VALUES ('default', 'floor', ?, 1)"
    out: dict[str, float] = {}
    started, cpu = time.perf_counter(), time.process_time()
    for n, values in enumerate(rows[:single]):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(sql, values)
        conn.execute(log, (n,))
        conn.execute("COMMIT")
    out["floor_single_per_s"], out["floor_single_per_cpu_s"] = _rate(single, started, cpu)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(single, single + many, 500):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[start : start + 500])
        conn.executemany(log, [(n,) for n in range(start, start + 500)])
        conn.execute("COMMIT")
    out["floor_per_s"], out["floor_per_cpu_s"] = _rate(many, started, cpu)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM semantic_entries WHERE id > ?", (top,))
    conn.execute("DELETE FROM semantic_log WHERE partition = 'floor'")
    conn.execute("COMMIT")
    conn.close()
    return out


def build(db: Path, size: int) -> dict[str, float]:
    engine = _engine(db)
    started = time.perf_counter()
    for start in range(0, size, 1_000):
        engine.semantic.update_many(
            [(f"e{i}", LLM, f"answer {i}") for i in range(start, min(size, start + 1_000))]
        )
    out = {"build_s": time.perf_counter() - started}
    engine.semantic.lookup("q0", LLM)  # the first search loads the partition (and writes its index file)
    # Inserts into the store of this size (then removed again, so the fresh process sees exactly `size`).
    # Samples long enough to hold the periodic costs an insert stream pays: a WAL checkpoint every ~1,000 single
    # inserts, an index-file rewrite every sixteenth of the partition (both on threads of their own beside the
    # writer since 2026-12-05, `sqlite_checkpoints`, `ivf_rewrites`). With 1,000 + 5,000 the rates
    # of three runs at 100k swung between 1.2k and 2.2k/s (single) and 4.6k and 8.0k/s (batched) depending on
    # where those fell (2026-12-04).
    single, many = 3_000, 10_000
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(single):
        engine.semantic.update(f"x{i}", LLM, "single")
    out["single_per_s"], out["single_per_cpu_s"] = _rate(single, started, cpu)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, many, 500):
        engine.semantic.update_many([(f"y{i}", LLM, "batched") for i in range(start, start + 500)])
    out["batched_per_s"], out["batched_per_cpu_s"] = _rate(many, started, cpu)
    engine.close()
    out.update(_floors(db, single, many))
    engine = _engine(db)  # the inserted extras go again (a normal write: the log and index file follow)
    ids = [e.id for e in engine.semantic.entries(after_id=size, limit=10**7) if e.prompt[0] in "xy"]
    engine._core.backend.execute(DeleteIds(engine.namespace, tuple(ids)))  # one transaction
    engine.semantic.lookup("q1", LLM)
    engine.close()
    return out


def _partition(engine: Engine) -> str:
    return engine._core.semantic.prepare("q0", LLM, context="", scope=resolve_scope(None)).partition


def _peak_rss_mb() -> float:
    """This process's peak RSS. Not ``getrusage``'s ``ru_maxrss``: a child started by ``subprocess`` reports its
    parent's peak there (the mm it was spawned from), which made the RSS column the building process's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _brute_force(db: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Every stored (id, vector), read back from SQLite as a process without an index file must."""
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    count = int(conn.execute("SELECT count(*) FROM semantic_entries").fetchone()[0])
    ids = np.empty(count, dtype=np.int64)
    matrix = np.empty((count, DIM), dtype=np.float32)
    for n, (entry_id, blob) in enumerate(conn.execute("SELECT id, vector FROM semantic_entries")):
        ids[n] = entry_id
        matrix[n] = np.frombuffer(blob, dtype=np.float32)
    conn.close()
    return ids, matrix, time.perf_counter() - started


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
    picks = np.random.default_rng(7).integers(0, size, queries).tolist()
    served: dict[str, list[int]] = {"q": [], "r": []}
    for i in picks:
        for kind in "qr":
            found = engine.semantic.lookup(f"{kind}{i}", LLM)
            served[kind].append(-1 if found is None else found.entry_id)
    latency = engine.stats().semantic.latency  # over both query sets
    # The vector search alone (the backend's VectorSearch: index search and reading the k records back).
    search_cpu = []
    backend, partition = engine._core.backend, _partition(engine)
    for i in picks:
        op = VectorSearch(engine.namespace, partition, emb.vector(f"q{i}"), 4)
        cpu_started = time.process_time()
        backend.execute(op)
        search_cpu.append(time.process_time() - cpu_started)
    rss = _peak_rss_mb()
    engine.close()
    ids, matrix, load = _brute_force(db)  # the peer
    recall: dict[str, float] = {}
    for kind in "qr":
        batch = np.stack([emb.vector(f"{kind}{i}") for i in picks])
        best = np.full(len(picks), -np.inf, dtype=np.float32)
        nearest = np.zeros(len(picks), dtype=np.int64)
        for start in range(0, matrix.shape[0], 20_000):  # exact nearest of every query, in blocks
            scores = matrix[start : start + 20_000] @ batch.T
            top = np.argmax(scores, axis=0)
            better = scores[top, np.arange(len(picks))] > best
            best[better] = scores[top, np.arange(len(picks))][better]
            nearest[better] = ids[start + top[better]]
        recall[kind] = float(np.mean(nearest == np.asarray(served[kind])))
    scans, scores = [], np.empty(matrix.shape[0], dtype=np.float32)
    for i in picks[:50]:  # one query's scan, in blocks small enough for BLAS to stay on one thread
        query = emb.vector(f"q{i}")
        started = time.perf_counter()
        for start in range(0, matrix.shape[0], 1_000):
            np.dot(matrix[start : start + 1_000], query, out=scores[start : start + 1_000])
        int(np.argmax(scores))
        scans.append(time.perf_counter() - started)
    return {
        "open_ms": opened * 1e3,
        "first_ms": first * 1e3,
        "first_cpu_ms": first_cpu * 1e3,
        "p50_ms": latency.median_ms,
        "p99_ms": latency.p99_ms,
        "search_cpu_p50_ms": statistics.median(search_cpu) * 1e3,
        "search_cpu_p99_ms": float(np.percentile(search_cpu, 99)) * 1e3,
        "recall_q": recall["q"],
        "recall_r": recall["r"],
        "rss_mb": rss,
        "brute_load_ms": load * 1e3,
        "brute_scan_ms": statistics.median(scans) * 1e3,
    }


def chart_data(rows: list[dict[str, float]], measured: str) -> dict[str, object]:
    """benchmarks/results/sqlite_scale.json (scripts/benchmark_charts.py draws it) from the rows of ``--json``."""
    groups = [f"{int(r['size']):,} entries" for r in rows]

    def series(label: str, key: str, ours: bool = False) -> dict[str, object]:
        return {
            "label": label,
            **({"ours": True} if ours else {}),
            "values": [round(r[key], 3) for r in rows],
        }

    return {
        "title": "SQLite store of one partition opened by a fresh process (random 384-d vectors)",
        "command": ".venv/bin/python benchmarks/sqlite_scale.py --sizes 10000,100000 --json FILE "
        "(then --sizes 1000000 --queries 300 --json FILE)",
        "measured": measured,
        "panels": [
            {
                "title": "first lookup after open, ms (log scale, lower is better)",
                "log": True,
                "groups": groups,
                "series": [
                    series("lix SQLite (mapped index file)", "first_ms", True),
                    series("numpy brute force (load vectors from SQLite)", "brute_load_ms"),
                ],
            },
            {
                "title": "lookup, ms (log scale, lower is better)",
                "log": True,
                "groups": groups,
                "series": [
                    series("lix engine latency, median", "p50_ms", True),
                    series("lix vector search, CPU median", "search_cpu_p50_ms", True),
                    series("numpy brute-force scan, median", "brute_scan_ms"),
                ],
            },
            {
                "title": "semantic inserts per second (higher is better)",
                "log": True,
                "groups": groups,
                "series": [
                    series("lix one at a time", "single_per_s", True),
                    series("lix update_many (500)", "batched_per_s", True),
                    series("bare sqlite3, one a transaction", "floor_single_per_s"),
                    series("bare sqlite3 executemany (500)", "floor_per_s"),
                ],
            },
        ],
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--json", help="append each size's figures to this file, one JSON object a line")
    parser.add_argument("--fresh", nargs=2, metavar=("DB", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--chart",
        nargs=2,
        metavar=("JSONL", "MEASURED"),
        help="write results/sqlite_scale.json from --json rows",
    )
    args = parser.parse_args()
    if args.chart:
        rows = [json.loads(line) for line in Path(args.chart[0]).read_text().splitlines() if line.strip()]
        rows = sorted(
            {int(r["size"]): r for r in rows}.values(), key=lambda r: r["size"]
        )  # the last run of a size
        out = Path(__file__).parent / "results" / "sqlite_scale.json"
        out.write_text(json.dumps(chart_data(rows, args.chart[1]), indent=2) + "\n")
        return
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
            if args.json:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps(rows[-1]) + "\n")
    print(
        "\nFresh process opening a SQLite store (one partition, random 384-d vectors; latency excludes embedding)"
    )
    print(
        "| entries | build s | open ms | first lookup ms (CPU) | lookup p50 / p99 ms | vector search CPU p50 / p99 ms "
        "| recall@1 cos 0.95 / 0.90 | RSS MB | db+WAL MB | index MB | brute force: load ms / scan ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size']:,} | {r['build_s']:.0f} | {r['open_ms']:.1f} | {r['first_ms']:.1f} ({r['first_cpu_ms']:.1f}) "
            f"| {r['p50_ms']:.3f} / {r['p99_ms']:.2f} "
            f"| {r['search_cpu_p50_ms']:.3f} / {r['search_cpu_p99_ms']:.3f} "
            f"| {r['recall_q']:.3f} / {r['recall_r']:.3f} | {r['rss_mb']:.0f} | {r['db_mb']:.0f} | {r['index_mb']:.0f} "
            f"| {r['brute_load_ms']:.0f} / {r['brute_scan_ms']:.2f} |"
        )
    print("\nSemantic inserts into a store of that size, per second of wall clock / per CPU second")
    print(
        "| entries | one at a time | bare sqlite3, one a transaction (floor) | update_many, batches of 500 "
        "| bare sqlite3 executemany (floor) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size']:,} | {r['single_per_s']:,.0f} / {r['single_per_cpu_s']:,.0f} "
            f"| {r['floor_single_per_s']:,.0f} / {r['floor_single_per_cpu_s']:,.0f} "
            f"| {r['batched_per_s']:,.0f} / {r['batched_per_cpu_s']:,.0f} "
            f"| {r['floor_per_s']:,.0f} / {r['floor_per_cpu_s']:,.0f} |"
        )


if __name__ == "__main__":
    main()
