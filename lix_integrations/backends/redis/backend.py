"""The Redis backend: operations become calls (pure code in the sibling modules), executed here.

One sync client per process and URL (its connection pool is shared by every backend opened with that URL), and
one ``redis.asyncio`` client per process, URL and event loop (asyncio connections belong to the loop that made
them). The sync and async executors below are the same loop over a call generator; only ``await`` differs.

Failures: connection errors, timeouts and cluster errors are raised as :class:`BackendError` (the engine turns
them into cache misses when failing open); the pool drops the broken connection, so the next call reconnects
by itself once Redis is back. No command is retried automatically: a retried list append whose first attempt
did run would store a message twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.retry import Retry

from ...engine.ops import (
    CountEntries,
    DeleteIds,
    DeleteMatching,
    EnsureSettings,
    EvictOverflow,
    ExactGet,
    KvDelete,
    KvDeleteWhere,
    KvEvict,
    KvGet,
    KvPurgeExpired,
    KvPut,
    KvScan,
    KvUsage,
    ListAppend,
    ListDelete,
    ListDeleteSeqs,
    ListIdle,
    ListInfo,
    ListKeys,
    ListRange,
    ListReplace,
    ListRestore,
    ListTrimThrough,
    Op,
    PurgeExpired,
    ScanEntries,
    Touch,
    Upsert,
    VectorSearch,
)
from ...errors import BackendError, LixError
from ..base import Backend
from .calls import Call, Cmd, Lua, Pipe, RFlow, Scan
from .kv import KvCommands
from .lists import ListCommands
from .semantic import SemanticCommands
from .url import RedisOptions, parse_redis_url, redact

__all__ = ["RedisBackend"]

logger = logging.getLogger(__name__)

_SCAN_COUNT = 1000
#: Deferred calls are sent on their own once this many are waiting (normally the next command takes them).
_PENDING_MAX = 256
_sync_clients: dict[tuple[int, str, bool], Any] = {}
_async_clients: dict[tuple[int, str, bool], WeakKeyDictionary[asyncio.AbstractEventLoop, Any]] = {}
_clients_lock = threading.Lock()


def _client_kwargs() -> dict[str, Any]:
    return {"retry": Retry(NoBackoff(), 0)}


def _sync_client(opts: RedisOptions) -> Any:
    key = (os.getpid(), opts.client_url, opts.cluster)  # a forked child must not share its parent's sockets
    with _clients_lock:
        client = _sync_clients.get(key)
        if client is None:
            if opts.cluster:
                client = redis.cluster.RedisCluster.from_url(opts.client_url)
            else:
                client = redis.Redis.from_url(opts.client_url, **_client_kwargs())
            _sync_clients[key] = client
        return client


def _async_client(opts: RedisOptions) -> Any:
    loop = asyncio.get_running_loop()
    key = (os.getpid(), opts.client_url, opts.cluster)
    with _clients_lock:
        per_loop = _async_clients.setdefault(key, WeakKeyDictionary())
        client = per_loop.get(loop)
        if client is None:
            if opts.cluster:
                client = redis.asyncio.cluster.RedisCluster.from_url(opts.client_url)
            else:
                client = redis.asyncio.Redis.from_url(opts.client_url, **_client_kwargs())
            per_loop[loop] = client
        return client


def _eval_args(call: Lua, by_sha: bool) -> tuple[Any, ...]:
    head = call.script.sha if by_sha else call.script.text
    return ("EVALSHA" if by_sha else "EVAL", head, len(call.keys), *call.keys, *call.args)


class RedisBackend(Backend):
    """Executes storage operations on Redis, Redis Stack (Query Engine) or Redis Cluster."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.options = parse_redis_url(url)
        self.url = redact(url)
        opts = self.options
        self._sem = SemanticCommands(opts.prefix, opts.index, opts.partition_limit)
        self._kv = KvCommands(opts.prefix)
        self._lists = ListCommands(opts.prefix)
        self._closed = False
        # Calls whose reply nobody waits for (recording a semantic hit's use): they ride in the same pipeline as
        # the backend's next command, so a lookup's touch costs no round trip of its own. They are sent before
        # that command, so every later read of this process sees them; other processes see them once this
        # backend sends anything (or closes).
        self._pending: list[Lua] = []
        self._pending_lock = threading.Lock()
        self._flows: dict[type[Op], Callable[[Any], RFlow]] = {
            EnsureSettings: self._sem.ensure_settings,
            ExactGet: self._sem.exact_get,
            VectorSearch: self._sem.vector_search,
            Upsert: self._sem.upsert,
            Touch: self._sem.touch,
            DeleteIds: self._sem.delete_ids,
            DeleteMatching: self._sem.delete_matching,
            EvictOverflow: self._sem.evict_overflow,
            PurgeExpired: self._sem.purge_expired,
            CountEntries: self._sem.count,
            ScanEntries: self._sem.scan_entries,
            KvGet: self._kv.get,
            KvPut: self._kv.put,
            KvDelete: self._kv.delete,
            KvDeleteWhere: self._kv.delete_where,
            KvScan: self._kv.scan,
            KvUsage: self._kv.usage,
            KvEvict: self._kv.evict,
            KvPurgeExpired: self._kv.purge_expired,
            ListAppend: self._lists.append,
            ListRange: self._lists.range,
            ListRestore: self._lists.restore,
            ListTrimThrough: self._lists.trim_through,
            ListDeleteSeqs: self._lists.delete_seqs,
            ListReplace: self._lists.replace,
            ListDelete: self._lists.delete,
            ListInfo: self._lists.info,
            ListKeys: self._lists.keys,
            ListIdle: self._lists.idle,
        }
        for op_type in self._flows:
            self._handlers[op_type] = self._run
        self._handlers[Touch] = self._defer_touch

    def _defer_touch(self, op: Touch) -> None:
        if self._defer(op):
            self._flush_sync()

    def _defer(self, op: Touch) -> bool:
        """Queue a touch; True when enough are waiting that they should be sent now."""
        if self._closed:
            raise LixError("this Redis backend is closed")
        call = self._sem.touch_call(op)
        if call is None:
            return False
        with self._pending_lock:
            self._pending.append(call)
            return len(self._pending) >= _PENDING_MAX

    def _take_pending(self) -> list[Lua]:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        return pending

    def _flush_sync(self) -> None:
        pending = self._take_pending()
        if pending:
            try:
                self._call_with(_sync_client(self.options), pending, None)
            except (RedisError, OSError) as exc:
                logger.debug("Redis %s: deferred touches lost: %s", self.url, exc)

    async def _flush_async(self) -> None:
        pending = self._take_pending()
        if pending:
            try:
                await self._acall_with(_async_client(self.options), pending, None)
            except (RedisError, OSError) as exc:
                logger.debug("Redis %s: deferred touches lost: %s", self.url, exc)

    @property
    def search_mode(self) -> str:
        """``hnsw``/``flat`` (Query Engine), ``none`` (client-side) or ``auto`` before the first semantic op."""
        return self._sem.index

    def _flow(self, op: Op) -> RFlow:
        if self._closed:
            raise LixError("this Redis backend is closed")
        make = self._flows.get(type(op))
        if make is None:
            raise LixError(f"RedisBackend does not support {type(op).__name__}")
        return make(op)

    # -- sync -----------------------------------------------------------------------------------------------

    def _run(self, op: Op) -> Any:
        flow = self._flow(op)
        try:
            client = _sync_client(self.options)
            result: Any = None
            pending: BaseException | None = None
            while True:
                try:
                    call = flow.throw(pending) if pending is not None else flow.send(result)
                except StopIteration as stop:
                    return stop.value
                pending = None
                try:
                    result = self._call(client, call)
                except ResponseError as exc:
                    pending = exc
        except LixError:
            raise
        except (RedisError, OSError) as exc:
            raise BackendError(f"Redis {self.url} failed on {type(op).__name__}: {exc}") from exc
        finally:
            flow.close()

    def _call(self, client: Any, call: Call) -> Any:
        pending = self._take_pending()
        if pending:
            if isinstance(call, Scan):
                self._call_with(client, pending, None)
            else:
                return self._call_with(client, pending, call)
        if isinstance(call, Cmd):
            return client.execute_command(*call.args)
        if isinstance(call, Lua):
            try:
                return client.execute_command(*_eval_args(call, True))
            except NoScriptError:
                return client.execute_command(*_eval_args(call, False))
        if isinstance(call, Pipe):
            pipe = client.pipeline(transaction=False)
            for cmd in call.cmds:
                pipe.execute_command(*cmd)
            return pipe.execute()
        if isinstance(call, Scan):
            return list(client.scan_iter(match=call.pattern, count=_SCAN_COUNT))
        raise LixError(f"unknown Redis call {call!r}")  # pragma: no cover

    def _call_with(self, client: Any, pending: list[Lua], call: Cmd | Lua | Pipe | None) -> Any:
        """``call`` in one pipeline behind the deferred ``pending`` scripts: one round trip for both."""
        cmds = _piggyback(pending, call)
        if self.options.cluster:
            pipe = client.pipeline(transaction=False)
            for cmd in cmds:
                pipe.execute_command(*cmd)
            replies = pipe.execute(raise_on_error=False)
        else:
            # The commands written in one packet on one pooled connection: a redis-py Pipeline object costs
            # about 80 us more per round trip (measured), as much as the touch it carries saves.
            pool = client.connection_pool
            conn = pool.get_connection()
            try:
                conn.send_packed_command(conn.pack_commands(cmds))
                replies = [_read(conn) for _ in cmds]
            finally:
                pool.release(conn)
        for lua, reply in zip(pending, replies):
            if isinstance(reply, NoScriptError):
                client.execute_command(*_eval_args(lua, False))
        rest = replies[len(pending) :]
        if isinstance(call, Lua) and isinstance(rest[0], NoScriptError):
            return client.execute_command(*_eval_args(call, False))
        return _unpiggyback(call, rest)

    async def _acall_with(self, client: Any, pending: list[Lua], call: Cmd | Lua | Pipe | None) -> Any:
        cmds = _piggyback(pending, call)
        if self.options.cluster:
            pipe = client.pipeline(transaction=False)
            for cmd in cmds:
                pipe.execute_command(*cmd)
            replies = await pipe.execute(raise_on_error=False)
        else:
            pool = client.connection_pool
            conn = await pool.get_connection()
            try:
                await conn.send_packed_command(conn.pack_commands(cmds))
                replies = [await _aread(conn) for _ in cmds]
            finally:
                await pool.release(conn)
        for lua, reply in zip(pending, replies):
            if isinstance(reply, NoScriptError):
                await client.execute_command(*_eval_args(lua, False))
        rest = replies[len(pending) :]
        if isinstance(call, Lua) and isinstance(rest[0], NoScriptError):
            return await client.execute_command(*_eval_args(call, False))
        return _unpiggyback(call, rest)

    # -- async (the same loop, awaited) -----------------------------------------------------------------------

    async def aexecute(self, op: Op) -> Any:
        if isinstance(op, Touch):
            if self._defer(op):
                await self._flush_async()
            return None
        flow = self._flow(op)
        try:
            client = _async_client(self.options)
            result: Any = None
            pending: BaseException | None = None
            while True:
                try:
                    call = flow.throw(pending) if pending is not None else flow.send(result)
                except StopIteration as stop:
                    return stop.value
                pending = None
                try:
                    result = await self._acall(client, call)
                except ResponseError as exc:
                    pending = exc
        except LixError:
            raise
        except (RedisError, OSError) as exc:
            raise BackendError(f"Redis {self.url} failed on {type(op).__name__}: {exc}") from exc
        finally:
            flow.close()

    async def _acall(self, client: Any, call: Call) -> Any:
        pending = self._take_pending()
        if pending:
            if isinstance(call, Scan):
                await self._acall_with(client, pending, None)
            else:
                return await self._acall_with(client, pending, call)
        if isinstance(call, Cmd):
            return await client.execute_command(*call.args)
        if isinstance(call, Lua):
            try:
                return await client.execute_command(*_eval_args(call, True))
            except NoScriptError:
                return await client.execute_command(*_eval_args(call, False))
        if isinstance(call, Pipe):
            pipe = client.pipeline(transaction=False)
            for cmd in call.cmds:
                pipe.execute_command(*cmd)
            return await pipe.execute()
        if isinstance(call, Scan):
            return [key async for key in client.scan_iter(match=call.pattern, count=_SCAN_COUNT)]
        raise LixError(f"unknown Redis call {call!r}")  # pragma: no cover

    # -- lifecycle --------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop using the backend; the process-wide pool stays for other backends opened with the same URL."""
        if not self._closed:
            self._flush_sync()
        self._closed = True

    async def aclose(self) -> None:
        if not self._closed:
            await self._flush_async()
        self._closed = True


def _read(conn: Any) -> Any:
    """One reply; an error reply is returned (the other replies must still be read off the connection)."""
    try:
        return conn.read_response()
    except ResponseError as exc:
        return exc


async def _aread(conn: Any) -> Any:
    try:
        return await conn.read_response()
    except ResponseError as exc:
        return exc


def _piggyback(pending: list[Lua], call: Cmd | Lua | Pipe | None) -> list[tuple[Any, ...]]:
    cmds = [_eval_args(lua, True) for lua in pending]
    if isinstance(call, Cmd):
        cmds.append(call.args)
    elif isinstance(call, Lua):
        cmds.append(_eval_args(call, True))
    elif isinstance(call, Pipe):
        cmds.extend(call.cmds)
    return cmds


def _unpiggyback(call: Cmd | Lua | Pipe | None, replies: list[Any]) -> Any:
    """The reply ``call`` alone would have had; a command error is raised as executing it alone raises it."""
    for reply in replies:
        if isinstance(reply, (RedisError, OSError)):
            raise reply
    if call is None:
        return None
    return replies if isinstance(call, Pipe) else replies[0]
