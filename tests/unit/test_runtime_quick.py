"""A flow handler's ``quick`` way: the result at hand without running the handler's flow, else the flow (the
engine's warm-lookup embedding, `EngineCore._embed_quick`), in the blocking and the awaitable loop alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from lix_integrations import Engine
from lix_integrations.kernel.flows import Flow
from lix_integrations.kernel.op import Op
from lix_integrations.kernel.runtime import SLOW, Handler, Runtime
from lix_integrations.testing import FakeEmbedder


@dataclass(frozen=True, slots=True)
class Double(Op[int]):
    value: int


class NoStore:
    def execute(self, op: Op[Any]) -> Any:
        raise AssertionError(f"no storage op expected, got {op!r}")

    async def aexecute(self, op: Op[Any]) -> Any:
        raise AssertionError(f"no storage op expected, got {op!r}")


def _runtime(ran: list[int]) -> Runtime:
    def flow(op: Double, scratch: dict[Any, Any]) -> Flow[int]:
        ran.append(op.value)
        return op.value * 2
        yield  # a generator

    def quick(op: Double, scratch: dict[Any, Any]) -> Any:
        if op.value < 0:
            raise ValueError("negative")
        return op.value * 2 if op.value % 2 == 0 else SLOW

    return Runtime(NoStore(), {Double: Handler(flow, flow=True, quick=quick)})


def _caller() -> Flow[tuple[int, int, str]]:
    even = yield Double(2)
    odd = yield Double(3)
    try:
        yield Double(-1)
    except ValueError as exc:  # what quick raises is thrown into the flow that yielded the op
        return even, odd, str(exc)
    raise AssertionError("quick's failure was not thrown into the flow")


@pytest.mark.parametrize("awaiting", [False, True])
def test_quick_serves_what_it_has_and_the_flow_runs_otherwise(awaiting: bool) -> None:
    ran: list[int] = []
    runtime = _runtime(ran)
    result = asyncio.run(runtime.arun(_caller())) if awaiting else runtime.run(_caller())
    assert result == (4, 6, "negative")
    assert ran == [3]  # only the odd value went through the flow


@pytest.mark.parametrize("awaiting", [False, True])
def test_a_warm_lookup_embeds_from_the_front_and_counts_as_before(awaiting: bool) -> None:
    """The second lookup of a prompt takes its vector from the front without the embedding flow: one model call
    in all, and the front hit counted as the flow counts it."""
    embedder = FakeEmbedder()
    with Engine("memory://", embedder=embedder) as engine:
        for _ in range(2):
            if awaiting:
                asyncio.run(engine.aio.semantic.lookup("what is the capital of France", "m"))
            else:
                engine.semantic.lookup("what is the capital of France", "m")
        stats = engine.stats()
    assert embedder.calls == 1
    assert stats.embeddings.front_hits == 1
    assert stats.semantic.misses == 2
