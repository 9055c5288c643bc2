"""``LixCheckpointSaver``: LangGraph's ``BaseCheckpointSaver`` on the lix engine's checkpoint tier.

One class serves both kinds of callers (``graph.invoke`` and ``await graph.ainvoke``): the sync methods run the
tier's flows on the engine's blocking driver, the async ones on its awaiting driver, so there is no separate async
saver to pick and no "use the async saver" error. The adapter translates and delegates: LangGraph's objects
become typed bytes through the (strict) serializer, list values go item by item so each message is stored once,
and every storage decision (keys, versions, retention, tombstones) is the tier's.

Any backend: ``LixCheckpointSaver(url="sqlite:///agent.db")``, ``url="redis://..."``, ``"valkey://..."``, a Cluster
(``redis://...?cluster=true``), ``"memory://"``, or ``engine=`` an engine shared with other adapters.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ..engine.engine import AsyncEngine, Engine
from ..engine.public import BlobValue, CheckpointConfig, ListValue, NewCheckpoint, StoredCheckpoint, Typed
from ..engine.resolve import resolve_engines
from ..errors import InvalidInputError
from ._serde import ItemMemo, strict_serializer

__all__ = ["LixCheckpointSaver"]

logger = logging.getLogger(__name__)


def version_token(version: Any) -> str:
    """A channel version as a string key part that sorts like the versions (ints zero-padded)."""
    if isinstance(version, bool):
        raise InvalidInputError(f"channel version must be a str, int or float, got {version!r}")
    if isinstance(version, int):
        return f"i{version:020d}" if version >= 0 else f"n{version}"
    if isinstance(version, float):
        return f"f{version!r}"
    if isinstance(version, str):
        return "s" + version
    raise InvalidInputError(f"channel version must be a str, int or float, got {type(version).__name__}")


def _configurable(config: RunnableConfig) -> dict[str, Any]:
    conf = config.get("configurable") if isinstance(config, dict) else None
    if not isinstance(conf, dict) or "thread_id" not in conf:
        raise InvalidInputError('a checkpointer config needs {"configurable": {"thread_id": ...}}')
    return conf


def _thread(conf: dict[str, Any]) -> str:
    thread_id = conf["thread_id"]
    return thread_id if isinstance(thread_id, str) else str(thread_id)


class LixCheckpointSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer (``create_agent(..., checkpointer=LixCheckpointSaver(url))``).

    ``engine``: an `Engine` / `AsyncEngine` to share, a URL, or
    ``None`` for the embedded default store; ``engine_options`` configure an engine built from a URL.
    Retention: ``ttl`` (seconds after the last put, or read with ``refresh_on_read``), ``keep_last`` checkpoints
    per thread namespace, ``tombstone_grace`` (seconds a deleted thread refuses late writes of its old runs).
    ``serde`` defaults to LangGraph's ``JsonPlusSerializer`` in strict mode that raises on disallowed types; use
    ``saver.with_allowlist([...])`` to allow your own state classes.
    """

    def __init__(
        self,
        engine: Engine | AsyncEngine | str | None = None,
        *,
        ttl: float | None = None,
        refresh_on_read: bool = False,
        keep_last: int | None = None,
        tombstone_grace: float = 600.0,
        hot_window: int | None = 50,
        serde: SerializerProtocol | None = None,
        **engine_options: Any,
    ) -> None:
        super().__init__(serde=serde or strict_serializer())
        config = CheckpointConfig(
            ttl=ttl,
            refresh_on_read=refresh_on_read,
            keep_last=keep_last,
            tombstone_grace=tombstone_grace,
            hot_window=hot_window,
        )
        self._owns_engine = not isinstance(engine, (Engine, AsyncEngine))
        self._engine, _ = resolve_engines(engine, engine_options)
        self._store = self._engine.checkpoints.configured(config)
        self._astore = self._store.aio
        self._memo = ItemMemo(self.serde)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> LixCheckpointSaver:
        """A clone whose serializer also revives ``extra_allowlist`` types; it keeps its own decoded items."""
        clone = super().with_allowlist(extra_allowlist)
        if clone is not self:
            clone._memo = ItemMemo(clone.serde)  # type: ignore[attr-defined]
        return clone  # type: ignore[return-value]

    # -- translation -----------------------------------------------------------------------------------------

    def _value(self, value: Any) -> BlobValue:
        if type(value) is list:
            return ListValue(self._memo.dumps_list(value))
        return Typed(*self.serde.dumps_typed(value))

    def _new(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> NewCheckpoint:
        conf = _configurable(config)
        c = checkpoint.copy()
        values: dict[str, Any] = c.pop("channel_values")  # type: ignore[misc]
        md = get_checkpoint_metadata(config, metadata)
        run_id = md.get("run_id")
        return NewCheckpoint(
            thread_id=_thread(conf),
            ns=conf.get("checkpoint_ns", "") or "",
            checkpoint_id=checkpoint["id"],
            parent_id=conf.get("checkpoint_id"),
            checkpoint=Typed(*self.serde.dumps_typed(c)),
            metadata=Typed(*self.serde.dumps_typed(md)),
            versions={ch: version_token(v) for ch, v in checkpoint["channel_versions"].items()},
            blobs={
                ch: (version_token(v), self._value(values[ch]) if ch in values else None)
                for ch, v in new_versions.items()
            },
            run_id=run_id if isinstance(run_id, str) and run_id else None,
        )

    def _load(self, value: Typed) -> Any:
        return self.serde.loads_typed((value.type, value.data))

    def _tuple(self, stored: StoredCheckpoint) -> CheckpointTuple:
        checkpoint: Checkpoint = self._load(stored.checkpoint)
        values = {
            ch: self._memo.loads_list(v) if isinstance(v, tuple) else self._load(v)
            for ch, v in stored.values.items()
        }
        base = {"thread_id": stored.thread_id, "checkpoint_ns": stored.ns}
        return CheckpointTuple(
            config={"configurable": {**base, "checkpoint_id": stored.checkpoint_id}},
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self._load(stored.metadata),
            parent_config=(
                {"configurable": {**base, "checkpoint_id": stored.parent_id}} if stored.parent_id else None
            ),
            pending_writes=[(w.task_id, w.channel, self._load(w.value)) for w in stored.writes],
        )

    def _writes(self, writes: Sequence[tuple[str, Any]]) -> list[tuple[str, Typed, int]]:
        return [
            (channel, Typed(*self.serde.dumps_typed(value)), WRITES_IDX_MAP.get(channel, idx))
            for idx, (channel, value) in enumerate(writes)
        ]

    def _filter(self, filter: dict[str, Any] | None) -> Any:
        if not filter:
            return None

        def keep(metadata: Typed) -> bool:
            md = self._load(metadata)
            return all(md.get(key) == value for key, value in filter.items())

        return keep

    def _history_args(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> dict[str, Any]:
        """``list``'s arguments as ``engine.checkpoints.history``'s (which pages the threads and counts ``limit``)."""
        conf = _configurable(config) if config is not None else {}
        return {
            "thread_id": _thread(conf) if config is not None else None,
            "ns": conf.get("checkpoint_ns"),
            "checkpoint_id": conf.get("checkpoint_id"),
            "before": get_checkpoint_id(before) if before else None,
            "limit": limit,
            "keep": self._filter(filter),
        }

    @staticmethod
    def _prune_keep(strategy: str) -> int | None:
        if strategy == "keep_latest":
            return 1
        if strategy == "delete":
            return None
        raise InvalidInputError(f'prune strategy must be "keep_latest" or "delete", got {strategy!r}')

    @staticmethod
    def _saved(config: RunnableConfig, checkpoint: Checkpoint, kept: bool) -> RunnableConfig:
        conf = _configurable(config)
        if not kept:
            logger.warning("checkpoint %s was not saved: its thread was deleted", checkpoint["id"])
        return {
            "configurable": {
                "thread_id": _thread(conf),
                "checkpoint_ns": conf.get("checkpoint_ns", "") or "",
                "checkpoint_id": checkpoint["id"],
            }
        }

    # -- sync ------------------------------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = _configurable(config)
        stored = self._store.get(
            _thread(conf), conf.get("checkpoint_ns", "") or "", get_checkpoint_id(config)
        )
        return None if stored is None else self._tuple(stored)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        for stored in self._store.history(**self._history_args(config, filter, before, limit)):
            yield self._tuple(stored)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        kept = self._store.put(self._new(config, checkpoint, metadata, new_versions))
        return self._saved(config, checkpoint, kept)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        conf = _configurable(config)
        self._store.put_writes(
            _thread(conf),
            conf.get("checkpoint_ns", "") or "",
            conf["checkpoint_id"],
            self._writes(writes),
            task_id,
            task_path,
        )

    def delete_thread(self, thread_id: str) -> None:
        self._store.delete_thread(str(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._store.delete_for_runs(list(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._store.copy_thread(str(source_thread_id), str(target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        keep = self._prune_keep(strategy)
        for thread_id in thread_ids:
            self._store.prune(str(thread_id), keep)

    def get_next_version(self, current: str | None, channel: None = None) -> str:
        """Zero-padded counter plus a random suffix (as LangGraph's own savers), so versions sort as strings."""
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # -- async -----------------------------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = _configurable(config)
        stored = await self._astore.get(
            _thread(conf), conf.get("checkpoint_ns", "") or "", get_checkpoint_id(config)
        )
        return None if stored is None else self._tuple(stored)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for stored in await self._astore.history(**self._history_args(config, filter, before, limit)):
            yield self._tuple(stored)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        kept = await self._astore.put(self._new(config, checkpoint, metadata, new_versions))
        return self._saved(config, checkpoint, kept)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        conf = _configurable(config)
        await self._astore.put_writes(
            _thread(conf),
            conf.get("checkpoint_ns", "") or "",
            conf["checkpoint_id"],
            self._writes(writes),
            task_id,
            task_path,
        )

    async def adelete_thread(self, thread_id: str) -> None:
        await self._astore.delete_thread(str(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._astore.delete_for_runs(list(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._astore.copy_thread(str(source_thread_id), str(target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        keep = self._prune_keep(strategy)
        for thread_id in thread_ids:
            await self._astore.prune(str(thread_id), keep)

    # -- retention ---------------------------------------------------------------------------------------------

    def sweep_expired(self) -> int:
        """Delete the threads whose ``ttl`` ran out (they already read as empty); returns how many went."""
        return self._store.sweep_expired()

    async def asweep_expired(self) -> int:
        return await self._astore.sweep_expired()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the engine if this saver built it from a URL (a shared engine stays open)."""
        if self._owns_engine:
            self._engine.close()

    def __enter__(self) -> LixCheckpointSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LixCheckpointSaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
