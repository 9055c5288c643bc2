"""Storing semantic records on Redis: the upsert script's calls for one record (`Upsert`) or a batch
(`UpsertMany`: one call per `UPSERT_BATCH` records instead of one per record), and their replies.

What a record's hash holds is `semantic.FIELDS`; what one insert costs the server, lua/sem_upsert.lua.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ...errors import SettingsMismatchError
from ...kernel import semantic_ops as ops
from .commands import Lua, Plan, Step, expiry_ms, then
from .keys import h, sem_base
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

#: `h` of a partition, kept: a process writes to few partitions, and each insert hashed its own (blake2, 2 us).
tag = functools.lru_cache(maxsize=4096)(h)


class Upserts:
    """The upsert plans of one backend's semantic commands (``partition_limit``: plain mode's bound)."""

    def __init__(self, prefix: str, qe: QueryIndexes, partition_limit: int) -> None:
        self.prefix = prefix
        self.qe = qe
        self.partition_limit = partition_limit

    def one(self, op: ops.Upsert) -> Plan:
        base = sem_base(self.prefix, op.namespace)
        args, dim = self.values(op.record)
        namespace = op.namespace

        def stored(reply: list[Any]) -> Plan:
            done = ops.Upserted(int(reply[0]), int(reply[1]))  # evicted by partition_limit (plain mode)
            grow = self.qe.after_upsert(namespace, int(reply[2]), reply[3] is not None)
            return done if grow is None else then(grow, lambda _: done)

        head = (base, 0 if self.qe.server else self.partition_limit)
        store = Step(Lua(UPSERT, (base + "exact",), head + args), stored)
        return store if not dim else then(self.qe.ensure(namespace, dim), lambda _: store)

    def many(self, op: ops.UpsertMany) -> Plan:
        records = op.records
        if not records:
            return []
        namespace = op.namespace
        base = sem_base(self.prefix, namespace)
        dim = 0
        args: list[Any] = []
        for rec in records:
            values, size = self.values(rec)
            if size and dim and size != dim:
                raise SettingsMismatchError("dimension (Redis vector index)", dim, size)
            dim = dim or size
            args += values
        head = (base, 0 if self.qe.server else self.partition_limit)
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
            for j in range(0, 2 * n, 2):  # evicted: by partition_limit (plain mode)
                done.append(ops.Upserted(int(reply[j]), int(reply[j + 1])))
            grow = self.qe.after_upsert(namespace, int(reply[-2]), reply[-1] is not None, n)
            if k + 1 < len(calls):
                rest = functools.partial(self._next_call, namespace, calls, k + 1, done)
            else:
                rest = functools.partial(_given, done)
            return rest(None) if grow is None else then(grow, rest)

        return Step(calls[k], stored)

    def _next_call(self, namespace: str, calls: list[Lua], k: int, done: list[Any], _: Any) -> Step:
        return self._call(namespace, calls, k, done)

    def values(self, rec: ops.SemanticRecord) -> tuple[tuple[Any, ...], int]:
        """A record's values for the upsert script (see lua/sem_upsert.lua), and its dimension when the Query
        Engine indexes its vector (0: it has none, or plain mode)."""
        vec = half = b""
        dim = 0
        arr = rec.vector
        if arr is not None:
            if type(arr) is not np.ndarray or arr.dtype != np.float32 or arr.ndim != 1:
                arr = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)
            vec = arr.tobytes()
            if self.qe.server:
                dim = int(arr.shape[0])
                if self.qe.index != "flat":  # kept if the namespace has the 'vh' layout
                    half = arr.astype(np.float16).tobytes()
        expires = rec.expires_at
        values = (
            rec.exact_key, rec.partition, rec.scope, rec.llm_key, rec.prompt, vec, rec.payload,
            repr(float(rec.created_at)), "" if expires is None else repr(float(expires)),
            repr(float(rec.accessed_at)), tag(rec.partition),
            0 if expires is None else expiry_ms(rec.created_at, expires), half,
        )  # fmt: skip
        return values, dim


def _given(value: Any, _: Any) -> Any:
    return value
