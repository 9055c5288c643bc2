"""Storage-level conformance for append-only lists: every backend, every operation, sync and async.

Subclass `ListConformance` and provide a ``backend_url`` fixture returning a fresh store's URL. The session
tier relies on exactly these behaviours (seqs assigned by the backend, never reused, trims and replaces that
keep the archive bookkeeping right).
"""

from __future__ import annotations

import threading
from typing import Any

from ..backends import open_backend
from ..kernel.ops import (
    ListAppend,
    ListAppended,
    ListDelete,
    ListDeleteSeqs,
    ListIdle,
    ListInfo,
    ListKeys,
    ListRange,
    ListReplace,
    ListRestore,
    ListStatus,
    ListTrimThrough,
)
from .drivers import OpDriver, driver_fixture
from .suite import BackendSuite

__all__ = ["ListConformance", "ListDriver"]

NS = "conformance"
T0 = 1_000.0


class ListDriver(OpDriver):
    """Key-value / list operations with the suite's namespace and clock filled in."""

    def append(self, key: str, *values: bytes, now: float = T0, min_seq: int = 1) -> ListAppended:
        return self(ListAppend(NS, key, tuple(values), now, min_seq))  # type: ignore[no-any-return]

    def items(self, key: str, **kwargs: Any) -> list[tuple[int, bytes]]:
        return self(ListRange(NS, key, **kwargs))  # type: ignore[no-any-return]

    def info(self, key: str) -> ListStatus | None:
        return self(ListInfo(NS, key))  # type: ignore[no-any-return]


class ListConformance(BackendSuite):
    lists = driver_fixture(ListDriver)

    def test_append_assigns_consecutive_seqs_in_order(self, lists: ListDriver) -> None:
        first = lists.append("s", b"a", b"b")
        second = lists.append("s", b"\x00binary\xff")
        assert first == ListAppended((1, 2), 2, created=True)
        assert second == ListAppended((3,), 3)
        assert lists.items("s") == [(1, b"a"), (2, b"b"), (3, b"\x00binary\xff")]

    def test_missing_list(self, lists: ListDriver) -> None:
        assert lists.items("nope") == []
        assert lists.info("nope") is None
        assert lists(ListTrimThrough(NS, "nope", 5)) == 0
        assert lists(ListDeleteSeqs(NS, "nope", (1,))) == 0
        assert lists(ListDelete(NS, "nope")) == 0

    def test_keys_and_namespaces_are_separate(self, lists: ListDriver) -> None:
        lists.append("alice", b"1")
        lists.append("alice:secret", b"2")
        assert lists.items("alice") == [(1, b"1")]
        assert lists(ListRange("other", "alice")) == []

    def test_range_windows(self, lists: ListDriver) -> None:
        lists.append("s", *[bytes([i]) for i in range(10)])
        assert [s for s, _ in lists.items("s", after_seq=7)] == [8, 9, 10]
        assert [s for s, _ in lists.items("s", limit=2)] == [1, 2]
        assert [s for s, _ in lists.items("s", after_seq=3, limit=2)] == [4, 5]
        assert [s for s, _ in lists.items("s", last_n=3)] == [8, 9, 10]
        assert [s for s, _ in lists.items("s", last_n=3, limit=2)] == [8, 9]
        assert [s for s, _ in lists.items("s", after_seq=9, last_n=3)] == [10]
        assert lists.items("s", last_n=0) == []

    def test_info(self, lists: ListDriver) -> None:
        lists.append("s", b"a", b"b", b"c", now=T0 + 5)
        assert lists.info("s") == ListStatus(3, 1, 3, 4, T0 + 5, 0, 0)

    def test_trim_through_keeps_counter_and_records_archive_mark(self, lists: ListDriver) -> None:
        lists.append("s", b"a", b"b", b"c", now=T0)
        assert lists(ListTrimThrough(NS, "s", 2)) == 2
        status = lists.info("s")
        assert status is not None
        assert (status.length, status.first_seq, status.archived_through, status.updated_at) == (1, 3, 2, T0)
        assert lists(ListTrimThrough(NS, "s", 3)) == 1
        empty = lists.info("s")
        assert empty is not None and empty.length == 0 and empty.first_seq is None and empty.next_seq == 4
        assert lists.append("s", b"d").seqs == (4,)  # never reuses a seq while the list exists

    def test_trim_through_never_lowers_the_mark(self, lists: ListDriver) -> None:
        lists.append("s", b"a", b"b")
        lists(ListTrimThrough(NS, "s", 2))
        lists(ListTrimThrough(NS, "s", 1))
        status = lists.info("s")
        assert status is not None and status.archived_through == 2

    def test_min_seq(self, lists: ListDriver) -> None:
        assert lists.append("s", b"a", min_seq=41).seqs == (41,)
        assert lists.append("s", b"b", min_seq=5).seqs == (42,)

    def test_delete_seqs_keeps_the_others_in_order(self, lists: ListDriver) -> None:
        lists.append("s", b"a", b"b", b"c", b"d")
        assert lists(ListDeleteSeqs(NS, "s", (2, 4, 99))) == 2
        assert lists.items("s") == [(1, b"a"), (3, b"c")]
        status = lists.info("s")
        assert status is not None and status.length == 2 and status.next_seq == 5

    def test_replace_moves_the_base_past_old_seqs(self, lists: ListDriver) -> None:
        lists.append("s", b"a", b"b", b"c")
        lists(ListTrimThrough(NS, "s", 1))
        result = lists(ListReplace(NS, "s", (b"x", b"y"), T0 + 1))
        assert result == ListAppended((4, 5), 2)
        assert lists.items("s") == [(4, b"x"), (5, b"y")]
        assert lists.info("s") == ListStatus(2, 4, 5, 6, T0 + 1, 4, 1)
        emptied = lists(ListReplace(NS, "s", (), T0 + 2))
        assert emptied == ListAppended((), 0)
        status = lists.info("s")
        assert status is not None and status.base_seq == 6 and status.length == 0

    def test_restore_puts_back_in_seq_order(self, lists: ListDriver) -> None:
        lists.append("s", b"a", b"b", b"c", b"d")
        lists(ListTrimThrough(NS, "s", 2))
        added = lists(ListRestore(NS, "s", ((1, b"a"), (2, b"b"), (3, b"dup")), T0 + 9))
        assert added == 2
        assert lists.items("s") == [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d")]
        status = lists.info("s")
        assert status is not None and status.updated_at == T0 + 9 and status.next_seq == 5

    def test_restore_into_a_missing_list_does_nothing(self, lists: ListDriver) -> None:
        # Only an append that knows where the session's archive ends may create the list (see the next test).
        assert lists(ListRestore(NS, "s", ((7, b"g"), (8, b"h")), T0)) == 0
        assert lists.info("s") is None and lists.items("s") == []

    def test_append_without_create_stores_nothing_in_a_missing_list(self, lists: ListDriver) -> None:
        missing = lists(ListAppend(NS, "s", (b"a",), T0, create=False))
        assert missing == ListAppended((), 0, missing=True)
        assert lists.info("s") is None and lists.items("s") == []
        created = lists(ListAppend(NS, "s", (b"a",), T0, 41, create=True, archived_through=40))
        assert created == ListAppended((41,), 1, created=True)
        assert lists.info("s") == ListStatus(1, 41, 41, 42, T0, 0, 40)
        again = lists(ListAppend(NS, "s", (b"b",), T0, create=False))
        assert again == ListAppended((42,), 2)
        assert lists(ListRestore(NS, "s", ((40, b"z"),), T0)) == 1
        assert lists.items("s") == [(40, b"z"), (41, b"a"), (42, b"b")]

    def test_replace_starts_at_min_seq(self, lists: ListDriver) -> None:
        assert lists(ListReplace(NS, "s", (b"x",), T0, 21)) == ListAppended((21,), 1)
        status = lists.info("s")
        assert status is not None and status.base_seq == 21 and status.next_seq == 22

    def test_restore_skips_items_below_the_base(self, lists: ListDriver) -> None:
        lists.append("s", b"a")
        lists(ListReplace(NS, "s", (b"x",), T0))
        assert lists(ListRestore(NS, "s", ((1, b"a"),), T0)) == 0
        assert lists.items("s") == [(2, b"x")]

    def test_delete_forgets_everything(self, lists: ListDriver) -> None:
        lists.append("s", b"a", b"b")
        assert lists(ListDelete(NS, "s")) == 2
        assert lists.info("s") is None
        assert lists.append("s", b"c").seqs == (1,)

    def test_keys_by_prefix_with_pages(self, lists: ListDriver) -> None:
        for key in ("b1", "a2", "a1", "a10", "c", "a"):
            lists.append(key, b"v")
        assert lists(ListKeys(NS, "a")) == ["a", "a1", "a10", "a2"]
        assert lists(ListKeys(NS, "a", limit=2)) == ["a", "a1"]
        assert lists(ListKeys(NS, "a", limit=2, after="a1")) == ["a10", "a2"]
        assert lists(ListKeys(NS)) == ["a", "a1", "a10", "a2", "b1", "c"]
        assert lists(ListKeys(NS, "zz")) == []
        assert lists(ListKeys("other", "a")) == []

    def test_keys_lists_emptied_lists_until_deleted(self, lists: ListDriver) -> None:
        lists.append("s", b"a")
        lists(ListTrimThrough(NS, "s", 1))
        assert lists(ListKeys(NS)) == ["s"]
        lists(ListDelete(NS, "s"))
        assert lists(ListKeys(NS)) == []

    def test_idle(self, lists: ListDriver) -> None:
        lists.append("old", b"a", now=T0)
        lists.append("older", b"a", now=T0 - 10)
        lists.append("new", b"a", now=T0 + 100)
        lists.append("emptied", b"a", now=T0 - 50)
        lists(ListTrimThrough(NS, "emptied", 1))
        assert lists(ListIdle(NS, T0 + 50)) == ["older", "old"]
        assert lists(ListIdle(NS, T0 + 50, limit=1)) == ["older"]
        assert lists(ListIdle(NS, T0 - 100)) == []

    def test_concurrent_appends_never_share_a_seq(self, backend_url: str) -> None:
        backends = [open_backend(backend_url) for _ in range(4)]
        try:

            def writer(index: int) -> None:
                for i in range(50):
                    backends[index % 4].execute(ListAppend(NS, "s", (f"{index}:{i}".encode(),), T0))

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            items = backends[0].execute(ListRange(NS, "s"))
            assert [seq for seq, _ in items] == list(range(1, 401))
            for index in range(8):
                mine = [int(v.split(b":")[1]) for _, v in items if v.split(b":")[0] == str(index).encode()]
                assert mine == list(range(50))
        finally:
            for backend in backends:
                backend.close()
