"""Semantic records on Redis: command building and reply parsing for the semantic operations.

Layout under ``<prefix>:{s/<namespace>}:`` (one slot per namespace, see `keys`):

* ``r:<id>`` hash - one record (fields below; ``vec`` is float32 bytes, ``ph`` hashes the partition so the
  Query Engine can filter on it as a TAG);
* ``exact`` hash exact_key -> id; ``next`` id counter; ``tick`` use counter;
* ``lru`` zset id -> last-use tick (namespace-wide least-recently-used order, also the record count);
* ``pt:<ph>`` zset id -> tick of the partition's records that have a vector (plain-mode search set);
* ``exp`` zset id -> expires_at (purges without scanning); ``xk`` hash id -> "<ph> <exact key>" of records
  with a TTL, whose ``r:<id>`` hash Redis deletes by itself (PEXPIRE): what ``remove`` needs to clean the
  indexes after the record is gone;
* ``acc`` hash id -> last-use time, written by touches. Not a field of ``r:<id>``: every write to an indexed
  hash makes the Query Engine re-index the document, vector included (0.6 ms per touch at 10k, measured);
* ``settings`` hash (EnsureSettings), ``idx`` the Query Engine index name, ``idxdim`` its dimension, ``vl``
  the vector layout (records carry ``vh`` too; see `semantic_index`).

Inserts are `semantic_upsert`'s: one script call per record, or per 100 records of a batch.

Plain mode searches client-side: one script returns the ids and vectors of the partition (at most
``partition_limit``, kept so by evicting the partition's least recently used records on insert), numpy ranks
them, and one script fetches the ``k`` best records. Query Engine mode runs one script that calls ``FT.SEARCH``
with a KNN clause instead (filtered by the partition TAG unless the partition is the whole namespace).
``ExactOrSearch`` puts the exact check in front of either, in the same script. Which Query Engine index a
namespace has (FLAT while small, then HNSW, in the default adaptive mode) is `semantic_index`'s business.

A Query Engine index can vanish under a running process (``FLUSHALL``, a restart without persistence): a
search that finds it missing makes it again (every process does, on its own next search) and searches once
more, so semantic hits come back as soon as entries are stored again, without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from ...config.backends import DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_RUNTIME, DEFAULT_HNSW_FROM, DEFAULT_HNSW_M
from ...errors import ConfigError
from ...kernel import semantic_ops as ops
from ...kernel.op import Op, bind_methods
from .commands import Cmd, Lua, Plan, Step, b2s, fields_of, num, then
from .keys import partition_hash, sem_base
from .lua import script
from .semantic_index import QueryIndexes
from .semantic_upsert import BoundedUpsert, Upserts
from .semantic_vectors import CACHED_PARTITIONS, Partition, VectorCache
from .semantic_vectors import scores as rank

logger = logging.getLogger(__name__)

#: Partitions with at least this many vectors, and at least a tenth of the namespace's records, are searched in
#: BATCHES mode; others brute force (ADHOC_BF). BATCHES walks the graph and drops what the filter rejects, so it
#: wins when the partition is a large share of the index (0.3 ms vs 1 ms at 10k) and loses badly when it is a
#: small one (1.1 ms vs 0.14 ms for 100 of 10k: it keeps fetching batches to find k matches), measured.
_BATCHES_FROM = 256

# The scripts (lua/*.lua; lua/__init__.py explains the fragments they start with).
ENSURE = script("sem_ensure")
EXACT = script("sem_exact", "remove", "with_acc", "exact")
VECTORS = script("sem_vectors", "vectors")
EXACT_OR_VECTORS = script("sem_exact_or_vectors", "remove", "with_acc", "exact", "vectors")
FETCH = script("sem_fetch", "with_acc")
SEARCH = script("sem_search", "search")
EXACT_OR_SEARCH = script("sem_exact_or_search", "remove", "with_acc", "exact", "search")
TOUCH = script("sem_touch")
DELETE_IDS = script("sem_delete_ids", "remove")
DELETE_MATCHING = script("sem_delete_matching", "remove")
EVICT = script("sem_evict", "remove")
PURGE = script("sem_purge", "remove")
SCAN_ENTRIES = script("sem_scan_entries", "with_acc")

#: The fields of a record's hash ``r:<id>`` (two letters each: a hash holds them for every record, and the
#: Query Engine returns them by name). ``vec`` and ``__d`` (a search's distance) are named in full.
FIELDS = {
    "ek": "exact_key",
    "pt": "partition",
    "sc": "scope",
    "lk": "llm_key",
    "pr": "prompt",
    "pl": "payload",
    "ca": "created_at",
    "xa": "expires_at (absent or empty: never)",
    "aa": "accessed_at (the last use is kept in the 'acc' hash, see TOUCH; 'aa' here is the time of the write)",
    "ph": "hash of the partition (a TAG the Query Engine filters on)",
    "sh": "hash of the scope (written and indexed by earlier versions, searched by none)",
    "vec": "the vector, float32 bytes",
    "vh": "the vector, float16 bytes (Query Engine namespaces of the 'vh' layout: what HNSW indexes)",
}


#: The search script's reply per result, after the id: its values in this order (lua/search.lua), so that no
#: field name travels or is looked up (parsing 4 named results cost 31 us a lookup, 2026-12-04 microbenchmark).
SEARCH_FIELDS = ("__d", "ek", "pt", "sc", "lk", "pr", "pl", "ca", "xa", "aa")


def _search_results(flat: list[Any], start: int = 0) -> list[tuple[ops.SemanticRecord, float]]:
    """(record, similarity) pairs, best first, from the search script's flat id/values reply."""
    out: list[tuple[ops.SemanticRecord, float]] = []
    for i in range(start, len(flat), 2):
        d, ek, pt, sc, lk, pr, pl, ca, xa, aa = flat[i + 1]
        record = ops.SemanticRecord(
            ek.decode(), pt.decode(), sc.decode(), lk.decode(), pr.decode(), None, pl.decode(), float(ca),
            float(xa) if xa else None, float(aa), int(flat[i]),
        )  # fmt: skip
        # At most 1: a float16 index's distance of a vector to itself can come out a little below 0 (-1e-4).
        out.append((record, min(1.0, 1.0 - float(d))))
    if len(out) > 1:  # a lookup without a verifier asks for one
        out.sort(key=_best_first)
    return out


def _best_first(pair: tuple[ops.SemanticRecord, float]) -> tuple[float, int]:
    return -pair[1], pair[0].id


_F32 = np.dtype(np.float32)


def _flat_f32(vector: Any) -> np.ndarray[Any, Any]:
    """``vector`` as a contiguous 1-D float32 array: itself when it is one already (what the embedding tier hands
    a lookup), which skips numpy's conversion machinery (3 us of a warm lookup's Python after its round trip,
    2026-12-04, timestamps in the lookup at 10k, benchmarks/redis.py's set-up)."""
    if type(vector) is np.ndarray and vector.dtype is _F32 and vector.ndim == 1 and vector.strides[0] == 4:
        return vector
    return np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)


def _raw_fields(flat: list[Any]) -> dict[bytes, Any]:
    """Hash fields of a script's flat reply, names left as bytes (decoding them all cost 20 us a lookup)."""
    it = iter(flat)
    return dict(zip(it, it))


def parse_record(entry_id: int, f: dict[bytes, Any]) -> ops.SemanticRecord:
    """A record from its hash fields (bytes names and values, as the scripts return them)."""
    vec = f.get(b"vec")
    expires = f.get(b"xa")
    return ops.SemanticRecord(
        exact_key=f[b"ek"].decode(),
        partition=f[b"pt"].decode(),
        scope=f[b"sc"].decode(),
        llm_key=f[b"lk"].decode(),
        prompt=f[b"pr"].decode(),
        vector=None if not vec else np.frombuffer(vec, dtype=np.float32).copy(),
        payload=f[b"pl"].decode(),
        created_at=float(f[b"ca"]),
        expires_at=float(expires) if expires else None,
        accessed_at=float(f[b"aa"]),
        id=entry_id,
    )


class SemanticCommands:
    """The semantic operations of one Redis backend: each op becomes `Step`\\ s (scripts and their parsers)."""

    def __init__(
        self,
        prefix: str,
        index: str,
        partition_limit: int,
        ef_runtime: int = DEFAULT_EF_RUNTIME,
        hnsw_from: int = DEFAULT_HNSW_FROM,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        hnsw_m: int = DEFAULT_HNSW_M,
    ) -> None:
        self.prefix = prefix
        self.ef_runtime = ef_runtime  # HNSW candidate list size per search (see url.py)
        self.qe = QueryIndexes(prefix, index, hnsw_from, ef_construction, hnsw_m)
        self.partition_limit = partition_limit
        self._vectors = VectorCache(CACHED_PARTITIONS)
        self._upserts = Upserts(prefix, self.qe, partition_limit)
        #: namespace -> the vector field its lookups last searched (``vec``, ``vh``), see `_engine_lookup`.
        self._fields: dict[str, str] = {}

    def handlers(self) -> dict[type[Op], Callable[[Any], Plan]]:
        return {
            **bind_methods(self, ops.SEMANTIC_METHODS),
            ops.ExactOrSearch: self.exact_or_search,
            ops.UpsertMany: self.upsert_many,
            BoundedUpsert: self.upsert_bounded,
        }

    # -- Query Engine detection and index (semantic_index.py) ----------------------------------------------

    def detect(self) -> Plan:
        return self.qe.detect()

    @property
    def index(self) -> str:
        """``auto`` until detected, then ``adaptive`` (FLAT, then HNSW), ``hnsw``, ``flat`` or ``none``."""
        return self.qe.index

    @property
    def server_index(self) -> bool:
        return self.qe.server

    # -- operations ---------------------------------------------------------------------------------------

    def ensure_settings(self, op: ops.EnsureSettings) -> Plan:
        args: list[str] = []
        for key, value in op.values.items():
            args += [key, value]
        key = sem_base(self.prefix, op.namespace) + "settings"
        ensure = Step(
            Lua(ENSURE, (key,), tuple(args)), lambda flat: {k: b2s(v) for k, v in fields_of(flat).items()}
        )
        if op.replace:
            return Step(
                Cmd(("HSET", key, *[x for pair in op.replace.items() for x in pair])), lambda _: ensure
            )
        return ensure

    def exact_get(self, op: ops.ExactGet) -> Plan:
        base = sem_base(self.prefix, op.namespace)
        return Step(Lua(EXACT, (base + "exact",), (base, op.exact_key)), _exact_record)

    def _detected(self, plan: Callable[[Any], Plan], op: Any) -> Plan:
        """``plan(op)``, after detecting the Query Engine if that is still to do (once detected, the op's script is
        its first step, with no closure around it)."""
        if self.index != "auto":
            return plan(op)
        return then(self.detect(), lambda _: plan(op))

    def upsert(self, op: ops.Upsert) -> Plan:
        return self._detected(self._upserts.one, op)

    def upsert_bounded(self, op: BoundedUpsert) -> Plan:
        return self._detected(self._upserts.bounded, op)

    def upsert_many(self, op: ops.UpsertMany) -> Plan:
        """One script call per ``UPSERT_BATCH`` records (`semantic_upsert`)."""
        return self._detected(self._upserts.many, op)

    def vector_search(self, op: ops.VectorSearch) -> Plan:
        return self._detected(self._vector_search, op)

    def _vector_search(self, op: ops.VectorSearch) -> Plan:
        base = sem_base(self.prefix, op.namespace)
        query = _flat_f32(op.vector)
        if op.k <= 0:
            return []
        if self.server_index:
            return self._server_search(op, base, query)
        ph = partition_hash(op.partition)
        cached = self._vectors.get(op.namespace, ph)
        known, after = ("", -1) if cached is None else (cached.version, cached.max_id)

        def ranked(reply: Any) -> Plan:
            part = self._vectors.update(op.namespace, ph, cached, reply)
            return self._rank_and_fetch(part, op.k, base, query)

        return Step(Lua(VECTORS, (base + "lru",), (base, ph, known, after)), ranked)

    def _rank_and_fetch(self, part: Partition, k: int, base: str, query: np.ndarray[Any, Any]) -> Plan:
        """Plain mode's second step: rank the partition's cached vectors here, fetch the ``k`` best records."""
        matrix, ids = part.matrix(query.shape[0])
        if not len(ids):
            return []
        scores = rank(matrix, query)
        k = min(k, len(ids))
        best = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
        order = sorted(best.tolist(), key=lambda j: (-float(scores[j]), int(ids[j])))
        chosen = [(int(ids[j]), float(scores[j])) for j in order]

        def fetched(flat: list[Any]) -> list[tuple[ops.SemanticRecord, float]]:
            records = {int(flat[j]): _raw_fields(flat[j + 1]) for j in range(0, len(flat), 2)}
            return [
                (parse_record(i, records[i]), score)
                for i, score in chosen
                if i in records  # deleted between the two round trips
            ]

        return Step(Lua(FETCH, (base + "lru",), (base, *(i for i, _ in chosen))), fetched)

    def _server_search(self, op: ops.VectorSearch, base: str, query: np.ndarray[Any, Any]) -> Plan:
        # The partition TAG filter lets RediSearch pick its own hybrid policy, and for a partition holding most of
        # the index it picks ADHOC_BF: a brute-force scan of every vector (1 ms at 10k x 384, measured). HNSW in
        # BATCHES mode walks the graph and filters as it goes (0.3 ms); a partition that is a small share of the
        # index stays ADHOC_BF, which scans only its own vectors. The script reads the sizes and decides.
        args = (
            base, partition_hash(op.partition), int(op.k), query.tobytes(), self.index, _BATCHES_FROM,
            self.ef_runtime, query.astype(np.float16).tobytes(),
        )  # fmt: skip
        call = Lua(SEARCH, (base + "lru",), args)

        def search(indexed: bool) -> Plan:
            if not indexed:
                return []  # nothing with a vector was ever stored here
            return self.qe.search(op.namespace, int(query.shape[0]), call, _search_results)

        return then(self.qe.indexed(op.namespace, query), search)

    def exact_or_search(self, op: ops.ExactOrSearch) -> Plan:
        """One script on the Query Engine; in plain mode the exact check rides with the vector check (two)."""
        if self.qe.index != "auto":  # `_detected`, without its frame on every lookup
            return self._exact_or_search(op)
        return self._detected(self._exact_or_search, op)

    def _exact_or_search(self, op: ops.ExactOrSearch) -> Plan:
        base = sem_base(self.prefix, op.namespace)
        query = _flat_f32(op.vector)
        if op.k > 0 and self.qe.server:
            dim = int(query.shape[0])
            if self.qe.ready(op.namespace, dim):  # a warm lookup: the script is the first step
                return self._engine_lookup(op, base, query, self._fields.get(op.namespace))

        def exact_only() -> Plan:
            return then(self.exact_get(ops.ExactGet(op.namespace, op.exact_key)), _no_hits)

        if op.k <= 0:
            return exact_only()
        if not self.server_index:
            ph = partition_hash(op.partition)
            cached = self._vectors.get(op.namespace, ph)
            known, after = ("", -1) if cached is None else (cached.version, cached.max_id)

            def found(reply: Any) -> Plan:
                if b2s(reply[0]) == "e":
                    return parse_record(int(reply[1]), _raw_fields(reply[2])), []
                part = self._vectors.update(op.namespace, ph, cached, reply[1:])
                return then(self._rank_and_fetch(part, op.k, base, query), lambda hits: (None, hits))

            return Step(Lua(EXACT_OR_VECTORS, (base + "lru",), (base, op.exact_key, ph, known, after)), found)

        def search(indexed: bool) -> Plan:
            if not indexed:
                return exact_only()  # nothing with a vector was ever stored here
            return self._engine_lookup(op, base, query, self._fields.get(op.namespace))

        return then(self.qe.indexed(op.namespace, query), search)

    def _engine_lookup(
        self, op: ops.ExactOrSearch, base: str, query: np.ndarray[Any, Any], field: str | None
    ) -> Plan:
        """The Query Engine's exact check and search, one script. Only the query blob of ``field``, the vector
        field the namespace was last searched on (``vec`` float32, ``vh`` float16; ``None``: both), is sent;
        the script says which field it searched, or asks for the missing blob when the namespace changed (an
        index switched or made again), and the lookup is sent again with both. The unused blob cost the client
        a float16 conversion on a FLAT index (1.2 us, timeit, 2026-12-04), and 1.5 KB of float32 on the wire
        and into the script on an HNSW one."""
        namespace = op.namespace
        args = (
            base, op.exact_key, partition_hash(op.partition), int(op.k), b"" if field == "vh" else query.tobytes(),
            self.index, _BATCHES_FROM, self.ef_runtime,
            b"" if field == "vec" else query.astype(np.float16).tobytes(),
        )  # fmt: skip
        call = Lua(EXACT_OR_SEARCH, (base + "lru",), args)

        def found(flat: list[Any]) -> Plan:
            kind = b2s(flat[0])
            if kind == "e":
                return parse_record(int(flat[1]), _raw_fields(flat[2])), []
            if kind == "h" or kind == "f":
                if field is None:
                    self._fields[namespace] = "vh" if kind == "h" else "vec"
            elif kind == "v":
                if field is None:
                    raise ValueError("the search script asked for a query blob it was sent")
                self._fields[namespace] = b2s(flat[1])
                return self._engine_lookup(op, base, query, None)
            return None, _search_results(flat, 1)

        return self.qe.search(namespace, int(query.shape[0]), call, found)

    def touch(self, op: ops.Touch) -> Plan:
        call = self.touch_call(op)
        return None if call is None else Step(call, _same)

    def touch_call(self, op: ops.Touch) -> Lua | None:
        """The script recording a use; the backend defers it to ride with its next command."""
        return self.touches_call(op.namespace, [(i, op.now) for i in op.ids])

    def touches_call(self, namespace: str, uses: list[tuple[int, float]]) -> Lua | None:
        """One script recording several uses (id, time) of a namespace's records, oldest first."""
        if not uses:
            return None
        base = sem_base(self.prefix, namespace)
        args: list[object] = [base]
        for entry_id, when in sorted(uses, key=lambda use: use[1]):
            args += [entry_id, num(when)]
        return Lua(TOUCH, (base + "lru",), tuple(args))

    def delete_ids(self, op: ops.DeleteIds) -> Plan:
        call = self.delete_ids_call(op)
        return 0 if call is None else Step(call, int)

    def delete_ids_call(self, op: ops.DeleteIds) -> Lua | None:
        """The script deleting records by id (the backend may defer it to ride with its next command)."""
        if not op.ids:
            return None
        base = sem_base(self.prefix, op.namespace)
        return Lua(DELETE_IDS, (base + "lru",), (base, *op.ids))

    def delete_matching(self, op: ops.DeleteMatching) -> Plan:
        base = sem_base(self.prefix, op.namespace)
        args = (
            base, op.scope or "", op.llm_key or "",
            "0" if op.scope is None else "1", "0" if op.llm_key is None else "1",
        )  # fmt: skip
        return Step(Lua(DELETE_MATCHING, (base + "lru",), args), int)

    def evict_overflow(self, op: ops.EvictOverflow) -> Plan:
        base = sem_base(self.prefix, op.namespace)
        return Step(Lua(EVICT, (base + "lru",), (base, op.max_entries)), int)

    def purge_expired(self, op: ops.PurgeExpired) -> Plan:
        base = sem_base(self.prefix, op.namespace)
        return Step(Lua(PURGE, (base + "lru",), (base, num(op.now))), int)

    def scan_entries(self, op: ops.ScanEntries) -> Plan:
        if op.limit <= 0:
            return []
        base = sem_base(self.prefix, op.namespace)
        args = (
            base, op.scope or "", op.llm_key or "",
            "0" if op.scope is None else "1", "0" if op.llm_key is None else "1",
            int(op.after_id), int(op.limit),
        )  # fmt: skip
        return Step(Lua(SCAN_ENTRIES, (base + "lru",), args), _records)

    def count(self, op: ops.CountEntries) -> Plan:
        return Step(Cmd(("ZCARD", sem_base(self.prefix, op.namespace) + "lru")), int)


def _same(reply: Any) -> Any:
    return reply


def _no_hits(record: ops.SemanticRecord | None) -> tuple[ops.SemanticRecord | None, list[Any]]:
    return record, []


def _exact_record(reply: Any) -> ops.SemanticRecord | None:
    return parse_record(int(reply[0]), _raw_fields(reply[1])) if reply else None


def _records(flat: list[Any]) -> list[ops.SemanticRecord]:
    out = []
    for i in range(0, len(flat), 2):
        fields = _raw_fields(flat[i + 1])
        fields.pop(b"vec", None)
        out.append(parse_record(int(flat[i]), fields))
    return out


def check_index_option(index: str) -> None:
    if index not in ("auto", "adaptive", "hnsw", "flat", "none"):
        raise ConfigError(f"unknown index option {index!r}")
