"""The agent middlewares on Redis (plain: client-side search; Stack: the Query Engine), sync and async: the same
scenarios as on the embedded stores (tests/unit/test_agent_middleware.py)."""

from __future__ import annotations

import pytest

from lix_integrations import Engine
from lix_integrations.testing.fakes import FakeEmbedder
from tests.unit import test_agent_middleware as agents

from .conftest import with_prefix


@pytest.fixture(params=["plain", "stack"])
def engine(request: pytest.FixtureRequest) -> Engine:
    name = "redis_plain_url" if request.param == "plain" else "redis_stack_url"
    return Engine(with_prefix(request.getfixturevalue(name)), embedder=FakeEmbedder())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_second_identical_run_makes_no_model_or_tool_call(engine: Engine, mode: str) -> None:
    agents.test_second_identical_run_makes_no_model_or_tool_call(engine, mode)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_changed_context_misses(engine: Engine, mode: str) -> None:
    agents.test_changed_context_misses(engine, mode)


def test_concurrent_scopes_never_see_each_others_results(engine: Engine) -> None:
    agents.test_concurrent_scopes_never_see_each_others_results(engine)
