"""Can any Query Engine index meet issue 19's insert and lookup targets at once? Raw redis-py over an HNSW grid.

Run from the repository root (about 5 minutes on a quiet 2-core machine)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/redis_hnsw_grid.py [--size 10000] [--queries 300] [--ef-runtime 20] [--grid 16:100,12:40] [--vectors minilm]

Issue 19 asks, at 10,000 entries on the Query Engine, for single inserts >= 1x redisvl's ``store``, batched inserts
>= 2x that rate, and lookups >= 3x faster than redisvl's. redisvl's cache declares a FLAT index: appending to it is
cheap and a KNN scans every vector. A KNN on a graph (HNSW) is cheap, and every insert links the vector into the
graph first. This script measures the server alone, with no lix code on any path: raw redis-py ``HSET`` into an
index (one per round trip, or 100 per pipelined packet) and a raw ``FT.SEARCH`` KNN 1, for FLAT and for HNSW over a
grid of graph parameters (M, EF_CONSTRUCTION; float16 vectors, as lix stores them), next to redisvl's
``SemanticCache`` (``store`` and ``check``) measured in the same run. Every system lives on one Redis Stack 7.4
server the script starts and they take turns (``benchmarks/redis.py``'s ``run_interleaved``: fills round robin in
chunks of 100, lookups round robin query by query, 3 passes, medians).

Vectors: deterministic random unit 384-dim vectors, queries are stored vectors plus noise (sigma 0.02), whose
nearest stored vector is the one they were made from. recall@1 is the share of lookups whose first result is that
vector, searched with EF_RUNTIME ``--ef-runtime`` (20, lix's default until 2026-12-04) and each of ``WIDER`` (50 is
lix's default since). "Server us" is the server's CPU per insert while filling
(``INFO cpu``, median over chunks). A configuration meets the targets when its single and pipelined insert rates
are >= 1x and >= 2x redisvl's ``store`` rate and redisvl's lookup takes >= 3x its time, at recall@1 >= 0.95. The
last line says whether any does: these are floors (raw redis-py, no cache logic), so a configuration that misses
here cannot meet the targets through lix either.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/redis.py would shadow the redis package: this script's folder goes last on sys.path (as in redis.py).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import functools  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from _redis_systems import (  # noqa: E402
    Data,
    LookupResult,
    RawIndex,
    RedisvlCache,
    SemanticSystem,
    build_data,
    build_minilm_data,
)

from lix_integrations.testing.redis_servers import start_stack  # noqa: E402

# benchmarks/redis.py's systems and turn-taking, loaded under another name (as "redis" it is redis-py).
_spec = importlib.util.spec_from_file_location("redis_semantic_bench", _HERE / "redis.py")
assert _spec is not None and _spec.loader is not None
_bench = importlib.util.module_from_spec(_spec)
sys.modules["redis_semantic_bench"] = _bench  # dataclasses look their module up there
_spec.loader.exec_module(_bench)
run_interleaved, server_cpu = _bench.run_interleaved, _bench.server_cpu
REDISVL = RedisvlCache.name

#: M:EF_CONSTRUCTION pairs: lix's defaults before 2026-12-04 (16:100) and now (12:40), then cheaper graphs down to
#: ones whose recall collapses.
GRID = "16:100,16:40,12:40,8:64,8:40,8:24,8:16,4:16"
RECALL_BAR = 0.95
#: EF_RUNTIME values tried besides ``--ef-runtime`` on each HNSW graph.
WIDER = (50, 100, 200)


class RawGrid(RawIndex):
    """`RawIndex` (benchmarks/redis.py) with other graph parameters, whose ``lookup`` is True only when the first
    result is the query's true nearest stored vector, and which is also searched with ``WIDER`` EF_RUNTIMEs."""

    def __init__(
        self,
        name: str,
        url: str,
        data: Data,
        algo: str,
        m: int = 0,
        efc: int = 0,
        batch: int = 1,
        ef: int = 20,
    ) -> None:
        super().__init__(name, url, data.vectors, algo, batch, ef, m=m, efc=efc, tag="grid")
        self.nearest = data.nearest
        # The single-insert HNSW index is also searched with wider candidate lists (its pipelined twin's graph is
        # built alike): a cheap graph may reach the recall bar with more search work.
        self.wider = WIDER if algo == "HNSW" and batch == 1 else ()

    def extra_lookups(self) -> list[tuple[str, Callable[[str], bool]]]:
        return [
            (f"{self.name} @ EF_RUNTIME {ef}", functools.partial(self._found, knn=self.knn_of(ef)))
            for ef in self.wider
        ]

    def lookup(self, name: str) -> bool:
        return self._found(name, knn=self.knn)

    def _found(self, name: str, *, knn: str) -> bool:
        return bool(self.search(name, knn) == self.prefix + self.nearest[name])


def with_nearest(data: Data, size: int) -> Data:
    """``data`` with ``nearest``: each query's true nearest stored entry among the first ``size`` (a numpy scan)."""
    stored = np.stack([data.vectors[n] for n in data.entries[:size]])
    names = data.queries[size]
    best = (np.stack([data.vectors[q] for q in names]) @ stored.T).argmax(axis=1)
    data.nearest = {q: data.entries[int(i)] for q, i in zip(names, best, strict=True)}
    return data


def systems(url: str, data: Data, ef: int, grid: str) -> list[tuple[str, Callable[[], SemanticSystem]]]:
    made: list[tuple[str, Callable[[], SemanticSystem]]] = [
        (REDISVL, lambda: RedisvlCache(url, data.vectors))
    ]
    pairs = [[int(x) for x in pair.split(":")] for pair in grid.split(",")]
    configs: list[tuple[str, int, int]] = [("FLAT", 0, 0)] + [("HNSW", m, efc) for m, efc in pairs]
    for algo, m, efc in configs:
        for batch in (1, 100):
            label = "FLAT" if algo == "FLAT" else f"HNSW M {m} EF_CONSTRUCTION {efc}"
            name = f"{label}, {'one HSET per call' if batch == 1 else 'HSET x100 pipelined'}"
            made.append(
                (name, lambda n=name, a=algo, mm=m, e=efc, b=batch: RawGrid(n, url, data, a, mm, e, b, ef))
            )
    return made


def report(results: list[LookupResult], size: int, ef: int) -> None:
    rows = {r.system: r for r in results if r.size == size}
    peer = rows.pop(REDISVL)
    if peer.error or not peer.insert_per_s or not peer.wall_median_ms:
        print(f"redisvl failed: {peer.error}")
        return
    print(
        f"\n{size:,} entries. redisvl SemanticCache: store {peer.insert_per_s:,.0f}/s, check "
        f"{peer.wall_median_ms:.3f} ms (wall medians). Targets: single >= 1x, pipelined >= 2x its store rate; its "
        f"check >= 3x the lookup's time; recall@1 >= {RECALL_BAR}.\n"
    )
    print("| index | EF_RUNTIME | single inserts/s (x redisvl) | x100 pipelined /s (x redisvl) "
          "| server us/insert (single) | lookup ms (redisvl / it) | recall@1 | all targets |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    single_end, piped_end = ", one HSET per call", ", HSET x100 pipelined"
    labels = sorted(
        {n[: -len(single_end)] for n in rows if n.endswith(single_end)}, key=lambda n: (n != "FLAT", n)
    )
    feasible = []
    for label in labels:
        single, piped = rows[label + single_end], rows[label + piped_end]
        if single.error or piped.error:
            print(f"| {label} | | failed: {single.error or piped.error} | | | | | |")
            continue
        s_ratio, p_ratio = single.insert_per_s / peer.insert_per_s, piped.insert_per_s / peer.insert_per_s
        searches = [("" if label == "FLAT" else str(ef), single)]
        searches += [
            (str(w), rows[f"{label}{single_end} @ EF_RUNTIME {w}"]) for w in WIDER if label != "FLAT"
        ]
        for ef_shown, search in searches:
            lead = peer.wall_median_ms / search.wall_median_ms
            recall = search.hit_rate or 0.0
            met = s_ratio >= 1.0 and p_ratio >= 2.0 and lead >= 3.0 and recall >= RECALL_BAR
            if met:
                feasible.append(f"{label}, EF_RUNTIME {ef_shown}")
            print(
                f"| {label} | {ef_shown} | {single.insert_per_s:,.0f} ({s_ratio:.2f}x) "
                f"| {piped.insert_per_s:,.0f} ({p_ratio:.2f}x) | {single.server_cpu_us:.0f} "
                f"| {search.wall_median_ms:.3f} ({lead:.2f}x) | {recall:.3f} | {'yes' if met else 'no'} |"
            )
    print(
        "\nAny index meeting every target as a raw floor: "
        + ("; ".join(feasible) if feasible else "none (so no cache built on one can)")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=10000, help="entries (default 10,000, issue 19's size)")
    parser.add_argument("--queries", type=int, default=300, help="measured lookups per system")
    parser.add_argument(
        "--ef-runtime", type=int, default=20, help="HNSW EF_RUNTIME of the lookups besides 50, 100, 200"
    )
    parser.add_argument("--grid", default=GRID, help=f"M:EF_CONSTRUCTION pairs (default {GRID})")
    parser.add_argument(
        "--vectors",
        choices=("random", "minilm"),
        default="random",
        help="random unit vectors (default), or MiniLM vectors of real questions (as benchmarks/redis.py)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    made = (build_minilm_data if args.vectors == "minilm" else build_data)([args.size], args.queries)
    data = with_nearest(made, args.size)
    server = start_stack()
    try:
        results = run_interleaved(
            systems(server.url, data, args.ef_runtime, args.grid),
            data,
            [args.size],
            cpu=server_cpu(server.url),
        )
    finally:
        server.stop()
    report(results, args.size, args.ef_runtime)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s; load average at the end {load}")


if __name__ == "__main__":
    main()
