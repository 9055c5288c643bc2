"""Behaviour of `LixNodeCache` that every backend must show, sync and async.

Subclass `NodeCacheConformance` and provide a ``backend_url`` fixture returning a fresh store's URL. Needs
the ``[langgraph]`` extra. TTLs run on a `FakeClock`, never on ``sleep``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, TypedDict

import pytest

from ..engine.engine import Engine
from .fakes import FakeClock
from .suite import BackendSuite

__all__ = ["NodeCacheConformance"]

NODE_NS = ("__pregel_ns_writes", "tests.module:node_function", "answer")


class _State(TypedDict):
    question: str
    answer: str


class CacheDriver:
    """The cache's sync or async methods behind one blocking interface."""

    def __init__(self, cache: Any, mode: str) -> None:
        self.cache = cache
        self.mode = mode

    def get(self, keys: list[Any]) -> dict[Any, Any]:
        if self.mode == "sync":
            return self.cache.get(keys)  # type: ignore[no-any-return]
        return asyncio.run(self.cache.aget(keys))  # type: ignore[no-any-return]

    def set(self, pairs: dict[Any, Any]) -> None:
        if self.mode == "sync":
            self.cache.set(pairs)
        else:
            asyncio.run(self.cache.aset(pairs))

    def clear(self, namespaces: Any = None) -> None:
        if self.mode == "sync":
            self.cache.clear(namespaces)
        else:
            asyncio.run(self.cache.aclear(namespaces))


class NodeCacheConformance(BackendSuite):
    @pytest.fixture
    def engine(self, backend_url: str, clock: FakeClock) -> Iterator[Engine]:
        from .fakes import FakeEmbedder

        engine = Engine(backend_url, clock=clock, embedder=FakeEmbedder())
        yield engine
        engine.close()

    @pytest.fixture
    def cache(self, engine: Engine, mode: str) -> CacheDriver:
        from ..langgraph import LixNodeCache

        return CacheDriver(LixNodeCache(engine), mode)

    def test_get_set_round_trip_typed_values(self, cache: CacheDriver) -> None:
        from langchain_core.messages import AIMessage

        # msgpack has no tuple: LangGraph's serializer gives pairs back as lists (its InMemoryCache does too)
        value = [["messages", [AIMessage(content="hi", id="m1")]], ["count", 3], ["blob", b"\x00\xff"]]
        cache.set({(NODE_NS, "k1"): (value, None), (("other",), "k1"): ({"x": 1}, None)})
        found = cache.get([(NODE_NS, "k1"), (NODE_NS, "missing"), (("other",), "k1")])
        assert found == {(NODE_NS, "k1"): value, (("other",), "k1"): {"x": 1}}
        assert cache.get([]) == {}

    def test_ttl_on_the_engine_clock(self, cache: CacheDriver, clock: FakeClock) -> None:
        cache.set({(NODE_NS, "short"): ("s", 10), (NODE_NS, "forever"): ("f", None)})
        clock.advance(9)
        assert cache.get([(NODE_NS, "short"), (NODE_NS, "forever")]) == {
            (NODE_NS, "short"): "s",
            (NODE_NS, "forever"): "f",
        }
        clock.advance(1)
        assert cache.get([(NODE_NS, "short"), (NODE_NS, "forever")]) == {(NODE_NS, "forever"): "f"}

    def test_namespaces_with_colons_and_separators_stay_apart(self, cache: CacheDriver) -> None:
        spaces = [
            ("a:b", "c"),
            ("a", "b:c"),
            ("a:b:c",),
            ("a", "b", "c"),
            ("a/b", "c"),
            ("a|b",),
            ("a", "b|c"),
        ]
        cache.set({(ns, "k"): (i, None) for i, ns in enumerate(spaces)})
        assert cache.get([(ns, "k") for ns in spaces]) == {(ns, "k"): i for i, ns in enumerate(spaces)}
        cache.clear([("a:b", "c"), ("a",)])  # exact namespaces: ("a",) holds nothing, nested ones stay
        left = cache.get([(ns, "k") for ns in spaces])
        assert set(left) == {(ns, "k") for ns in spaces[1:]}

    def test_clear_all_and_caches_sharing_an_engine(self, engine: Engine, mode: str) -> None:
        from ..langgraph import LixNodeCache

        one = CacheDriver(LixNodeCache(engine, name="one"), mode)
        two = CacheDriver(LixNodeCache(engine, name="two"), mode)
        one.set({(NODE_NS, "k"): (1, None)})
        two.set({(NODE_NS, "k"): (2, None)})
        assert one.get([(NODE_NS, "k")]) == {(NODE_NS, "k"): 1}
        one.clear()
        assert one.get([(NODE_NS, "k")]) == {}
        assert two.get([(NODE_NS, "k")]) == {(NODE_NS, "k"): 2}

    def test_bad_input_is_refused_before_writing(self, cache: CacheDriver) -> None:
        from ..errors import InvalidInputError

        with pytest.raises(InvalidInputError, match="ttl"):
            cache.set({(NODE_NS, "a"): (1, None), (NODE_NS, "b"): (2, -5)})
        with pytest.raises(InvalidInputError, match="NUL"):
            cache.set({(("bad\x00label",), "k"): (1, None)})
        assert cache.get([(NODE_NS, "a")]) == {}

    def test_unreadable_or_pickled_entries_are_misses_never_unpickled(
        self, engine: Engine, mode: str
    ) -> None:
        from ..langgraph import LixNodeCache
        from ..tiers.namespaced import record_key
        from ..tiers.node_cache import table_for

        cache = CacheDriver(LixNodeCache(engine), mode)

        tampered = {
            # a protocol-0 pickle that would call os.system if anything unpickled it
            "pickle": b"pickle\x00cos\nsystem\n(S'echo unpickled'\ntR.",
            "garbage": b"msgpack\x00\xc1\xc1\xc1",
            "noframe": b"no separator here",
        }
        from ..kernel.ops import KvItem, KvPut

        items = tuple(KvItem(record_key(NODE_NS, key), raw) for key, raw in tampered.items())
        engine._core.backend.execute(KvPut(engine.namespace, table_for("langgraph"), items, 0.0))
        assert cache.get([(NODE_NS, key) for key in tampered]) == {}

    def test_types_outside_the_allow_list_are_never_called(self, engine: Engine, mode: str) -> None:
        from ..kernel.ops import KvItem, KvPut
        from ..langgraph import LixNodeCache
        from ..tiers.namespaced import record_key
        from ..tiers.node_cache import table_for

        cache = CacheDriver(LixNodeCache(engine), mode)
        item = KvItem(record_key(NODE_NS, "unlisted"), b"msgpack\x00" + _unlisted_type_payload())
        engine._core.backend.execute(KvPut(engine.namespace, table_for("langgraph"), (item,), 0.0))
        found = cache.get([(NODE_NS, "unlisted")])
        assert CALLS == []  # nothing named by the entry was imported or called
        assert found == {}  # and the refused entry is a miss, not inert data fed to the graph

    def test_graph_skips_a_cached_node(self, engine: Engine, mode: str, clock: FakeClock) -> None:
        from langgraph.graph import END, START, StateGraph
        from langgraph.types import CachePolicy

        from ..langgraph import LixNodeCache

        runs: list[str] = []

        def answer(state: _State) -> dict[str, str]:
            runs.append(state["question"])
            return {"answer": state["question"].upper()}

        builder = StateGraph(_State)
        builder.add_node("answer", answer, cache_policy=CachePolicy(ttl=60))
        builder.add_edge(START, "answer")
        builder.add_edge("answer", END)
        graph = builder.compile(cache=LixNodeCache(engine))

        def invoke(question: str) -> Any:
            state: _State = {"question": question, "answer": ""}
            if mode == "sync":
                return graph.invoke(state)
            return asyncio.run(graph.ainvoke(state))

        assert invoke("why?")["answer"] == "WHY?"
        assert invoke("why?")["answer"] == "WHY?"
        assert runs == ["why?"]  # the second invoke took the node's writes from the cache
        invoke("how?")
        assert runs == ["why?", "how?"]
        clock.advance(61)
        invoke("why?")
        assert runs == ["why?", "how?", "why?"]  # expired after the policy's TTL
        graph.clear_cache()
        invoke("why?")
        assert runs == ["why?", "how?", "why?", "why?"]


CALLS: list[object] = []


def record_call(*args: object) -> str:
    """What a tampered entry names; strict deserialization must never call it."""
    CALLS.append(args)
    return "executed"


def _unlisted_type_payload() -> bytes:
    """msgpack naming a callable outside LangGraph's allow-list (strict mode must not call it)."""
    import ormsgpack

    # LangGraph's ext format: (module, name, args) under ext code 0 (a constructor call on load).
    return ormsgpack.packb(ormsgpack.Ext(0, ormsgpack.packb((__name__, "record_call", ["called"]))))
