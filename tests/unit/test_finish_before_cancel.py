"""`finish_before_cancel`: an operation already started finishes when its caller is cancelled, and the caller
learns its result; it runs in the caller's own task (no task or shield per call) until a cancellation comes.

Driven by futures the test resolves, never by sleeps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lix_integrations.kernel.flows import CancelledAfterOp, PinnedFuture, finish_before_cancel


class Op:
    """An operation that waits for the test at two points, the way a command waits for its reply."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.sent: asyncio.Future[None] = loop.create_future()
        self.reply: asyncio.Future[int] = loop.create_future()
        self.log: list[str] = []
        self.task: asyncio.Task[Any] | None = None

    async def run(self) -> int:
        self.task = asyncio.current_task()
        self.log.append("started")
        self.sent.set_result(None)
        value = await self.reply
        await asyncio.sleep(0)  # a bare yield after the reply
        self.log.append("finished")
        return value + 1


async def _cancel_once_waiting(op: Op) -> asyncio.Task[int]:
    caller = asyncio.ensure_future(finish_before_cancel(op.run()))
    await op.sent
    caller.cancel()
    await asyncio.sleep(0)  # the cancellation is delivered
    return caller


async def test_runs_in_the_callers_task_and_returns_the_result() -> None:
    op = Op()
    caller = asyncio.ensure_future(finish_before_cancel(op.run()))
    await op.sent
    op.reply.set_result(41)
    assert await caller == 42
    assert op.task is caller  # no task of its own while nobody cancels
    assert op.log == ["started", "finished"]


async def test_a_cancelled_caller_lets_the_op_finish_and_gets_its_result() -> None:
    op = Op()
    caller = await _cancel_once_waiting(op)
    assert not op.reply.cancelled()  # the cancellation never reached what the op waits for
    op.reply.set_result(1)
    with pytest.raises(CancelledAfterOp) as raised:
        await caller
    assert raised.value.result == 2
    assert op.log == ["started", "finished"]


async def test_an_op_that_fails_after_the_cancellation_gives_the_plain_cancellation() -> None:
    op = Op()
    caller = await _cancel_once_waiting(op)
    op.reply.set_exception(ValueError("the reply was an error"))
    with pytest.raises(asyncio.CancelledError) as raised:
        await caller
    assert not isinstance(raised.value, CancelledAfterOp)


async def test_a_second_cancellation_still_waits_for_the_op_and_gets_its_result() -> None:
    """Abandoning the wait cancelled the op half-way (a command on the wire, a write under way), and its caller
    never learnt its result, so nothing undid it."""
    op = Op()
    caller = await _cancel_once_waiting(op)
    caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done() and not op.reply.cancelled()
    caller.cancel()  # and a third
    await asyncio.sleep(0)
    op.reply.set_result(1)
    with pytest.raises(CancelledAfterOp) as raised:
        await caller
    assert raised.value.result == 2
    assert op.log == ["started", "finished"]


async def test_a_second_cancellation_of_another_awaitable_still_waits_for_it() -> None:
    reply: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    caller = asyncio.ensure_future(finish_before_cancel(asyncio.ensure_future(asyncio.shield(reply))))
    for _ in range(2):
        await asyncio.sleep(0)
        caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done()
    reply.set_result(7)
    with pytest.raises(CancelledAfterOp) as raised:
        await caller
    assert raised.value.result == 7


async def test_an_op_cancelled_itself_ends_the_wait() -> None:
    """When the op's own task is cancelled (the event loop cancels every task as it closes), there is nothing
    left to wait for: the caller gets the plain cancellation instead of waiting forever."""
    op = Op()
    caller = await _cancel_once_waiting(op)
    caller.cancel()
    await asyncio.sleep(0)
    (finishing,) = asyncio.all_tasks() - {
        caller,
        asyncio.current_task(),
    }  # the op finishes in a task of its own
    finishing.cancel()
    with pytest.raises(asyncio.CancelledError) as raised:
        await caller
    assert not isinstance(raised.value, CancelledAfterOp)


async def test_a_cancellation_at_a_bare_yield_still_finishes_the_op() -> None:
    ran: list[str] = []

    async def op() -> str:
        await asyncio.sleep(0)
        ran.append("after the yield")
        return "done"

    caller = asyncio.ensure_future(finish_before_cancel(op()))
    await asyncio.sleep(0)  # the caller is now at the op's bare yield
    caller.cancel()
    with pytest.raises(CancelledAfterOp) as raised:
        await caller
    assert raised.value.result == "done" and ran == ["after the yield"]


async def test_errors_and_other_awaitables_pass_through() -> None:
    async def failing() -> None:
        await asyncio.sleep(0)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await finish_before_cancel(failing())
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.set_result(7)
    assert await finish_before_cancel(future) == 7


async def test_a_pinned_future_is_awaited_as_it_is_and_the_cancellation_comes_once_it_is_done() -> None:
    """A `PinnedFuture` (the reply to an append on the wire) is not relayed: the caller's task waits on it, its
    ``cancel()`` refuses, and the caller is cancelled with the op's result once the reply is in."""
    loop = asyncio.get_running_loop()
    reply: PinnedFuture = PinnedFuture(loop=loop)
    sent = loop.create_future()

    async def op() -> int:
        sent.set_result(None)
        return int(await reply) + 1

    caller = asyncio.ensure_future(finish_before_cancel(op()))
    await sent
    await asyncio.sleep(0)
    assert caller._fut_waiter is reply  # type: ignore[attr-defined]  # no relay between them
    assert caller.cancel()  # asked: delivered once the reply is in
    await asyncio.sleep(0)
    assert not caller.done() and not reply.cancelled()
    reply.set_result(6)
    with pytest.raises(CancelledAfterOp) as raised:
        await caller
    assert raised.value.result == 7


async def test_a_pinned_futures_failure_is_raised_where_the_op_awaits_it() -> None:
    """The op, not the protection around it, meets the failure of what it awaits (the executor turns a lost
    connection into a `BackendError` there)."""
    reply: PinnedFuture = PinnedFuture(loop=asyncio.get_running_loop())

    async def op() -> int:
        try:
            return int(await reply)
        except ConnectionError as exc:
            raise RuntimeError("converted by the op") from exc

    caller = asyncio.ensure_future(finish_before_cancel(op()))
    await asyncio.sleep(0)
    reply.set_exception(ConnectionError("reset"))
    with pytest.raises(RuntimeError, match="converted by the op"):
        await caller
