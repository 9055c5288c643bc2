"""Storing semantic records on Redis: the upsert script's calls for one record (`Upsert`) or a batch
(`UpsertMany`: one call per `UPSERT_BATCH` records instead of one per record), and their replies.

What a record's hash holds is `semantic.FIELDS`; what one insert costs the server, lua/sem_upsert.lua, and
part by part above a raw HSET, benchmarks/redis_insert_floor.py.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import SettingsMismatchError
from ...kernel import semantic_ops as ops
from ...kernel.op import NamespaceOp
from ...kernel.ops import Gather
from .commands import Lua, Plan, Step, expiry_ms, then
from .keys import partition_hash, sem_base
from .lua import script
from .semantic_index import QueryIndexes

UPSERT = script("sem_upsert", "remove")

#: Records per call of the upsert script (`UpsertMany`): a call holds the server for all of its records, and each
#: costs it an insert into the index (0.1-0.3 ms into HNSW at 10k), so a big batch is cut in calls of this many,
#: one round trip each. One call per record (a `Gather` of upserts) cost this process 36 against 28 us and the
#: server 108-116 against 101-107 us per record (update_many x100 at 10k, benchmarks/redis.py --vectors minilm,
#: 2026-12-04).
UPSERT_BATCH = 100
#: The values per record of the upsert script (`Upserts.values`).
_RECORD_VALUES = 13


class Upserts:
    """The upsert plans of one backend's semantic commands (``partition_limit``: plain mode's bound)."""

    def __init__(self, prefix: str, qe: QueryIndexes, partition_limit: int) -> None:
        self.prefix = prefix
        self.qe = qe
        self.partition_limit = partition_limit

    def one(self, op: ops.Upsert, bound: int = 0) -> Plan:
        """One record's call; with a ``bound`` (`BoundedUpsert`), ``[id, evicted]``: the record, then the
        namespace's least-recently-used records evicted down to ``bound`` (`EvictOverflow`), in the same call."""
        base = sem_base(self.prefix, op.namespace)
        args, dim = self.values_of((op.record,))
        namespace = op.namespace
        qe = self.qe

        def stored(reply: list[Any]) -> Plan:
            evicted = int(reply[1])  # by partition_limit (plain mode)
            done: Any = ops.Upserted(int(reply[0]), evicted) if evicted else int(reply[0])
            if bound:
                done = [done, int(reply[4])]
            if qe.index != "adaptive":  # `after_upsert` has nothing to do: no call
                return done
            grow = qe.after_upsert(namespace, int(reply[2]), reply[3] is not None)
            return done if grow is None else then(grow, lambda _: done)

        head = (base, 0 if qe.server else self.partition_limit, bound)
        store = Step(Lua(UPSERT, (base + "exact",), (*head, *args)), stored)
        return (
            store if not dim or qe.ready(namespace, dim) else then(qe.ensure(namespace, dim), lambda _: store)
        )

    def bounded(self, op: BoundedUpsert) -> Plan:
        return self.one(op.upsert, op.max_entries)

    def many(self, op: ops.UpsertMany) -> Plan:
        records = op.records
        if not records:
            return []
        namespace = op.namespace
        base = sem_base(self.prefix, namespace)
        args, dim = self.values_of(records)
        head = (base, 0 if self.qe.server else self.partition_limit, 0)
        width = _RECORD_VALUES * UPSERT_BATCH
        calls = [
            Lua(UPSERT, (base + "exact",), (*head, *args[i : i + width])) for i in range(0, len(args), width)
        ]
        first = self._call(namespace, calls, 0, [])
        return first if not dim else then(self.qe.ensure(namespace, dim), lambda _: first)

    def _call(self, namespace: str, calls: list[Lua], k: int, done: list[Any]) -> Step:
        """Call ``k`` of a batch, then the rest (no closure refers to itself: a batch leaves no cycle for the
        garbage collector)."""

        def stored(reply: list[Any]) -> Plan:
            n = len(reply) // 2 - 1
            ids = reply[0 : 2 * n : 2]
            evicted = reply[1 : 2 * n : 2]
            if any(evicted):  # by partition_limit (plain mode)
                done.extend(ops.Upserted(int(i), int(e)) for i, e in zip(ids, evicted, strict=True))
            else:  # plain ids: an `Upserted` is only needed to count evictions
                done.extend(map(int, ids))
            grow = self.qe.after_upsert(namespace, int(reply[-2]), reply[-1] is not None, n)
            if k + 1 < len(calls):
                rest = functools.partial(self._next_call, namespace, calls, k + 1, done)
            else:
                rest = functools.partial(_given, done)
            return rest(None) if grow is None else then(grow, rest)

        return Step(calls[k], stored)

    def _next_call(self, namespace: str, calls: list[Lua], k: int, done: list[Any], _: Any) -> Step:
        return self._call(namespace, calls, k, done)

    def values_of(self, records: Sequence[ops.SemanticRecord]) -> tuple[list[Any], int]:
        """The records' values for the upsert script (see lua/sem_upsert.lua), one record after the other, and
        their dimension when the Query Engine indexes their vectors (0: none has one, or plain mode). One loop,
        with what every record shares looked up once."""
        server = self.qe.server
        half_too = server and self.qe.index != "flat"  # kept if the namespace has the 'vh' layout
        f32, f16, ndarray = np.float32, np.float16, np.ndarray
        dim = 0
        out: list[Any] = []
        add = out.extend
        for rec in records:
            vec = half = b""
            arr = rec.vector
            if arr is not None:
                if type(arr) is not ndarray or arr.dtype != f32 or arr.ndim != 1:
                    arr = np.ascontiguousarray(arr, dtype=f32).reshape(-1)
                vec = arr.tobytes()
                if server:
                    size = arr.shape[0]
                    if size != dim:
                        if dim:
                            raise SettingsMismatchError("dimension (Redis vector index)", dim, int(size))
                        dim = int(size)
                    if half_too:
                        half = arr.astype(f16).tobytes()
            created, accessed, expires = rec.created_at, rec.accessed_at, rec.expires_at
            ca = repr(float(created))
            add((
                rec.exact_key, rec.partition, rec.scope, rec.llm_key, rec.prompt, vec, rec.payload, ca,
                "" if expires is None else repr(float(expires)),
                ca if accessed == created else repr(float(accessed)), partition_hash(rec.partition),
                0 if expires is None else expiry_ms(created, expires), half,
            ))  # fmt: skip
        return out, dim


def _given(value: Any, _: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class BoundedUpsert(NamespaceOp[list[Any]]):
    """What the semantic tier's single insert sends under ``max_entries``, ``Gather((Upsert, EvictOverflow))``
    of one namespace (`fused`), as one call of the upsert script: ``[id, evicted]`` as the Gather gives.

    As a Gather it cost a second script call, and this process the Gather's lock step: 20 us more of this
    process's CPU and 6 us more of the server's per insert (max_entries=100,000, the default, against none;
    single inserts of MiniLM vectors into HNSW at 10k, alternated blocks of a /tmp harness, 2026-12-05)."""

    upsert: ops.Upsert
    max_entries: int


def fused(gather: Gather) -> BoundedUpsert | None:
    """``gather`` as a `BoundedUpsert` when it is one insert and its bound check, in that order, else ``None``."""
    both = gather.ops
    if len(both) != 2:
        return None
    upsert, evict = both
    if type(upsert) is not ops.Upsert or type(evict) is not ops.EvictOverflow:
        return None
    if upsert.namespace != evict.namespace or evict.max_entries <= 0:
        return None
    return BoundedUpsert(upsert.namespace, upsert, evict.max_entries)
