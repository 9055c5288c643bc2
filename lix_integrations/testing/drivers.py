"""One way for storage conformance suites to run an operation in sync or async mode."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..backends import Backend, open_backend
from ..kernel.ops import Op

__all__ = ["OpDriver", "driven"]


class OpDriver:
    """Executes operations on one backend synchronously, or through its async path in a fresh event loop."""

    def __init__(self, backend: Backend, mode: str) -> None:
        self.backend = backend
        self.mode = mode

    def __call__(self, op: Op) -> Any:
        if self.mode == "sync":
            return self.backend.execute(op)
        return asyncio.run(self.backend.aexecute(op))


D = TypeVar("D", bound=OpDriver)


@contextmanager
def driven(backend_url: str, mode: str, driver: Callable[[Backend, str], D]) -> Iterator[D]:
    """A fresh backend opened from ``backend_url`` behind ``driver`` in ``mode``, closed on the way out (the
    body of a storage suite's fixture)."""
    backend = open_backend(backend_url)
    try:
        yield driver(backend, mode)
    finally:
        backend.close()
