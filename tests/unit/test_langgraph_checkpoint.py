"""LixCheckpointSaver beyond the conformance suite: real agents (sync and async on one saver), storage that grows
linearly, retention (ttl on a fake clock, keep_last), tombstones against a racing writer, strict and
tamper-refusing deserialization, and the tier's pure key layout."""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph

from lix_integrations import Engine, SerializationError
from lix_integrations.errors import ConfigError, InvalidIdError
from lix_integrations.langgraph import LixCheckpointSaver
from lix_integrations.testing import FakeClock
from lix_integrations.testing.agent_threads import build_agent, text, write_thread
from lix_integrations.tiers.checkpoint_records import invert_id, key_part, uninvert_id
from lix_integrations.tiers.checkpoints import THREADS_TABLE, CheckpointConfig

BACKENDS = ["memory", "sqlite"]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'cp.db'}"


def cfg(thread_id: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, **extra}}


def _put(
    saver: LixCheckpointSaver, thread_id: str, parent: dict[str, Any] | None, messages: list[Any]
) -> Any:
    checkpoint = empty_checkpoint()
    version = saver.get_next_version(None, None)
    checkpoint["channel_values"] = {"messages": messages}
    checkpoint["channel_versions"] = {"messages": version}
    config = cfg(thread_id, checkpoint_ns="")
    if parent is not None:
        config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
    return saver.put(config, checkpoint, {"source": "loop", "step": 0, "parents": {}}, {"messages": version})


# -- real agents ----------------------------------------------------------------------------------------------


def test_an_agent_resumes_its_thread_through_a_new_saver(url: str) -> None:
    shared = Engine(url) if url.startswith("memory") else None  # a memory store lives as long as its engine
    saver = LixCheckpointSaver(shared) if shared else LixCheckpointSaver(url=url)
    agent = build_agent(saver)
    agent.invoke({"messages": [HumanMessage("first question")]}, cfg("t1"))
    agent.invoke({"messages": [HumanMessage("second question")]}, cfg("t1"))
    saver.close()

    again = LixCheckpointSaver(shared) if shared else LixCheckpointSaver(url=url)
    state = build_agent(again).get_state(cfg("t1"))
    contents = [m.content for m in state.values["messages"] if isinstance(m, HumanMessage)]
    assert contents == ["first question", "second question"]
    assert [type(m).__name__ for m in state.values["messages"]][:4] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert again.get_tuple(cfg("other thread")) is None
    again.close()


def test_one_saver_serves_sync_and_async_callers(url: str) -> None:
    saver = LixCheckpointSaver(url=url)
    agent = build_agent(saver)
    agent.invoke({"messages": [HumanMessage("sync turn")]}, cfg("mixed"))

    async def async_turn() -> Any:
        await agent.ainvoke({"messages": [HumanMessage("async turn")]}, cfg("mixed"))
        return await saver.aget_tuple(cfg("mixed"))

    latest = asyncio.run(async_turn())
    humans = [
        m.content for m in latest.checkpoint["channel_values"]["messages"] if isinstance(m, HumanMessage)
    ]
    assert humans == ["sync turn", "async turn"]
    assert len(list(saver.list(cfg("mixed")))) == len(asyncio.run(_alist(saver, cfg("mixed"))))
    saver.close()


async def _alist(saver: LixCheckpointSaver, config: Any, **kw: Any) -> list[Any]:
    return [t async for t in saver.alist(config, **kw)]


def test_every_checkpoint_of_the_history_reads_back_whole(url: str) -> None:
    """Time travel: each stored checkpoint holds exactly the messages it had when written."""
    saver = LixCheckpointSaver(url=url)
    write_thread(saver, "history", turns=5, words=20)
    history = list(saver.list(cfg("history")))
    lengths = [len(t.checkpoint["channel_values"].get("messages", [])) for t in history]
    assert lengths == sorted(lengths, reverse=True) and lengths[0] > lengths[-1]
    for tup in history:
        again = saver.get_tuple(tup.config)
        assert again is not None and again.checkpoint == tup.checkpoint
        assert again.parent_config == tup.parent_config
    saver.close()


def test_delta_channel_history_walks_the_parent_chain(url: str) -> None:
    saver = LixCheckpointSaver(url=url)
    write_thread(saver, "delta", turns=2, words=10)
    latest = saver.get_tuple(cfg("delta"))
    assert latest is not None
    history = saver.get_delta_channel_history(config=latest.config, channels=["messages"])
    assert "seed" in history["messages"]
    saver.close()


# -- storage grows linearly -----------------------------------------------------------------------------------


def _scan(engine: Engine, table: str) -> int:
    from lix_integrations.kernel.ops import KvScan

    core = engine._core  # tests may look at what is stored
    return sum(
        len(k) + len(v) for k, v in core.run(_one(KvScan(core.config.namespace, table, core.clock.now())))
    )


def _one(op: Any) -> Any:
    result = yield op
    return result


def test_each_message_is_stored_once_however_many_checkpoints_hold_it() -> None:
    engine = Engine("memory://")
    saver = LixCheckpointSaver(engine)
    write_thread(saver, "short", turns=10)
    write_thread(saver, "long", turns=40)
    short, long = _scan(engine, "lg/short"), _scan(engine, "lg/long")
    # 4x the turns: linear storage is ~4x (plus 8 bytes per message per version); the whole-list layout is ~16x.
    assert long < 5.5 * short
    history = list(saver.list(cfg("long")))
    whole_lists = sum(
        len(JsonPlusSerializer().dumps_typed(t.checkpoint["channel_values"].get("messages", []))[1])
        for t in history
    )
    assert long < whole_lists / 10  # what storing every checkpoint's message list whole would take
    engine.close()


def test_an_unchanged_message_is_not_serialized_again() -> None:
    saver = LixCheckpointSaver(url="memory://")
    write_thread(saver, "reuse", turns=6)
    stats = saver._store._tier.stats
    assert stats.items_reused > 3 * stats.items_written
    saver.close()


# -- retention ------------------------------------------------------------------------------------------------


def test_ttl_expires_a_thread_after_its_last_put_and_sweep_frees_it(url: str) -> None:
    clock = FakeClock()
    saver = LixCheckpointSaver(url=url, ttl=60, clock=clock)
    first = _put(saver, "ttl", None, [HumanMessage("hi", id="1")])
    clock.advance(50)
    _put(saver, "ttl", first, [HumanMessage("hi", id="1"), AIMessage("yo", id="2")])
    _put(saver, "kept", None, [HumanMessage("other", id="3")])
    clock.advance(50)  # 100 s after the first put, 50 s after the last
    assert saver.get_tuple(cfg("ttl")) is not None
    clock.advance(11)
    assert saver.get_tuple(cfg("ttl")) is None
    assert list(saver.list(cfg("ttl"))) == []
    assert saver.sweep_expired() == 2
    assert [t.thread_id for t in saver._store.threads()] == []
    saver.close()


def test_ttl_refreshes_on_read_when_asked(url: str) -> None:
    clock = FakeClock()
    saver = LixCheckpointSaver(url=url, ttl=60, refresh_on_read=True, clock=clock)
    _put(saver, "read", None, [HumanMessage("hi", id="1")])
    for _ in range(5):
        clock.advance(40)
        assert saver.get_tuple(cfg("read")) is not None
    clock.advance(61)
    assert saver.get_tuple(cfg("read")) is None
    saver.close()


def test_keep_last_keeps_the_newest_checkpoints_and_their_values(url: str) -> None:
    saver = LixCheckpointSaver(url=url, keep_last=3)
    write_thread(saver, "keep", turns=6, words=15)
    history = list(saver.list(cfg("keep")))
    assert len(history) == 3
    assert history[0].checkpoint["id"] == saver.get_tuple(cfg("keep")).checkpoint["id"]
    for tup in history:  # every kept checkpoint is whole: nothing it references was collected
        assert len(tup.checkpoint["channel_values"]["messages"]) >= 16
    saver.close()


def test_prune_collects_values_nothing_references(url: str) -> None:
    engine = Engine(url)
    saver = LixCheckpointSaver(engine)
    write_thread(saver, "prune", turns=8, words=50)
    before = _scan(engine, "lg/prune")
    saver.prune(["prune"], strategy="keep_latest")
    after = _scan(engine, "lg/prune")
    assert after < before / 2
    latest = saver.get_tuple(cfg("prune"))
    assert (
        len([m for m in latest.checkpoint["channel_values"]["messages"] if isinstance(m, HumanMessage)]) == 8
    )
    saver.prune(["prune"], strategy="delete")
    assert saver.get_tuple(cfg("prune")) is None
    with pytest.raises(ValueError, match="strategy"):
        saver.prune(["prune"], strategy="keep_some")
    engine.close()


def test_retention_settings_are_validated() -> None:
    bads: list[dict[str, Any]] = [{"ttl": 0}, {"ttl": -1}, {"keep_last": 0}, {"keep_last": 1.5}]
    bads += [{"tombstone_grace": -1}, {"hot_window": 0}, {"hot_window": True}, {"hot_window": "50"}]
    for bad in bads:
        with pytest.raises(ConfigError):
            CheckpointConfig(**bad)


# -- tombstones -----------------------------------------------------------------------------------------------


def test_a_late_write_cannot_resurrect_a_deleted_thread(url: str) -> None:
    saver = LixCheckpointSaver(url=url)
    first = _put(saver, "gone", None, [HumanMessage("a", id="1")])
    saver.delete_thread("gone")
    late = _put(saver, "gone", first, [HumanMessage("a", id="1"), AIMessage("late", id="2")])
    saver.put_writes(first, [("messages", AIMessage("late write"))], task_id="task")
    assert late["configurable"]["checkpoint_id"]
    assert saver.get_tuple(cfg("gone")) is None
    assert list(saver.list(cfg("gone"))) == []
    assert not saver._store._tier._items.get("lg/gone", [k for (_, k) in saver._store._tier._items._items])
    # a new history on the same thread id is not late: "clear the chat, keep the thread" works
    _put(saver, "gone", None, [HumanMessage("fresh", id="9")])
    assert saver.get_tuple(cfg("gone")).checkpoint["channel_values"]["messages"][0].content == "fresh"
    saver.close()


def test_the_tombstone_ends_after_its_grace_period(url: str) -> None:
    clock = FakeClock()
    saver = LixCheckpointSaver(url=url, tombstone_grace=30, clock=clock)
    first = _put(saver, "grace", None, [HumanMessage("a", id="1")])
    saver.delete_thread("grace")
    clock.advance(31)
    _put(saver, "grace", first, [HumanMessage("b", id="2")])
    assert saver.get_tuple(cfg("grace")) is not None
    saver.close()


def _race(url: str, thread_id: str, head_start: int, **options: Any) -> None:
    saver = LixCheckpointSaver(url=url, **options)
    parent = _put(saver, thread_id, None, [HumanMessage("start", id="0")])
    deleted = threading.Event()
    after_delete: list[bool] = []

    def writer() -> None:
        nonlocal parent
        messages: list[Any] = [HumanMessage("start", id="0")]
        for n in range(1, 400):
            messages = [*messages, AIMessage(f"step {n}", id=f"m{n}")]
            was_deleted = deleted.is_set()
            parent = _put(saver, thread_id, parent, messages)
            saver.put_writes(parent, [("messages", AIMessage("w"))], task_id=f"t{n}")
            if was_deleted:
                after_delete.append(True)
                if len(after_delete) > 20:
                    return

    thread = threading.Thread(target=writer)
    thread.start()
    while True:
        latest = saver.get_tuple(cfg(thread_id))
        if latest is not None and len(latest.checkpoint["channel_values"]["messages"]) >= head_start:
            break
    saver.delete_thread(thread_id)
    deleted.set()
    thread.join(timeout=60)
    assert after_delete, "the writer kept writing after the delete"
    assert saver.get_tuple(cfg(thread_id)) is None
    assert list(saver.list(cfg(thread_id))) == []
    assert saver._store._tier.stats.refused_late_writes > 0
    saver.close()


def test_a_racing_writer_never_revives_a_deleted_thread(url: str) -> None:
    """A run keeps checkpointing while another caller deletes its thread: whatever the interleaving, once the
    delete has returned, the old run's later writes are refused and the thread stays empty."""
    for attempt in range(5):
        _race(url, f"race-{attempt}", 3 + attempt * 5)


# -- serialization safety -------------------------------------------------------------------------------------


@dataclass
class Smuggled:
    payload: str


def test_a_type_outside_the_allow_list_is_refused_with_a_clear_error(url: str) -> None:
    engine = Engine(url)
    permissive = LixCheckpointSaver(engine, serde=JsonPlusSerializer(allowed_msgpack_modules=True))
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"state": Smuggled("rm -rf")}
    checkpoint["channel_versions"] = {"state": "1"}
    permissive.put(cfg("evil", checkpoint_ns=""), checkpoint, {"source": "loop", "step": 0}, {"state": "1"})

    strict = LixCheckpointSaver(engine)
    with pytest.raises(SerializationError, match="Smuggled"):
        strict.get_tuple(cfg("evil"))
    allowed = strict.with_allowlist([(Smuggled.__module__, "Smuggled")])
    assert allowed.get_tuple(cfg("evil")).checkpoint["channel_values"]["state"].payload == "rm -rf"
    engine.close()


def test_a_tampered_record_is_refused_never_decoded(url: str) -> None:
    from lix_integrations.kernel.ops import KvItem, KvPut, KvScan

    engine = Engine(url)
    saver = LixCheckpointSaver(engine)
    write_thread(saver, "tamper", turns=1, words=5)
    core = engine._core
    ns = core.config.namespace
    records = core.run(_one(KvScan(ns, "lg/tamper", core.clock.now())))
    for key, raw in records:
        if key.startswith("i\x1f\x1fmessages\x1f"):  # a message: flip a byte inside its payload
            bad = raw[:-3] + bytes([raw[-3] ^ 0x55]) + raw[-2:]
            core.run(_one(KvPut(ns, "lg/tamper", (KvItem(key, bad),), core.clock.now())))
            break
    # (the writer keeps the messages it wrote in memory; a reader that takes them from the store checks them)
    with pytest.raises(SerializationError, match="tampered"):
        LixCheckpointSaver(engine).get_tuple(cfg("tamper"))
    for key, raw in records:
        if key.startswith("c\x1f"):  # a checkpoint record cut short
            core.run(_one(KvPut(ns, "lg/tamper", (KvItem(key, raw[:-7]),), core.clock.now())))
    with pytest.raises(SerializationError, match="corrupt or was tampered"):
        list(saver.list(cfg("tamper")))
    engine.close()


def test_pickled_values_are_never_revived(url: str) -> None:
    engine = Engine(url)
    pickler = LixCheckpointSaver(engine, serde=JsonPlusSerializer(pickle_fallback=True))
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"state": "x"}
    checkpoint["channel_versions"] = {"state": "1"}
    pickler.put(cfg("pickle", checkpoint_ns=""), checkpoint, {"source": "loop", "step": 0}, {"state": "1"})
    from lix_integrations.kernel.ops import KvItem, KvPut, KvScan
    from lix_integrations.tiers.checkpoint_records import pack

    core = engine._core
    ns = core.config.namespace
    for key, _ in core.run(_one(KvScan(ns, "lg/pickle", core.clock.now()))):
        if key.startswith("b\x1f"):
            blob = pack(b"v", b"pickle", b"\x80\x04K\x01.")
            core.run(_one(KvPut(ns, "lg/pickle", (KvItem(key, blob),), core.clock.now())))
    with pytest.raises(SerializationError, match="refused"):
        LixCheckpointSaver(engine).get_tuple(cfg("pickle"))
    engine.close()


# -- ids and keys ---------------------------------------------------------------------------------------------


def test_inverted_ids_sort_in_reverse() -> None:
    ids = ["1", "10", "1ef-00", "1ef-01", "1f0", "2", "a", "ab", "b", "~", " x"]
    inverted = sorted(invert_id(i) for i in ids)
    assert [uninvert_id(p) for p in inverted] == sorted(ids, reverse=True)
    with pytest.raises(InvalidIdError):
        invert_id("caf\u00e9")


def test_key_parts_hold_no_capital_and_no_separator() -> None:
    assert key_part("Ns\x1f%x") == "%4Es%1F%25x"
    assert key_part("plain:ns|1") == "plain:ns|1"


def test_namespaces_differing_only_in_case_stay_apart(url: str) -> None:
    saver = LixCheckpointSaver(url=url)
    namespaces = ("Sub", "sub", "p%41", "pA", "x\x1fy")
    for ns in namespaces:
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"v": ns}
        checkpoint["channel_versions"] = {"v": "1"}
        saver.put(cfg("case", checkpoint_ns=ns), checkpoint, {"source": "loop", "step": 0}, {"v": "1"})
    for ns in namespaces:
        found = list(saver.list(cfg("case", checkpoint_ns=ns)))
        assert [t.checkpoint["channel_values"]["v"] for t in found] == [ns]
        latest = saver.get_tuple(cfg("case", checkpoint_ns=ns))
        assert (
            latest.checkpoint["channel_values"]["v"] == ns
            and latest.config["configurable"]["checkpoint_ns"] == ns
        )
        by_id = saver.get_tuple(latest.config)
        assert by_id.checkpoint["channel_values"]["v"] == ns and by_id.config == latest.config
    saver.close()


def test_bad_thread_ids_are_refused_before_anything_is_stored() -> None:
    saver = LixCheckpointSaver(url="memory://")
    with pytest.raises(InvalidIdError):
        saver.get_tuple(cfg("bad\x00id"))
    with pytest.raises(ValueError, match="thread_id"):
        saver.get_tuple({"configurable": {}})
    saver.close()


def test_threads_are_indexed_for_listing_without_a_config() -> None:
    saver = LixCheckpointSaver(url="memory://")
    _put(saver, "a", None, [HumanMessage("x", id="1")])
    _put(saver, "b", None, [HumanMessage("y", id="2")])
    assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {"a", "b"}
    assert THREADS_TABLE.startswith("lg-index/")
    saver.close()


def test_an_id_is_never_confused_with_another_thread(url: str) -> None:
    saver = LixCheckpointSaver(url=url)
    ids = ["a", "a/b", "a%2Fb", "{a}", "A", "a\x1fb", str(uuid.uuid4()), text(3, 1)]
    for i, thread_id in enumerate(ids):
        _put(saver, thread_id, None, [HumanMessage(f"m{i}", id=str(i))])
    for i, thread_id in enumerate(ids):
        msgs = saver.get_tuple(cfg(thread_id)).checkpoint["channel_values"]["messages"]
        assert [m.content for m in msgs] == [f"m{i}"]
    saver.close()


def test_a_thread_deleted_by_another_saver_is_written_whole_again(url: str) -> None:
    """The writer's memory of stored messages is stale after someone else deleted the thread: it writes them again."""
    engine = Engine(url)
    writer, other = LixCheckpointSaver(engine, tombstone_grace=0), LixCheckpointSaver(engine)
    first = [HumanMessage("x", id="1")]
    _put(writer, "elsewhere", None, first)
    other.delete_thread("elsewhere")
    _put(writer, "elsewhere", None, [*first, AIMessage("y", id="2")])
    messages = other.get_tuple(cfg("elsewhere")).checkpoint["channel_values"]["messages"]
    assert [m.content for m in messages] == ["x", "y"]
    engine.close()


def _extend(state: list[str] | None, writes: list[list[str]]) -> list[str]:
    out = list(state or [])
    for w in writes:
        out.extend(w)
    return out


class DeltaState(TypedDict):
    log: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=3)]


def _step(state: DeltaState) -> dict[str, list[str]]:
    return {"log": [f"step {len(state.get('log') or [])}"]}


def test_a_delta_channel_rebuilds_its_value_from_stored_writes(url: str) -> None:
    """LangGraph's DeltaChannel keeps only a sentinel in most checkpoints and replays ancestor writes (walked
    through get_tuple/parent_config, pending writes in writes_sort_key order) from the last snapshot."""
    builder = StateGraph(DeltaState)
    builder.add_node("step", _step)
    builder.add_edge(START, "step")
    builder.add_edge("step", END)
    shared = Engine(url) if url.startswith("memory") else None
    saver = LixCheckpointSaver(shared) if shared else LixCheckpointSaver(url=url)
    graph = builder.compile(checkpointer=saver)
    for i in range(7):
        graph.invoke({"log": [f"input {i}"]}, cfg("delta-graph"))
    expected = graph.get_state(cfg("delta-graph")).values["log"]
    assert len(expected) == 14 and expected[:2] == ["input 0", "step 1"]
    saver.close()
    again = builder.compile(
        checkpointer=(LixCheckpointSaver(shared) if shared else LixCheckpointSaver(url=url))
    )
    assert again.get_state(cfg("delta-graph")).values["log"] == expected
