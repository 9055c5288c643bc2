"""Behaviour of `LixStore` that every backend must show, sync and async.

There is no shared conformance suite for LangGraph stores; these tests check what LangGraph's own
``InMemoryStore`` / ``SqliteStore`` tests check (batch order, get/put/delete, filters, pagination, namespace
listing with wildcards and depth, semantic ranking, TTL with refresh on read), plus what those stores got wrong
at times (prefixes crossing label boundaries, case-insensitive or wildcard matching of labels). Subclass
`StoreConformance` and provide ``backend_url``. Needs the ``[langgraph]`` extra; TTLs run on a fake clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from ..engine.engine import Engine
from .drivers import ApiDriver
from .fakes import FakeClock, FakeEmbedder
from .suite import BackendSuite

__all__ = ["StoreConformance"]


class StoreDriver(ApiDriver):
    """A store's sync or async methods behind one blocking interface."""

    def __init__(self, store: Any, mode: str) -> None:
        super().__init__(mode, lambda: self.store, lambda: self.store, aprefix="a")
        self.store = store

    def batch(self, ops: list[Any]) -> list[Any]:
        return self._call("batch", ops)  # type: ignore[no-any-return]

    def put(self, *args: Any, **kwargs: Any) -> None:
        self._call("put", *args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("get", *args, **kwargs)

    def delete(self, *args: Any) -> None:
        self._call("delete", *args)

    def search(self, *args: Any, **kwargs: Any) -> list[Any]:
        return self._call("search", *args, **kwargs)  # type: ignore[no-any-return]

    def keys(self, *args: Any, **kwargs: Any) -> list[str]:
        return [item.key for item in self.search(*args, **kwargs)]

    def list_namespaces(self, **kwargs: Any) -> list[tuple[str, ...]]:
        return self._call("list_namespaces", **kwargs)  # type: ignore[no-any-return]


class StoreConformance(BackendSuite):
    @pytest.fixture
    def engine(self, backend_url: str, clock: FakeClock) -> Iterator[Engine]:
        engine = Engine(backend_url, clock=clock, embedder=FakeEmbedder(256))
        yield engine
        engine.close()

    @pytest.fixture
    def store(self, engine: Engine, mode: str) -> StoreDriver:
        from ..langgraph import LixStore

        return StoreDriver(LixStore(engine, ttl={"default_ttl": None}), mode)

    @pytest.fixture
    def indexed(self, engine: Engine, mode: str) -> StoreDriver:
        from ..langgraph import LixStore

        return StoreDriver(LixStore(engine, index={"fields": ["text"]}, collection="indexed"), mode)

    # -- basic operations -------------------------------------------------------------------------------

    def test_batch_runs_ops_in_order(self, store: StoreDriver) -> None:
        from langgraph.store.base import GetOp, Item, ListNamespacesOp, PutOp, SearchOp

        store.put(("test", "foo"), "key1", {"data": "value1"})
        results = store.batch(
            [
                GetOp(("test", "foo"), "key1"),
                PutOp(("test", "bar"), "key2", {"data": "value2"}),
                SearchOp(("test",), filter={"data": "value2"}),
                ListNamespacesOp(),
                PutOp(("test", "bar"), "key2", None),
                GetOp(("test", "bar"), "key2"),
                GetOp(("test",), "nothing"),
            ]
        )
        assert len(results) == 7
        assert isinstance(results[0], Item) and results[0].value == {"data": "value1"}
        assert results[0].namespace == ("test", "foo") and results[0].key == "key1"
        assert results[1] is None and results[4] is None
        assert [i.key for i in results[2]] == ["key2"]  # the search saw the put before it
        assert set(results[3]) == {("test", "foo"), ("test", "bar")}
        assert results[5] is None and results[6] is None  # the delete ran before the get

    def test_put_get_update_delete_and_timestamps(self, store: StoreDriver, clock: FakeClock) -> None:
        ns = ("users", "u1")
        store.put(ns, "doc", {"title": "Test", "tags": ["a", "b"], "n": 1.5, "ok": True, "none": None})
        first = store.get(ns, "doc")
        assert first.value == {"title": "Test", "tags": ["a", "b"], "n": 1.5, "ok": True, "none": None}
        assert first.created_at == first.updated_at
        assert first.created_at.tzinfo is not None and first.created_at.timestamp() == clock.now()
        clock.advance(5)
        store.put(ns, "doc", {"title": "Updated"})
        second = store.get(ns, "doc")
        assert second.value == {"title": "Updated"}
        assert second.created_at == first.created_at  # created_at survives an update
        assert (second.updated_at - first.updated_at).total_seconds() == 5
        assert store.get(("users", "u2"), "doc") is None
        store.delete(ns, "doc")
        assert store.get(ns, "doc") is None
        store.delete(ns, "doc")  # deleting what is gone is fine

    def test_unicode_and_odd_keys_round_trip(self, store: StoreDriver) -> None:
        odd = ["这是中文", "🔑", "a/b", "a|b", "50%", "{tag}", "*", "", "../etc/passwd", "x" * 1000]
        for i, key in enumerate(odd):
            store.put(("k", "ключ"), key, {"i": i, "text": "Это русский"})
        for i, key in enumerate(odd):
            assert store.get(("k", "ключ"), key).value == {"i": i, "text": "Это русский"}
        assert sorted(store.keys(("k",), limit=100)) == sorted(odd)

    def test_persists_for_another_engine_on_the_same_store(
        self, store: StoreDriver, backend_url: str
    ) -> None:
        from ..langgraph import LixStore

        store.put(("shared",), "k", {"v": 1})
        other = LixStore(url=backend_url, embedder=FakeEmbedder(256))
        try:
            item = other.get(("shared",), "k")
            assert item is not None and item.value == {"v": 1}
        finally:
            other.close()

    # -- namespaces -------------------------------------------------------------------------------------

    def test_namespaces_never_leak_into_each_other(self, store: StoreDriver) -> None:
        spaces = [
            ("foo",),
            ("foo", "child"),
            ("foobar",),
            ("Foo",),
            ("foo|x",),
            ("foo/x",),
            ("foo", "x"),
            ("user_1",),
            ("userX1",),
            ("a%b",),
            ("axxb",),
            ("star*",),
            ("starX",),
            ("a:b", "c"),
            ("a", "b:c"),
            ("users", "alice\n"),
            ("users", "alice"),
        ]
        for i, ns in enumerate(spaces):
            store.put(ns, "k", {"i": i})

        def under(prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
            return {item.namespace for item in store.search(prefix, limit=100)}

        assert under(("foo",)) == {("foo",), ("foo", "child"), ("foo", "x")}
        assert under(("Foo",)) == {("Foo",)}
        assert under(("foo|x",)) == {("foo|x",)}
        assert under(("foo/x",)) == {("foo/x",)}
        assert under(("fo",)) == set()
        assert under(("user_1",)) == {("user_1",)}
        assert under(("a%b",)) == {("a%b",)}
        assert under(("star*",)) == {("star*",)}
        assert under(("a:b",)) == {("a:b", "c")}
        assert under(("users", "alice")) == {("users", "alice")}
        assert under(()) == set(spaces)
        for i, ns in enumerate(spaces):
            assert store.get(ns, "k").value == {"i": i}
        # a key that looks like a path stays a key of its own namespace
        store.put(("a",), "b/|k", {"v": "key"})
        assert store.get(("a", "b"), "k") is None
        assert [i.namespace for i in store.search(("a", "b"))] == []

    def test_list_namespaces(self, store: StoreDriver) -> None:
        spaces = [
            ("p", "test", "documents", "public", "p"),
            ("p", "test", "documents", "private", "p"),
            ("p", "test", "images", "public", "p"),
            ("p", "prod", "documents", "public", "p"),
            ("p", "prod", "documents", "some", "nesting", "public", "p"),
            ("p", "prod", "documents", "private", "p"),
            ("uid", "users", "alice"),
            ("uid", "users", "malice"),
        ]
        for ns in spaces:
            store.put(ns, "dummy", {"content": "dummy"})
        assert store.list_namespaces(limit=100) == sorted(spaces)
        assert len(store.list_namespaces(prefix=("p", "test"))) == 3
        assert len(store.list_namespaces(suffix=("public", "p"))) == 4
        assert len(store.list_namespaces(prefix=("p", "test"), suffix=("public", "p"))) == 2
        assert len(store.list_namespaces(prefix=("p", "*", "documents"))) == 5
        assert store.list_namespaces(suffix=("some", "*", "public", "p")) == [spaces[4]]
        assert store.list_namespaces(suffix=("alice",)) == [("uid", "users", "alice")]
        assert store.list_namespaces(prefix=("uid", "*", "alice")) == [("uid", "users", "alice")]
        assert store.list_namespaces(max_depth=2) == [("p", "prod"), ("p", "test"), ("uid", "users")]
        depth4 = store.list_namespaces(prefix=("p", "*", "documents"), max_depth=4)
        assert len(depth4) == len(set(depth4)) == 5
        assert store.list_namespaces(limit=3) == sorted(spaces)[:3]
        assert store.list_namespaces(limit=100, offset=3) == sorted(spaces)[3:]
        store.delete(spaces[0], "dummy")
        assert spaces[0] not in store.list_namespaces(limit=100)

    # -- search -----------------------------------------------------------------------------------------

    def test_search_filters(self, store: StoreDriver) -> None:
        docs = {
            "doc1": {
                "author": "Alice",
                "tags": ["important"],
                "score": 4.5,
                "active": True,
                "user": {"lvl": 2},
            },
            "doc2": {"author": "Bob", "tags": ["draft"], "score": 3.0, "active": False, "access-level": "x"},
            "doc3": {"author": "Alice", "tags": ["draft"], "score": 4.0, "active": 1, "title": "O'Brien's"},
        }
        for key, value in docs.items():
            store.put(("docs",), key, value)

        def keys(flt: dict[str, Any]) -> list[str]:
            return sorted(store.keys(("docs",), filter=flt))

        assert keys({"author": "Alice"}) == ["doc1", "doc3"]
        assert keys({"tags": ["draft"]}) == ["doc2", "doc3"]
        assert keys({"score": {"$gt": 3.2}}) == ["doc1", "doc3"]
        assert keys({"score": {"$gte": 4.0, "$lt": 4.5}}) == ["doc3"]
        assert keys({"score": {"$lte": 3}}) == ["doc2"]
        assert keys({"author": {"$ne": "Alice"}}) == ["doc2"]
        assert keys({"author": {"$eq": "Bob"}}) == ["doc2"]
        assert keys({"active": True}) == ["doc1"]  # JSON true is not the number 1
        assert keys({"user": {"lvl": 2}}) == ["doc1"]
        assert keys({"user.lvl": 2}) == ["doc1"]
        assert keys({"access-level": "x"}) == ["doc2"]
        assert keys({"title": "O'Brien's"}) == ["doc3"]
        assert keys({"author": "Alice' OR '1'='1"}) == []
        assert keys({"missing": {"$gt": 0}}) == []
        assert keys({"score": {"$eq": math.nan}}) == []
        assert keys({"score": {"$lt": math.inf}}) == ["doc1", "doc2", "doc3"]
        assert keys({"score": {"$gt": "a"}}) == []  # numbers and strings never compare
        with pytest.raises(ValueError, match="operator"):
            store.search(("docs",), filter={"score": {"$regex": ".*"}})

    def test_search_pages_newest_first(self, store: StoreDriver, clock: FakeClock) -> None:
        for i in range(5):
            store.put(("page",), f"k{i}", {"i": i})
            clock.advance(1)
        assert store.keys(("page",)) == ["k4", "k3", "k2", "k1", "k0"]
        first, second = store.keys(("page",), limit=2), store.keys(("page",), limit=2, offset=2)
        assert first == ["k4", "k3"] and second == ["k2", "k1"]
        assert store.keys(("page",), offset=4) == ["k0"]
        assert store.keys(("page",), limit=0) == []
        store.put(("page",), "k0", {"i": 0})
        assert store.keys(("page",), limit=1) == ["k0"]

    def test_query_without_an_index_is_ignored(self, store: StoreDriver) -> None:
        store.put(("n",), "a", {"text": "apples"})
        assert store.keys(("n",), query="apples") == ["a"]
        assert store.search(("n",), query="apples")[0].score is None

    # -- semantic search --------------------------------------------------------------------------------

    def test_semantic_ranking_with_filters_and_pages(self, indexed: StoreDriver, engine: Engine) -> None:
        docs = {
            "doc1": {"text": "red apple pie", "color": "red", "score": 4.5},
            "doc2": {"text": "red sports car", "color": "red", "score": 3.0},
            "doc3": {"text": "green apple tree", "color": "green", "score": 4.0},
            "doc4": {"text": "blue sports car", "color": "blue", "score": 3.5},
        }
        for key, value in docs.items():
            indexed.put(("mem",), key, value)
        ranked = indexed.search(("mem",), query="apple pie")
        assert ranked[0].key == "doc1" and len(ranked) == 4
        scores = [r.score for r in ranked]
        assert scores == sorted(scores, reverse=True)
        expected = float(
            sum(
                a * b
                for a, b in zip(
                    engine.embeddings.embed_query("red apple pie"), engine.embeddings.embed_query("apple pie")
                )
            )
        )
        assert ranked[0].score == pytest.approx(expected, abs=1e-4)
        assert indexed.keys(("mem",), query="sports car", filter={"color": "red"}) == ["doc2", "doc1"]
        assert indexed.keys(("mem",), query="apple", filter={"score": {"$gte": 4.0}})[0] in {"doc1", "doc3"}
        page1 = indexed.keys(("mem",), query="car", limit=2)
        page2 = indexed.keys(("mem",), query="car", limit=2, offset=2)
        assert set(page1).isdisjoint(page2) and len(page1 + page2) == 4
        assert indexed.keys(("mem",), query="") != []  # an empty query is no query

    def test_index_choices_per_put(self, indexed: StoreDriver) -> None:
        indexed.put(("i",), "plain", {"text": "quantum physics lecture"})
        indexed.put(("i",), "hidden", {"text": "quantum physics lecture"}, index=False)
        indexed.put(("i",), "other", {"text": "gardening", "note": "quantum physics lecture"}, index=["note"])
        found = indexed.search(("i",), query="quantum physics lecture", limit=10)
        assert [r.key for r in found][:2] in (["plain", "other"], ["other", "plain"])
        assert found[-1].key == "hidden" and found[-1].score is None  # unindexed items follow the ranked ones
        assert indexed.keys(("i",), query="quantum physics lecture", limit=2) != ["hidden"]
        # rewriting an item re-embeds it
        indexed.put(("i",), "plain", {"text": "baking bread"})
        top = indexed.search(("i",), query="baking bread", limit=1)[0]
        assert top.key == "plain" and top.score == pytest.approx(1.0, abs=1e-4)

    def test_list_fields_index_each_element(self, engine: Engine, mode: str) -> None:
        from ..langgraph import LixStore

        store = StoreDriver(LixStore(engine, index={"fields": ["facts[*]"]}, collection="facts"), mode)
        store.put(("f",), "a", {"facts": ["likes tea", "lives in Oslo"]})
        store.put(("f",), "b", {"facts": ["likes coffee", "lives in Rome"]})
        assert store.keys(("f",), query="lives in Oslo")[0] == "a"
        assert store.keys(("f",), query="likes coffee")[0] == "b"

    # -- TTL --------------------------------------------------------------------------------------------

    def test_ttl_expiry_override_and_sweep(self, engine: Engine, mode: str, clock: FakeClock) -> None:
        from ..langgraph import LixStore

        raw = LixStore(engine, ttl={"default_ttl": 1.0, "refresh_on_read": False}, collection="ttl")
        store = StoreDriver(raw, mode)
        store.put(("t",), "default", {"v": 1})  # 1 minute
        store.put(("t",), "short", {"v": 2}, ttl=0.5)
        store.put(("t",), "forever", {"v": 3}, ttl=None)
        store.put(("gone",), "k", {"v": 4}, ttl=0.5)
        clock.advance(30)
        assert store.get(("t",), "short") is None  # expired exactly at its TTL
        assert store.get(("t",), "default").value == {"v": 1}
        assert sorted(store.keys(("t",))) == ["default", "forever"]
        assert ("gone",) not in store.list_namespaces()
        clock.advance(31)
        assert store.keys(("t",)) == ["forever"]
        assert raw.sweep_ttl() == 3
        assert store.get(("t",), "forever").value == {"v": 3}

    def test_ttl_refresh_on_read(self, engine: Engine, mode: str, clock: FakeClock) -> None:
        from ..langgraph import LixStore

        store = StoreDriver(LixStore(engine, ttl={"default_ttl": 1.0}, collection="refresh"), mode)
        store.put(("r",), "get", {"v": 1})
        store.put(("r",), "search", {"v": 2})
        store.put(("r",), "idle", {"v": 3})
        store.put(("r",), "norefresh", {"v": 4})
        clock.advance(50)
        assert store.get(("r",), "get") is not None  # refreshes: expires 60 s from now
        assert store.keys(("r",), filter={"v": 2}) == ["search"]
        assert store.get(("r",), "norefresh", refresh_ttl=False) is not None
        clock.advance(50)
        assert store.get(("r",), "get", refresh_ttl=False) is not None
        assert store.get(("r",), "search", refresh_ttl=False) is not None
        assert store.get(("r",), "idle") is None
        assert store.get(("r",), "norefresh") is None
        clock.advance(11)
        assert store.get(("r",), "get") is None  # a refresh never revives what expired

    # -- bad input --------------------------------------------------------------------------------------

    def test_bad_input_is_refused_and_nothing_is_stored(self, store: StoreDriver) -> None:
        from langgraph.store.base import InvalidNamespaceError, PutOp

        from ..errors import InvalidInputError

        for ns in [(), ("a.b",), ("",), ("langgraph", "x")]:
            with pytest.raises(InvalidNamespaceError):
                store.put(ns, "k", {"v": 1})
        with pytest.raises(ValueError):
            store.put(("a\x00b",), "k", {"v": 1})
        with pytest.raises(InvalidInputError, match="NUL"):
            store.put(("ok",), "k\x00", {"v": 1})
        with pytest.raises(InvalidInputError, match="JSON"):
            store.batch([PutOp(("ok",), "good", {"v": 1}), PutOp(("ok",), "bad", {"v": object()})])
        with pytest.raises(InvalidInputError, match="JSON"):
            store.put(("ok",), "nan", {"v": math.nan})
        with pytest.raises(InvalidInputError, match="ttl"):
            store.put(("ok",), "neg", {"v": 1}, ttl=-1)
        with pytest.raises(InvalidInputError, match="limit"):
            store.search(("ok",), limit=-1)
        assert store.list_namespaces() == []
