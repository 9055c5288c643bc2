"""Storage-level conformance for key-value records: every backend, every operation, sync and async.

Subclass `KvConformance` and provide a ``backend_url`` fixture returning a fresh store's URL. Tiers built
on KV records (embeddings, tools, framework key-value stores) rely on exactly these behaviours.
"""

from __future__ import annotations

from ..kernel.ops import (
    KvDelete,
    KvDeleteWhere,
    KvEvict,
    KvExpire,
    KvGet,
    KvItem,
    KvPurgeExpired,
    KvPut,
    KvPutIf,
    KvScan,
    KvUsage,
)
from .drivers import OpDriver, driver_fixture
from .suite import BackendSuite

__all__ = ["KvConformance", "KvDriver"]

NS = "conformance"
T0 = 1_000.0


class KvDriver(OpDriver):
    """Key-value / list operations with the suite's namespace and clock filled in."""

    def put(self, table: str, *items: KvItem, now: float = T0) -> None:
        self(KvPut(NS, table, tuple(items), now))

    def get(self, table: str, *keys: str, now: float = T0, touch: bool = True) -> list[bytes | None]:
        return self(KvGet(NS, table, tuple(keys), now, touch))  # type: ignore[no-any-return]


class KvConformance(BackendSuite):
    kv = driver_fixture(KvDriver)

    def test_put_get_in_input_order(self, kv: KvDriver) -> None:
        kv.put("t", KvItem("a", b"1"), KvItem("b", b"\x00\xff binary"))
        assert kv.get("t", "b", "missing", "a", "b") == [b"\x00\xff binary", None, b"1", b"\x00\xff binary"]

    def test_put_if_writes_only_while_the_condition_record_holds_its_value(self, kv: KvDriver) -> None:
        kv.put("t", KvItem("gen", b"g1"), KvItem("lease", b"x", expires_at=T0 + 5))
        assert kv(KvPutIf(NS, "t", (KvItem("a", b"1"), KvItem("b", b"2", tags=("x",))), T0, "gen", b"g1"))
        assert kv.get("t", "a", "b") == [b"1", b"2"]
        assert not kv(KvPutIf(NS, "t", (KvItem("a", b"changed"),), T0, "gen", b"g2"))  # another value
        assert not kv(KvPutIf(NS, "t", (KvItem("c", b"3"),), T0, "missing", b"g1"))  # no such record
        assert not kv(KvPutIf(NS, "t", (KvItem("c", b"3"),), T0 + 5, "lease", b"x"))  # expired
        assert kv(KvPutIf(NS, "t", (KvItem("c", b"3"),), T0 + 4, "lease", b"x"))
        kv(KvDelete(NS, "t", ("gen",)))
        assert not kv(KvPutIf(NS, "t", (KvItem("d", b"4"),), T0, "gen", b"g1"))  # deleted first
        assert kv.get("t", "a", "c", "d") == [b"1", b"3", None]
        assert kv(KvDeleteWhere(NS, "t", tags=("x",))) == 1  # tags of a conditional write work as KvPut's

    def test_tables_and_namespaces_are_separate(self, kv: KvDriver) -> None:
        kv.put("t1", KvItem("k", b"one"))
        kv.put("t2", KvItem("k", b"two"))
        assert kv.get("t1", "k") == [b"one"] and kv.get("t2", "k") == [b"two"]
        assert kv(KvGet("other-namespace", "t1", ("k",), T0)) == [None]

    def test_replace_updates_value_and_tags(self, kv: KvDriver) -> None:
        kv.put("t", KvItem("k", b"old", tags=("x",)))
        kv.put("t", KvItem("k", b"new", tags=("y",)))
        assert kv.get("t", "k") == [b"new"]
        assert kv(KvDeleteWhere(NS, "t", tags=("x",))) == 0
        assert kv(KvDeleteWhere(NS, "t", tags=("y",))) == 1
        assert kv(KvUsage(NS, "t")) == (0, 0)

    def test_expiry(self, kv: KvDriver) -> None:
        kv.put("t", KvItem("short", b"s", expires_at=T0 + 10), KvItem("forever", b"f"))
        assert kv.get("t", "short", "forever", now=T0 + 9) == [b"s", b"f"]
        assert kv.get("t", "short", "forever", now=T0 + 10) == [None, b"f"]
        assert [k for k, _ in kv(KvScan(NS, "t", T0 + 11))] == ["forever"]
        assert kv(KvPurgeExpired(NS, "t", T0 + 11)) == 1
        assert kv(KvUsage(NS, "t")) == (1, 1)

    def test_delete_counts_existing(self, kv: KvDriver) -> None:
        kv.put("t", KvItem("a", b"1"), KvItem("b", b"2"))
        assert kv(KvDelete(NS, "t", ("a", "zzz", "a"))) == 1
        assert kv.get("t", "a", "b") == [None, b"2"]

    def test_scan_by_prefix_with_literal_wildcards(self, kv: KvDriver) -> None:
        keys = ["user_1/a", "user_1/b", "user%1/c", "userX1/d", "user_10/e", "other"]
        kv.put("t", *(KvItem(k, k.encode()) for k in keys))
        assert [k for k, _ in kv(KvScan(NS, "t", T0, prefix="user_1/"))] == ["user_1/a", "user_1/b"]
        assert [k for k, _ in kv(KvScan(NS, "t", T0, prefix="user%"))] == ["user%1/c"]
        page = kv(KvScan(NS, "t", T0, prefix="user", keys_only=True, limit=2))
        assert page == [("user%1/c", b""), ("userX1/d", b"")]
        rest = kv(KvScan(NS, "t", T0, prefix="user", after="userX1/d"))
        assert [k for k, _ in rest] == ["user_1/a", "user_1/b", "user_10/e"]

    def test_prefixes_are_case_sensitive(self, kv: KvDriver) -> None:
        # SQLite's LIKE ignores ASCII case: a scan of "foo/" also returned "FOO/" records.
        kv.put("t", KvItem("foo/a", b"1"), KvItem("FOO/b", b"2"), KvItem("Foo/c", b"3"))
        assert [k for k, _ in kv(KvScan(NS, "t", T0, prefix="foo/"))] == ["foo/a"]
        assert [k for k, _ in kv(KvScan(NS, "t", T0, prefix="FOO/"))] == ["FOO/b"]
        assert kv(KvDeleteWhere(NS, "t", prefix="foo/")) == 1
        assert kv.get("t", "foo/a", "FOO/b", "Foo/c") == [None, b"2", b"3"]

    def test_expire_sets_and_clears_expiry_of_live_records_only(self, kv: KvDriver) -> None:
        kv.put("t", KvItem("a", b"1", expires_at=T0 + 10), KvItem("b", b"2"), KvItem("gone", b"3", T0 + 1))
        changed = kv(
            KvExpire(NS, "t", (("a", T0 + 100), ("b", T0 + 50), ("gone", T0 + 100), ("x", None)), T0 + 5)
        )
        assert changed == 2  # "gone" expired at T0 + 1 and stays expired; "x" does not exist
        assert kv.get("t", "a", "b", "gone", "x", now=T0 + 20) == [b"1", b"2", None, None]
        assert kv.get("t", "a", "b", now=T0 + 60) == [b"1", None]
        assert kv(KvExpire(NS, "t", (("a", None),), T0 + 60)) == 1
        assert kv.get("t", "a", now=T0 + 10_000) == [b"1"]
        assert kv(KvPurgeExpired(NS, "t", T0 + 10_000)) == 2

    def test_delete_where_by_prefix_and_tags(self, kv: KvDriver) -> None:
        kv.put(
            "t",
            KvItem("read:1", b"", tags=("tool=read", "path=/a")),
            KvItem("read:2", b"", tags=("tool=read", "path=/b")),
            KvItem("list:1", b"", tags=("tool=list", "path=/a")),
            KvItem("x_1", b""),
            KvItem("x%1", b""),
        )
        assert kv(KvDeleteWhere(NS, "t", tags=("tool=read", "path=/a"))) == 1
        assert kv(KvDeleteWhere(NS, "t", prefix="x_")) == 1
        assert kv.get("t", "read:1", "read:2", "list:1", "x%1") == [None, b"", b"", b""]
        assert kv(KvDeleteWhere(NS, "t")) == 3
        assert kv(KvUsage(NS, "t")) == (0, 0)

    def test_lru_eviction_by_count_and_bytes(self, kv: KvDriver) -> None:
        for i in range(5):
            kv.put("t", KvItem(f"k{i}", b"x" * 10), now=T0 + i)
        kv.get("t", "k0", now=T0 + 10)  # k0 becomes the most recently used
        assert kv(KvEvict(NS, "t", max_entries=3)) == 2
        assert kv.get("t", "k0", "k1", "k2", "k3", "k4", touch=False) == [
            b"x" * 10,
            None,
            None,
            b"x" * 10,
            b"x" * 10,
        ]
        assert kv(KvEvict(NS, "t", max_bytes=15)) == 2
        assert kv(KvUsage(NS, "t")) == (1, 10)
        assert kv.get("t", "k0", touch=False) == [b"x" * 10]

    def test_large_batches(self, kv: KvDriver) -> None:
        items = [KvItem(f"key-{i:05d}", i.to_bytes(4, "big")) for i in range(2500)]
        kv.put("t", *items)
        keys = [item.key for item in items]
        assert kv.get("t", *keys) == [item.value for item in items]
        assert kv(KvUsage(NS, "t")) == (2500, 10_000)
        assert kv(KvDelete(NS, "t", tuple(keys[:1200]))) == 1200

    def test_unicode_keys_round_trip(self, kv: KvDriver) -> None:
        keys = ["ключ", "🔑", "a\x00b", "{tag}", "*", "../etc/passwd"]
        kv.put("t", *(KvItem(k, k.encode("utf-8")) for k in keys))
        assert kv.get("t", *keys) == [k.encode("utf-8") for k in keys]
        assert sorted(k for k, _ in kv(KvScan(NS, "t", T0))) == sorted(keys)
