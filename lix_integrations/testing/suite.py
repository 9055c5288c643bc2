"""What the conformance suites share: the fixtures a backend's test module feeds them, and engines they open.

Each suite subclasses `BackendSuite`; a backend's test module subclasses the suite and provides ``backend_url``.
pytest is imported only when a suite is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from ..engine.engine import Engine
from .fakes import FakeClock

__all__ = ["BackendSuite", "engines_on"]


class BackendSuite:
    """The fixtures every conformance suite has: the store's URL (from the backend's test module), a fake clock
    (TTLs never wait on ``sleep``) and ``mode``, which runs each test that asks for it blocking and awaited."""

    @pytest.fixture
    def backend_url(self) -> str:  # pragma: no cover - provided by each backend's module
        raise NotImplementedError("provide a backend_url fixture returning a fresh store's URL")

    @pytest.fixture(params=["sync", "async"])
    def mode(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()


@contextmanager
def engines_on(
    backend_url: str, defaults: Callable[[], Mapping[str, Any]]
) -> Iterator[Callable[..., Engine]]:
    """Open engines on one store, each with ``defaults()`` under the options it is given, and close them all
    on the way out (the body of a suite's engine fixture; ``defaults`` is called per engine, so each can get a
    fresh embedder)."""
    engines: list[Engine] = []

    def open_engine(**options: Any) -> Engine:
        engine = Engine(backend_url, **{**defaults(), **options})
        engines.append(engine)
        return engine

    try:
        yield open_engine
    finally:
        for engine in engines:
            engine.close()
