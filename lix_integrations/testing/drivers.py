"""One way for storage conformance suites to run an operation in sync or async mode."""

from __future__ import annotations

import asyncio
from typing import Any

from ..backends import Backend
from ..kernel.ops import Op

__all__ = ["OpDriver"]


class OpDriver:
    """Executes operations on one backend synchronously, or through its async path in a fresh event loop."""

    def __init__(self, backend: Backend, mode: str) -> None:
        self.backend = backend
        self.mode = mode

    def __call__(self, op: Op) -> Any:
        if self.mode == "sync":
            return self.backend.execute(op)
        return asyncio.run(self.backend.aexecute(op))
