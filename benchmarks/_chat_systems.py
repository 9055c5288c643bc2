"""The systems of benchmarks/redis_chat.py: the conversations, lix's chat histories and stores, their peers
(LlamaIndex RedisChatStore, langchain-redis) and the raw redis-py floors, each run in slices so that they can take
turns. Imported by benchmarks/redis_chat.py; not run on its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lix_integrations import Engine
from lix_integrations.tiers.sessions import SessionConfig

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
    ``RedisChatStore`` encodes it (``model_dump_json``) and its ``EVALSHA`` written on one kept connection and
    its reply read by lix's socket exchange (hiredis-packed, the reply polled for as lix's default
    ``busy_poll_us`` polls), with none of lix's layers above."""

    def __init__(self, url: str, convo: list[list[tuple[str, str]]], per_call: int) -> None:
        from lix_integrations.backends.redis.sockets import exchange
        from lix_integrations.config.backends import DEFAULT_BUSY_POLL_US

        super().__init__(url, convo, per_call, script=True)
        self.name = FLOOR_KEPT
        self.exchange, self.poll = exchange, DEFAULT_BUSY_POLL_US / 1e6
        self.msgs = llama_messages(convo)
        self.conn = self.client.connection_pool.get_connection()
        self.conn.connect()

    def adds(self) -> Iterator[int]:
        for m, n in self._rounds():
            for s, c in enumerate(self.msgs):
                base = f"floork:{{l/{s}}}:"
                values = [message.model_dump_json().encode() for message in c[m:n]]
                self.exchange(
                    self.conn, [("EVALSHA", self.sha, 1, base + "meta", "1.0", 1, 0, *values)], self.poll
                )
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
