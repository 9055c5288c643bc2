"""The Redis backend: operations become steps (pure code in `kv`, `lists`, `semantic`, `leases`), carried out
by the executor.

The pieces, one job each: `clients` (the process's clients and breakers per URL), `executor_async` (the
executor, written once; ``executor_sync.py`` is generated from it), `connections` (where the two differ),
`autopipeline`, `lockstep` (several ops in one packet), `wire` (packing, replies, kept connections) and
`commands` (what an op sends, and the parser of each reply). This module holds what is the backend's own: the
table of handlers per op, the writes it defers until its next command, how a failure is reported, and its
lifecycle.

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
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from redis.exceptions import RedisClusterException, RedisError

from ...errors import BackendError, LixError
from ...kernel import ops
from ...kernel.ops import Deferred, Gather, Op, Touch
from ..base import Backend
from . import clients
from .breaker import is_outage
from .commands import Lua, Plan
from .executor_async import AsyncExecutor
from .executor_sync import SyncExecutor
from .kv import KvCommands
from .leases import LeaseCommands
from .lists import ListCommands
from .lockstep import UNCANCELLABLE, queueable
from .semantic import SemanticCommands
from .semantic_upsert import fused
from .url import parse_redis_url, redact
from .wire import Connections

__all__ = ["RedisBackend"]

logger = logging.getLogger(__name__)

#: Recorded uses wait for this many more, or this many seconds, while only lookups run (see _take_pending).
_TOUCH_BATCH = 32
_TOUCH_DELAY = 0.5
#: Deferred calls are sent on their own once this many are waiting (normally the next command takes them).
_PENDING_MAX = 256


class RedisBackend(Backend):
    """Executes storage operations on Redis, Redis Stack (Query Engine) or Redis Cluster."""

    pipelines = True
    shared = True
    finishes_when_cancelled = UNCANCELLABLE

    def __init__(self, url: str) -> None:
        super().__init__()
        self.options = parse_redis_url(url)
        self.url = redact(url)
        opts = self.options
        clients.retain(opts)
        self._breaker = clients.breaker(opts, self.url)
        self._sem = SemanticCommands(
            opts.prefix,
            opts.index,
            opts.partition_limit,
            opts.ef_runtime,
            opts.hnsw_from,
            opts.ef_construction,
            opts.hnsw_m,
        )
        self._kv = KvCommands(opts.prefix)
        self._lists = ListCommands(opts.prefix)
        self._leases = LeaseCommands(opts.prefix)
        self._closed = False
        # Writes whose reply nobody waits for (recording a semantic hit's use, storing a prompt's vector): they
        # ride in the same packet as the backend's next command, so they cost no round trip of their own. They
        # are sent before that command in its packet, so a read this thread sends after it (sync) sees them. An
        # async read on another connection may run first: packets of concurrent tasks (or of a turn split by the
        # auto-pipeline) travel on their own connections, so a deferred write is not a barrier. Other processes see
        # them once this backend sends anything (or closes).
        self._pending: list[Lua] = []
        self._touches: dict[tuple[str, int], float] = {}  # (namespace, id) -> last use not sent yet
        self._touches_since = 0.0
        self._pending_lock = threading.Lock()
        self._conns = Connections()
        self._sync = SyncExecutor(self)
        self._async = AsyncExecutor(self)
        self._plans: dict[type[Op], Callable[[Any], Plan]] = {
            **self._sem.handlers(),
            **self._kv.handlers(),
            **self._lists.handlers(),
            **self._leases.handlers(),
        }
        for op_type in self._plans:  # the executor itself: no frame of the backend's around it
            self._handlers[op_type] = self._sync.run
        self._handlers[Touch] = self._touch_sync
        self._handlers[Deferred] = self._defer_sync
        self._handlers[Gather] = self._gather_sync

    def _gather_sync(self, op: Gather) -> list[Any]:
        """A single insert and its bound check as one script call (`semantic_upsert.fused`); any other Gather
        in lock step."""
        bounded = fused(op)
        if bounded is not None:
            result: list[Any] = self._sync.run(bounded)
            return result
        return self._sync.run_gather(op)

    # -- deferred writes ------------------------------------------------------------------------------------

    def _defer(self, op: Op) -> bool:
        """Queue a write; True when enough are waiting that they should be sent now."""
        if self._closed:
            raise LixError("this Redis backend is closed")
        if isinstance(op, Deferred):
            op = op.op
        if isinstance(op, Touch):
            return self._record_uses(op)
        with self._pending_lock:
            if isinstance(op, ops.DeleteIds):  # expired entries a lookup met: dropped with the next command
                call = self._sem.delete_ids_call(op)
            elif isinstance(op, ops.KvPut):
                call = self._kv.put_call(op)
            else:
                raise LixError(f"RedisBackend cannot defer {type(op).__name__}")
            if call is not None:
                self._pending.append(call)
            return len(self._pending) >= _PENDING_MAX

    def _record_uses(self, op: Touch) -> bool:
        """Queue a hit's use (`_defer` for a `Touch`); True when enough are waiting that they should be sent now."""
        with self._pending_lock:
            touches = self._touches
            if not touches:
                self._touches_since = time.monotonic()
            for entry_id in op.ids:
                touches[(op.namespace, entry_id)] = op.now
            return len(touches) >= _PENDING_MAX

    def _touch_sync(self, op: Touch) -> None:
        """A hit's use, queued (the `Touch` handler: what `_defer_sync` does for one, without its dispatch)."""
        if self._closed:
            raise LixError("this Redis backend is closed")
        if self._record_uses(op):
            self._sync.flush()

    def _take_pending(self, lookup: bool = False) -> list[Lua]:
        """The deferred writes to send now. Uses recorded by lookups wait for more lookups (up to
        ``_TOUCH_BATCH`` of them or ``_TOUCH_DELAY`` seconds) and then go as one script per namespace: at
        about 25 us of server time each, one per hit was a tenth of a lookup (batched, 6-7 us a use at 10k
        records, see lua/sem_touch.lua). Anything but a lookup takes them all first, so evictions and scans
        always see every use."""
        if (
            lookup
            and not self._pending
            and len(self._touches) < _TOUCH_BATCH
            and time.monotonic() - self._touches_since < _TOUCH_DELAY
        ):
            # Most lookups: only uses wait, and they may wait longer. Read without the lock: a use queued
            # meanwhile waits for the next call, as it would had it come a moment later.
            return []
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
        if isinstance(op, ops.ExactOrSearch):  # a warm lookup's op, tested first
            record, found = result
            if record is not None:
                return self._with_pending_uses(op.namespace, record), found
            touches, namespace = self._touches, op.namespace
            for i, (rec, score) in enumerate(found):  # the parser's own list: changed in place
                when = touches.get((namespace, rec.id))
                if when is not None and when > rec.accessed_at:
                    found[i] = (dataclasses.replace(rec, accessed_at=when), score)
            return result
        if isinstance(op, ops.ExactGet):
            return self._with_pending_uses(op.namespace, result)
        if isinstance(op, ops.VectorSearch):
            return [(self._with_pending_uses(op.namespace, rec), score) for rec, score in result]
        return result

    def _defer_sync(self, op: Op) -> Any:
        if not queueable(op):
            return self.execute(op.op)  # type: ignore[attr-defined]
        if self._defer(op):
            self._sync.flush()
        return None

    @property
    def search_mode(self) -> str:
        """``adaptive``/``hnsw``/``flat`` (Query Engine), ``none`` (client-side) or ``auto`` before the first
        semantic op."""
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

    # -- execution (the executor, see executor_async.py) ----------------------------------------------------

    def aexecute(self, op: Op) -> Coroutine[Any, Any, Any]:
        """The executor's coroutine for ``op`` itself (a chat append's await chain one frame shorter). A list
        append finishes when its caller is cancelled after it was sent (`finishes_when_cancelled`)."""
        if type(op) in UNCANCELLABLE:
            return self._async.arun_pinned(op)
        if isinstance(op, (Touch, Deferred, Gather)):
            return self._aexecute_other(op)
        run: Coroutine[Any, Any, Any] = self._async.arun(op)
        return run

    async def _aexecute_other(self, op: Op) -> Any:
        if isinstance(op, Deferred) and not queueable(op):
            return await self.aexecute(op.op)
        if isinstance(op, (Touch, Deferred)):
            if self._defer(op):
                await self._async.aflush()
            return None
        assert isinstance(op, Gather)
        bounded = fused(op)
        if bounded is not None:
            return await self._async.arun(bounded)
        return await self._async.arun_gather(op)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def _release(self) -> list[tuple[asyncio.AbstractEventLoop, Any]]:
        """Closing's common part, once deferred writes are flushed: give back kept connections and this
        backend's hold on the shared clients (closing the sync client if it was the last); returns the async
        clients per loop that the last holder must close."""
        self._conns.release_all()
        self._closed = True
        self._async.unbind()
        client, per_loop = clients.release(self.options)
        if client is not None:
            client.close()
        return per_loop

    def close(self) -> None:
        """Stop using the backend. The clients and pools it shares with other open backends of the same URL
        stay; the last backend to close closes them (async ones of a running loop are only dropped: their
        connections belong to that loop, use ``aclose`` there)."""
        if not self._closed:
            self._sync.flush()
            self._release()

    async def aclose(self) -> None:
        if not self._closed:
            await self._async.aflush()
            per_loop = self._release()
            current = asyncio.get_running_loop()
            for loop, aclient in per_loop:
                if loop is current:
                    await aclient.aclose()
