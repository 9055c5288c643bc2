"""LangGraph checkpointers: lix vs InMemorySaver, SqliteSaver and RedisSaver on one create_agent workload.

Workload: a ``create_agent`` conversation of ``--turns`` turns (default 100) with a fake chat model and 2 tools
(``lix_integrations.testing.agent_threads``: every other turn calls a tool; each message is ~230 words, about 300
tokens), on ``--threads`` threads (default 50), run for real on every saver: the agent reads its thread
(``get_tuple``) at the start of each turn and writes a checkpoint (``put``) and the tasks' writes (``put_writes``)
at each step, as in production. Only the time spent inside the saver's methods is counted (the agent's own work
is not). Per saver, on a fresh store:

* put: checkpoints written per second, the median over the threads (each thread is one repetition of the same
  conversation; with ``--repeats`` > 1, the median over repeats of those medians);
* get_tuple: the reads at the start of each turn, per second (median over threads);
* first get_tuple: each thread's latest checkpoint read once more through a new saver on the same store (a cold
  process; InMemorySaver reads its own dict);
* bytes stored after the run: SQLite file size (after a WAL checkpoint), Redis ``used_memory`` growth, the
  stored keys and values for the in-memory savers.

Peers: InMemorySaver (langgraph-checkpoint), SqliteSaver (langgraph-checkpoint-sqlite 3.1), RedisSaver
(langgraph-checkpoint-redis 0.5, on Redis Stack with RedisJSON and the Query Engine, which it needs); lix on
``memory://``, SQLite and plain Redis without modules, with its defaults (a hot window of 50 checkpoints, older
ones in the thread's compressed archive), and once more on SQLite without the archive. Servers are started by
this script on free ports. The savers run interleaved (thread 0 on each saver, then thread 1, ...), so the load
of a shared machine falls on all of them alike and the ratios of one run compare like with like.

    .venv/bin/python benchmarks/langgraph.py [--threads 50] [--turns 100] [--repeats 1] [--only NAME,...]
"""

from __future__ import annotations

import sys

# Run as a script, this file's folder comes first on sys.path, where "langgraph" would be this file: drop it.
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]):
    sys.path.pop(0)

import argparse
import gc
import json
import logging
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from lix_integrations import Engine
from lix_integrations.langgraph import LixCheckpointSaver
from lix_integrations.testing.agent_threads import build_agent, text
from lix_integrations.testing.redis_servers import RedisServer, _stack_root, start_plain


@dataclass
class Run:
    put_per_s: float
    get_per_s: float
    first_get_per_s: float
    writes_per_s: float
    bytes: int


@dataclass
class Subject:
    name: str
    open: Callable[[Path, int], Any]  # (workdir, repeat) -> saver
    reopen: Callable[[Any, Path, int], Any]  # a second saver on the same store (a cold process)
    size: Callable[[Any, Path, int], int]
    close: Callable[[Any], None]


class Timer:
    """Wraps a saver's put, put_writes and get_tuple on the instance and adds up the time spent in each."""

    def __init__(self, saver: Any) -> None:
        self.seconds = {"put": 0.0, "put_writes": 0.0, "get_tuple": 0.0}
        self.calls = {"put": 0, "put_writes": 0, "get_tuple": 0}
        for name in self.seconds:
            setattr(saver, name, self._timed(name, getattr(saver, name)))

    def _timed(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

        return timed

    def rate(self, name: str) -> float:
        return self.calls[name] / self.seconds[name] if self.seconds[name] else 0.0

    def reset(self) -> None:
        for name in self.seconds:
            self.seconds[name], self.calls[name] = 0.0, 0


@dataclass
class Live:
    """One saver under test during a repetition: its timer, its agent and the rates of each thread so far."""

    subject: Subject
    saver: Any
    timer: Timer
    agent: Any
    rates: dict[str, list[float]]


def run_thread(live: Live, t: int, turns: int) -> None:
    """Thread ``t``'s conversation on one saver; its put/s, get_tuple/s and put_writes/s join the saver's rates."""
    config = {"configurable": {"thread_id": f"thread-{t}"}}
    live.timer.reset()
    for turn in range(turns):
        live.agent.invoke({"messages": [HumanMessage(text(230, t * 100_000 + turn))]}, config)
    for name in live.rates:
        live.rates[name].append(live.timer.rate(name))


def cold_reads(saver: Any, threads: int) -> float:
    started = time.perf_counter()
    for t in range(threads):
        assert saver.get_tuple({"configurable": {"thread_id": f"thread-{t}"}}) is not None
    return threads / (time.perf_counter() - started)


def sqlite_size(path: Path) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size, pages = (
        conn.execute("PRAGMA page_size").fetchone()[0],
        conn.execute("PRAGMA page_count").fetchone()[0],
    )
    conn.close()
    return int(page_size * pages)


def redis_used(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def redis_flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()


def memory_size(saver: Any, _: Path, __: int) -> int:
    total = sum(len(b) for (_, b) in saver.blobs.values())
    for ns in saver.storage.values():
        for entries in ns.values():
            for cp, md, _parent in entries.values():
                total += len(cp[1]) + len(md[1])
    for writes in saver.writes.values():
        total += sum(len(v[2][1]) for v in writes.values())
    return total


def lix_memory_size(saver: Any, _: Path, __: int) -> int:
    """Bytes of keys and values in the memory backend's tables (the stored records, as for InMemorySaver)."""
    backend = saver._engine._core.backend  # a benchmark may look inside
    total = 0
    for table in backend._store.kv._tables.values():
        total += sum(len(k) + len(r.value) for k, r in table.records.items())
    return total


@contextmanager
def servers(workdir: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    for sub in ("plain", "stack"):
        (workdir / sub).mkdir()
    plain = start_plain(workdir / "plain")
    lib = _stack_root() / "lib"
    stack = start_plain(
        workdir / "stack",
        args=["--loadmodule", str(lib / "rejson.so"), "--loadmodule", str(lib / "redisearch.so")],
    )
    try:
        yield plain, stack
    finally:
        plain.stop()
        stack.stop()


def subjects(plain: RedisServer, stack: RedisServer) -> list[Subject]:
    from langgraph.checkpoint.redis import RedisSaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    def sqlite_peer(d: Path, r: int) -> Any:
        return SqliteSaver(sqlite3.connect(d / f"peer-{r}.db", check_same_thread=False))

    def redis_peer(d: Path, r: int) -> Any:
        redis_flush(stack.url)
        saver = RedisSaver(redis_url=stack.url)
        saver.setup()
        return saver

    def lix_redis(d: Path, r: int) -> Any:
        redis_flush(plain.url)
        return LixCheckpointSaver(url=plain.url)

    return [
        Subject(
            "InMemorySaver", lambda d, r: InMemorySaver(), lambda s, d, r: s, memory_size, lambda s: None
        ),
        Subject(
            "lix memory://",
            lambda d, r: LixCheckpointSaver(Engine("memory://")),
            lambda s, d, r: LixCheckpointSaver(s._engine),
            lix_memory_size,
            lambda s: s._engine.close(),
        ),
        Subject(
            "SqliteSaver",
            sqlite_peer,
            lambda s, d, r: sqlite_peer(d, r),
            lambda s, d, r: sqlite_size(d / f"peer-{r}.db"),
            lambda s: s.conn.close(),
        ),
        Subject(
            "lix SQLite",
            lambda d, r: LixCheckpointSaver(url=f"sqlite:///{d / f'lix-{r}.db'}"),
            lambda s, d, r: LixCheckpointSaver(url=f"sqlite:///{d / f'lix-{r}.db'}"),
            lambda s, d, r: sqlite_size(d / f"lix-{r}.db"),
            lambda s: s.close(),
        ),
        Subject(
            "lix SQLite (no archive)",
            lambda d, r: LixCheckpointSaver(url=f"sqlite:///{d / f'lixa-{r}.db'}", hot_window=None),
            lambda s, d, r: LixCheckpointSaver(url=f"sqlite:///{d / f'lixa-{r}.db'}"),
            lambda s, d, r: sqlite_size(d / f"lixa-{r}.db"),
            lambda s: s.close(),
        ),
        Subject(
            "RedisSaver (Stack)",
            redis_peer,
            lambda s, d, r: RedisSaver(redis_url=stack.url),
            lambda s, d, r: redis_used(stack.url) - s._lix_base,
            lambda s: None,
        ),
        Subject(
            "lix Redis (plain)",
            lix_redis,
            lambda s, d, r: LixCheckpointSaver(url=plain.url),
            lambda s, d, r: redis_used(plain.url) - s._lix_base,
            lambda s: s.close(),
        ),
    ]


def measure(
    chosen: list[Subject], args: argparse.Namespace, workdir: Path, bases: dict[str, Any]
) -> dict[str, Run]:
    """Every saver runs the same threads, interleaved: thread 0 on each saver, then thread 1 on each, ... On a
    shared machine the load then falls on all savers alike, so the ratios of one run compare like with like."""
    runs: dict[str, list[Run]] = {subject.name: [] for subject in chosen}
    for r in range(args.repeats):
        lives = []
        for subject in chosen:
            saver = subject.open(workdir, r)
            saver._lix_base = bases[subject.name]()
            timer = Timer(saver)
            rates: dict[str, list[float]] = {"put": [], "get_tuple": [], "put_writes": []}
            lives.append(Live(subject, saver, timer, build_agent(saver), rates))
        for t in range(args.threads):
            for live in lives:
                run_thread(live, t, args.turns)
            gc.collect()
            print(f"  repeat {r + 1}: thread {t + 1}/{args.threads} done", file=sys.stderr)
            if args.snapshot and (t % 5 == 4 or t + 1 == args.threads):
                snapshot(Path(args.snapshot), lives, workdir, r, t + 1)
        for live in lives:
            subject, saver = live.subject, live.saver
            cold = subject.reopen(saver, workdir, r)
            first = cold_reads(cold, args.threads)
            if cold is not saver and subject.name.startswith(("SqliteSaver", "lix SQLite", "lix Redis")):
                subject.close(cold)  # the memory saver's twin shares its engine, closed with it below
            size = subject.size(saver, workdir, r)
            subject.close(saver)
            put, get, writes = (statistics.median(live.rates[n]) for n in ("put", "get_tuple", "put_writes"))
            runs[subject.name].append(Run(put, get, first, writes, size))
            print(
                f"  {subject.name} #{r + 1}: put {put:,.0f}/s  get_tuple {get:,.0f}/s (first {first:,.0f}/s)  "
                f"put_writes {writes:,.0f}/s  bytes {size:,}",
                file=sys.stderr,
            )
    return {
        name: Run(
            statistics.median(x.put_per_s for x in done),
            statistics.median(x.get_per_s for x in done),
            statistics.median(x.first_get_per_s for x in done),
            statistics.median(x.writes_per_s for x in done),
            int(statistics.median(x.bytes for x in done)),
        )
        for name, done in runs.items()
    }


def snapshot(path: Path, lives: list[Live], workdir: Path, r: int, done: int) -> None:
    """The medians so far and the bytes stored now, as JSON (a long run on a busy machine reports as it goes)."""
    figures = {
        live.subject.name: {
            **{n: statistics.median(live.rates[n]) for n in ("put", "get_tuple", "put_writes")},
            "bytes": live.subject.size(live.saver, workdir, r),
        }
        for live in lives
    }
    path.write_text(json.dumps({"repeat": r + 1, "threads_done": done, "savers": figures}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated subject names to run (default: all)")
    parser.add_argument(
        "--snapshot", default="", help="write the figures so far to this JSON file every 5 threads"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    load = os.getloadavg()
    print(
        f"workload: {args.turns} turns x {args.threads} threads, {args.repeats} repeat(s); load average at the "
        f"start {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory() as tmp, servers(Path(tmp)) as (plain, stack):
        chosen = [s for s in subjects(plain, stack) if not args.only or s.name in args.only.split(",")]
        bases: dict[str, Any] = {}
        for subject in chosen:
            url = stack.url if "Stack" in subject.name else plain.url
            bases[subject.name] = (lambda u=url: redis_used(u)) if "Redis" in subject.name else (lambda: 0)
        results = measure(chosen, args, Path(tmp), bases)

    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (1, 5, 15 min; 2 cores)\n")
    print(
        f"| saver | put/s | get_tuple/s | first get_tuple/s | put_writes/s | "
        f"bytes after {args.turns} turns x {args.threads} threads |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, run in results.items():
        size = f"{run.bytes / 1e6:,.1f} MB" if run.bytes else "n/a"
        print(
            f"| {name} | {run.put_per_s:,.0f} | {run.get_per_s:,.0f} | {run.first_get_per_s:,.0f} | "
            f"{run.writes_per_s:,.0f} | {size} |"
        )
    pairs = [
        ("lix memory://", "InMemorySaver"),
        ("lix SQLite", "SqliteSaver"),
        ("lix SQLite (no archive)", "SqliteSaver"),
        ("lix Redis (plain)", "RedisSaver (Stack)"),
    ]
    print("\n| lix vs peer | put | get_tuple | first get_tuple | put_writes | bytes (lix / peer) |")
    print("|---|---:|---:|---:|---:|---:|")
    for ours, peer in pairs:
        if ours in results and peer in results:
            a, b = results[ours], results[peer]
            ratio = f"{a.bytes / b.bytes:.3f}" if a.bytes and b.bytes else "n/a"
            print(
                f"| {ours} / {peer} | {a.put_per_s / b.put_per_s:.2f}x | {a.get_per_s / b.get_per_s:.2f}x | "
                f"{a.first_get_per_s / b.first_get_per_s:.2f}x | {a.writes_per_s / b.writes_per_s:.2f}x | {ratio} |"
            )


if __name__ == "__main__":
    main()
