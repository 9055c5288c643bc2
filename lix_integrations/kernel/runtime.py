"""One runtime per engine: the handler table, and the one loop that runs a flow against it, blocking or awaited.

A flow is a generator that yields ops and receives their results (see `flows`). Each op type appears once
in one flat table, saying how it is carried out: storage ops go to the backend, ``Embed`` to the model through
the embedding tier, ``Sleep``, ``WaitFlight``, ``RunLocal`` and ``Compute`` to small generic handlers. One loop
(``Runtime._loop``) is the only place a flow is driven, for the blocking ``run`` and the awaitable ``arun``: they
differ only by where blocking work runs (in the caller's thread, or awaited / in a worker thread so an event
loop never waits on it).

A handler either *calls* (``call(op)``, or ``await acall(op)`` in the async loop when there is an awaitable
way) or is itself a *flow* (``call(op, scratch)`` returns a generator the loop runs in place, with the same
table: ``Embed`` is the embedding tier's flow). ``scratch`` is a dict that lives for one top-level run, so two
handlers of one lookup can hand each other what they learnt (the stored prompt vector read together with the
exact check). A handler's exception is thrown into the flow that yielded the op, which may handle it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ConfigError
from .flows import CancelledAfterOp, Flow, T, finish_before_cancel, held
from .ops import STORAGE_OPS, Call, Compute, EmbedBatch, LoadModel, Op, RunLocal, Sleep, Verify, WaitFlight

__all__ = ["SLOW", "Handler", "Runtime", "Store", "to_store"]


class Store(Protocol):
    """What the runtime needs of a backend: carry out one storage op, blocking or awaited."""

    def execute(self, op: Op[Any]) -> Any: ...

    async def aexecute(self, op: Op[Any]) -> Any: ...


def _never(op: Any) -> bool:
    return False


def _when_blocking(op: Any) -> bool:
    return bool(op.blocking)


@dataclass(frozen=True, slots=True)
class Handler:
    """How the runtime carries out one op type.

    ``call``: the blocking way (the sync loop; the async loop too unless ``acall`` is given or ``thread(op)``
    says to run it in a worker thread). ``flow``: ``call(op, scratch)`` returns a flow run in place.
    ``shield``: in the async loop, work already started completes even if the caller is cancelled (a command
    on the wire, an archive written under its lock; see `flows.finish_before_cancel`). ``timer``
    receives each op and the seconds it took (the engine learns its store's round trip from ``ExactGet``).
    ``quick`` (flow handlers): ``quick(op, scratch)`` is the result when it is at hand without the flow (a
    vector this process holds), else `SLOW`; the flow runs only then. What it raises is thrown into the flow
    that yielded the op, as the flow's own failure would be.
    """

    call: Callable[..., Any]
    acall: Callable[[Any], Awaitable[Any]] | None = None
    thread: Callable[[Any], bool] = _never
    flow: bool = False
    shield: bool = False
    timer: Callable[[Any, float], None] | None = None
    quick: Callable[[Any, Any], Any] | None = None


#: What a handler's ``quick`` returns when the result is not at hand (the flow must run).
SLOW: Any = object()


def _sleep(op: Sleep) -> None:
    time.sleep(op.seconds)


async def _asleep(op: Sleep) -> None:
    await asyncio.sleep(op.seconds)


def _wait(op: WaitFlight) -> bool:
    return bool(op.flight.wait(op.timeout))


async def _await(op: WaitFlight) -> bool:
    return bool(await op.flight.await_finish(op.timeout))


def _always(op: Any) -> bool:
    return True


def _run_fn(op: Call) -> Any:
    return op.fn()


def _verify(op: Verify) -> list[float]:
    return op.compute()


def _load(op: LoadModel) -> float:
    return op.load()


def _compute_batch(op: EmbedBatch) -> Any:
    """Run a wrapped model's sync batch function; an async-only model cannot serve a blocking caller."""
    if op.compute is None:
        raise ConfigError(
            "this embedding model is async-only; use the async API (AsyncEngine, aembed_documents)"
        )
    return op.compute(list(op.texts))


async def _acompute_batch(op: EmbedBatch) -> Any:
    """Await the model's async batch function; a sync-only model runs in a worker thread, never on the loop."""
    if op.acompute is not None:
        return await op.acompute(list(op.texts))
    assert op.compute is not None
    return await asyncio.to_thread(op.compute, list(op.texts))


#: The generic handlers every runtime has; an engine adds its own (``Embed`` and the rest) on top.
GENERIC: Mapping[type[Op[Any]], Handler] = {
    Sleep: Handler(_sleep, _asleep),
    WaitFlight: Handler(_wait, _await),
    # Local blocking I/O (archive files): a worker thread under an event loop, finished even when cancelled.
    RunLocal: Handler(_run_fn, thread=_when_blocking, shield=True),
    # User code (a verifier callable, a model): a worker thread under an event loop when it may block.
    Compute: Handler(_run_fn, thread=_when_blocking),
    Verify: Handler(_verify, thread=_when_blocking),
    LoadModel: Handler(_load, thread=_always),
    EmbedBatch: Handler(_compute_batch, _acompute_batch),
}


def to_store(store: Store, **options: Any) -> Handler:
    """The handler of a storage op: ``store.execute`` / ``store.aexecute``, looked up at each call (a test or a
    wrapper may replace a backend's method after the engine was built). ``options``: see `Handler`."""

    def call(op: Op) -> Any:
        return store.execute(op)

    def acall(op: Op) -> Awaitable[Any]:
        return store.aexecute(op)

    return Handler(call, acall, **options)


class Runtime:
    """The handler table of one engine and its loop; ``run`` / ``arun`` drive one flow to its result."""

    def __init__(self, store: Store, handlers: Mapping[type[Op[Any]], Handler] | None = None) -> None:
        storage = to_store(store)
        self.table: dict[type[Op[Any]], Handler] = {op: storage for op in STORAGE_OPS}
        self.table.update(GENERIC)
        self.table.update(handlers or {})
        #: Ops no entry names go to the store too (a backend's own ops); it refuses what it does not know.
        self._storage = storage

    def run(self, flow: Flow[T], scratch: dict[Any, Any] | None = None) -> T:
        """Drive ``flow`` to completion on this thread.

        The blocking loop is `_loop` with ``blocking=True``: it then awaits nothing but the loops of nested flows,
        so it never suspends and one ``send`` runs it to the end, on this thread, with no event loop.
        """
        loop = self._loop(flow, {} if scratch is None else scratch, True)
        try:
            loop.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        loop.close()
        raise RuntimeError("the blocking loop suspended")  # pragma: no cover - it awaits no future

    def arun(self, flow: Flow[T], scratch: dict[Any, Any] | None = None) -> Coroutine[Any, Any, T]:
        """Drive ``flow`` to completion without blocking the event loop: the loop's coroutine, to await."""
        return self._loop(flow, {} if scratch is None else scratch, False)

    async def _loop(
        self,
        flow: Flow[T],
        scratch: dict[Any, Any],
        blocking: bool,
        nested: bool = False,
        undoing: bool = False,
    ) -> T:
        """The one loop, for both callers. ``blocking``: each handler is called on this thread. Otherwise a handler
        with an awaitable way is awaited, one that may block runs in a worker thread, and ``shield`` lets work
        already started finish when the caller is cancelled."""
        table, storage = self.table, self._storage
        try:
            op = next(flow)
            while True:
                try:
                    handler = table.get(type(op), storage)
                    started = time.perf_counter() if handler.timer is not None else 0.0
                    if handler.flow:
                        result = SLOW if handler.quick is None else handler.quick(op, scratch)
                        if result is SLOW:
                            result = await self._loop(
                                handler.call(op, scratch), scratch, blocking, True, undoing
                            )
                    elif blocking:
                        result = handler.call(op)
                    elif handler.acall is not None:
                        result = await _guarded(handler.acall(op), handler.shield, undoing)
                    elif handler.thread(op):
                        result = await _guarded(asyncio.to_thread(handler.call, op), handler.shield, undoing)
                    else:
                        result = handler.call(op)
                    if handler.timer is not None:
                        handler.timer(op, time.perf_counter() - started)
                except BaseException as exc:  # the flow may observe (and handle) the failure
                    undoing = undoing or isinstance(exc, CancelledAfterOp)
                    op = flow.throw(exc)
                else:
                    op = flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except CancelledAfterOp as cancel:
            if nested:
                raise  # the flows around this one may still have to undo the op
            # Every flow has seen the op's result (and undone it); the caller gets the plain cancellation it
            # asked for. Python 3.11's asyncio.timeout() turns only an exact CancelledError into TimeoutError:
            # a subclass reached the caller as a cancellation, with its task still marked as being cancelled.
            raise asyncio.CancelledError() from cancel


def _guarded(awaiting: Awaitable[Any], shield: bool, undoing: bool) -> Awaitable[Any]:
    """What the loop awaits for an op: as it is, or finished before a cancellation goes on (``shield``: work
    already started), or, once the flow is undoing an op its caller's cancellation came after, with every later
    cancellation held back (the undo of an append already sent)."""
    if undoing:
        return held(awaiting)
    return finish_before_cancel(awaiting) if shield else awaiting
