"""Chat history on Redis against LlamaIndex's RedisChatStore and langchain-redis, medians over repeats.

Run from the repository root (full run about 3 minutes on a quiet 2-core machine, 153 s on 2026-12-05;
``--quick``: 100 sessions, about 20 s):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/redis_chat.py [--quick] [--repeats 3] [--json FILE]
        [--new-archive-dir]

Workload: 1,000 sessions x 20 messages (``--quick``: 100), appended one message per call and interleaved across
sessions (the way concurrent conversations write), then every session's last 20 messages read once. Three ways of
writing: one message per add call; one add call per human + AI turn (LangChain's ``RunnableWithMessageHistory``
writes so; LlamaIndex's chat stores have no batch add and make two calls); async, 50 conversations at a time on one
event loop, one message per call. Throughput in messages/s (adds) and sessions/s (reads), and this process's CPU
time per message added (lix's sync calls poll the socket for their reply, trading CPU for the scheduler's wake-up:
the CPU table shows the price).

Servers (lix_integrations/testing/redis_servers.py, started and stopped by this script): ours and LlamaIndex's
``RedisChatStore`` on plain Redis 7.4 (no module); langchain-redis, which needs RedisJSON and the Query Engine, on
Redis Stack 7.4 with both modules. For each way of writing, a first pass of every system's adds runs and is not
counted: a service's state, connections made, scripts loaded, and lix's archive directory (kept for the way of
writing, as a service keeps its own) with the lock files a directory makes once (``--new-archive-dir``: a new
directory for every repeat and no first pass, as this script measured before 2026-12-05). Each repeat then builds
every system on flushed servers (new sessions for every system), then all of them take turns
slice by slice (an add slice: one call per session, or async a wave of 50 conversations; a read slice: 100 sessions,
or a wave of 50), in an order that rotates at every turn, so that the shared machine's varying load falls on all of
them alike (earlier versions ran one system after the other, and a load swing between two systems decided their
ratio). The table shows each system's median over the repeats and the ratios of those medians.

Floors, taking turns with the systems (plain Redis, redis-py, no framework objects): ``RPUSH`` per call and
``LRANGE 0 -1`` per session (what ``RedisChatStore`` sends), and ``EVALSHA`` of our append script per message: the least an
atomic, seq-assigning append costs on this machine next to a bare ``RPUSH``; and that script with each message
encoded as ``RedisChatStore`` encodes it, written on one kept connection and read the way lix's executor sends and
reads it (its reply polled for, see ``busy_poll_us`` in docs/redis.md; no redis-py command object, no lix layer):
the most a sync lix add could reach, compared with ``RedisChatStore`` in the report. For the async column: ``RPUSH``
on redis-py's asyncio client, 50 conversations at a time (what ``RedisChatStore`` sends, without its message
objects), and our append script 50 per pipelined packet (what lix's auto-pipelining sends for 50 concurrent
appends).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts this script's folder first on sys.path, where benchmarks/redis.py would shadow the redis package:
# move the folder to the end, so ``import redis`` finds redis-py.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from _chat_systems import (  # noqa: E402
    FLOOR_ASYNC,
    FLOOR_KEPT,
    FLOOR_PIPE,
    FLOOR_RPUSH,
    FLOOR_SCRIPT,
    MODES,
    OURS_LC,
    OURS_LI,
    PEER_LC,
    PEER_LI,
    Chat,
    factories,
    message_texts,
)
from _turns import close_all  # noqa: E402

from lix_integrations.testing.redis_servers import RedisServer, start_plain, start_stack  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# -- running and reporting ------------------------------------------------------------------------------------


@dataclass
class Runs:
    adds: list[float] = field(default_factory=list)  # messages/s, one per repeat
    reads: list[float] = field(default_factory=list)  # sessions/s
    adds_cpu: list[float] = field(default_factory=list)  # this process's CPU time, us per message added
    error: str | None = None

    def add(self) -> float | None:
        return statistics.median(self.adds) if self.adds else None

    def read(self) -> float | None:
        return statistics.median(self.reads) if self.reads else None

    def add_cpu(self) -> float | None:
        return statistics.median(self.adds_cpu) if self.adds_cpu else None


def flush(url: str) -> None:
    from redis import Redis

    client = Redis.from_url(url)
    client.flushall()
    client.close()


def _take_turns(
    chats: list[Chat], phase: str, start: int, runs: dict[str, Runs]
) -> dict[str, tuple[float, int, float]]:
    """Every system's ``phase`` slices, the systems taking turns slice by slice in a rotating order (the call
    after a CPU-heavy one waits longer for a core on a loaded machine): name -> (seconds, items, CPU seconds of
    this process; the servers run in their own)."""
    steps = {c.name: iter(getattr(c, phase)()) for c in chats}
    done: dict[str, tuple[float, int, float]] = {c.name: (0.0, 0, 0.0) for c in chats}
    active, turn = list(steps), start
    while active:
        k = turn % len(active)
        turn += 1
        for name in active[k:] + active[:k]:
            began, cpu = time.perf_counter(), time.process_time()
            try:
                items = next(steps[name])
            except StopIteration:
                active.remove(name)
                continue
            except Exception as exc:  # a peer that cannot run gets a row saying why
                traceback.print_exc(file=sys.stderr)
                runs[name].error = f"{type(exc).__name__}: {exc}"[:90]
                active.remove(name)
                continue
            spent, count, used = done[name]
            done[name] = (
                spent + time.perf_counter() - began,
                count + items,
                used + time.process_time() - cpu,
            )
    return done


def measure(
    plain: str, stack: str, sessions: int, per_session: int, repeats: int, new_archive_dir: bool = False
) -> dict[int, dict[str, Runs]]:
    """Each way of writing: a first pass of every system's adds, not counted, then ``repeats`` times every system
    built on flushed servers, all adds in turns, then all reads in turns; rates per repeat, medians over repeats.

    The first pass brings every system to a running service's state: connections made, scripts loaded, and lix's
    archive directory, kept for the way of writing as a service keeps its own, with the lock files a directory
    makes once (256 empty files; a new directory's first sessions each create one, 0.7 ms median on this
    machine's disk, 2026-12-05: a fifth of lix's async adds when every repeat had a new directory).
    ``new_archive_dir``: a new directory for every repeat and no first pass (the way this script measured before
    2026-12-05)."""
    convo = message_texts(sessions, per_session)
    results: dict[int, dict[str, Runs]] = {}
    for mode in MODES:
        runs: dict[str, Runs] = {}
        with tempfile.TemporaryDirectory(prefix="lix-bench-archive-") as kept:
            for rep in range(0 if new_archive_dir else -1, repeats):  # -1: the first pass
                flush(plain)
                flush(stack)
                with contextlib.ExitStack() as stack_of_dirs:
                    archive = (
                        stack_of_dirs.enter_context(tempfile.TemporaryDirectory(prefix="lix-bench-archive-"))
                        if new_archive_dir
                        else kept
                    )
                    _one_pass(plain, stack, convo, mode, archive, rep, runs)
                done = "first pass (not counted)" if rep < 0 else f"repeat {rep + 1}"
                print(f"  done: {MODES[mode]}, {done}", file=sys.stderr, flush=True)
        results[mode] = runs
    return results


def _one_pass(
    plain: str,
    stack: str,
    convo: list[list[tuple[str, str]]],
    mode: int,
    archive: str,
    rep: int,
    runs: dict[str, Runs],
) -> None:
    """Every system built, then all adds in turns and all reads in turns, recorded unless ``rep`` < 0 (the first
    pass: adds only, nothing recorded)."""
    chats: list[Chat] = []
    for name, _, make in factories(plain, stack, convo, mode, archive):
        result = runs.setdefault(name, Runs())
        if result.error is not None:
            continue
        try:
            chats.append(make())
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            result.error = f"{type(exc).__name__}: {exc}"[:90]
    try:
        for phase in ("adds",) if rep < 0 else ("adds", "reads"):
            for name, (spent, count, used) in _take_turns(chats, phase, rep, runs).items():
                if rep >= 0 and count and runs[name].error is None:
                    getattr(runs[name], phase).append(count / spent)
                    if phase == "adds":
                        runs[name].adds_cpu.append(used / count * 1e6)
    finally:
        close_all(chats)


def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def ratio(ours: float | None, peer: float | None) -> str:
    return "-" if not ours or not peer else f"{ours / peer:.2f}"


def report(results: dict[int, dict[str, Runs]], sessions: int, repeats: int) -> None:
    print(f"\nChat history, {sessions} sessions x 20 messages, median of {repeats} repeats\n")
    for what, pick in (("messages added per second", Runs.add), ("sessions read per second", Runs.read)):
        print(f"{what}:\n")
        print("| system | " + " | ".join(MODES.values()) + " |")
        print("| --- |" + " ---: |" * len(MODES))
        names = [n for runs in results.values() for n in runs]
        for name in dict.fromkeys(names):
            cells = []
            for mode in MODES:
                run = results[mode].get(name)
                cells.append("" if run is None else f"not run: {run.error}" if run.error else fmt(pick(run)))
            print(f"| {name} | " + " | ".join(cells) + " |")
        for ours in (OURS_LI, OURS_LC):
            for peer in (PEER_LI, PEER_LC):
                cells = [ratio(pick(results[m][ours]), pick(results[m][peer])) for m in MODES]
                print(f"| ratio: {ours} / {peer} | " + " | ".join(cells) + " |")
        print()
    print(
        "client CPU per message added, us (this process's CPU time over the system's add slices, all its threads"
        " included, so another system's background threads count where they run; lower is better):\n"
    )
    print("| system | " + " | ".join(MODES.values()) + " |")
    print("| --- |" + " ---: |" * len(MODES))
    for name in dict.fromkeys(n for runs in results.values() for n in runs):
        cells = [fmt(results[m][name].add_cpu(), ".1f") if name in results[m] else "" for m in MODES]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    floor = {m: results[m] for m in MODES}
    rpush, script = Runs.add(floor[1][FLOOR_RPUSH]), Runs.add(floor[1][FLOOR_SCRIPT])
    print(f"Floors, one message per call: lix's append script / RPUSH: {ratio(script, rpush)}")
    kept, peer = Runs.add(floor[1][FLOOR_KEPT]), Runs.add(floor[1][PEER_LI])
    print(
        "Floors, one message per call: lix's append script, encoded, on a kept connection / "
        f"{PEER_LI} (the most a sync lix add could reach): {ratio(kept, peer)}"
    )
    async_rpush, piped = Runs.add(floor[0][FLOOR_ASYNC]), Runs.add(floor[0][FLOOR_PIPE])
    print(f"Floors, async: lix's append script 50 per packet / asyncio RPUSH: {ratio(piped, async_rpush)}")


def write_json(path: str, results: dict[int, dict[str, Runs]], sessions: int) -> None:
    panels = []
    for title, pick in (
        ("messages added per second (higher is better)", Runs.add),
        ("sessions read per second (higher is better)", Runs.read),
    ):
        series = []
        for name in results[1]:
            if name.startswith("floor"):
                continue
            values = [round(pick(results[m][name]) or 0) for m in MODES]
            series.append(
                {"label": name, **({"ours": True} if name.startswith("lix") else {}), "values": values}
            )
        panels.append({"title": title, "groups": list(MODES.values()), "series": series})
    load = os.getloadavg()
    data = {
        "title": f"Chat history on plain Redis 7.4: {sessions:,} sessions x 20 messages",
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/redis_chat.py --json benchmarks/results/redis_chat.json",
        "measured": time.strftime("%Y-%m-%d")
        + f", 2 shared cores (load average {load[2]:.0f} over the last 15 min at the end); systems in turns, "
        "order rotating, median of 3 repeats",
        "panels": panels,
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 sessions")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the chart data (benchmarks/results/redis_chat.json) here")
    parser.add_argument(
        "--new-archive-dir",
        action="store_true",
        help="a new lix archive directory for every repeat, and no first pass (as measured before 2026-12-05)",
    )
    args = parser.parse_args()
    sessions, per_session = (100 if args.quick else 1000), 20
    started = time.perf_counter()
    plain = start_plain()
    stack = start_stack()
    # langchain-redis stores messages as JSON documents: add the RedisJSON module of the same Redis Stack build
    # next to the search module (start_stack loads only search) and restart on the same port.
    module = Path(stack.args[stack.args.index("--loadmodule") + 1])
    stack.args += ["--loadmodule", str(module.with_name("rejson.so"))]
    stack.restart()
    servers: list[RedisServer] = [plain, stack]
    try:
        results = measure(plain.url, stack.url, sessions, per_session, args.repeats, args.new_archive_dir)
    finally:
        for server in servers:
            server.stop()
    report(results, sessions, args.repeats)
    if args.json:
        write_json(args.json, results, sessions)
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
