"""``engine.checkpoints``: blocking and awaitable access to the checkpoint tier (LangGraph checkpointers).

One :class:`~lix_integrations.tiers.checkpoints.CheckpointTier` per configuration: ``engine.checkpoints`` uses the
defaults, ``engine.checkpoints.configured(CheckpointConfig(...))`` another retention policy on the same store.
The blocking view and its ``aio`` twin share one tier (its knowledge of stored items and its counters), and run
the same flows through the engine's two drivers, so the sync and async paths of a checkpointer cannot drift.
Store failures raise :class:`~lix_integrations.errors.BackendError`: checkpoints are data, not a cache of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..tiers.checkpoints import (
    CheckpointConfig,
    CheckpointTier,
    NewCheckpoint,
    StoredCheckpoint,
    ThreadInfo,
    Typed,
)

if TYPE_CHECKING:
    from .core import EngineCore

__all__ = ["AsyncCheckpointsAPI", "CheckpointsAPI"]

MetadataFilter = Callable[[Typed], bool]


class _Base:
    def __init__(self, core: EngineCore, tier: CheckpointTier | None = None) -> None:
        self._core = core
        self._tier = tier or CheckpointTier(CheckpointConfig(), core.config.namespace, core.clock)

    @property
    def config(self) -> CheckpointConfig:
        return self._tier.config


class CheckpointsAPI(_Base):
    """Blocking checkpoint operations. Thread ids, namespaces and checkpoint ids are validated before use."""

    def configured(self, config: CheckpointConfig) -> CheckpointsAPI:
        """A view with its own retention policy (``ttl``, ``keep_last``, tombstone grace) on the same store."""
        return CheckpointsAPI(
            self._core, CheckpointTier(config, self._core.config.namespace, self._core.clock)
        )

    @property
    def aio(self) -> AsyncCheckpointsAPI:
        """The awaitable twin, sharing this view's tier."""
        return AsyncCheckpointsAPI(self._core, self._tier)

    def put(self, checkpoint: NewCheckpoint) -> bool:
        """Store a checkpoint; ``False`` if it continued a thread deleted meanwhile (then nothing is kept)."""
        return self._core.run(self._tier.put(checkpoint))

    def put_writes(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        writes: Sequence[tuple[str, Typed, int]],
        task_id: str,
        task_path: str = "",
    ) -> bool:
        return self._core.run(self._tier.put_writes(thread_id, ns, checkpoint_id, writes, task_id, task_path))

    def get(self, thread_id: str, ns: str = "", checkpoint_id: str | None = None) -> StoredCheckpoint | None:
        return self._core.run(self._tier.get(thread_id, ns, checkpoint_id))

    def history(
        self,
        thread_id: str,
        ns: str | None = None,
        *,
        before: str | None = None,
        limit: int | None = None,
        keep: MetadataFilter | None = None,
    ) -> list[StoredCheckpoint]:
        return self._core.run(self._tier.history(thread_id, ns, before=before, limit=limit, keep=keep))

    def delete_thread(self, thread_id: str) -> None:
        self._core.run(self._tier.delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> int:
        return self._core.run(self._tier.delete_for_runs(run_ids))

    def copy_thread(self, source: str, target: str) -> int:
        return self._core.run(self._tier.copy_thread(source, target))

    def prune(self, thread_id: str, keep_latest: int | None) -> int:
        return self._core.run(self._tier.prune(thread_id, keep_latest))

    def threads(self, *, after: str | None = None, limit: int = 1000) -> list[ThreadInfo]:
        return self._core.run(self._tier.threads(after=after, limit=limit))

    def count(self, thread_id: str) -> int:
        return self._core.run(self._tier.count(thread_id))

    def sweep_expired(self) -> int:
        return self._core.run(self._tier.sweep_expired())


class AsyncCheckpointsAPI(_Base):
    """Awaitable checkpoint operations; the same operations as :class:`CheckpointsAPI`."""

    def configured(self, config: CheckpointConfig) -> AsyncCheckpointsAPI:
        return AsyncCheckpointsAPI(
            self._core, CheckpointTier(config, self._core.config.namespace, self._core.clock)
        )

    @property
    def sync(self) -> CheckpointsAPI:
        return CheckpointsAPI(self._core, self._tier)

    async def put(self, checkpoint: NewCheckpoint) -> bool:
        return await self._core.arun(self._tier.put(checkpoint))

    async def put_writes(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        writes: Sequence[tuple[str, Typed, int]],
        task_id: str,
        task_path: str = "",
    ) -> bool:
        return await self._core.arun(
            self._tier.put_writes(thread_id, ns, checkpoint_id, writes, task_id, task_path)
        )

    async def get(
        self, thread_id: str, ns: str = "", checkpoint_id: str | None = None
    ) -> StoredCheckpoint | None:
        return await self._core.arun(self._tier.get(thread_id, ns, checkpoint_id))

    async def history(
        self,
        thread_id: str,
        ns: str | None = None,
        *,
        before: str | None = None,
        limit: int | None = None,
        keep: MetadataFilter | None = None,
    ) -> list[StoredCheckpoint]:
        return await self._core.arun(self._tier.history(thread_id, ns, before=before, limit=limit, keep=keep))

    async def delete_thread(self, thread_id: str) -> None:
        await self._core.arun(self._tier.delete_thread(thread_id))

    async def delete_for_runs(self, run_ids: Sequence[str]) -> int:
        return await self._core.arun(self._tier.delete_for_runs(run_ids))

    async def copy_thread(self, source: str, target: str) -> int:
        return await self._core.arun(self._tier.copy_thread(source, target))

    async def prune(self, thread_id: str, keep_latest: int | None) -> int:
        return await self._core.arun(self._tier.prune(thread_id, keep_latest))

    async def threads(self, *, after: str | None = None, limit: int = 1000) -> list[ThreadInfo]:
        return await self._core.arun(self._tier.threads(after=after, limit=limit))

    async def count(self, thread_id: str) -> int:
        return await self._core.arun(self._tier.count(thread_id))

    async def sweep_expired(self) -> int:
        return await self._core.arun(self._tier.sweep_expired())
