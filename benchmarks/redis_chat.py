"""Chat history on Redis against LlamaIndex's RedisChatStore and langchain-redis, medians over repeats.

Run from the repository root (full run about 8 minutes on a loaded 2-core machine; ``--quick``: 100 sessions):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/redis_chat.py [--quick] [--repeats 3] [--json FILE]

Workload: 1,000 sessions x 20 messages (``--quick``: 100), appended one message per call and interleaved across
sessions (the way concurrent conversations write), then every session's last 20 messages read once. Three ways
of writing: one message per add call; one add call per human + AI turn (LangChain's ``RunnableWithMessageHistory``
writes so; LlamaIndex's chat stores have no batch add and make two calls); async, 50 conversations at a time on
one event loop, one message per call. Throughput in messages/s (adds) and sessions/s (reads).

Servers (lix_integrations/testing/redis_servers.py, started and stopped by this script): ours and LlamaIndex's
``RedisChatStore`` on plain Redis 7.4 (no module); langchain-redis, which needs RedisJSON and the Query Engine,
on Redis Stack 7.4 with both modules. Each repeat builds every system on flushed servers, then all of them take
turns slice by slice (an add slice: one call per session, or async a wave of 50 conversations; a read slice: 100
sessions, or a wave of 50), in an order that rotates at every turn, so that the shared machine's varying load falls
on all of them alike (earlier versions ran one system after the other, and a load swing between two systems
decided their ratio). The table shows each system's median over the repeats and the ratios of those medians.

Floors, taking turns with the systems (plain Redis, redis-py, no framework objects): ``RPUSH`` per call and ``LRANGE 0 -1`` per session (what
``RedisChatStore`` sends), and ``EVALSHA`` of our append script per message: the least an atomic, seq-assigning
append costs on this machine next to a bare ``RPUSH``; and that script with each message encoded as
``RedisChatStore`` encodes it, written on one kept connection the way lix's executor sends it (no redis-py command
object, no lix layer): the most a sync lix add could reach, compared with ``RedisChatStore`` in the report. For the async column: ``RPUSH`` on redis-py's asyncio
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
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Iterable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from _turns import close_all  # noqa: E402

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


# -- systems, each run in slices so that they can take turns ---------------------------------------------------

READ_SLICE = 100  # sessions read per turn (one call each)
CONCURRENCY = 50  # async: conversations at a time, one event loop per system


class Chat:
    """One system for one way of writing. ``adds()`` and ``reads()`` are generators: each step does one slice of
    the work and yields how many messages (adds) or sessions (reads) it handled, so that `measure` can time the
    slices of every system in turns. Construction (clients, message objects, indexes) is not timed."""

    name = ""

    def __init__(self, convo: list[list[tuple[str, str]]], per_call: int) -> None:
        self.sessions, self.per_session, self.per_call = len(convo), len(convo[0]), per_call

    def adds(self) -> Iterator[int]:
        raise NotImplementedError

    def reads(self) -> Iterator[int]:
        return iter(())

    def close(self) -> None:
        pass

    def _rounds(self) -> Iterator[tuple[int, int]]:
        """(first message, one past the last) of each add turn: one call per session, interleaved across sessions
        (the way concurrent conversations write)."""
        for m in range(0, self.per_session, self.per_call):
            yield m, min(self.per_session, m + self.per_call)

    def _check(self, got: list[Any]) -> None:
        assert len(got) == min(20, self.per_session), len(got)


class OursLangChain(Chat):
    name = OURS_LC

    def __init__(self, url: str, convo: list[list[tuple[str, str]]], per_call: int, archive: str) -> None:
        from lix_integrations.langchain.chat_history import LixChatMessageHistory

        super().__init__(convo, per_call)
        self.engine = Engine(
            url + "?prefix=benchlc", sessions=SessionConfig(hot_window=20, archive_dir=archive)
        )
        self.histories = [
            LixChatMessageHistory(f"bench-{s}", engine=self.engine) for s in range(self.sessions)
        ]
        self.msgs = langchain_messages(convo)

    def adds(self) -> Iterator[int]:
        for m, n in self._rounds():
            for h, c in zip(self.histories, self.msgs, strict=True):
                h.add_messages(c[m:n])  # one call: one round trip
            yield self.sessions * (n - m)

    def reads(self) -> Iterator[int]:
        for first in range(0, self.sessions, READ_SLICE):
            for h in self.histories[first : first + READ_SLICE]:
                self._check(h.get_context(20))
            yield len(self.histories[first : first + READ_SLICE])

    def close(self) -> None:
        self.engine.close()


class LlamaStore(Chat):
    """A LlamaIndex ``BaseChatStore`` (ours or RedisChatStore): one call per message, the API has no batch add."""

    def __init__(self, name: str, store: Any, convo: list[list[tuple[str, str]]], per_call: int) -> None:
        super().__init__(convo, per_call)
        self.name, self.store, self.msgs = name, store, llama_messages(convo)

    def adds(self) -> Iterator[int]:
        for m, n in self._rounds():
            for s, c in enumerate(self.msgs):
                for message in c[m:n]:
                    self.store.add_message(f"bench-{s}", message)
            yield self.sessions * (n - m)

    def reads(self) -> Iterator[int]:
        for first in range(0, self.sessions, READ_SLICE):
            last = min(self.sessions, first + READ_SLICE)
            for s in range(first, last):
                self._check(self.store.get_messages(f"bench-{s}")[-20:])
            yield last - first


def ours_llama_index(url: str, convo: list[list[tuple[str, str]]], per_call: int, archive: str) -> LlamaStore:
    from lix_integrations.llama_index.chat_store import LixChatStore

    engine = Engine(url + "?prefix=benchli", sessions=SessionConfig(hot_window=20, archive_dir=archive))
    chat = LlamaStore(OURS_LI, LixChatStore(engine=engine), convo, per_call)
    chat.close = engine.close  # type: ignore[method-assign]
    return chat


def llama_index_peer(url: str, convo: list[list[tuple[str, str]]], per_call: int) -> LlamaStore:
    from llama_index.storage.chat_store.redis import RedisChatStore

    return LlamaStore(PEER_LI, RedisChatStore(redis_url=url), convo, per_call)


class LangchainRedis(Chat):
    name = PEER_LC

    def __init__(self, url: str, convo: list[list[tuple[str, str]]], per_call: int) -> None:
        from redis import Redis

        super().__init__(convo, per_call)
        self.client = Redis.from_url(url)
        self.histories = langchain_redis_histories(self.client, "bench-", self.sessions)
        self.msgs = langchain_messages(convo)

    def adds(self) -> Iterator[int]:
        for m, n in self._rounds():
            for h, c in zip(self.histories, self.msgs, strict=True):
                if n - m == 1:
                    h.add_message(c[m])
                else:
                    h.add_messages(c[m:n])
            yield self.sessions * (n - m)

    def reads(self) -> Iterator[int]:
        for first in range(0, self.sessions, READ_SLICE):
            for h in self.histories[first : first + READ_SLICE]:
                self._check(h.messages[-20:])
            yield len(self.histories[first : first + READ_SLICE])

    def close(self) -> None:
        self.client.close()


class RawFloor(Chat):
    """Raw redis-py, no framework objects: ``RPUSH`` of the call's messages (what ``RedisChatStore`` sends) and
    ``LRANGE 0 -1`` reads, or ``EVALSHA`` of lix's append script (``script=True``)."""

    def __init__(self, url: str, convo: list[list[tuple[str, str]]], per_call: int, script: bool) -> None:
        from redis import Redis

        from lix_integrations.backends.redis.list_scripts import APPEND

        super().__init__(convo, per_call)
        self.script = script
        self.name = (
            "floor: EVALSHA of lix's append script per call"
            if script
            else "floor: RPUSH per call, LRANGE per read"
        )
        self.client = Redis.from_url(url)
        self.sha = self.client.script_load(APPEND.text)
        self.raw = [[json.dumps({"role": r, "content": t}).encode() for r, t in c] for c in convo]

    def adds(self) -> Iterator[int]:
        for m, n in self._rounds():
            for s, c in enumerate(self.raw):
                if self.script:
                    base = f"floor:{{l/{s}}}:"
                    self.client.evalsha(self.sha, 1, base + "meta", "1.0", 1, 0, *c[m:n])
                else:
                    self.client.rpush(f"floor:{s}", *c[m:n])
            yield self.sessions * (n - m)

    def reads(self) -> Iterator[int]:
        if self.script:
            return
        for first in range(0, self.sessions, READ_SLICE):
            last = min(self.sessions, first + READ_SLICE)
            for s in range(first, last):
                self.client.lrange(f"floor:{s}", 0, -1)
            yield last - first

    def close(self) -> None:
        self.client.close()


class KeptFloor(RawFloor):
    """The least a sync add through lix's append script can cost: each LlamaIndex message encoded as
    ``RedisChatStore`` encodes it (``model_dump_json``) and its ``EVALSHA`` written on one kept connection,
    hiredis-packed, the way lix's executor sends it, with none of lix's layers above. Above ``RedisChatStore``'s
    rate only if the script's server time is paid for by skipping redis-py's per-command cost."""

    def __init__(self, url: str, convo: list[list[tuple[str, str]]], per_call: int) -> None:
        from hiredis import pack_command

        super().__init__(url, convo, per_call, script=True)
        self.name = FLOOR_KEPT
        self.pack = pack_command
        self.msgs = llama_messages(convo)
        self.conn = self.client.connection_pool.get_connection()

    def adds(self) -> Iterator[int]:
        for m, n in self._rounds():
            for s, c in enumerate(self.msgs):
                base = f"floork:{{l/{s}}}:"
                values = [message.model_dump_json().encode() for message in c[m:n]]
                self.conn.send_packed_command(
                    [self.pack(("EVALSHA", self.sha, 1, base + "meta", "1.0", 1, 0, *values))]
                )
                self.conn.read_response()
            yield self.sessions * (n - m)

    def close(self) -> None:
        self.client.connection_pool.release(self.conn)
        super().close()


class AsyncChat(Chat):
    """An async system on its own event loop (async clients belong to the loop that made them): each step is a
    wave of ``CONCURRENCY`` conversations, each adding its messages one call at a time, or reading once."""

    def __init__(self, name: str, convo: list[list[tuple[str, str]]]) -> None:
        super().__init__(convo, 1)
        self.name = name
        self.loop = asyncio.new_event_loop()

    async def talk(self, s: int) -> None:
        raise NotImplementedError

    async def read(self, s: int) -> None:
        raise NotImplementedError

    def _waves(self, make: Callable[[int], Any], per: int) -> Iterator[int]:
        for first in range(0, self.sessions, CONCURRENCY):
            last = min(self.sessions, first + CONCURRENCY)
            self.loop.run_until_complete(_gather(make(i) for i in range(first, last)))
            yield (last - first) * per

    def adds(self) -> Iterator[int]:
        return self._waves(self.talk, self.per_session)

    def reads(self) -> Iterator[int]:
        return self._waves(self.read, 1)

    def close(self) -> None:
        self.loop.run_until_complete(self.aclose())
        self.loop.close()

    async def aclose(self) -> None:
        pass


async def _gather(aws: Iterable[Any]) -> None:
    await asyncio.gather(*aws)


class AsyncOursLangChain(AsyncChat):
    def __init__(self, url: str, convo: list[list[tuple[str, str]]], archive: str) -> None:
        from lix_integrations import AsyncEngine

        super().__init__(OURS_LC, convo)
        config = SessionConfig(hot_window=20, archive_dir=archive)

        async def make() -> Any:
            return AsyncEngine(url + "?prefix=abenchlc", sessions=config)

        self.engine = self.loop.run_until_complete(make())
        self.msgs = langchain_messages(convo)

    def _history(self, s: int) -> Any:
        from lix_integrations.langchain.chat_history import LixChatMessageHistory

        return LixChatMessageHistory(f"abench-{s}", engine=self.engine)

    async def talk(self, s: int) -> None:
        history = self._history(s)
        for message in self.msgs[s]:
            await history.aadd_messages([message])

    async def read(self, s: int) -> None:
        self._check((await self._history(s).aget_messages())[-20:])

    async def aclose(self) -> None:
        await self.engine.aclose()


class AsyncLlamaStore(AsyncChat):
    def __init__(self, name: str, store: Any, convo: list[list[tuple[str, str]]], close: Any = None) -> None:
        super().__init__(name, convo)
        self.store, self.msgs, self._close = store, llama_messages(convo), close

    async def talk(self, s: int) -> None:
        for message in self.msgs[s]:
            await self.store.async_add_message(f"abench-{s}", message)

    async def read(self, s: int) -> None:
        self._check((await self.store.aget_messages(f"abench-{s}"))[-20:])

    async def aclose(self) -> None:
        if self._close is not None:
            self._close()


def async_ours_llama_index(url: str, convo: list[list[tuple[str, str]]], archive: str) -> AsyncLlamaStore:
    from lix_integrations.llama_index.chat_store import LixChatStore

    engine = Engine(url + "?prefix=abenchli", sessions=SessionConfig(hot_window=20, archive_dir=archive))
    return AsyncLlamaStore(OURS_LI, LixChatStore(engine=engine), convo, engine.close)


def async_llama_index_peer(url: str, convo: list[list[tuple[str, str]]]) -> AsyncLlamaStore:
    from llama_index.storage.chat_store.redis import RedisChatStore

    return AsyncLlamaStore(PEER_LI, RedisChatStore(redis_url=url), convo)


class AsyncLangchainRedis(AsyncChat):
    """langchain-redis has no async methods of its own: LangChain runs the sync ones in its thread pool."""

    def __init__(self, url: str, convo: list[list[tuple[str, str]]]) -> None:
        from redis import Redis

        super().__init__(PEER_LC, convo)
        self.client = Redis.from_url(url)
        self.histories = langchain_redis_histories(self.client, "abench-", self.sessions)
        self.msgs = langchain_messages(convo)

    async def talk(self, s: int) -> None:
        for message in self.msgs[s]:
            await self.histories[s].aadd_messages([message])

    async def read(self, s: int) -> None:
        self._check((await self.histories[s].aget_messages())[-20:])

    async def aclose(self) -> None:
        self.client.close()


class AsyncRawFloor(AsyncChat):
    """What ``RedisChatStore``'s async calls send, with no message objects: one ``RPUSH`` per call on redis-py's
    asyncio client, ``LRANGE 0 -1`` per read."""

    def __init__(self, url: str, convo: list[list[tuple[str, str]]]) -> None:
        from redis.asyncio import Redis as AsyncRedis

        super().__init__("floor: asyncio RPUSH per call, LRANGE per read", convo)
        self.client = AsyncRedis.from_url(url)
        self.raw = [[json.dumps({"role": r, "content": t}).encode() for r, t in c] for c in convo]

    async def talk(self, s: int) -> None:
        for value in self.raw[s]:
            await self.client.rpush(f"afloor:{s}", value)

    async def read(self, s: int) -> None:
        await self.client.lrange(f"afloor:{s}", 0, -1)

    async def aclose(self) -> None:
        await self.client.aclose()


class PipelinedFloor(RawFloor):
    """lix's append script, the appends of ``CONCURRENCY`` conversations in one pipelined packet: what lix's
    auto-pipelining sends for that many concurrent appends."""

    def __init__(self, url: str, convo: list[list[tuple[str, str]]]) -> None:
        super().__init__(url, convo, 1, script=True)
        self.name = "floor: EVALSHA of lix's append script, 50 per packet"

    def adds(self) -> Iterator[int]:
        for first in range(0, self.sessions, CONCURRENCY):
            last = min(self.sessions, first + CONCURRENCY)
            for m in range(self.per_session):
                pipe = self.client.pipeline(transaction=False)
                for s in range(first, last):
                    base = f"afloorp:{{l/{s}}}:"
                    pipe.evalsha(self.sha, 1, base + "meta", "1.0", 1, 0, self.raw[s][m])
                pipe.execute()
            yield (last - first) * self.per_session


def factories(
    plain: str, stack: str, convo: list[list[tuple[str, str]]], mode: int, archive: str
) -> list[tuple[str, str, Callable[[], Chat]]]:
    """(name, server url, constructor) of every system for one way of writing (mode: messages per call, 0 async)."""
    lc, li = str(Path(archive) / "lc"), str(Path(archive) / "li")
    if mode == 0:
        return [
            (OURS_LC, plain, lambda: AsyncOursLangChain(plain, convo, lc)),
            (OURS_LI, plain, lambda: async_ours_llama_index(plain, convo, li)),
            (PEER_LC, stack, lambda: AsyncLangchainRedis(stack, convo)),
            (PEER_LI, plain, lambda: async_llama_index_peer(plain, convo)),
            (FLOOR_ASYNC, plain, lambda: AsyncRawFloor(plain, convo)),
            (FLOOR_PIPE, plain, lambda: PipelinedFloor(plain, convo)),
        ]
    return [
        (OURS_LC, plain, lambda: OursLangChain(plain, convo, mode, lc)),
        (OURS_LI, plain, lambda: ours_llama_index(plain, convo, mode, li)),
        (PEER_LC, stack, lambda: LangchainRedis(stack, convo, mode)),
        (PEER_LI, plain, lambda: llama_index_peer(plain, convo, mode)),
        (FLOOR_RPUSH, plain, lambda: RawFloor(plain, convo, mode, script=False)),
        (FLOOR_SCRIPT, plain, lambda: RawFloor(plain, convo, mode, script=True)),
        (FLOOR_KEPT, plain, lambda: KeptFloor(plain, convo, mode)),
    ]


FLOOR_RPUSH = "floor: RPUSH per call, LRANGE per read"
FLOOR_SCRIPT = "floor: EVALSHA of lix's append script per call"
FLOOR_KEPT = "floor: lix's append script per call, encoded, on a kept connection"
FLOOR_ASYNC = "floor: asyncio RPUSH per call, LRANGE per read"
FLOOR_PIPE = "floor: EVALSHA of lix's append script, 50 per packet"


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


def _take_turns(
    chats: list[Chat], phase: str, start: int, runs: dict[str, Runs]
) -> dict[str, tuple[float, int]]:
    """Every system's ``phase`` slices, the systems taking turns slice by slice in a rotating order (the call
    after a CPU-heavy one waits longer for a core on a loaded machine): name -> (seconds, items)."""
    steps = {c.name: iter(getattr(c, phase)()) for c in chats}
    done: dict[str, tuple[float, int]] = {c.name: (0.0, 0) for c in chats}
    active, turn = list(steps), start
    while active:
        k = turn % len(active)
        turn += 1
        for name in active[k:] + active[:k]:
            began = time.perf_counter()
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
            spent, count = done[name]
            done[name] = (spent + time.perf_counter() - began, count + items)
    return done


def measure(
    plain: str, stack: str, sessions: int, per_session: int, repeats: int
) -> dict[int, dict[str, Runs]]:
    """Each way of writing, ``repeats`` times: every system built on flushed servers, then all adds in turns,
    then all reads in turns; rates per repeat, medians over repeats."""
    convo = message_texts(sessions, per_session)
    results: dict[int, dict[str, Runs]] = {}
    for mode in MODES:
        runs: dict[str, Runs] = {}
        for rep in range(repeats):
            flush(plain)
            flush(stack)
            with tempfile.TemporaryDirectory(prefix="lix-bench-archive-") as archive:
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
                    for phase in ("adds", "reads"):
                        for name, (spent, count) in _take_turns(chats, phase, rep, runs).items():
                            if count and runs[name].error is None:
                                getattr(runs[name], phase).append(count / spent)
                finally:
                    close_all(chats)
            print(f"  done: {MODES[mode]}, repeat {rep + 1}", file=sys.stderr, flush=True)
        results[mode] = runs
    return results


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
        results = measure(plain.url, stack.url, sessions, per_session, args.repeats)
    finally:
        for server in servers:
            server.stop()
    report(results, sessions, args.repeats)
    if args.json:
        write_json(args.json, results, sessions)
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
