"""SQLite prefix scans read only their key range: a scan of a prefix no key has costs as little as one that
finds its first key at once (it walked every later key of the table before), and prefixes ending in the highest
code points still select exactly their keys."""

from __future__ import annotations

from pathlib import Path

from lix_integrations.backends.sqlite import SQLiteBackend
from lix_integrations.kernel.ops import KvDeleteWhere, KvItem, KvPut, KvScan


def _steps(backend: SQLiteBackend, op: KvScan) -> int:
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    backend._conn.set_progress_handler(count, 10)  # a test may look at the connection
    try:
        backend.execute(op)
    finally:
        backend._conn.set_progress_handler(None, 10)
    return steps[0]


def test_a_scan_of_an_empty_prefix_range_does_not_walk_the_keys_after_it(tmp_path: Path) -> None:
    backend = SQLiteBackend(str(tmp_path / "p.db"))
    backend.execute(KvPut("ns", "t", tuple(KvItem(f"w/{i:05d}", b"x") for i in range(5000)), 0.0))
    backend.execute(KvPut("ns", "t", (KvItem("c/1", b"x"),), 0.0))
    missing = _steps(backend, KvScan("ns", "t", 0.0, prefix="a/", keys_only=True, limit=1))
    found = _steps(backend, KvScan("ns", "t", 0.0, prefix="c/", keys_only=True, limit=1))
    assert missing <= found + 5  # 5000 keys after "a/": with only a lower bound this took thousands of steps
    backend.close()


def test_prefixes_ending_in_high_code_points_select_exactly_their_keys(tmp_path: Path) -> None:
    backend = SQLiteBackend(str(tmp_path / "q.db"))
    keys = ["a\U0010ffff", "a\U0010ffffb", "b", "a\ud7ff", "a\ud7ffz", "a\ue000", "", "\U0010ffff"]
    backend.execute(KvPut("ns", "t", tuple(KvItem(k, b"v") for k in keys), 0.0))

    def scan(prefix: str) -> list[str]:
        return [k for k, _ in backend.execute(KvScan("ns", "t", 0.0, prefix=prefix, keys_only=True))]

    for prefix in ["a\U0010ffff", "a\ud7ff", "a", "", "\U0010ffff", "a\ue000"]:
        assert scan(prefix) == sorted(k for k in keys if k.startswith(prefix)), prefix
    assert backend.execute(KvDeleteWhere("ns", "t", prefix="a\ud7ff")) == 2
    assert scan("a") == ["a\ue000", "a\U0010ffff", "a\U0010ffffb"]
    backend.close()
