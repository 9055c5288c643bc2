"""`lix checkpoints list/show/prune` through the real entry point, on a SQLite store an agent wrote."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lix_integrations.langgraph import LixCheckpointSaver
from lix_integrations.testing import FakeClock
from lix_integrations.testing.agent_threads import write_thread

from .test_cli import lix, ok_json


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'agent.db'}"
    saver = LixCheckpointSaver(url=url)
    write_thread(saver, "alice", turns=3, words=8)
    write_thread(saver, "bob", turns=1, words=8)
    saver.close()
    # carol was written an hour ago with a 60 s ttl (a fake clock in the past; the CLI reads the wall clock)
    expiring = LixCheckpointSaver(url=url, ttl=60, clock=FakeClock(time.time() - 3600))
    write_thread(expiring, "carol", turns=1, words=8)
    expiring.close()
    return url


def test_list_shows_threads_with_counts(store: str) -> None:
    rows = ok_json("checkpoints", "list", "--url", store)
    by_id = {r["thread_id"]: r for r in rows}
    assert sorted(by_id) == ["alice", "bob", "carol"]
    assert by_id["alice"]["checkpoints"] > by_id["bob"]["checkpoints"] > 0
    assert by_id["carol"]["expires_at"] is not None
    table = lix("checkpoints", "list", "--url", store)
    assert table.returncode == 0 and "alice" in table.stdout


def test_show_decodes_the_newest_checkpoints(store: str) -> None:
    rows = ok_json("checkpoints", "show", "alice", "--limit", "2", "--url", store)
    assert len(rows) == 2
    assert rows[0]["checkpoint_id"] > rows[1]["checkpoint_id"]
    assert (
        rows[0]["channels"]["messages"] == 10
    )  # turns 1 and 3 call a tool (4 messages each), turn 2 does not
    table = lix("checkpoints", "show", "alice", "--url", store)
    assert table.returncode == 0 and "messages:" in table.stdout
    missing = lix("checkpoints", "show", "nobody", "--url", store)
    assert missing.returncode == 1 and "no checkpoints" in missing.stderr


def test_prune_keeps_the_newest_and_sweeps_expired_threads(store: str) -> None:
    result = ok_json("checkpoints", "prune", "alice", "--keep", "2", "--url", store)
    assert result["threads"] == 1 and result["checkpoints_deleted"] > 0
    assert len(ok_json("checkpoints", "show", "alice", "--url", store)) == 2
    swept = ok_json("checkpoints", "prune", "--expired", "--url", store)
    assert swept["expired_threads_deleted"] == 1
    assert sorted(r["thread_id"] for r in ok_json("checkpoints", "list", "--url", store)) == ["alice", "bob"]
    everything = ok_json("checkpoints", "prune", "--all", "--delete", "--url", store)
    assert everything["threads"] == 2
    assert ok_json("checkpoints", "show", "bob", "--url", store) == []


def test_prune_refuses_bad_input_in_one_line(store: str, tmp_path: Path) -> None:
    for args, message in [
        ((), "name threads"),
        (("alice", "--all"), "not both"),
        (("alice", "--keep", "0"), "--keep must be positive"),
    ]:
        result = lix("checkpoints", "prune", *args, "--url", store)
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    nowhere = lix("checkpoints", "list", "--url", f"sqlite:///{tmp_path / 'missing.db'}")
    assert nowhere.returncode == 1 and "no store" in nowhere.stderr
