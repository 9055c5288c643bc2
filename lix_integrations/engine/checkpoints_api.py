"""``engine.checkpoints``: blocking and awaitable access to the checkpoint tier (LangGraph checkpointers).

One `CheckpointTier` per configuration: ``engine.checkpoints`` uses the
defaults, ``engine.checkpoints.configured(CheckpointConfig(...))`` another retention policy on the same store.
The blocking view and its ``aio`` twin share one tier (its knowledge of stored items and its counters), and each
operation is written once (see `views`), so the sync and async paths of a checkpointer cannot drift.
Store failures raise `BackendError`: checkpoints are data, not a cache of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..kernel.flows import Flow
from ..tiers.checkpoint_records import NewCheckpoint, StoredCheckpoint, ThreadInfo, Typed
from ..tiers.checkpoints import CheckpointConfig, CheckpointTier
from .views import Awaiting, Blocking, View, runs

if TYPE_CHECKING:
    from typing_extensions import Self

    from .core import EngineCore

__all__ = ["AsyncCheckpointsAPI", "CheckpointsAPI"]

MetadataFilter = Callable[[Typed], bool]

_THREAD_PAGE = 1000


class _Checkpoints(View):
    """Checkpoint operations. Thread ids, namespaces and checkpoint ids are validated before use."""

    def __init__(self, core: EngineCore, tier: CheckpointTier | None = None) -> None:
        super().__init__(core)
        self._tier = tier or core.checkpoints

    @property
    def config(self) -> CheckpointConfig:
        return self._tier.config

    def configured(self, config: CheckpointConfig) -> Self:
        """A view with its own retention policy (``ttl``, ``keep_last``, tombstone grace) on the same store."""
        return type(self)(self._core, self._core.checkpoint_tier(config))

    @runs
    def put(self, checkpoint: NewCheckpoint) -> Flow[bool]:
        """Store a checkpoint; ``False`` if it continued a thread deleted meanwhile (then nothing is kept)."""
        return self._tier.put(checkpoint)

    @runs
    def put_writes(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        writes: Sequence[tuple[str, Typed, int]],
        task_id: str,
        task_path: str = "",
    ) -> Flow[bool]:
        return self._tier.put_writes(thread_id, ns, checkpoint_id, writes, task_id, task_path)

    @runs
    def get(
        self, thread_id: str, ns: str = "", checkpoint_id: str | None = None
    ) -> Flow[StoredCheckpoint | None]:
        return self._tier.get(thread_id, ns, checkpoint_id)

    @runs
    def history(
        self,
        thread_id: str | None,
        ns: str | None = None,
        *,
        before: str | None = None,
        limit: int | None = None,
        keep: MetadataFilter | None = None,
        checkpoint_id: str | None = None,
    ) -> Flow[list[StoredCheckpoint]]:
        """A thread's checkpoints, newest first per namespace (``ns=None``: every namespace), what a LangGraph
        checkpointer's ``list`` asks for. ``thread_id=None``: every thread's, threads in id order, ``limit``
        counting across them. ``before``: ids below it; ``keep``: a predicate on the metadata; ``checkpoint_id``:
        only that checkpoint."""
        if thread_id is not None and checkpoint_id is None:
            return self._tier.history(thread_id, ns, before=before, limit=limit, keep=keep)
        tier = self._tier

        def histories() -> Flow[list[StoredCheckpoint]]:
            threads = [thread_id] if thread_id is not None else (yield from self._thread_ids())
            found: list[StoredCheckpoint] = []
            for tid in threads:
                left = None if limit is None else limit - len(found)
                if left is not None and left <= 0:
                    break
                if checkpoint_id is None:
                    found += yield from tier.history(tid, ns, before=before, limit=left, keep=keep)
                    continue
                one = yield from tier.history(tid, ns, keep=keep)
                one = [s for s in one if s.checkpoint_id == checkpoint_id]
                found += [s for s in one if before is None or s.checkpoint_id < before][:left]
            return found

        return histories()

    def _thread_ids(self) -> Flow[list[str]]:
        ids: list[str] = []
        after = None
        while True:
            page = yield from self._tier.threads(after=after, limit=_THREAD_PAGE)
            ids += [info.thread_id for info in page]
            if len(page) < _THREAD_PAGE:
                return ids
            after = page[-1].thread_id

    @runs
    def delete_thread(self, thread_id: str) -> Flow[None]:
        return self._tier.delete_thread(thread_id)

    @runs
    def delete_for_runs(self, run_ids: Sequence[str]) -> Flow[int]:
        return self._tier.delete_for_runs(run_ids)

    @runs
    def copy_thread(self, source: str, target: str) -> Flow[int]:
        return self._tier.copy_thread(source, target)

    @runs
    def prune(self, thread_id: str, keep_latest: int | None) -> Flow[int]:
        return self._tier.prune(thread_id, keep_latest)

    @runs
    def threads(self, *, after: str | None = None, limit: int = 1000) -> Flow[list[ThreadInfo]]:
        return self._tier.threads(after=after, limit=limit)

    @runs
    def count(self, thread_id: str) -> Flow[int]:
        return self._tier.count(thread_id)

    @runs
    def sweep_expired(self) -> Flow[int]:
        return self._tier.sweep_expired()


class CheckpointsAPI(_Checkpoints, Blocking):
    """Blocking checkpoint operations: each runs to completion on the calling thread."""

    @property
    def aio(self) -> AsyncCheckpointsAPI:
        """The awaitable twin, sharing this view's tier."""
        return AsyncCheckpointsAPI(self._core, self._tier)


class AsyncCheckpointsAPI(_Checkpoints, Awaiting):
    """Awaitable checkpoint operations; the same operations as `CheckpointsAPI`."""

    @property
    def sync(self) -> CheckpointsAPI:
        """The blocking twin, sharing this view's tier."""
        return CheckpointsAPI(self._core, self._tier)
