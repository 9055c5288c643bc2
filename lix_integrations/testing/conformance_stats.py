"""Statistics every backend must report the same way: ``reset_stats()`` starts every tier over, and every
eviction is counted (``max_entries`` on any backend, and a store's own bound such as Redis plain mode's
``partition_limit``). Used by tests/unit (memory, SQLite) and tests/integration (Redis, Redis Stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..engine.engine import Engine
from ..tiers.checkpoint_records import NewCheckpoint, Typed
from ..tiers.documents import DocumentWrite
from ..tiers.sessions import SessionConfig
from ..tiers.tools import ToolPolicy, ToolsConfig
from .fakes import FakeEmbedder

__all__ = ["exercise_every_tier", "nonzero_counters"]


def nonzero_counters(value: Any, path: str = "") -> list[str]:
    """Paths of the numbers in a ``stats().to_dict()`` (or a tier's ``to_dict()``) that are not zero."""
    if isinstance(value, dict):
        return [p for k, v in value.items() if k != "namespace" for p in nonzero_counters(v, f"{path}.{k}")]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in nonzero_counters(v, f"{path}[{i}]")]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    return [path] if value else []


def exercise_every_tier(url: str, tmp_path: Path) -> Engine:
    """An engine on ``url`` after one use of each tier (its counters are not zero)."""
    engine = Engine(
        url,
        embedder=FakeEmbedder(),
        sessions=SessionConfig(hot_window=2, archive_batch=2, archive_dir=str(tmp_path / "archive")),
        tools=ToolsConfig(tools={"square": ToolPolicy()}),
    )
    engine.semantic.update("what is the capital of france", "llm", "Paris")
    engine.semantic.lookup("what is the capital of france", "llm")
    engine.semantic.lookup("something else entirely", "llm")
    engine.kv.put("k", {"v": 1}, "c")
    engine.kv.get("k", "c")
    engine.tools.call("square", {"x": 3}, lambda: 9)
    engine.tools.call("square", {"x": 3}, lambda: 9)
    engine.embeddings.embed_documents(["a text", "a text"])
    for i in range(5):
        engine.sessions.add_message("s", {"role": "user", "content": f"m{i}"})
    engine.sessions.get_full_history("s")
    engine.node_cache.get([(("graph",), "key")])
    engine.documents.put_many([DocumentWrite(("users",), "a", {"name": "Ada"})])
    engine.documents.get_many([(("users",), "a", False)])
    empty = Typed("json", b"{}")
    engine.checkpoints.put(NewCheckpoint("thread", "", "1", None, empty, empty, {}, {}))
    return engine
