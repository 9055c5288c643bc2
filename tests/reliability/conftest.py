"""Reliability suite: faults, load, hostile input, isolation. Redis servers come from the integration fixtures.

The long tests carry ``@pytest.mark.slow``; nothing deselects that marker, so ``make test`` (plain ``pytest``)
runs them. ``pytest -m "not slow"`` is the quick local loop.
"""

from __future__ import annotations

from tests.integration.conftest import (  # noqa: F401 - re-exported fixtures
    plain_server,
    redis_cluster_url,
    redis_plain_url,
    redis_stack_url,
    stack_server,
)
