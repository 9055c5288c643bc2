"""The caller's own code inside a flow: a tool, a model call, run the way the caller runs.

A facade flow that must run user code between its cache steps (the tool on a miss, the LLM on a miss) yields
`CallerCode`; the runtime's sync loop calls it, the async loop awaits what it returns, so one flow serves
``engine.tools.call(compute)`` and ``await engine.aio.tools.call(acompute)`` alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..kernel.op import Op
from ..kernel.runtime import Handler

__all__ = ["CALLER_CODE", "CallerCode"]


@dataclass(frozen=True, slots=True)
class CallerCode(Op[Any]):
    """``fn()`` in a blocking caller, ``await fn()`` in an awaiting one (whose ``fn`` returns an awaitable).
    Result: what the code returned; what it raises is thrown into the flow."""

    fn: Callable[[], Any]


def _call(op: CallerCode) -> Any:
    return op.fn()


#: `CallerCode`'s entry in the runtime's table: the sync loop calls, the async loop awaits what the call returns.
CALLER_CODE = Handler(_call, _call)
