"""Chat history on Redis against LlamaIndex's RedisChatStore and langchain-redis, medians over repeats.

Run from the repository root (full run about 3-5 minutes on a loaded 2-core machine; ``--quick``: 100 sessions):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/redis_chat.py [--quick] [--repeats 3] [--json FILE]

Workload: 1,000 sessions x 20 messages (``--quick``: 100), appended one message per call and interleaved across
sessions (the way concurrent conversations write), then every session's last 20 messages read once. Three ways
of writing: one message per add call; one add call per human + AI turn (LangChain's ``RunnableWithMessageHistory``
writes so; LlamaIndex's chat stores have no batch add and make two calls); async, 50 conversations at a time on
one event loop, one message per call. Throughput in messages/s (adds) and sessions/s (reads).

Servers (lix_integrations/testing/redis_servers.py, started and stopped by this script): ours and LlamaIndex's
``RedisChatStore`` on plain Redis 7.4 (no module); langchain-redis, which needs RedisJSON and the Query Engine,
on Redis Stack 7.4 with both modules. Each repeat runs every system once, in a rotated order, on a flushed server;
the table shows each system's median over the repeats and the ratios of those medians.

Floors (plain Redis, redis-py, no framework objects): ``RPUSH`` per message and ``LRANGE 0 -1`` per session (what
``RedisChatStore`` sends), and ``EVALSHA`` of our append script per message: the least an atomic, seq-assigning
append costs on this machine next to a bare ``RPUSH``. For the async column: ``RPUSH`` on redis-py's asyncio
client, 50 conversations at a time (what ``RedisChatStore`` sends, without its message objects), and our append
script 50 per pipelined packet (what lix's auto-pipelining sends for 50 concurrent appends).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts this script's folder first on sys.path, where benchmarks/redis.py would shadow the redis package:
# move the folder to the end, so ``import redis`` finds redis-py.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

from lix_integrations import Engine  # noqa: E402
from lix_integrations.testing.redis_servers import RedisServer, start_plain, start_stack  # noqa: E402
from lix_integrations.tiers.sessions import SessionConfig  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

OURS_LC = "lix LixChatMessageHistory"
OURS_LI = "lix LixChatStore (LlamaIndex)"
PEER_LC = "langchain-redis RedisChatMessageHistory"
PEER_LI = "LlamaIndex RedisChatStore"
MODES = {1: "one message per call", 2: "one call per turn", 0: "async, 50 at a time"}


def message_texts(sessions: int, per_session: int) -> list[list[tuple[str, str]]]:
    return [
        [
            ("human" if m % 2 == 0 else "ai", f"session {s} message {m}: " + "lorem ipsum dolor " * 4)
            for m in range(per_session)
        ]
        for s in range(sessions)
    ]


def langchain_messages(convo: list[list[tuple[str, str]]]) -> list[list[Any]]:
    from langchain_core.messages import AIMessage, HumanMessage

    return [[HumanMessage(t) if r == "human" else AIMessage(t) for r, t in c] for c in convo]


def llama_messages(convo: list[list[tuple[str, str]]]) -> list[list[Any]]:
    from llama_index.core.llms import ChatMessage, MessageRole

    return [
        [
            ChatMessage(role=MessageRole.USER if r == "human" else MessageRole.ASSISTANT, content=t)
            for r, t in c
        ]
        for c in convo
    ]


def langchain_redis_histories(client: Any, prefix: str, count: int) -> list[Any]:
    """``count`` langchain-redis histories sharing one client. Works around a langchain-redis 0.2.6 / redisvl 0.28
    incompatibility: constructing a second history when the index exists fails parsing FT.INFO (``'dict' object
    has no attribute 'index'``), so every further history reuses the first one's SearchIndex object
    (construction is outside the timed part anyway)."""
    from langchain_redis import RedisChatMessageHistory

    first = RedisChatMessageHistory(f"{prefix}0", redis_client=client)

    class SharedIndexHistory(RedisChatMessageHistory):
        def _create_search_index(self) -> None:
            self.index = first.index

    return [first] + [SharedIndexHistory(f"{prefix}{s}", redis_client=client) for s in range(1, count)]


def llama_store_run(store: Any, convo: list[list[tuple[str, str]]], per_call: int) -> tuple[float, float]:
    """Adds (one call per message: LlamaIndex chat stores have no batch add), then reads, timed."""
    msgs = llama_messages(convo)
    start = time.perf_counter()
    for m in range(0, len(convo[0]), per_call):
        for s, c in enumerate(msgs):
            for message in c[m : m + per_call]:
                store.add_message(f"bench-{s}", message)
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    for s in range(len(convo)):
        got = store.get_messages(f"bench-{s}")[-20:]
        assert len(got) == min(20, len(convo[0])), len(got)
    return add_s, time.perf_counter() - start


def chat_ours(
    url: str, convo: list[list[tuple[str, str]]], archive_dir: str, per_call: int = 1
) -> tuple[float, float]:
    from lix_integrations.langchain.chat_history import LixChatMessageHistory

    engine = Engine(url, sessions=SessionConfig(hot_window=20, archive_dir=archive_dir))
    histories = [LixChatMessageHistory(f"bench-{s}", engine=engine) for s in range(len(convo))]
    msgs = langchain_messages(convo)
    start = time.perf_counter()
    for m in range(0, len(convo[0]), per_call):  # interleaved, as concurrent conversations write
        for h, c in zip(histories, msgs, strict=True):
            h.add_messages(c[m : m + per_call])  # one call: one round trip
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    for h in histories:
        got = h.get_context(20)
        assert len(got) == min(20, len(convo[0])), len(got)
    read_s = time.perf_counter() - start
    engine.close()
    return add_s, read_s


def chat_ours_llama_index(
    url: str, convo: list[list[tuple[str, str]]], archive_dir: str, per_call: int = 1
) -> tuple[float, float]:
    from lix_integrations.llama_index.chat_store import LixChatStore

    engine = Engine(url, sessions=SessionConfig(hot_window=20, archive_dir=archive_dir))
    store = LixChatStore(engine=engine)
    try:
        return llama_store_run(store, convo, per_call)
    finally:
        engine.close()


def chat_langchain_redis(
    url: str, convo: list[list[tuple[str, str]]], per_call: int = 1
) -> tuple[float, float]:
    from redis import Redis

    client = Redis.from_url(url)
    histories = langchain_redis_histories(client, "bench-", len(convo))
    msgs = langchain_messages(convo)
    start = time.perf_counter()
    for m in range(0, len(convo[0]), per_call):
        for h, c in zip(histories, msgs, strict=True):
            if per_call == 1:
                h.add_message(c[m])
            else:
                h.add_messages(c[m : m + per_call])
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    for h in histories:
        got = h.messages[-20:]
        assert len(got) == min(20, len(convo[0])), len(got)
    read_s = time.perf_counter() - start
    client.close()
    return add_s, read_s


def chat_llama_index(url: str, convo: list[list[tuple[str, str]]], per_call: int = 1) -> tuple[float, float]:
    from llama_index.storage.chat_store.redis import RedisChatStore

    return llama_store_run(RedisChatStore(redis_url=url), convo, per_call)


CONCURRENCY = 50


def _timed_waves(
    talk: Callable[[int], Any],
    read: Callable[[int], Any],
    count: int,
    setup: Callable[[], Any] | None = None,
    teardown: Callable[[], Any] | None = None,
) -> tuple[float, float]:
    """Every session's ``talk(i)``, then its ``read(i)``, ``CONCURRENCY`` conversations at a time, all on one event
    loop (async clients belong to the loop that made them). Returns (add seconds, read seconds)."""
    import asyncio

    async def waves(make: Callable[[int], Any]) -> float:
        start = time.perf_counter()
        for first in range(0, count, CONCURRENCY):
            await asyncio.gather(*(make(i) for i in range(first, min(count, first + CONCURRENCY))))
        return time.perf_counter() - start

    async def main() -> tuple[float, float]:
        if setup is not None:
            await setup()
        try:
            return await waves(talk), await waves(read)
        finally:
            if teardown is not None:
                await teardown()

    return asyncio.run(main())


def achat_ours(url: str, convo: list[list[tuple[str, str]]], archive_dir: str) -> tuple[float, float]:

    from lix_integrations import AsyncEngine
    from lix_integrations.langchain.chat_history import LixChatMessageHistory

    holder: dict[str, Any] = {}

    async def setup() -> None:
        holder["engine"] = AsyncEngine(url, sessions=SessionConfig(hot_window=20, archive_dir=archive_dir))

    async def teardown() -> None:
        await holder["engine"].aclose()

    msgs = langchain_messages(convo)

    async def talk(s: int) -> None:
        history = LixChatMessageHistory(f"abench-{s}", engine=holder["engine"])
        for message in msgs[s]:
            await history.aadd_messages([message])

    async def read(s: int) -> None:
        history = LixChatMessageHistory(f"abench-{s}", engine=holder["engine"])
        assert len((await history.aget_messages())[-20:]) == min(20, len(convo[0]))

    return _timed_waves(talk, read, len(convo), setup, teardown)


def async_llama_store_run(store: Any, convo: list[list[tuple[str, str]]]) -> tuple[float, float]:
    """The async chat-store API, ``CONCURRENCY`` conversations at a time, timed."""
    msgs = llama_messages(convo)

    async def talk(s: int) -> None:
        for message in msgs[s]:
            await store.async_add_message(f"abench-{s}", message)

    async def read(s: int) -> None:
        assert len((await store.aget_messages(f"abench-{s}"))[-20:]) == min(20, len(convo[0]))

    return _timed_waves(talk, read, len(convo))


def achat_ours_llama_index(
    url: str, convo: list[list[tuple[str, str]]], archive_dir: str
) -> tuple[float, float]:
    from lix_integrations import Engine as SyncEngine
    from lix_integrations.llama_index.chat_store import LixChatStore

    engine = SyncEngine(url, sessions=SessionConfig(hot_window=20, archive_dir=archive_dir))
    try:
        return async_llama_store_run(LixChatStore(engine=engine), convo)
    finally:
        engine.close()


def achat_langchain_redis(url: str, convo: list[list[tuple[str, str]]]) -> tuple[float, float]:
    """langchain-redis has no async methods of its own: LangChain runs the sync ones in its thread pool."""
    from redis import Redis

    client = Redis.from_url(url)
    histories = langchain_redis_histories(client, "abench-", len(convo))
    msgs = langchain_messages(convo)

    async def talk(s: int) -> None:
        for message in msgs[s]:
            await histories[s].aadd_messages([message])

    async def read(s: int) -> None:
        assert len((await histories[s].aget_messages())[-20:]) == min(20, len(convo[0]))

    return _timed_waves(talk, read, len(convo))


def achat_llama_index(url: str, convo: list[list[tuple[str, str]]]) -> tuple[float, float]:
    from llama_index.storage.chat_store.redis import RedisChatStore

    return async_llama_store_run(RedisChatStore(redis_url=url), convo)


# -- floors ---------------------------------------------------------------------------------------------------


def floors(url: str, sessions: int, per_session: int) -> dict[str, float]:
    """Raw redis-py loops over the same shape of work: per-second rates with no framework objects."""
    from redis import Redis

    from lix_integrations.backends.redis.lists import APPEND

    client = Redis.from_url(url)
    raw = json.dumps({"role": "user", "content": "x" * 120}).encode()
    sha = client.script_load(APPEND.text)
    out: dict[str, float] = {}
    total = sessions * per_session
    start = time.perf_counter()
    for _m in range(per_session):
        for s in range(sessions):
            client.rpush(f"floor:{s}", raw)
    out["RPUSH per message (adds/s)"] = total / (time.perf_counter() - start)
    start = time.perf_counter()
    for _m in range(per_session):
        for s in range(sessions):
            base = f"floor:{{l/{s}}}:"
            client.evalsha(sha, 1, base + "meta", base, "1.0", 1, "1", 0, raw)
    out["EVALSHA of lix's append script (adds/s)"] = total / (time.perf_counter() - start)
    start = time.perf_counter()
    for s in range(sessions):
        client.lrange(f"floor:{s}", 0, -1)
    out["LRANGE 0 -1 per session (reads/s)"] = sessions / (time.perf_counter() - start)
    start = time.perf_counter()
    for m in range(per_session):  # what auto-pipelining sends: the appends of 50 conversations in one packet
        for first in range(0, sessions, CONCURRENCY):
            pipe = client.pipeline(transaction=False)
            for s in range(first, min(sessions, first + CONCURRENCY)):
                base = f"floorp:{{l/{s}}}:"
                pipe.evalsha(sha, 1, base + "meta", base, "1.0", 1, "1" if m == 0 else "0", 0, raw)
            pipe.execute()
    out["EVALSHA of lix's append script, 50 per packet (adds/s)"] = total / (time.perf_counter() - start)
    out["redis-py asyncio RPUSH, 50 conversations at a time (adds/s)"] = _async_rpush_floor(
        url, sessions, per_session, raw
    )
    client.flushall()
    client.close()
    return out


def _async_rpush_floor(url: str, sessions: int, per_session: int, raw: bytes) -> float:
    """What ``RedisChatStore.async_add_message`` sends, with no message object: one ``RPUSH`` per call on the
    asyncio client, ``CONCURRENCY`` conversations at a time."""
    import asyncio

    from redis.asyncio import Redis as AsyncRedis

    async def run() -> float:
        client = AsyncRedis.from_url(url)

        async def talk(s: int) -> None:
            for _ in range(per_session):
                await client.rpush(f"afloor:{s}", raw)

        start = time.perf_counter()
        for first in range(0, sessions, CONCURRENCY):
            await asyncio.gather(*(talk(s) for s in range(first, min(sessions, first + CONCURRENCY))))
        took = time.perf_counter() - start
        await client.aclose()
        return sessions * per_session / took

    return asyncio.run(run())


# -- running and reporting ------------------------------------------------------------------------------------


@dataclass
class Runs:
    adds: list[float] = field(default_factory=list)  # messages/s, one per repeat
    reads: list[float] = field(default_factory=list)  # sessions/s
    error: str | None = None

    def add(self) -> float | None:
        return statistics.median(self.adds) if self.adds else None

    def read(self) -> float | None:
        return statistics.median(self.reads) if self.reads else None


def flush(url: str) -> None:
    from redis import Redis

    client = Redis.from_url(url)
    client.flushall()
    client.close()


def systems(
    plain: str, stack: str, convo: list[list[tuple[str, str]]], mode: int, archive: str
) -> dict[str, Any]:
    """name -> (server url, zero-argument runner returning (add seconds, read seconds)) for one way of writing."""
    if mode == 0:
        return {
            OURS_LC: (plain, partial(achat_ours, plain, convo, archive)),
            OURS_LI: (plain, partial(achat_ours_llama_index, plain, convo, archive)),
            PEER_LC: (stack, partial(achat_langchain_redis, stack, convo)),
            PEER_LI: (plain, partial(achat_llama_index, plain, convo)),
        }
    return {
        OURS_LC: (plain, partial(chat_ours, plain, convo, archive, mode)),
        OURS_LI: (plain, partial(chat_ours_llama_index, plain, convo, archive, mode)),
        PEER_LC: (stack, partial(chat_langchain_redis, stack, convo, mode)),
        PEER_LI: (plain, partial(chat_llama_index, plain, convo, mode)),
    }


def measure(
    plain: str, stack: str, sessions: int, per_session: int, repeats: int
) -> dict[int, dict[str, Runs]]:
    convo = message_texts(sessions, per_session)
    results: dict[int, dict[str, Runs]] = {}
    for mode in MODES:
        runs: dict[str, Runs] = {}
        for rep in range(repeats):
            with tempfile.TemporaryDirectory(prefix="lix-bench-archive-") as archive:
                named = list(systems(plain, stack, convo, mode, archive).items())
                for name, (url, run) in named[rep % len(named) :] + named[: rep % len(named)]:
                    result = runs.setdefault(name, Runs())
                    if result.error is not None:
                        continue
                    try:
                        add_s, read_s = run()
                    except Exception as exc:  # a peer that cannot run gets a row saying why
                        traceback.print_exc(file=sys.stderr)
                        result.error = f"{type(exc).__name__}: {exc}"[:90]
                    else:
                        result.adds.append(sessions * per_session / add_s)
                        result.reads.append(sessions / read_s)
                    flush(url)
            print(f"  done: {MODES[mode]}, repeat {rep + 1}", file=sys.stderr, flush=True)
        results[mode] = runs
    return results


def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def ratio(ours: float | None, peer: float | None) -> str:
    return "-" if not ours or not peer else f"{ours / peer:.2f}"


def report(results: dict[int, dict[str, Runs]], floor: dict[str, float], sessions: int, repeats: int) -> None:
    print(f"\nChat history, {sessions} sessions x 20 messages, median of {repeats} repeats\n")
    for what, pick in (("messages added per second", Runs.add), ("sessions read per second", Runs.read)):
        print(f"{what}:\n")
        print("| system | " + " | ".join(MODES.values()) + " |")
        print("| --- |" + " ---: |" * len(MODES))
        names = list(next(iter(results.values())))
        for name in names:
            cells = []
            for mode in MODES:
                run = results[mode][name]
                cells.append(f"not run: {run.error}" if run.error else fmt(pick(run)))
            print(f"| {name} | " + " | ".join(cells) + " |")
        for ours in (OURS_LI, OURS_LC):
            for peer in (PEER_LI, PEER_LC):
                cells = [ratio(pick(results[m][ours]), pick(results[m][peer])) for m in MODES]
                print(f"| ratio: {ours} / {peer} | " + " | ".join(cells) + " |")
        print()
    print("Floors (plain Redis, raw redis-py, no framework objects):\n")
    for name, value in floor.items():
        print(f"- {name}: {value:,.0f}")
    rpush, evalsha = floor["RPUSH per message (adds/s)"], floor["EVALSHA of lix's append script (adds/s)"]
    print(f"- EVALSHA / RPUSH: {evalsha / rpush:.2f}")


def write_json(path: str, results: dict[int, dict[str, Runs]], sessions: int) -> None:
    panels = []
    for title, pick in (
        ("messages added per second (higher is better)", Runs.add),
        ("sessions read per second (higher is better)", Runs.read),
    ):
        series = []
        for name in results[1]:
            values = [round(pick(results[m][name]) or 0) for m in MODES]
            series.append(
                {"label": name, **({"ours": True} if name.startswith("lix") else {}), "values": values}
            )
        panels.append({"title": title, "groups": list(MODES.values()), "series": series})
    data = {
        "title": f"Chat history on Redis: {sessions:,} sessions x 20 messages",
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/redis_chat.py",
        "measured": time.strftime("%Y-%m-%d") + ", 2 shared cores",
        "panels": panels,
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 sessions")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the chart data (benchmarks/results/redis_chat.json) here")
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
        floor = floors(plain.url, sessions, per_session)
        results = measure(plain.url, stack.url, sessions, per_session, args.repeats)
    finally:
        for server in servers:
            server.stop()
    report(results, floor, sessions, args.repeats)
    if args.json:
        write_json(args.json, results, sessions)
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
