"""The archive of old checkpoints: a thread longer than its hot window keeps every checkpoint readable (by id and
through ``list``, in order, with its pending writes) in fewer bytes; deleting the thread deletes its archive, and
an archiver that read the thread before a delete cannot write it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import empty_checkpoint

from lix_integrations import Engine
from lix_integrations.kernel.ops import KvPutIf, KvScan, KvUsage
from lix_integrations.langgraph import LixCheckpointSaver
from lix_integrations.testing.agent_threads import write_thread

from .test_langgraph_checkpoint import _race, cfg


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'a.db'}"


def _contents(t: Any) -> list[Any]:
    return [m.content for m in t.checkpoint["channel_values"].get("messages", [])]


def _table(engine: Engine, thread_id: str) -> list[str]:
    core = engine._core  # tests may look at what is stored
    return [
        k for k, _ in core.backend.execute(KvScan(core.config.namespace, f"lg/{thread_id}", core.clock.now()))
    ]


def _bytes(engine: Engine, thread_id: str) -> int:
    core = engine._core
    return int(core.backend.execute(KvUsage(core.config.namespace, f"lg/{thread_id}"))[1])


def check_archive_keeps_every_checkpoint(url: str) -> None:
    """Used on every backend (tests/integration/test_redis_checkpoints.py runs it on Redis and the Cluster)."""
    engine = Engine(url)
    archiving, plain = LixCheckpointSaver(engine, hot_window=4), LixCheckpointSaver(engine)
    write_thread(archiving, "arch", turns=8, words=60)
    write_thread(plain, "flat", turns=8, words=60)
    assert archiving._store._tier.stats.archived >= 20
    assert any(k.startswith("a\x1f") for k in _table(engine, "arch"))
    reader = LixCheckpointSaver(engine)  # a reader needs no archive setting
    archived, flat = list(reader.list(cfg("arch"))), list(reader.list(cfg("flat")))
    assert len(archived) == len(flat) == 32
    ids = [t.config["configurable"]["checkpoint_id"] for t in archived]
    assert ids == sorted(ids, reverse=True)
    for a, f in zip(archived, flat):
        assert _contents(a) == _contents(f)
        assert len(a.pending_writes or []) == len(f.pending_writes or [])
        assert (a.parent_config is None) == (f.parent_config is None)
        one = reader.get_tuple(a.config)
        assert one is not None and one.config == a.config and _contents(one) == _contents(a)
        assert [w[1] for w in one.pending_writes or []] == [w[1] for w in a.pending_writes or []]
    assert [t.config for t in reader.list(cfg("arch"), limit=7)] == [t.config for t in archived[:7]]
    older = list(reader.list(cfg("arch"), before=archived[9].config, limit=5))
    assert [t.config for t in older] == [t.config for t in archived[10:15]]
    assert _contents(reader.get_tuple(cfg("arch"))) == _contents(archived[0])
    assert _bytes(engine, "arch") < 0.6 * _bytes(engine, "flat")
    archiving.delete_thread("arch")
    assert _table(engine, "arch") == ["t"]  # the tombstone, nothing else: no chunk survives
    assert reader.get_tuple(cfg("arch")) is None and list(reader.list(cfg("arch"))) == []
    engine.close()


def test_a_thread_longer_than_its_hot_window_keeps_every_checkpoint(url: str) -> None:
    check_archive_keeps_every_checkpoint(url)


def test_an_archiver_that_read_before_a_delete_cannot_write_the_thread_back(url: str) -> None:
    engine = Engine(url)
    saver = LixCheckpointSaver(engine, hot_window=3)
    write_thread(saver, "gone", turns=1, words=20)  # 4 checkpoints: not yet twice the window
    write_thread(LixCheckpointSaver(engine), "gone", turns=1, words=20)  # now 8, archived on the next check
    tier, backend = saver._store._tier, engine._core.backend
    flow = tier._archive("lg/gone", "")
    op, written = next(flow), None
    try:
        while True:
            if isinstance(op, KvPutIf):
                LixCheckpointSaver(engine).delete_thread(
                    "gone"
                )  # lands between the archiver's read and write
                written = backend.execute(op)
                op = flow.send(written)
            else:
                op = flow.send(backend.execute(op))
    except StopIteration as stop:
        assert stop.value == 0
    assert written is False
    assert _table(engine, "gone") == ["t"]
    assert saver.get_tuple(cfg("gone")) is None
    engine.close()


def test_a_racing_writer_with_an_archive_never_revives_a_deleted_thread(url: str) -> None:
    for attempt in range(3):
        _race(url, f"arace-{attempt}", 4 + attempt * 5, hot_window=2)


def test_keep_last_counts_archived_checkpoints(url: str) -> None:
    saver = LixCheckpointSaver(url=url, keep_last=10, hot_window=3)
    write_thread(saver, "kept", turns=8, words=20)
    history = list(saver.list(cfg("kept")))
    assert len(history) == 10 and saver._store._tier.stats.archived > 0
    assert all(saver.get_tuple(t.config) is not None for t in history)
    assert saver._store.count("kept") == 10
    saver.close()


def test_prune_and_copy_thread_see_archived_checkpoints(url: str) -> None:
    engine = Engine(url)
    saver = LixCheckpointSaver(engine, hot_window=2)
    write_thread(saver, "src", turns=4, words=20)
    source = [_contents(t) for t in saver.list(cfg("src"))]
    total = len(source)
    saver.copy_thread("src", "dst")
    copied = list(saver.list(cfg("dst")))
    assert [_contents(saver.get_tuple(t.config)) for t in copied] == source
    saver.prune(["src"], strategy="keep_latest")
    assert len(list(saver.list(cfg("src")))) == 1
    assert not any(k.startswith("a\x1f") for k in _table(engine, "src"))
    assert len(list(saver.list(cfg("dst")))) == total
    engine.close()


def _put_channels(
    saver: LixCheckpointSaver, thread_id: str, parent: Any, values: dict[str, Any], versions: dict[str, str]
) -> Any:
    """A checkpoint holding ``values`` at ``versions``; only the channels in ``values`` are new at this step."""
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = dict(values)
    checkpoint["channel_versions"] = dict(versions)
    config = cfg(thread_id, checkpoint_ns="")
    if parent is not None:
        config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
    new = {ch: versions[ch] for ch in values}
    return saver.put(config, checkpoint, {"source": "loop", "step": 0, "parents": {}}, new)


def test_a_fork_of_an_archived_checkpoint_keeps_its_values_when_the_archive_goes(url: str) -> None:
    """A fork (a put whose parent was archived) names values that only the parent's chunk held; pruning the
    chunk lost them (get_tuple returned the fork without that channel). Also through copy_thread."""
    check_fork_keeps_its_values(url)


def check_fork_keeps_its_values(url: str) -> None:
    """Used on every backend (tests/integration/test_redis_checkpoints.py runs it on Redis and the Cluster)."""
    engine = Engine(url)
    saver = LixCheckpointSaver(engine, hot_window=2)
    first = _put_channels(
        saver,
        "fork",
        None,
        {"messages": [HumanMessage("m0", id="0")], "profile": {"name": "ada"}},
        {"messages": "1", "profile": "1"},
    )
    parent = _put_channels(
        saver, "fork", first, {"profile": {"name": "bob"}}, {"messages": "1", "profile": "2"}
    )
    for step in range(2, 6):
        parent = _put_channels(
            saver,
            "fork",
            parent,
            {"messages": [HumanMessage(f"m{step}", id=str(step))]},
            {"messages": str(step), "profile": "2"},
        )
    assert saver._store._tier.stats.archived >= 2
    fork = _put_channels(
        saver,
        "fork",
        first,
        {"messages": [HumanMessage("forked", id="f")]},
        {"messages": "9", "profile": "1"},
    )
    saver.copy_thread("fork", "copy")
    saver.prune(["fork", "copy"], strategy="keep_latest")
    for thread_id in ("fork", "copy"):
        assert not any(k.startswith("a\x1f") for k in _table(engine, thread_id))
        for reader in (saver, LixCheckpointSaver(engine)):
            got = reader.get_tuple(cfg(thread_id))
            assert got is not None
            assert got.config["configurable"]["checkpoint_id"] == fork["configurable"]["checkpoint_id"]
            assert got.checkpoint["channel_values"]["profile"] == {"name": "ada"}
            assert _contents(got) == ["forked"]
    engine.close()
