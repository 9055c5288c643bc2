"""Issue 14: ``LixKVStore.put("k", {"x": float("nan")})`` was accepted (sessions refuse NaN). A value JSON cannot
hold portably is refused with ``InvalidInputError`` naming the key, the stored value is untouched, and values
written that way by earlier versions stay readable."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from lix_integrations import InvalidInputError
from lix_integrations.kernel.ops import KvItem, KvPut
from lix_integrations.llama_index import LixKVStore
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.kv import table_for

BAD = [float("nan"), float("inf"), -float("inf")]


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://kv-nan-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path}/kv.db"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("shape", ["top", "nested", "list"])
def test_put_refuses_nan_and_infinities(url: str, mode: str, bad: float, shape: str) -> None:
    store = LixKVStore(url=url, embedder=FakeEmbedder())
    value: dict[str, Any] = {
        "top": {"x": bad},
        "nested": {"a": {"b": [1, {"c": bad}]}},
        "list": {"x": [1.0, bad]},
    }[shape]
    store.put("k", {"x": 1})
    with pytest.raises(InvalidInputError, match=r"'k'.*NaN or an infinity"):
        if mode == "sync":
            store.put("k", value)
        else:
            asyncio.run(store.aput("k", value))
    with pytest.raises(InvalidInputError, match="'b'"):
        store.put_all([("a", {"v": 1}), ("b", value)])
    assert store.get("k") == {"x": 1}  # nothing already stored is lost
    assert store.get("a") is None  # a batch with a bad pair stores nothing


def test_values_stored_with_nan_by_earlier_versions_stay_readable(url: str) -> None:
    store = LixKVStore(url=url, embedder=FakeEmbedder())
    engine = store._engine
    item = KvItem("old", b'{"x":NaN,"y":Infinity}')
    engine._core.backend.execute(KvPut(engine.namespace, table_for("data"), (item,), time.time()))
    value = store.get("old")
    assert value is not None and math.isnan(value["x"]) and value["y"] == math.inf
