"""The key-value tier's pure parts and its engine facades (the adapter battery is in test_llama_index_kvstore)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from lix_integrations import AsyncEngine, ConfigError, Engine, EngineConfig, SerializationError
from lix_integrations.kernel.ops import KvPut
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.kv import KvConfig, decode_value, encode_value, table_for


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://kvtier-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path}/kv.db"


@pytest.mark.parametrize(
    "bad", [{"ttl": 0}, {"ttl": -1}, {"ttl": float("inf")}, {"ttl": True}, {"max_value_bytes": 0}]
)
def test_kv_config_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        KvConfig(**bad)  # type: ignore[arg-type]


def test_engine_config_carries_a_kv_config() -> None:
    assert EngineConfig().kv == KvConfig()
    assert EngineConfig(kv=KvConfig(ttl=5)).with_overrides(kv=None).kv.ttl == 5
    with pytest.raises(ConfigError, match="KvConfig"):
        Engine("memory://", embedder=FakeEmbedder(), config=EngineConfig(kv="nope"))  # type: ignore[arg-type]


def test_tables_are_prefixed_and_distinct() -> None:
    assert table_for("docstore/data") == "kv:docstore/data"
    assert len({table_for(c) for c in ["a", "a/", "a/b", "a:b"]}) == 4


def test_values_are_json_and_only_json() -> None:
    raw = encode_value("k", {"a": [1, 2.5, None, "é"]}, 1000)
    assert raw == '{"a":[1,2.5,null,"é"]}'.encode()
    assert decode_value("c", "k", raw) == {"a": [1, 2.5, None, "é"]}
    with pytest.raises(SerializationError, match="not a JSON object"):
        decode_value("c", "k", b"[1]")
    with pytest.raises(SerializationError, match="not valid JSON"):
        decode_value("c", "k", b"\x80\x04\x95")  # a pickle header is just bad data
    with pytest.raises(ValueError, match="max_value_bytes"):
        encode_value("k", {"a": "x" * 100}, 50)


def test_put_many_yields_one_put_per_batch() -> None:
    engine = Engine("memory://", embedder=FakeEmbedder())
    flow = engine._core.kv.put_many("c", [(str(i), {"i": i}) for i in range(10)], batch_size=4)
    ops = []
    op = next(flow)
    try:
        while True:
            ops.append(op)
            op = flow.send(None)
    except StopIteration:
        pass
    assert [len(o.items) for o in ops if isinstance(o, KvPut)] == [4, 4, 2]


def test_sync_and_async_facades_share_data_and_stats(url: str) -> None:
    engine = Engine(url, embedder=FakeEmbedder())
    aio: AsyncEngine = engine.aio
    engine.kv.put("k", {"v": 1}, "c")
    assert asyncio.run(aio.kv.get("k", "c")) == {"v": 1}
    asyncio.run(aio.kv.put_many([("a", {}), ("b", {})], "c", batch_size=1))
    assert engine.kv.keys("c") == ["a", "b", "k"]
    assert engine.kv.get_many(["a", "zz", "k"], "c") == [{}, None, {"v": 1}]
    assert asyncio.run(aio.kv.delete_many(["a", "zz"], "c")) == 1
    assert asyncio.run(aio.kv.clear("c")) == 2
    stats = engine.stats()
    assert stats.kv is not None and stats.kv.put_batches == 3 and stats.kv.misses == 1
    assert stats.to_dict()["kv"]["puts"] == 3
    engine.reset_stats()
    assert engine.kv.stats().puts == 0
