"""New index files for large partitions, merged and written on a worker thread, so that no write waits for one.

Why. A large partition's file is rewritten when what changed since it (the tail, the deletions) outgrows a share
of it. Merging and writing the file of a 100k-row partition (sort by cell, 170 MB written and fsynced) took about
1 s inside whichever insert crossed the line, and held every other caller of the backend for as long (2026-12-04,
``benchmarks/sqlite_scale.py``: batched inserts into 100k fell to ~1,500/s over a sample holding one rewrite).
The merge is now written as runs of the old file and the tail (`ivf_merge`), ~0.25 s of CPU at 100k.

Here the writer takes a `Snapshot` of the partition (copies of the tail, the deleted ids, the mapped file's
arrays, which never change) and a worker thread merges and writes it; numpy and the file write release the GIL,
so it runs beside the writer. The partition keeps serving and changing meanwhile, and adopts the new file at its
next search or write: what changed after the snapshot is carried onto it (`LargePartition.carried_onto`). The file
is stamped with the change-log row of the snapshot, so a process that dies before adopting it, or a fresh process
that maps it, replays the log from there, as for any file (`sqlite_vectors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..kernel import forks
from .ivf_file import IvfArrays, IvfFile, Stamp
from .ivf_merge import MergedRows
from .ivf_partition import LargePartition, Snapshot

__all__ = ["Rewrites", "WriteFile"]

logger = logging.getLogger(__name__)

Key = tuple[str, str]
#: Writes a partition's merged arrays to its file under a stamp (None: do not persist) and maps it.
WriteFile = Callable[[Key, IvfArrays | MergedRows, "Stamp | None", int], IvfFile]
Submit = Callable[[Callable[[], IvfFile]], "Future[IvfFile]"]


class Rewrites:
    """The rewrites in flight, one per partition at most. Not thread-safe: the backend's lock guards every call
    (the worker touches only the snapshot and the file system)."""

    def __init__(self, write: WriteFile, submit: Submit | None = None) -> None:
        self._write = write
        self._submit = submit  # tests pass a runner they control; otherwise one worker thread
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[Key, tuple[LargePartition, Snapshot, Future[IvfFile]]] = {}
        self._pid = forks.pid

    def _leave_parents(self) -> None:
        """In a forked child (an engine made before a server forked its workers): the rewrites in flight are the
        parent's, and so is the worker thread that would finish them, which the child does not have. Waiting for
        them hung the child's close for ever; the parent adopts its own files, the child starts its own."""
        if self._pid != forks.pid:
            self._pending.clear()
            self._pool = None
            self._pid = forks.pid

    def start(self, key: Key, index: LargePartition, stamp: Stamp | None) -> None:
        """Merge and write ``index`` as it is now, on the worker (nothing if one is already under way for it:
        the partition stays stale and is taken again after that one is adopted)."""
        if key in self._pending:
            return
        snapshot = index.snapshot()
        dim = index.dim
        self._pending[key] = (
            index,
            snapshot,
            self._run(lambda: self._write(key, snapshot.merged(), stamp, dim)),
        )

    def running(self, key: Key) -> bool:
        """Whether a rewrite of the partition is under way (not yet adopted)."""
        self._leave_parents()
        return key in self._pending

    def adopt(self, indexes: MutableMapping[Key, Any], wait: bool = False) -> None:
        """Put finished files in place of the partitions they were taken from (all of them, waiting, if
        ``wait``). A rewrite that failed leaves its partition as it was (logged); it is retried once the partition
        changes again. One whose partition was reloaded meanwhile is dropped: its file is still a valid snapshot."""
        if not self._pending:
            return
        self._leave_parents()
        for key, (index, snapshot, future) in list(self._pending.items()):
            if not (wait or future.done()):
                continue
            del self._pending[key]
            try:
                base = future.result()
            except Exception:  # an index file is an optimisation: searches go on without it
                logger.warning(
                    "could not write the vector index of a partition; keeping the old one", exc_info=True
                )
                continue
            if indexes.get(key) is index:
                indexes[key] = index.carried_onto(base, snapshot)
                index.base.close()
            else:
                base.close()

    def forget(self) -> None:
        """Drop the rewrites in flight (the partitions were reloaded); their workers finish on their own."""
        self._pending.clear()

    def shutdown(self) -> None:
        """Wait for the worker (its files land) and stop it."""
        self._leave_parents()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _run(self, work: Callable[[], IvfFile]) -> Future[IvfFile]:
        if self._submit is not None:
            return self._submit(work)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lix-index-file")
        return self._pool.submit(work)
