# Generated from lix_integrations/backends/redis/executor_async.py by scripts/unasync.py: do not edit.
# Change the awaitable file and run `python scripts/unasync.py`; a unit test checks this file is current.
"""The Redis executor, written once: an op's steps sent behind the deferred writes, replies handed back.

The source is ``executor_async.py``; ``executor_sync.py`` is generated from it by ``scripts/unasync.py``
(``await`` and ``async`` dropped, the names of its ``RENAMES`` swapped), and ``tests/unit/test_generated_code.py``
fails when the generated file is not current. The two differ only where
the I/O does, in the small hand-written bases of `connections` (how a connection is taken and given back, and
whether calls of several tasks share a packet): one loop carries out both, so they cannot drift (the sync one
disconnected a connection whose exchange failed, the async one relied on redis-py for it).

Failures: connection errors, timeouts and cluster errors are raised as `BackendError` by the backend's
``_failure``; a circuit breaker per URL answers at once while Redis is down. No command is retried after it may
have reached the server: a retried list append whose first attempt did run would store a message twice. Reads
(``idempotent``) may be sent once more on a new connection when theirs was closed under them (a restart).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError

from ...errors import BackendError
from ...kernel.ops import Gather, Op
from .commands import Cmd, Lua, Pipe, Scan, Step
from .connections import SyncIO
from .lockstep import Lockstep, kind_of
from .script_cache import forget_all, learn, scripts_run
from .wire import CLUSTER_ATTEMPTS, CLUSTER_REFUSALS, closed_under_us, eval_args, pack, singly, unpack

__all__ = ["SyncExecutor"]

logger = logging.getLogger(__name__)

_SCAN_COUNT = 1000


class SyncExecutor(SyncIO):
    """Carries out one backend's ops on Redis, blocking on each round trip."""

    def run(self, op: Op) -> Any:
        """``op``'s result, unless the breaker is open (then a `BackendError` at once): the guarded call itself,
        with no frame of its own around it."""
        return self._guarded(op, self._run_once)

    def run_gather(self, gather: Gather) -> list[Any]:
        result: list[Any] = self._guarded(gather, self._run_many)
        return result

    def flush(self) -> None:
        """Send the deferred writes now (best effort: dropped rather than piling up through an outage)."""
        backend = self.backend
        if backend._pending or backend._touches:
            try:
                self._guarded(None, self._flush_once)
            except (RedisError, OSError, BackendError) as exc:
                backend._take_pending()
                logger.debug("Redis %s: deferred writes lost: %s", backend.url, exc)

    def _flush_once(self, _: object) -> None:
        self.send_now(self.client(), [])

    def _guarded(self, op: Any, run: Any) -> Any:
        backend = self.backend
        breaker = backend._breaker
        probe = breaker.enter() if breaker.failures else False  # closed: one int read, no call
        started = time.monotonic()
        try:
            result = run(op)
        except BaseException as exc:
            backend._verdict(probe, exc, time.monotonic() - started)
            raise
        if probe or breaker.failures:
            breaker.succeeded(probe)
        return result

    def _run_once(self, op: Op) -> Any:
        backend = self.backend
        kind = self._kinds.get(type(op))
        if kind is None or backend._closed:  # the planner raises for a closed backend or an op it lacks
            kind = self._kinds[type(op)] = kind_of(backend, op)
        make, lookup, idempotent, pinned = kind
        dispatch = self.dispatch_pinned if pinned else self.dispatch
        try:
            client = self.client()
            plan = make(op)
            while isinstance(plan, Step):
                if isinstance(plan.call, Scan):
                    reply = self._scan(client, plan.call)
                else:
                    reply = (dispatch(client, [plan.call], lookup, idempotent))[0]
                    if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                        raise reply
                plan = plan.reply(reply)
            return backend._lookup_result(op, plan) if lookup else plan
        except Exception as exc:
            failure = backend._failure(op, exc)
            if failure is exc:
                raise
            raise failure from exc

    def _run_many(self, gather: Gather) -> list[Any]:
        """The operations' steps in lock step: each round's calls go out in one packet (one round trip)."""
        backend = self.backend
        steps = Lockstep(backend, gather)
        try:
            client = self.client()
            while True:
                calls = steps.next_calls()
                if not calls:
                    return steps.results()
                sent = [c for c in calls if not isinstance(c, Scan)]
                replies = iter(self.dispatch(client, sent, steps.lookup, steps.idempotent))
                delivered = []
                for c in calls:
                    delivered.append(self._scan(client, c) if isinstance(c, Scan) else next(replies))
                steps.deliver(delivered)
        except Exception as exc:
            failure = backend._failure(gather, exc)
            if failure is exc:
                raise
            raise failure from exc

    def _scan(self, client: Any, call: Scan) -> list[Any]:
        self.flush()
        return [key for key in client.scan_iter(match=call.pattern, count=_SCAN_COUNT)]

    def send_now(
        self, client: Any, calls: list[Cmd | Lua | Pipe], lookup: bool = False, idempotent: bool = False
    ) -> list[Any]:
        """``calls`` behind the deferred writes, in one packet: one reply per call, a command error as a value.

        ``idempotent`` calls (reads) are sent once more on a new connection when theirs was closed under them;
        nothing else is ever sent twice.
        """
        backend = self.backend
        # The lock of the deferred writes' queue only when something waits in it (most calls).
        pending = backend._take_pending(lookup) if backend._pending or backend._touches else []
        if backend.options.cluster and singly(pending, calls, idempotent):
            if pending:  # uses and stored vectors, which may run twice harmlessly, go ahead on their own
                try:
                    self._cluster_pipe(client, pending, [])
                except (RedisError, RedisClusterException, OSError) as exc:
                    logger.debug("Redis %s: deferred writes lost: %s", backend.url, exc)
            return [_single(client, call) for call in calls]  # the cluster client routes them
        if backend.options.cluster:
            return self._cluster_pipe(client, pending, calls)
        # One call and nothing deferred (most calls): its command alone, without the packet's bookkeeping.
        alone = calls[0] if not pending and len(calls) == 1 else None
        spans: list[tuple[int, int]] | None = None
        by_text: list[tuple[int, str]] = []
        if isinstance(alone, Lua):
            cmds = [eval_args(alone, True)]
        elif isinstance(alone, Cmd):
            cmds = [alone.args]
        else:
            alone = None
        for attempt in (0, 1):
            # Written in one packet on one connection: a redis-py Pipeline object costs about 80 us more per
            # round trip (measured), as much as what it carries saves.
            conn = self.take(client)
            try:
                if alone is None:  # packed for this connection: by text the scripts its server has not run
                    generation, known = scripts_run(conn)
                    cmds, spans, by_text = pack(pending, calls, known)
                replies = self.exchange(conn, cmds)
                if alone is None:
                    learn(conn, generation, by_text, replies)
                break
            except BaseException as exc:
                # Replies may be left unread: never hand this socket out again as it is.
                conn.disconnect()
                if attempt or not idempotent or not closed_under_us(exc):
                    raise
                logger.debug(
                    "Redis %s: connection closed under a read, sending it again: %s", backend.url, exc
                )
            finally:
                self.give(client, conn)
        if alone is None:
            return self._finish(client, pending, calls, spans, replies)
        reply = replies[0]
        if isinstance(reply, BaseException):
            if isinstance(reply, NoScriptError) and isinstance(alone, Lua):
                forget_all()  # the server forgot scripts: what connections recorded is stale (see script_cache)
                reply = _eval_or_error(client, alone)
            elif not isinstance(reply, ResponseError):
                raise reply
        return [reply]

    def _cluster_pipe(self, client: Any, pending: list[Lua], calls: list[Cmd | Lua | Pipe]) -> list[Any]:
        """Through redis-py's cluster pipeline, which sends a command again after a connection error: only for
        calls that may run twice (see `singly`). A script is loaded first on each primary its calls go to that has
        not run it (see `script_cache`)."""
        scripts = self._cluster_scripts
        plan, failed = scripts.plan(client, pending, calls)
        for sha, (script, nodes) in plan.items():
            for node in nodes:
                try:
                    client.execute_command("SCRIPT LOAD", script.text, target_nodes=node)
                except (RedisError, RedisClusterException, OSError) as exc:  # sent by its text instead
                    logger.debug("Redis %s: loading a script failed: %s", self.backend.url, exc)
                    failed.add(sha)
                else:
                    scripts.loaded(node, script)
        cmds, spans, _ = pack(pending, calls, scripts.known(plan, failed), one_server=False)
        pipe = client.pipeline(transaction=False)
        for cmd in cmds:
            pipe.execute_command(*cmd)
        replies = pipe.execute(raise_on_error=False)
        learn(None, 0, (), replies)
        return self._finish(client, pending, calls, spans, replies)

    def _finish(
        self,
        client: Any,
        pending: list[Lua],
        calls: list[Cmd | Lua | Pipe],
        spans: list[tuple[int, int]] | None,
        replies: list[Any],
    ) -> list[Any]:
        """Each call's reply from the packet's replies; a script the server had not loaded is run by its text."""
        for lua, reply in zip(pending, replies):
            if isinstance(reply, NoScriptError):
                reply = _eval_or_error(client, lua)
            if isinstance(reply, BaseException):
                logger.debug("Redis %s: a deferred write failed: %s", self.backend.url, reply)
        out = unpack(calls, spans, replies)
        for i, reply in enumerate(out):
            if isinstance(reply, NoScriptError):
                call = calls[i]
                if isinstance(call, Lua):
                    out[i] = _eval_or_error(client, call)
        return out


def _single(client: Any, call: Cmd | Lua | Pipe) -> Any:
    """One call through the cluster client (which routes it); an error reply is returned."""
    for attempt in range(CLUSTER_ATTEMPTS):
        try:
            if isinstance(call, Lua):
                try:
                    return client.execute_command(*eval_args(call, True))
                except NoScriptError:
                    return client.execute_command(*eval_args(call, False))
            assert isinstance(call, Cmd)
            return client.execute_command(*call.args)
        except CLUSTER_REFUSALS:
            if attempt == CLUSTER_ATTEMPTS - 1:
                raise
        except ResponseError as exc:
            return exc
    raise AssertionError("unreachable")  # pragma: no cover


def _eval_or_error(client: Any, lua: Lua) -> Any:
    """Run a script whose EVALSHA found no script loaded, by its text (which loads it)."""
    try:
        return client.execute_command(*eval_args(lua, False))
    except ResponseError as exc:
        return exc
