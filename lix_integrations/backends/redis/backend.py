"""The Redis backend: operations become calls (pure code in the sibling modules), executed here.

One sync client per process and URL (its connection pool is shared by every backend opened with that URL), and
one ``redis.asyncio`` client per process, URL and event loop (asyncio connections belong to the loop that made
them). The sync and async executors below are the same loop over an op's steps (`commands.Step`); only
``await`` differs.

Failures: connection errors, timeouts and cluster errors are raised as `BackendError` (the engine turns
them into cache misses when failing open); the pool drops the broken connection, so the next call reconnects
by itself once Redis is back. Every client has connect and read timeouts (``socket_timeout``, see
`url`), and a circuit breaker per URL (`breaker`) answers at once while Redis is down or stalled.
No command is retried after it may have reached the server, on plain clients and clusters alike: a retried
list append whose first attempt did run would store a message twice. Reads may be sent once more on a new
connection when theirs was closed under them (a restart), and a kept connection the server closed while it
sat idle is replaced before anything is written to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import select
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from weakref import WeakKeyDictionary

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from ...errors import BackendError, LixError
from ...kernel import ops
from ...kernel.ops import Deferred, Gather, Op, Touch
from ..base import Backend
from .breaker import Breaker, is_outage
from .commands import Call, Cmd, Lua, Pipe, Plan, Scan, Step
from .kv import KvCommands
from .leases import LeaseCommands
from .lists import ListCommands
from .semantic import SemanticCommands
from .sentinel import sentinel_client
from .url import RedisOptions, parse_redis_url, redact

_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a dependency
    _hiredis_pack = None

__all__ = ["RedisBackend"]

logger = logging.getLogger(__name__)

_SCAN_COUNT = 1000
#: Recorded uses wait for this many more, or this many seconds, while only lookups run (see _take_pending).
_TOUCH_BATCH = 32
_TOUCH_DELAY = 0.5
#: Deferred calls are sent on their own once this many are waiting (normally the next command takes them).
_PENDING_MAX = 256
_sync_clients: dict[tuple[int, str, bool], Any] = {}
_async_clients: dict[tuple[int, str, bool], WeakKeyDictionary[asyncio.AbstractEventLoop, Any]] = {}
#: Open backends per client key: the last one to close closes the clients (and their pools) it shared.
_client_users: dict[tuple[int, str, bool], int] = {}
_breakers: dict[tuple[int, str, bool], Breaker] = {}
#: Re-entrant: a garbage collection inside a locked block may run an engine's finalizer, which closes a backend.
_clients_lock = threading.RLock()


def _client_key(opts: RedisOptions) -> tuple[int, str, bool]:
    # A forked child must not share its parent's sockets; a sentinel URL's client_url names no host.
    where = (
        f"{opts.client_url}#sentinel={opts.sentinels!r}/{opts.service}" if opts.sentinels else opts.client_url
    )
    return (os.getpid(), where, opts.cluster)


def _retain(opts: RedisOptions) -> None:
    with _clients_lock:
        key = _client_key(opts)
        _client_users[key] = _client_users.get(key, 0) + 1


def _release(opts: RedisOptions) -> tuple[Any, list[tuple[asyncio.AbstractEventLoop, Any]]]:
    """Drop one user; when none is left, take the clients out: (sync client or None, [(loop, async client)])."""
    with _clients_lock:
        key = _client_key(opts)
        left = _client_users.get(key, 1) - 1
        if left > 0:
            _client_users[key] = left
            return None, []
        _client_users.pop(key, None)
        _breakers.pop(key, None)
        per_loop = _async_clients.pop(key, None)
        return _sync_clients.pop(key, None), list(per_loop.items()) if per_loop is not None else []


def _breaker(opts: RedisOptions, url: str) -> Breaker:
    """The breaker shared by every backend of this URL in this process (they share its connection pools)."""
    key = _client_key(opts)
    with _clients_lock:
        breaker = _breakers.get(key)
        if breaker is None:
            breaker = _breakers[key] = Breaker(url)
        return breaker


def client_kwargs(opts: RedisOptions, aio: bool = False) -> dict[str, Any]:
    """What every client is built with: timeouts, and no retry of any command.

    redis-py retries commands by default on newer versions (10 times on a cluster with redis-py 8), and a
    retried append whose first attempt ran is stored twice. Clusters take the same ``retry`` object and give
    their nodes' connections none. redis-py 6.0 is the oldest version this runs on (``pyproject.toml``).
    """
    return {
        "retry": AsyncRetry(NoBackoff(), 0) if aio else Retry(NoBackoff(), 0),
        "socket_timeout": opts.socket_timeout,
        "socket_connect_timeout": opts.connect_timeout,
    }


def _sync_client(opts: RedisOptions) -> Any:
    """The process's client for ``opts``. Built outside the lock: a cluster client talks to the cluster while
    it is built, and a garbage collection in between may run an engine's finalizer, which closes a backend
    and takes this lock (it deadlocked when the build held it)."""
    key = _client_key(opts)
    client = _sync_clients.get(key)
    if client is not None:
        return client
    if opts.sentinels:
        built: Any = sentinel_client(opts, client_kwargs(opts), aio=False)
    elif opts.cluster:
        built = redis.cluster.RedisCluster.from_url(opts.client_url, **client_kwargs(opts))
    else:
        built = redis.Redis.from_url(opts.client_url, **client_kwargs(opts))
    with _clients_lock:
        client = _sync_clients.setdefault(key, built)
    if client is not built:
        built.close()  # another thread built one first
    return client


def _async_client(opts: RedisOptions) -> Any:
    loop = asyncio.get_running_loop()
    key = _client_key(opts)
    with _clients_lock:
        client = _async_clients.setdefault(key, WeakKeyDictionary()).get(loop)
    if client is not None:
        return client
    if opts.sentinels:
        built: Any = sentinel_client(opts, client_kwargs(opts, True), aio=True)
    elif opts.cluster:  # builds without I/O (it connects at its first command), but outside the lock as above
        built = redis.asyncio.cluster.RedisCluster.from_url(opts.client_url, **client_kwargs(opts, True))
    else:
        built = redis.asyncio.Redis.from_url(opts.client_url, **client_kwargs(opts, True))
    with _clients_lock:
        client = _async_clients.setdefault(key, WeakKeyDictionary()).setdefault(loop, built)
    return client  # an async client built twice holds no connection yet: nothing to close


def _eval_args(call: Lua, by_sha: bool) -> tuple[Any, ...]:
    head = call.script.sha if by_sha else call.script.text
    return ("EVALSHA" if by_sha else "EVAL", head, len(call.keys), *call.keys, *call.args)


class RedisBackend(Backend):
    """Executes storage operations on Redis, Redis Stack (Query Engine) or Redis Cluster."""

    pipelines = True
    shared = True

    def __init__(self, url: str) -> None:
        super().__init__()
        self.options = parse_redis_url(url)
        self.url = redact(url)
        opts = self.options
        _retain(opts)
        self._breaker = _breaker(opts, self.url)
        self._sem = SemanticCommands(opts.prefix, opts.index, opts.partition_limit, opts.ef_runtime)
        self._kv = KvCommands(opts.prefix)
        self._lists = ListCommands(opts.prefix)
        self._leases = LeaseCommands(opts.prefix)
        self._closed = False
        # Writes whose reply nobody waits for (recording a semantic hit's use, storing a prompt's vector): they
        # ride in the same packet as the backend's next command, so they cost no round trip of their own. They
        # are sent before that command, so every later read of this process sees them; other processes see
        # them once this backend sends anything (or closes).
        self._pending: list[Lua] = []
        self._touches: dict[tuple[str, int], float] = {}  # (namespace, id) -> last use not sent yet
        self._touches_since = 0.0
        self._pending_lock = threading.Lock()
        self._conns = _Connections()
        self._batchers: WeakKeyDictionary[asyncio.AbstractEventLoop, _AutoPipeline] = WeakKeyDictionary()
        self._plans: dict[type[Op], Callable[[Any], Plan]] = {
            **self._sem.handlers(),
            **self._kv.handlers(),
            **self._lists.handlers(),
            **self._leases.handlers(),
        }
        for op_type in self._plans:
            self._handlers[op_type] = self._run
        self._handlers[Touch] = self._defer_sync
        self._handlers[Deferred] = self._defer_sync
        self._handlers[Gather] = self._run_many

    # -- deferred writes ------------------------------------------------------------------------------------

    def _defer(self, op: Op) -> bool:
        """Queue a write; True when enough are waiting that they should be sent now."""
        if self._closed:
            raise LixError("this Redis backend is closed")
        if isinstance(op, Deferred):
            op = op.op
        with self._pending_lock:
            if isinstance(op, Touch):
                if op.ids and not self._touches:
                    self._touches_since = time.monotonic()
                for entry_id in op.ids:
                    self._touches[(op.namespace, entry_id)] = op.now
                return len(self._touches) >= _PENDING_MAX
            if isinstance(op, ops.DeleteIds):  # expired entries a lookup met: dropped with the next command
                call = self._sem.delete_ids_call(op)
            elif isinstance(op, ops.KvPut):
                call = self._kv.put_call(op)
            else:
                raise LixError(f"RedisBackend cannot defer {type(op).__name__}")
            if call is not None:
                self._pending.append(call)
            return len(self._pending) >= _PENDING_MAX

    def _take_pending(self, lookup: bool = False) -> list[Lua]:
        """The deferred writes to send now. Uses recorded by lookups wait for more lookups (up to
        ``_TOUCH_BATCH`` of them or ``_TOUCH_DELAY`` seconds) and then go as one script per namespace: at
        about 25 us of server time each, one per hit was a tenth of a lookup. Anything but a lookup takes
        them all first, so evictions and scans always see every use."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
            touches = self._touches
            if touches and (
                not lookup
                or len(touches) >= _TOUCH_BATCH
                or time.monotonic() - self._touches_since >= _TOUCH_DELAY
            ):
                self._touches = {}
                by_namespace: dict[str, list[tuple[int, float]]] = {}
                for (namespace, entry_id), when in touches.items():
                    by_namespace.setdefault(namespace, []).append((entry_id, when))
                for namespace, uses in by_namespace.items():
                    call = self._sem.touches_call(namespace, uses)
                    if call is not None:
                        pending.append(call)
        return pending

    def _with_pending_uses(self, namespace: str, record: ops.SemanticRecord) -> ops.SemanticRecord:
        """``record`` with the last use this process recorded but has not sent yet."""
        when = self._touches.get((namespace, record.id))
        if when is None or when <= record.accessed_at:
            return record
        return dataclasses.replace(record, accessed_at=when)

    def _lookup_result(self, op: Op, result: Any) -> Any:
        """A lookup's records as this process knows them, pending uses included (idle expiry reads them)."""
        if not self._touches or result is None:
            return result
        if isinstance(op, ops.ExactGet):
            return self._with_pending_uses(op.namespace, result)
        if isinstance(op, ops.VectorSearch):
            return [(self._with_pending_uses(op.namespace, rec), score) for rec, score in result]
        if isinstance(op, ops.ExactOrSearch):
            record, found = result
            if record is not None:
                record = self._with_pending_uses(op.namespace, record)
            return record, [(self._with_pending_uses(op.namespace, rec), score) for rec, score in found]
        return result

    def _defer_sync(self, op: Op) -> Any:
        if not _queueable(op):
            return self.execute(op.op)  # type: ignore[attr-defined]
        if self._defer(op):
            self._flush_sync()
        return None

    def _flush_sync(self) -> None:
        if self._pending or self._touches:
            try:
                self._guarded(None, lambda _: self._send(_sync_client(self.options), []))
            except (RedisError, OSError, BackendError) as exc:
                self._take_pending()  # best effort: dropped rather than piling up through an outage
                logger.debug("Redis %s: deferred writes lost: %s", self.url, exc)

    async def _flush_async(self) -> None:
        if self._pending or self._touches:
            try:
                await self._aguarded(None, lambda _: self._asend_now(_async_client(self.options), []))
            except (RedisError, OSError, BackendError) as exc:
                self._take_pending()
                logger.debug("Redis %s: deferred writes lost: %s", self.url, exc)

    @property
    def search_mode(self) -> str:
        """``hnsw``/``flat`` (Query Engine), ``none`` (client-side) or ``auto`` before the first semantic op."""
        return self._sem.index

    def _planner(self, op: Op) -> Callable[[Any], Plan]:
        """The handler that turns ``op`` into its steps (see `commands`)."""
        if self._closed:
            raise LixError("this Redis backend is closed")
        make = self._plans.get(type(op))
        if make is None:
            raise LixError(f"RedisBackend does not support {type(op).__name__}")
        return make

    def _failure(self, op: Op, exc: BaseException) -> BaseException:
        if isinstance(exc, LixError) or not isinstance(exc, (RedisError, RedisClusterException, OSError)):
            return exc
        if is_outage(exc):  # what a user can act on; the operation's name would only be noise
            error = BackendError(
                f"Redis at {self.url} could not be reached: {type(exc).__name__}: {exc}", unavailable=True
            )
        else:
            error = BackendError(f"Redis at {self.url} failed on {type(op).__name__}: {exc}")
        error.__cause__ = exc
        return error

    # -- the circuit breaker -----------------------------------------------------------------------------------

    def _verdict(self, probe: bool, exc: BaseException, cost: float) -> None:
        """Tell the breaker how a call that raised ``exc`` after ``cost`` seconds ended."""
        if is_outage(exc):
            root: BaseException = exc
            while root.__cause__ is not None and not isinstance(root, (RedisError, OSError)):
                root = root.__cause__
            if self._breaker.failed(probe, cost, root):
                logger.debug("Redis %s: circuit breaker open after %s", self.url, root)
        elif isinstance(exc, RedisError) or isinstance(exc.__cause__, RedisError):
            self._breaker.succeeded(probe)  # the server answered, with an error reply
        else:
            self._breaker.released(probe)  # nothing was learnt about the server (an error of ours, a cancel)

    def _guarded(self, op: Any, run: Callable[[Any], Any]) -> Any:
        """``run(op)`` unless the breaker is open (then a `BackendError` at once)."""
        probe = self._breaker.enter()
        started = time.monotonic()
        try:
            result = run(op)
        except BaseException as exc:
            self._verdict(probe, exc, time.monotonic() - started)
            raise
        self._breaker.succeeded(probe)
        return result

    async def _aguarded(self, op: Any, run: Callable[[Any], Awaitable[Any]]) -> Any:
        probe = self._breaker.enter()
        started = time.monotonic()
        try:
            result = await run(op)
        except BaseException as exc:
            self._verdict(probe, exc, time.monotonic() - started)
            raise
        self._breaker.succeeded(probe)
        return result

    # -- sync -----------------------------------------------------------------------------------------------

    def _run(self, op: Op) -> Any:
        return self._guarded(op, self._run_once)

    def _run_many(self, gather: Gather) -> list[Any]:
        result: list[Any] = self._guarded(gather, self._run_many_once)
        return result

    def _run_once(self, op: Op) -> Any:
        make = self._planner(op)
        lookup = type(op) in _LOOKUPS
        idempotent = type(op) in _IDEMPOTENT
        try:
            client = _sync_client(self.options)
            plan = make(op)
            while isinstance(plan, Step):
                if isinstance(plan.call, Scan):
                    reply = self._scan(client, plan.call)
                else:
                    reply = self._send(client, [plan.call], lookup, idempotent)[0]
                    if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                        raise reply
                plan = plan.reply(reply)
            return self._lookup_result(op, plan) if lookup else plan
        except Exception as exc:
            failure = self._failure(op, exc)
            if failure is exc:
                raise
            raise failure from exc

    def _run_many_once(self, gather: Gather) -> list[Any]:
        """The operations' steps in lock step: each round's calls go out in one packet (one round trip)."""
        steps = _Lockstep(self, gather)
        try:
            client = _sync_client(self.options)
            while True:
                calls = steps.next_calls()
                if not calls:
                    return steps.results()
                replies = iter(
                    self._send(
                        client, [c for c in calls if not isinstance(c, Scan)], steps.lookup, steps.idempotent
                    )
                )
                steps.deliver(
                    [self._scan(client, c) if isinstance(c, Scan) else next(replies) for c in calls]
                )
        except Exception as exc:
            failure = self._failure(gather, exc)
            if failure is exc:
                raise
            raise failure from exc

    def _scan(self, client: Any, call: Scan) -> list[Any]:
        self._flush_sync()
        return list(client.scan_iter(match=call.pattern, count=_SCAN_COUNT))

    def _send(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool = False, idempotent: bool = False
    ) -> list[Any]:
        """``calls`` behind the deferred writes, in one packet: one reply per call, a command error as a value.

        ``idempotent`` calls (reads) are sent once more on a new connection when theirs was closed under them;
        nothing else is ever sent twice.
        """
        pending = self._take_pending(lookup)
        if self.options.cluster and _singly(pending, calls, idempotent):
            if pending:  # uses and stored vectors, which may run twice harmlessly, go ahead on their own
                try:
                    self._cluster_pipe(client, pending, [])
                except (RedisError, RedisClusterException, OSError) as exc:
                    logger.debug("Redis %s: deferred writes lost: %s", self.url, exc)
            return [_single(client, call) for call in calls]  # the cluster client routes single commands
        if self.options.cluster:
            return self._cluster_pipe(client, pending, calls)
        cmds, spans = _pack(pending, calls)
        for attempt in (0, 1):
            # Written in one packet on one pooled connection: a redis-py Pipeline object costs about 80 us
            # more per round trip (measured), as much as what it carries saves.
            conn = self._conns.take(client)
            try:
                conn.send_packed_command(conn.pack_commands(cmds))
                replies = [_read(conn) for _ in cmds]
                break
            except BaseException as exc:
                conn.disconnect()  # replies may be left unread: never hand this socket out again as it is
                if attempt or not idempotent or not _closed_under_us(exc):
                    raise
                logger.debug("Redis %s: connection closed under a read, sending it again: %s", self.url, exc)
            finally:
                self._conns.give(client, conn)
        return self._finish(client, pending, calls, spans, replies)

    def _cluster_pipe(self, client: Any, pending: list[Lua], calls: list[Cmd | Lua | Pipe]) -> list[Any]:
        """Through redis-py's cluster pipeline, which sends a command again after a connection error: only for
        calls that may run twice (see `_singly`)."""
        cmds, spans = _pack(pending, calls)
        pipe = client.pipeline(transaction=False)
        for cmd in cmds:
            pipe.execute_command(*cmd)
        replies = pipe.execute(raise_on_error=False)
        return self._finish(client, pending, calls, spans, replies)

    def _finish(
        self,
        client: Any,
        pending: list[Lua],
        calls: list[Cmd | Lua | Pipe],
        spans: list[tuple[int, int]],
        replies: list[Any],
    ) -> list[Any]:
        """Each call's reply from the packet's replies; a script the server had not loaded is run by its text."""
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
        if isinstance(op, Deferred) and not _queueable(op):
            return await self.aexecute(op.op)
        if isinstance(op, (Touch, Deferred)):
            if self._defer(op):
                await self._flush_async()
            return None
        if isinstance(op, Gather):
            result: list[Any] = await self._aguarded(op, self._arun_many)
            return result
        return await self._aguarded(op, self._arun_once)

    async def _arun_once(self, op: Op) -> Any:
        make = self._planner(op)
        lookup = type(op) in _LOOKUPS
        idempotent = type(op) in _IDEMPOTENT
        try:
            client = _async_client(self.options)
            plan = make(op)
            while isinstance(plan, Step):
                if isinstance(plan.call, Scan):
                    reply = await self._ascan(client, plan.call)
                else:
                    reply = (await self._asend(client, [plan.call], lookup, idempotent))[0]
                    if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                        raise reply
                plan = plan.reply(reply)
            return self._lookup_result(op, plan) if lookup else plan
        except Exception as exc:
            failure = self._failure(op, exc)
            if failure is exc:
                raise
            raise failure from exc

    async def _arun_many(self, gather: Gather) -> list[Any]:
        steps = _Lockstep(self, gather)
        try:
            client = _async_client(self.options)
            while True:
                calls = steps.next_calls()
                if not calls:
                    return steps.results()
                sent = [c for c in calls if not isinstance(c, Scan)]
                replies = iter(await self._asend(client, sent, steps.lookup, steps.idempotent))
                delivered = []
                for c in calls:
                    delivered.append(await self._ascan(client, c) if isinstance(c, Scan) else next(replies))
                steps.deliver(delivered)
        except Exception as exc:
            failure = self._failure(gather, exc)
            if failure is exc:
                raise
            raise failure from exc

    async def _ascan(self, client: Any, call: Scan) -> list[Any]:
        await self._flush_async()
        return [key async for key in client.scan_iter(match=call.pattern, count=_SCAN_COUNT)]

    async def _asend(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool = False, idempotent: bool = False
    ) -> list[Any]:
        """Like ``_send``; with ``autopipeline`` (default), the calls of every task of this event loop that
        sends within the same loop iteration share one packet."""
        if self.options.cluster or not self.options.autopipeline or not calls:
            return await self._asend_now(client, calls, lookup, idempotent)
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = _AutoPipeline(self)
        return await batcher.send(client, calls, lookup, idempotent)

    async def _asend_now(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool = False, idempotent: bool = False
    ) -> list[Any]:
        pending = self._take_pending(lookup)
        if self.options.cluster and _singly(pending, calls, idempotent):
            if pending:
                try:
                    await self._acluster_pipe(client, pending, [])
                except (RedisError, RedisClusterException, OSError) as exc:
                    logger.debug("Redis %s: deferred writes lost: %s", self.url, exc)
            return [await _asingle(client, call) for call in calls]
        if self.options.cluster:
            return await self._acluster_pipe(client, pending, calls)
        cmds, spans = _pack(pending, calls)
        pool = client.connection_pool
        for attempt in (0, 1):
            conn = await pool.get_connection()  # the pool replaces a connection the server closed
            try:
                await conn.send_packed_command(_packed(conn, cmds))
                replies = [await _aread(conn) for _ in cmds]
                break
            except Exception as exc:  # redis-py disconnected it
                if attempt or not idempotent or not _closed_under_us(exc):
                    raise
                logger.debug("Redis %s: connection closed under a read, sending it again: %s", self.url, exc)
            finally:
                await pool.release(conn)
        return await self._afinish(client, pending, calls, spans, replies)

    async def _acluster_pipe(
        self, client: Any, pending: list[Lua], calls: list[Cmd | Lua | Pipe]
    ) -> list[Any]:
        cmds, spans = _pack(pending, calls)
        pipe = client.pipeline(transaction=False)
        for cmd in cmds:
            pipe.execute_command(*cmd)
        replies = await pipe.execute(raise_on_error=False)
        return await self._afinish(client, pending, calls, spans, replies)

    async def _afinish(
        self,
        client: Any,
        pending: list[Lua],
        calls: list[Cmd | Lua | Pipe],
        spans: list[tuple[int, int]],
        replies: list[Any],
    ) -> list[Any]:
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
        """Stop using the backend. The clients and pools it shares with other open backends of the same URL
        stay; the last backend to close closes them (async ones of a running loop are only dropped: their
        connections belong to that loop, use ``aclose`` there)."""
        if not self._closed:
            self._flush_sync()
            self._conns.release_all()
            self._closed = True
            client, _ = _release(self.options)
            if client is not None:
                client.close()

    async def aclose(self) -> None:
        if not self._closed:
            await self._flush_async()
            self._conns.release_all()
            self._closed = True
            client, per_loop = _release(self.options)
            if client is not None:
                client.close()
            current = asyncio.get_running_loop()
            for loop, aclient in per_loop:
                if loop is current:
                    await aclient.aclose()


#: Operations that only read: recorded uses may wait behind them (their results show them, see _lookup_result).
_LOOKUPS: frozenset[type[Op]] = frozenset({ops.ExactGet, ops.ExactOrSearch, ops.VectorSearch, ops.KvGet})
#: Operations whose commands may run twice with the same outcome (reads; ops.EnsureSettings only sets what is
#: missing): sent once more when their connection was closed under them, and through the cluster pipeline.
#: The deferred writes riding with them (uses, stored vectors) may run twice as well.
_IDEMPOTENT: frozenset[type[Op]] = _LOOKUPS | frozenset(
    {
        ops.EnsureSettings, ops.CountEntries, ops.ScanEntries, ops.KvScan, ops.KvUsage,
        ops.ListRange, ops.ListSnapshot, ops.ListInfo, ops.ListKeys, ops.ListIdle, ops.StoreEviction, ops.ListExpire,
    }
)  # fmt: skip


def _singly(pending: list[Lua], calls: list[Cmd | Lua | Pipe], idempotent: bool) -> bool:
    """On a cluster: send ``calls`` one by one through the client rather than its pipeline. The pipeline
    sends a command again after a connection error or timeout (redis-py's "retry magic", whatever the retry
    setting), so only calls that may run twice go through it; a lone call needs no pipeline anyway."""
    if any(isinstance(call, Pipe) for call in calls):
        return False  # only reads use Pipe (ops.ListIdle)
    return not idempotent or (not pending and len(calls) == 1)


def _closed_under_us(exc: BaseException) -> bool:
    """A connection the server closed or reset (a restart), as opposed to a timeout (a stalled server: the
    breaker's business) or a refused login."""
    if isinstance(exc, TimeoutError) or "Busy" in type(exc).__name__:
        return False
    return is_outage(exc) and isinstance(exc, (RedisConnectionError, OSError))


def _closed_by_server(conn: Any) -> bool:
    """True when an idle connection's socket is readable: the server closed it (or sent what nobody asked
    for), so writing a command to it would fail or be lost. One poll with no wait, about a microsecond."""
    sock = getattr(conn, "_sock", None)
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


class _AutoPipeline:
    """Calls that tasks of one event loop send in the same loop iteration, sent as one packet.

    A chat server awaits many conversations at once: each would pay a round trip and redis-py's per-command
    cost on its own connection; queued until the loop's next turn, they share one write and one read (the
    way ioredis' auto-pipelining works). Every caller still waits for its own replies, so nothing is
    acknowledged before Redis has it. A lone call waits one loop turn, a few microseconds.
    """

    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend
        self._queue: list[tuple[list[Cmd | Lua | Pipe], bool, bool, asyncio.Future[list[Any]]]] = []
        self._scheduled = False
        self._flushing: set[asyncio.Task[None]] = set()

    async def send(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool, idempotent: bool = False
    ) -> list[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._queue.append((calls, lookup, idempotent, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start, client)
        return await future

    def _start(self, client: Any) -> None:
        self._scheduled = False
        batch, self._queue = self._queue, []
        task = asyncio.ensure_future(self._flush(client, batch))
        self._flushing.add(task)  # a task nobody references may be collected mid-flight
        task.add_done_callback(self._flushing.discard)

    async def _flush(
        self, client: Any, batch: list[tuple[list[Cmd | Lua | Pipe], bool, bool, asyncio.Future[list[Any]]]]
    ) -> None:
        calls = [call for part, _, _, _ in batch for call in part]
        lookup = all(item[1] for item in batch)
        idempotent = all(item[2] for item in batch)
        try:
            replies = await self._backend._asend_now(client, calls, lookup, idempotent)
        except BaseException as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for part, _, _, future in batch:
            if not future.done():  # the caller may have been cancelled; its commands ran all the same
                future.set_result(replies[start : start + len(part)])
            start += len(part)


class _Connections:
    """Connections this backend keeps checked out of the shared pool between calls.

    Taking one from redis-py's pool and giving it back costs about 20 us a call (its bookkeeping and
    observability hooks), as much as a third of a round trip here; a list under a lock costs well under one.
    A forked child starts over: its parent's sockets are not its own.
    """

    _KEEP = 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[tuple[Any, Any]] = []  # (pool, connection)
        self._pid = os.getpid()

    def take(self, client: Any) -> Any:
        """A kept connection (one the server closed while it sat idle is reconnected first: nothing was
        written to it yet), else one from the pool, which checks its own the same way."""
        pool = client.connection_pool
        conn = None
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i][0] is pool:
                    conn = self._idle.pop(i)[1]
                    break
        if conn is None:
            return pool.get_connection()
        if _closed_by_server(conn):
            conn.disconnect()  # the next send connects again
        return conn

    def give(self, client: Any, conn: Any) -> None:
        pool = client.connection_pool
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < self._KEEP:
                self._idle.append((pool, conn))
                return
        pool.release(conn)

    def release_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._pid == os.getpid()
        for pool, conn in idle if mine else ():
            pool.release(conn)


class _Lockstep:
    """Several operations' steps advanced together, so each round's calls can share a packet."""

    def __init__(self, backend: RedisBackend, gather: Gather) -> None:
        self._ops = gather.ops
        n = len(self._ops)
        self._results: list[Any] = [None] * n
        self._errors: list[BaseException | None] = [None] * n
        self._steps: list[Step | None] = [None] * n
        self._backend = backend
        self.lookup = all(type(op) in _LOOKUPS for op in self._ops)
        self.idempotent = all(
            type(op) in _IDEMPOTENT or isinstance(op, (Touch, Deferred)) for op in self._ops
        )
        makers: list[tuple[int, Op, Callable[[Any], Plan]]] = []
        for i, op in enumerate(self._ops):
            if isinstance(op, Deferred) and not _queueable(op):
                op = op.op  # a write this backend sends with the others rather than queueing it
            if isinstance(op, (Touch, Deferred)):
                backend._defer(op)  # sent in this gather's first packet
            else:
                makers.append((i, op, backend._planner(op)))
        for i, op, make in makers:
            self._advance(i, make, op)

    def _advance(self, i: int, step: Callable[[Any], Plan], value: Any) -> None:
        """Op ``i``'s next step, ``step(value)``, or its result (or error) when it has none."""
        try:
            plan = step(value)
        except Exception as exc:
            self._errors[i] = self._backend._failure(self._ops[i], exc)
            plan = None
        if isinstance(plan, Step):
            self._steps[i] = plan
        else:
            self._steps[i] = None
            if self._errors[i] is None:
                self._results[i] = self._backend._lookup_result(self._ops[i], plan)

    def next_calls(self) -> list[Call]:
        """The calls of this round: one per op still under way."""
        return [step.call for step in self._steps if step is not None]

    def deliver(self, replies: list[Any]) -> None:
        live = [i for i, step in enumerate(self._steps) if step is not None]
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                raise reply
        for i, reply in zip(live, replies):
            step = self._steps[i]
            assert step is not None
            self._advance(i, step.reply, reply)

    def results(self) -> list[Any]:
        for error in self._errors:
            if error is not None:
                raise error
        return self._results


def _packed(conn: Any, cmds: list[tuple[Any, ...]]) -> Any:
    """The commands as RESP bytes: hiredis' C packer where installed (redis-py's asyncio connection packs in
    Python, about 25 us a command), redis-py's own otherwise or for arguments hiredis does not take."""
    if _hiredis_pack is not None:
        try:
            return b"".join([_hiredis_pack(cmd) for cmd in cmds])
        except (TypeError, ValueError):
            pass
    return conn.pack_commands(cmds)


#: Refusals of a cluster in transition (slots being assigned, a failover): the command did not run, so it is
#: sent again, twice at most; redis-py has waited 0.25 s and reloaded the slot map before raising each.
_CLUSTER_REFUSALS = (ClusterDownError, SlotNotCoveredError)
_CLUSTER_ATTEMPTS = 3


def _single(client: Any, call: Cmd | Lua | Pipe) -> Any:
    """One call through the cluster client (which routes it); an error reply is returned."""
    for attempt in range(_CLUSTER_ATTEMPTS):
        try:
            if isinstance(call, Lua):
                try:
                    return client.execute_command(*_eval_args(call, True))
                except NoScriptError:
                    return client.execute_command(*_eval_args(call, False))
            assert isinstance(call, Cmd)
            return client.execute_command(*call.args)
        except _CLUSTER_REFUSALS:
            if attempt == _CLUSTER_ATTEMPTS - 1:
                raise
        except ResponseError as exc:
            return exc
    raise AssertionError("unreachable")  # pragma: no cover


async def _asingle(client: Any, call: Cmd | Lua | Pipe) -> Any:
    for attempt in range(_CLUSTER_ATTEMPTS):
        try:
            if isinstance(call, Lua):
                try:
                    return await client.execute_command(*_eval_args(call, True))
                except NoScriptError:
                    return await client.execute_command(*_eval_args(call, False))
            assert isinstance(call, Cmd)
            return await client.execute_command(*call.args)
        except _CLUSTER_REFUSALS:
            if attempt == _CLUSTER_ATTEMPTS - 1:
                raise
        except ResponseError as exc:
            return exc
    raise AssertionError("unreachable")  # pragma: no cover


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


def _queueable(op: Op) -> bool:
    """Whether the deferred-write queue can hold ``op``: uses and KV puts. Another deferred write (the delete of
    an expired candidate a lookup found) is sent at once, as it was before lookups deferred it."""
    inner = op.op if isinstance(op, Deferred) else op
    return isinstance(inner, (Touch, ops.KvPut))
