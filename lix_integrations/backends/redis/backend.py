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
    Deferred,
    DeleteIds,
    DeleteMatching,
    EnsureSettings,
    EvictOverflow,
    ExactGet,
    Gather,
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

    pipelines = True

    def __init__(self, url: str) -> None:
        super().__init__()
        self.options = parse_redis_url(url)
        self.url = redact(url)
        opts = self.options
        self._sem = SemanticCommands(opts.prefix, opts.index, opts.partition_limit)
        self._kv = KvCommands(opts.prefix)
        self._lists = ListCommands(opts.prefix)
        self._closed = False
        # Writes whose reply nobody waits for (recording a semantic hit's use, storing a prompt's vector): they
        # ride in the same packet as the backend's next command, so they cost no round trip of their own. They
        # are sent before that command, so every later read of this process sees them; other processes see
        # them once this backend sends anything (or closes).
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
        self._handlers[Touch] = self._defer_sync
        self._handlers[Deferred] = self._defer_sync
        self._handlers[Gather] = self._run_many

    # -- deferred writes ------------------------------------------------------------------------------------

    def _deferrable(self, op: Op) -> Lua | None:
        """The one script a fire-and-forget write needs, or ``None`` when it needs nothing."""
        if isinstance(op, Deferred):
            op = op.op
        if isinstance(op, Touch):
            return self._sem.touch_call(op)
        if isinstance(op, KvPut):
            return self._kv.put_call(op)
        raise LixError(f"RedisBackend cannot defer {type(op).__name__}")

    def _defer(self, op: Op) -> bool:
        """Queue a write; True when enough are waiting that they should be sent now."""
        if self._closed:
            raise LixError("this Redis backend is closed")
        call = self._deferrable(op)
        if call is None:
            return False
        with self._pending_lock:
            self._pending.append(call)
            return len(self._pending) >= _PENDING_MAX

    def _take_pending(self) -> list[Lua]:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        return pending

    def _defer_sync(self, op: Op) -> None:
        if self._defer(op):
            self._flush_sync()

    def _flush_sync(self) -> None:
        if self._pending:
            try:
                self._send(_sync_client(self.options), [])
            except (RedisError, OSError) as exc:
                logger.debug("Redis %s: deferred writes lost: %s", self.url, exc)

    async def _flush_async(self) -> None:
        if self._pending:
            try:
                await self._asend(_async_client(self.options), [])
            except (RedisError, OSError) as exc:
                logger.debug("Redis %s: deferred writes lost: %s", self.url, exc)

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

    def _failure(self, op: Op, exc: BaseException) -> BaseException:
        if isinstance(exc, LixError) or not isinstance(exc, (RedisError, OSError)):
            return exc
        error = BackendError(f"Redis {self.url} failed on {type(op).__name__}: {exc}")
        error.__cause__ = exc
        return error

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
                if isinstance(call, Scan):
                    result = self._scan(client, call)
                    continue
                result = self._send(client, [call])[0]
                if isinstance(result, ResponseError):
                    pending = result
                elif isinstance(result, BaseException):
                    raise result
        except Exception as exc:
            failure = self._failure(op, exc)
            if failure is exc:
                raise
            raise failure from exc
        finally:
            flow.close()

    def _run_many(self, gather: Gather) -> list[Any]:
        """The operations' flows in lock step: each step's calls go out in one packet (one round trip)."""
        steps = _Lockstep(self, gather)
        try:
            client = _sync_client(self.options)
            while True:
                calls = steps.next_calls()
                if not calls:
                    return steps.results()
                replies = iter(self._send(client, [c for c in calls if not isinstance(c, Scan)]))
                steps.deliver(
                    [self._scan(client, c) if isinstance(c, Scan) else next(replies) for c in calls]
                )
        except Exception as exc:
            failure = self._failure(gather, exc)
            if failure is exc:
                raise
            raise failure from exc
        finally:
            steps.close()

    def _scan(self, client: Any, call: Scan) -> list[Any]:
        self._flush_sync()
        return list(client.scan_iter(match=call.pattern, count=_SCAN_COUNT))

    def _send(self, client: Any, calls: list[Cmd | Lua | Pipe]) -> list[Any]:
        """``calls`` behind the deferred writes, in one packet: one reply per call, a command error as a value."""
        pending = self._take_pending()
        if self.options.cluster and not pending and len(calls) == 1 and not isinstance(calls[0], Pipe):
            return [_single(client, calls[0])]  # the cluster client routes single commands itself
        cmds, spans = _pack(pending, calls)
        if self.options.cluster:
            pipe = client.pipeline(transaction=False)
            for cmd in cmds:
                pipe.execute_command(*cmd)
            replies = pipe.execute(raise_on_error=False)
        else:
            # Written in one packet on one pooled connection: a redis-py Pipeline object costs about 80 us
            # more per round trip (measured), as much as what it carries saves.
            pool = client.connection_pool
            conn = pool.get_connection()
            try:
                conn.send_packed_command(conn.pack_commands(cmds))
                replies = [_read(conn) for _ in cmds]
            finally:
                pool.release(conn)
        for lua, reply in zip(pending, replies):
            if isinstance(reply, NoScriptError):
                reply = _eval_or_error(lambda args: client.execute_command(*args), lua)
            if isinstance(reply, BaseException):
                logger.debug("Redis %s: a deferred write failed: %s", self.url, reply)
        out = _unpack(calls, spans, replies)
        for i, call in enumerate(calls):
            if isinstance(call, Lua) and isinstance(out[i], NoScriptError):
                out[i] = _eval_or_error(lambda args: client.execute_command(*args), call)
        return out

    # -- async (the same loops, awaited) -----------------------------------------------------------------------

    async def aexecute(self, op: Op) -> Any:
        if isinstance(op, (Touch, Deferred)):
            if self._defer(op):
                await self._flush_async()
            return None
        if isinstance(op, Gather):
            return await self._arun_many(op)
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
                if isinstance(call, Scan):
                    result = await self._ascan(client, call)
                    continue
                result = (await self._asend(client, [call]))[0]
                if isinstance(result, ResponseError):
                    pending = result
                elif isinstance(result, BaseException):
                    raise result
        except Exception as exc:
            failure = self._failure(op, exc)
            if failure is exc:
                raise
            raise failure from exc
        finally:
            flow.close()

    async def _arun_many(self, gather: Gather) -> list[Any]:
        steps = _Lockstep(self, gather)
        try:
            client = _async_client(self.options)
            while True:
                calls = steps.next_calls()
                if not calls:
                    return steps.results()
                replies = iter(await self._asend(client, [c for c in calls if not isinstance(c, Scan)]))
                delivered = []
                for c in calls:
                    delivered.append(await self._ascan(client, c) if isinstance(c, Scan) else next(replies))
                steps.deliver(delivered)
        except Exception as exc:
            failure = self._failure(gather, exc)
            if failure is exc:
                raise
            raise failure from exc
        finally:
            steps.close()

    async def _ascan(self, client: Any, call: Scan) -> list[Any]:
        await self._flush_async()
        return [key async for key in client.scan_iter(match=call.pattern, count=_SCAN_COUNT)]

    async def _asend(self, client: Any, calls: list[Cmd | Lua | Pipe]) -> list[Any]:
        pending = self._take_pending()
        if self.options.cluster and not pending and len(calls) == 1 and not isinstance(calls[0], Pipe):
            return [await _asingle(client, calls[0])]
        cmds, spans = _pack(pending, calls)
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
                reply = await _aeval_or_error(client, lua)
            if isinstance(reply, BaseException):
                logger.debug("Redis %s: a deferred write failed: %s", self.url, reply)
        out = _unpack(calls, spans, replies)
        for i, call in enumerate(calls):
            if isinstance(call, Lua) and isinstance(out[i], NoScriptError):
                out[i] = await _aeval_or_error(client, call)
        return out

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


class _Lockstep:
    """Several operations' call generators advanced together, so each step's calls can share a packet."""

    def __init__(self, backend: RedisBackend, gather: Gather) -> None:
        self._ops = gather.ops
        n = len(self._ops)
        self._results: list[Any] = [None] * n
        self._errors: list[BaseException | None] = [None] * n
        self._inbox: list[Any] = [None] * n
        self._flows: list[RFlow | None] = []
        self._live: list[int] = []
        self._backend = backend
        for i, op in enumerate(self._ops):
            if isinstance(op, (Touch, Deferred)):
                backend._defer(op)  # sent in this gather's first packet
                self._flows.append(None)
            else:
                self._flows.append(backend._flow(op))
                self._live.append(i)

    def next_calls(self) -> list[Call]:
        calls: list[Call] = []
        live: list[int] = []
        for i in self._live:
            flow = self._flows[i]
            assert flow is not None
            value = self._inbox[i]
            try:
                call = flow.throw(value) if isinstance(value, ResponseError) else flow.send(value)
            except StopIteration as stop:
                self._results[i] = stop.value
                continue
            except Exception as exc:
                self._errors[i] = self._backend._failure(self._ops[i], exc)
                continue
            calls.append(call)
            live.append(i)
        self._live = live
        return calls

    def deliver(self, replies: list[Any]) -> None:
        for i, reply in zip(self._live, replies):
            if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                raise reply
            self._inbox[i] = reply

    def results(self) -> list[Any]:
        for error in self._errors:
            if error is not None:
                raise error
        return self._results

    def close(self) -> None:
        for flow in self._flows:
            if flow is not None:
                flow.close()


def _single(client: Any, call: Cmd | Lua | Pipe) -> Any:
    try:
        if isinstance(call, Lua):
            try:
                return client.execute_command(*_eval_args(call, True))
            except NoScriptError:
                return client.execute_command(*_eval_args(call, False))
        assert isinstance(call, Cmd)
        return client.execute_command(*call.args)
    except ResponseError as exc:
        return exc


async def _asingle(client: Any, call: Cmd | Lua | Pipe) -> Any:
    try:
        if isinstance(call, Lua):
            try:
                return await client.execute_command(*_eval_args(call, True))
            except NoScriptError:
                return await client.execute_command(*_eval_args(call, False))
        assert isinstance(call, Cmd)
        return await client.execute_command(*call.args)
    except ResponseError as exc:
        return exc


def _eval_or_error(run: Callable[[tuple[Any, ...]], Any], lua: Lua) -> Any:
    """Run a script whose EVALSHA found no script loaded, by its text (which loads it)."""
    try:
        return run(_eval_args(lua, False))
    except ResponseError as exc:
        return exc


async def _aeval_or_error(client: Any, lua: Lua) -> Any:
    try:
        return await client.execute_command(*_eval_args(lua, False))
    except ResponseError as exc:
        return exc


def _pack(
    pending: list[Lua], calls: list[Cmd | Lua | Pipe]
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
    """The commands of the deferred writes, then of each call; and where each call's replies will be."""
    cmds = [_eval_args(lua, True) for lua in pending]
    spans: list[tuple[int, int]] = []
    for call in calls:
        start = len(cmds)
        if isinstance(call, Lua):
            cmds.append(_eval_args(call, True))
        elif isinstance(call, Cmd):
            cmds.append(call.args)
        else:
            cmds.extend(call.cmds)
        spans.append((start, len(cmds)))
    return cmds, spans


def _unpack(calls: list[Cmd | Lua | Pipe], spans: list[tuple[int, int]], replies: list[Any]) -> list[Any]:
    """Each call's reply (a Pipe's: the list, or its first error); connection errors are raised."""
    for reply in replies:
        if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
            raise reply
    out: list[Any] = []
    for call, (start, stop) in zip(calls, spans):
        if isinstance(call, Pipe):
            part = replies[start:stop]
            error = next((r for r in part if isinstance(r, ResponseError)), None)
            out.append(error if error is not None else part)
        else:
            out.append(replies[start])
    return out


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
