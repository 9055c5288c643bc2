"""LixStore against LangGraph's own stores: per-operation cost of put, get and a filtered search.

    .venv/bin/python benchmarks/langgraph_store.py [--items 1000] [--repeats 5]

Peers measured in the same run: ``InMemoryStore`` (a dict; the floor) and ``SqliteStore`` (langgraph-checkpoint-
sqlite, one file). Items live under 10 user namespaces; no index, so no embedding cost (semantic search costs an
embedding per put and per query on every store alike). Figures are medians over ``repeats`` runs; the table prints
each store's microseconds per operation and its ratio to ``SqliteStore`` (below 1.0: faster).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def timed(fn: Callable[[], Any], count: int, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(runs)


def measure(store: Any, items: int, repeats: int) -> dict[str, float]:
    spaces = [("users", f"u{i}", "memories") for i in range(10)]
    rows = [
        (spaces[i % 10], f"k{i}", {"text": f"memory {i}", "kind": "a" if i % 2 else "b", "n": i})
        for i in range(items)
    ]

    def puts() -> None:
        for ns, key, value in rows:
            store.put(ns, key, value)

    def gets() -> None:
        for ns, key, _ in rows:
            store.get(ns, key)

    searches = 50

    def search() -> None:
        for i in range(searches):
            store.search(spaces[i % 10], filter={"kind": "a", "n": {"$gte": 10}}, limit=10)

    return {
        "put": timed(puts, items, repeats),
        "get": timed(gets, items, repeats),
        f"search ({items // 10} items/namespace)": timed(search, searches, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from langgraph.store.memory import InMemoryStore
    from langgraph.store.sqlite import SqliteStore

    from lix_integrations import Engine
    from lix_integrations.langgraph import LixStore
    from lix_integrations.testing import FakeEmbedder

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["InMemoryStore"] = measure(InMemoryStore(), args.items, args.repeats)
        with SqliteStore.from_conn_string(str(Path(tmp) / "peer.db")) as peer:
            peer.setup()
            results["SqliteStore"] = measure(peer, args.items, args.repeats)
        for name, url in [
            ("LixStore memory://", f"memory://{uuid.uuid4().hex}"),
            ("LixStore sqlite", f"sqlite:///{tmp}/lix.db"),
        ]:
            engine = Engine(url, embedder=FakeEmbedder())
            results[name] = measure(LixStore(engine), args.items, args.repeats)
            engine.close()

    base = results["SqliteStore"]
    ops = list(base)
    print(f"{'store':22}" + "".join(f"{op:>36}" for op in ops))
    for name, figures in results.items():
        cells = "".join(f"{figures[op]:>20.1f} us  x{figures[op] / base[op]:>8.2f}" for op in ops)
        print(f"{name:22}{cells}")


if __name__ == "__main__":
    main()
