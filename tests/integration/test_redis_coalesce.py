"""Miss coalescing on Redis (plain and Stack): threads, tasks and processes asking one new prompt make one LLM
call; a leader killed with SIGKILL delays the others by at most its lease (``SET NX PX``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lix_integrations.testing.conformance_coalesce import PROMPT, ask_crowd, kill_leader_then_ask

from .conftest import with_prefix


@pytest.fixture(params=["plain", "stack"])
def url(request: pytest.FixtureRequest) -> str:
    name = "redis_plain_url" if request.param == "plain" else "redis_stack_url"
    return with_prefix(request.getfixturevalue(name))


def test_threads_tasks_and_processes_make_one_llm_call(url: str, tmp_path: Path) -> None:
    out = ask_crowd(url, tmp_path, threads=32, tasks=32, processes=2)
    assert out["errors"] == [] and len(out["answers"]) == 66
    assert set(out["answers"]) == {f"answer: {PROMPT}"}
    assert out["calls"] == 1


def test_a_failing_leader_lets_the_others_call(url: str, tmp_path: Path) -> None:
    out = ask_crowd(url, tmp_path, threads=8, tasks=8, processes=0, delay=0.3, fail_first=1)
    assert len(out["errors"]) == 1 and len(out["answers"]) == 15
    assert 2 <= out["calls"] <= 16


def test_a_leader_killed_with_sigkill_delays_others_by_at_most_the_lease(url: str, tmp_path: Path) -> None:
    out = kill_leader_then_ask(url, tmp_path, lease=2.0)
    assert out["answer"] == f"answer: {PROMPT}" and out["calls"] == 2
    assert out["waited"] < 2.0 + 2.5  # the lease, plus polling and one call (slack for a loaded CI)


@pytest.mark.parametrize("kind", ["plain", "stack", "valkey", "cluster"])
def test_lease_conformance(kind: str, request: pytest.FixtureRequest) -> None:
    from lix_integrations.backends import open_backend
    from lix_integrations.testing.conformance_coalesce import check_leases

    fixture = {
        "plain": "redis_plain_url",
        "stack": "redis_stack_url",
        "valkey": "valkey_url",
        "cluster": "redis_cluster_url",
    }[kind]
    backend = open_backend(with_prefix(request.getfixturevalue(fixture)))
    try:
        check_leases(backend)
    finally:
        backend.close()
