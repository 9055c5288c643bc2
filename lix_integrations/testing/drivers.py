"""One way for storage conformance suites to run an operation in sync or async mode."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from ..backends import Backend, open_backend
from ..kernel.ops import Op

__all__ = ["ApiDriver", "OpDriver", "call_in_mode", "driver_fixture"]


class OpDriver:
    """Executes operations on one backend synchronously, or through its async path in a fresh event loop."""

    def __init__(self, backend: Backend, mode: str) -> None:
        self.backend = backend
        self.mode = mode

    def __call__(self, op: Op) -> Any:
        return call_in_mode(self.mode, lambda: self.backend.execute(op), lambda: self.backend.aexecute(op))


D = TypeVar("D", bound=OpDriver)


def call_in_mode(mode: str, call: Callable[[], Any], acall: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """``call()``, or in async mode ``acall()`` awaited in a fresh event loop: how every suite's driver calls
    the API under test (each is made only in its own mode: an engine makes its async view on use)."""
    if mode == "sync":
        return call()
    return asyncio.run(acall())


class ApiDriver:
    """An API's methods called blocking, or in async mode their awaitable twins awaited in a fresh event loop.

    ``api`` / ``aapi`` return the two APIs, each looked up at a call in its own mode; ``aprefix`` names the
    twins (``"a"``: LangGraph's ``aget`` for ``get``).
    """

    def __init__(self, mode: str, api: Callable[[], Any], aapi: Callable[[], Any], aprefix: str = "") -> None:
        self.mode = mode
        self._sync_api = api
        self._async_api = aapi
        self._aprefix = aprefix

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return call_in_mode(
            self.mode,
            lambda: getattr(self._sync_api(), name)(*args, **kwargs),
            lambda: getattr(self._async_api(), self._aprefix + name)(*args, **kwargs),
        )


def driver_fixture(driver: Callable[[Backend, str], D]) -> Any:
    """A storage suite's fixture, ``kv = driver_fixture(KvDriver)``: a fresh backend opened from the backend
    module's ``backend_url`` behind ``driver``, once per ``mode``, closed after the test."""

    @pytest.fixture
    def fixture(self: object, mode: str, backend_url: str) -> Iterator[D]:
        backend = open_backend(backend_url)
        try:
            yield driver(backend, mode)
        finally:
            backend.close()

    return fixture
