"""Semantic records on Redis: command building and reply parsing for the semantic operations.

Layout under ``<prefix>:{s/<namespace>}:`` (one slot per namespace, see `keys`):

* ``r:<id>`` hash - one record (fields below; ``vec`` is float32 bytes, ``ph``/``sh`` hash partition/scope
  so the Query Engine can filter on them as TAGs);
* ``exact`` hash exact_key -> id; ``next`` id counter; ``tick`` use counter;
* ``lru`` zset id -> last-use tick (namespace-wide least-recently-used order, also the record count);
* ``pt:<ph>`` zset id -> tick of the partition's records that have a vector (plain-mode search set);
* ``exp`` zset id -> expires_at (purges without scanning); ``xk`` hash id -> "<ph> <exact key>" of records
  with a TTL, whose ``r:<id>`` hash Redis deletes by itself (PEXPIRE): what ``remove`` needs to clean the
  indexes after the record is gone;
* ``acc`` hash id -> last-use time, written by touches. Not a field of ``r:<id>``: every write to an indexed
  hash makes the Query Engine re-index the document, vector included (0.6 ms per touch at 10k, measured);
* ``settings`` hash (EnsureSettings), ``idx`` the Query Engine index name, ``idxdim`` its dimension.

Plain mode searches client-side: one script returns the ids and vectors of the partition (at most
``partition_limit``, kept so by evicting the partition's least recently used records on insert), numpy ranks
them, and one script fetches the ``k`` best records. Query Engine mode runs one script that calls ``FT.SEARCH``
with a KNN clause instead (filtered by the partition TAG unless the partition is the whole namespace).
``ExactOrSearch`` puts the exact check in front of either, in the same script.

A Query Engine index can vanish under a running process (``FLUSHALL``, a restart without persistence): a
search that finds it missing makes it again (every process does, on its own next search) and searches once
more, so semantic hits come back as soon as entries are stored again, without a restart.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from redis.exceptions import ResponseError

from ...errors import ConfigError, SettingsMismatchError
from ...kernel.ops import (
    CountEntries,
    DeleteIds,
    DeleteMatching,
    EnsureSettings,
    EvictOverflow,
    ExactGet,
    ExactOrSearch,
    PurgeExpired,
    ScanEntries,
    SemanticRecord,
    Touch,
    Upsert,
    Upserted,
    VectorSearch,
)
from .calls import Cmd, Lua, RFlow, Script, b2s, expiry_ms, num
from .keys import h, sem_base

logger = logging.getLogger(__name__)

#: Partitions with at least this many vectors, and at least a tenth of the namespace's records, are searched in
#: BATCHES mode; others brute force (ADHOC_BF). BATCHES walks the graph and drops what the filter rejects, so it
#: wins when the partition is a large share of the index (0.3 ms vs 1 ms at 10k) and loses badly when it is a
#: small one (1.1 ms vs 0.14 ms for 100 of 10k: it keeps fetching batches to find k matches), measured.
_BATCHES_FROM = 256

_REMOVE = """
local function remove(p, id)
  local rk = p .. 'r:' .. id
  local f = redis.call('HMGET', rk, 'ek', 'ph')
  if f[1] then
    redis.call('DEL', rk)
  else
    -- Gone already: Redis expired it (PEXPIRE, see UPSERT). Its index entries are cleaned now, from 'xk'.
    local t = redis.call('HGET', p .. 'xk', id)
    if t then
      local sep = string.find(t, ' ', 1, true)
      f = {string.sub(t, sep + 1), string.sub(t, 1, sep - 1)}
    end
  end
  if f[1] and redis.call('HGET', p .. 'exact', f[1]) == tostring(id) then redis.call('HDEL', p .. 'exact', f[1]) end
  local listed = redis.call('ZREM', p .. 'lru', id)
  redis.call('ZREM', p .. 'exp', id)
  redis.call('HDEL', p .. 'acc', id)
  redis.call('HDEL', p .. 'xk', id)
  if f[2] and redis.call('ZREM', p .. 'pt:' .. f[2], id) == 1 then redis.call('HINCRBY', p .. 'pv', f[2], 1) end
  if f[1] then return 1 end
  return listed
end
"""

ENSURE = Script(
    "sem_ensure",
    """
for i = 1, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
return redis.call('HGETALL', KEYS[1])
""",
)

_ACC = """
local function with_acc(p, id, rec)
  local a = redis.call('HGET', p .. 'acc', id)
  if a then rec[#rec + 1] = 'aa'; rec[#rec + 1] = a end
  return rec
end
"""

EXACT = Script(
    "sem_exact",
    _REMOVE
    + _ACC
    + """
local p = ARGV[1]
local id = redis.call('HGET', p .. 'exact', ARGV[2])
if not id then return false end
local rec = redis.call('HGETALL', p .. 'r:' .. id)
if #rec == 0 then
  remove(p, id)
  return false
end
return {id, with_acc(p, id, rec)}
""",
)

UPSERT = Script(
    "sem_upsert",
    _REMOVE
    + """
local p = ARGV[1]
local old = redis.call('HGET', p .. 'exact', ARGV[2])
if old then remove(p, old) end
local id = redis.call('INCR', p .. 'next')
local tick = redis.call('INCR', p .. 'tick')
local rk = p .. 'r:' .. id
-- One HSET with the vector: each write to an indexed hash makes the Query Engine index the document again.
local fields = {'ek', ARGV[2], 'pt', ARGV[3], 'sc', ARGV[4], 'lk', ARGV[5], 'pr', ARGV[6],
  'pl', ARGV[8], 'ca', ARGV[9], 'xa', ARGV[10], 'aa', ARGV[11], 'ph', ARGV[12], 'sh', ARGV[13]}
if ARGV[7] ~= '' then fields[#fields + 1] = 'vec'; fields[#fields + 1] = ARGV[7] end
redis.call('HSET', rk, unpack(fields))
redis.call('HSET', p .. 'exact', ARGV[2], id)
redis.call('ZADD', p .. 'lru', tick, id)
if ARGV[10] ~= '' then
  redis.call('ZADD', p .. 'exp', ARGV[10], id)
  redis.call('HSET', p .. 'xk', id, ARGV[12] .. ' ' .. ARGV[2])
  redis.call('PEXPIRE', rk, ARGV[15])
end
local evicted = 0
if ARGV[7] ~= '' then
  local pk = p .. 'pt:' .. ARGV[12]
  redis.call('ZADD', pk, tick, id)
  redis.call('HINCRBY', p .. 'pv', ARGV[12], 1)
  local limit = tonumber(ARGV[14])
  if limit > 0 then
    local over = redis.call('ZCARD', pk) - limit
    if over > 0 then
      for _, victim in ipairs(redis.call('ZRANGE', pk, 0, over - 1)) do evicted = evicted + remove(p, victim) end
    end
  end
end
return {id, evicted}
""",
)

# Plain mode: the partition's vectors, or only what the caller lacks. ``pv`` counts changes to each partition's
# vector set and ``epoch`` names this namespace's data (a new one after a FLUSHALL, when ids start over), so
# "<epoch>:<count>" tells a caller whether the vectors it cached are still the partition's. Ids are never
# reused within an epoch and a record's vector never changes, so only ids above the caller's highest are sent.
_VECTORS_FN = """
local function vectors(p, ph, known, after)
  local epoch = redis.call('GET', p .. 'epoch')
  if not epoch then
    local t = redis.call('TIME')
    redis.call('SET', p .. 'epoch', t[1] .. '.' .. t[2], 'NX')
    epoch = redis.call('GET', p .. 'epoch')
  end
  local version = epoch .. ':' .. (redis.call('HGET', p .. 'pv', ph) or '0')
  if version == known then return {version} end
  if string.sub(known, 1, #epoch + 1) ~= epoch .. ':' then after = -1 end
  local ids = redis.call('ZRANGE', p .. 'pt:' .. ph, 0, -1)
  local out = {version, ids}
  for _, id in ipairs(ids) do
    if tonumber(id) > after then
      local v = redis.call('HGET', p .. 'r:' .. id, 'vec')
      if v then out[#out + 1] = id; out[#out + 1] = v end
    end
  end
  return out
end
"""

VECTORS = Script(
    "sem_vectors",
    _VECTORS_FN
    + """
return vectors(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))
""",
)

# Plain mode's lookup with the vector at hand: the exact check and the partition's vector check in one script
# (the search's second round trip fetches the best records).
EXACT_OR_VECTORS = Script(
    "sem_exact_or_vectors",
    _REMOVE
    + _ACC
    + _VECTORS_FN
    + """
local p = ARGV[1]
local id = redis.call('HGET', p .. 'exact', ARGV[2])
if id then
  local rec = redis.call('HGETALL', p .. 'r:' .. id)
  if #rec > 0 then return {'e', id, with_acc(p, id, rec)} end
  remove(p, id)
end
local out = vectors(p, ARGV[3], ARGV[4], tonumber(ARGV[5]))
table.insert(out, 1, 'v')
return out
""",
)

FETCH = Script(
    "sem_fetch",
    _ACC
    + """
local p = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local rec = redis.call('HGETALL', p .. 'r:' .. ARGV[i])
  if #rec > 0 then out[#out + 1] = ARGV[i]; out[#out + 1] = with_acc(p, ARGV[i], rec) end
end
return out
""",
)

# The Query Engine search, as a Lua function: the partition's size picks the hybrid policy (see _server_search),
# FT.SEARCH runs inside the script (allowed on a single Redis Stack server; Cluster never uses the Query Engine)
# and returns the record fields itself, and one HMGET adds each result's last-use time, kept outside the indexed
# hash (see TOUCH). Results of another partition (possible when the plain KNN runs) are dropped.
_SEARCH_FN = """
local function search(p, ph, k, vec, algo, batches_from, ef)
  local size = redis.call('ZCARD', p .. 'pt:' .. ph)
  if size == 0 then return {} end
  local total = redis.call('ZCARD', p .. 'lru')
  local filter, policy = '(@ph:{' .. ph .. '})', ''
  if size >= total then
    -- Every record is in this partition: a plain KNN finds the same neighbours without testing a filter per
    -- candidate (0.15 ms instead of 0.2 at 10k, measured). Each result's partition is still checked below.
    filter = '*'
    if algo == 'hnsw' then policy = 'EF_RUNTIME ' .. ef .. ' ' end
  elseif algo == 'hnsw' then
    if size >= tonumber(batches_from) and size * 10 >= total then
      policy = 'HYBRID_POLICY BATCHES EF_RUNTIME ' .. ef .. ' '
    else
      policy = 'HYBRID_POLICY ADHOC_BF '
    end
  end
  local reply = redis.call('FT.SEARCH', p .. 'idx', filter .. '=>[KNN ' .. k .. ' @vec $v ' .. policy .. 'AS __d]',
    'PARAMS', 2, 'v', vec, 'RETURN', 11, '__d', 'ek', 'pt', 'sc', 'lk', 'pr', 'pl', 'ca', 'xa', 'aa', 'ph',
    'LIMIT', 0, k, 'DIALECT', 2)
  local out, ids = {}, {}
  local head = p .. 'r:'
  for i = 2, #reply, 2 do
    local key, rec = reply[i], reply[i + 1]
    local mine = false
    for j = 1, #rec, 2 do
      if rec[j] == 'ph' then mine = rec[j + 1] == ph end
    end
    if mine and string.sub(key, 1, #head) == head then
      ids[#ids + 1] = string.sub(key, #head + 1)
      out[#out + 1] = ids[#ids]
      out[#out + 1] = rec
    end
  end
  if #ids > 0 then
    local used = redis.call('HMGET', p .. 'acc', unpack(ids))
    for i = 1, #ids do
      if used[i] then local rec = out[2 * i]; rec[#rec + 1] = 'aa'; rec[#rec + 1] = used[i] end
    end
  end
  return out
end
"""

SEARCH = Script(
    "sem_search",
    _SEARCH_FN
    + """
return search(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
""",
)

# A lookup whose vector was at hand before the exact check: both steps in one round trip.
EXACT_OR_SEARCH = Script(
    "sem_exact_or_search",
    _REMOVE
    + _ACC
    + _SEARCH_FN
    + """
local p = ARGV[1]
local id = redis.call('HGET', p .. 'exact', ARGV[2])
if id then
  local rec = redis.call('HGETALL', p .. 'r:' .. id)
  if #rec > 0 then return {'e', id, with_acc(p, id, rec)} end
  remove(p, id)
end
local out = search(p, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
table.insert(out, 1, 's')
return out
""",
)

TOUCH = Script(
    "sem_touch",
    """
local p = ARGV[1]
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local rk = p .. 'r:' .. id
  local ph = redis.call('HGET', rk, 'ph')
  if ph then
    local tick = redis.call('INCR', p .. 'tick')
    redis.call('HSET', p .. 'acc', id, ARGV[i + 1])
    redis.call('ZADD', p .. 'lru', tick, id)
    if redis.call('ZSCORE', p .. 'pt:' .. ph, id) then redis.call('ZADD', p .. 'pt:' .. ph, tick, id) end
  end
end
return 0
""",
)

DELETE_IDS = Script(
    "sem_delete_ids",
    _REMOVE
    + """
local p = ARGV[1]
local n = 0
for i = 2, #ARGV do n = n + remove(p, ARGV[i]) end
return n
""",
)

DELETE_MATCHING = Script(
    "sem_delete_matching",
    _REMOVE
    + """
local p, scope, llm = ARGV[1], ARGV[2], ARGV[3]
local has_scope, has_llm = ARGV[4] == '1', ARGV[5] == '1'
local n = 0
for _, id in ipairs(redis.call('ZRANGE', p .. 'lru', 0, -1)) do
  local f = redis.call('HMGET', p .. 'r:' .. id, 'sc', 'lk')
  local ok = true
  if has_scope and f[1] then
    ok = f[1] == scope or string.sub(f[1], 1, #scope + 1) == scope .. '/'
  end
  if ok and has_llm then ok = f[2] == llm end
  if ok then n = n + remove(p, id) end
end
return n
""",
)

EVICT = Script(
    "sem_evict",
    _REMOVE
    + """
local p = ARGV[1]
local over = redis.call('ZCARD', p .. 'lru') - tonumber(ARGV[2])
local n = 0
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', p .. 'lru', 0, over - 1)) do n = n + remove(p, id) end
end
return n
""",
)

PURGE = Script(
    "sem_purge",
    _REMOVE
    + """
local p = ARGV[1]
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'exp', '-inf', ARGV[2])) do n = n + remove(p, id) end
return n
""",
)

SCAN_ENTRIES = Script(
    "sem_scan_entries",
    _ACC
    + """
local p, scope, llm = ARGV[1], ARGV[2], ARGV[3]
local has_scope, has_llm = ARGV[4] == '1', ARGV[5] == '1'
local after, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local ids = {}
for _, id in ipairs(redis.call('ZRANGE', p .. 'lru', 0, -1)) do
  local n = tonumber(id)
  if n > after then ids[#ids + 1] = n end
end
table.sort(ids)
local out = {}
for _, id in ipairs(ids) do
  if #out >= 2 * limit then break end
  local f = redis.call('HMGET', p .. 'r:' .. id, 'sc', 'lk')
  local ok = f[1] ~= false
  if ok and has_scope then ok = f[1] == scope or string.sub(f[1], 1, #scope + 1) == scope .. '/' end
  if ok and has_llm then ok = f[2] == llm end
  if ok then
    local rec = with_acc(p, id, redis.call('HGETALL', p .. 'r:' .. id))
    out[#out + 1] = id
    out[#out + 1] = rec
  end
end
return out
""",
)


def _fields(flat: Any) -> dict[str, Any]:
    """Hash fields from a flat reply or from the dict redis-py's HGETALL callback makes of it."""
    if isinstance(flat, dict):
        return {b2s(k): v for k, v in flat.items()}
    return {b2s(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def _search_results(flat: list[Any], start: int) -> list[tuple[SemanticRecord, float]]:
    """(record, similarity) pairs, best first, from the search script's flat id/fields reply."""
    out: list[tuple[SemanticRecord, float]] = []
    for i in range(start, len(flat), 2):
        fields = _raw_fields(flat[i + 1])
        if b"ek" not in fields or b"__d" not in fields:
            continue
        out.append((parse_record(int(flat[i]), fields), 1.0 - float(fields[b"__d"])))
    out.sort(key=lambda pair: (-pair[1], pair[0].id))
    return out


def _raw_fields(flat: list[Any]) -> dict[bytes, Any]:
    """Hash fields of a script's flat reply, names left as bytes (decoding them all cost 20 us a lookup)."""
    it = iter(flat)
    return dict(zip(it, it))


def parse_record(entry_id: int, f: dict[bytes, Any]) -> SemanticRecord:
    """A record from its hash fields (bytes names and values, as the scripts return them)."""
    vec = f.get(b"vec")
    expires = f.get(b"xa")
    return SemanticRecord(
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


_CHUNK = 1024


def _scores(matrix: np.ndarray[Any, Any], query: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``matrix @ query`` in blocks of 1024 rows: one big product lets OpenBLAS start its threads, and on a
    busy 2-core machine a 10k x 384 product then took 7 ms instead of 0.6 ms (measured)."""
    if matrix.shape[0] <= _CHUNK:
        out: np.ndarray[Any, Any] = matrix @ query
        return out
    return np.concatenate([matrix[i : i + _CHUNK] @ query for i in range(0, matrix.shape[0], _CHUNK)])


#: Plain mode keeps the vectors of this many partitions in process (least recently searched dropped first).
_CACHED_PARTITIONS = 64


class _Partition:
    """One partition's vectors as this process last saw them: id -> vector, and the stacked matrix."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.vectors: dict[int, np.ndarray[Any, Any]] = {}
        self.max_id = -1
        self._matrix: tuple[int, np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None

    def replace_ids(self, ids: list[int], new: dict[int, np.ndarray[Any, Any]]) -> None:
        keep = set(ids)
        self.vectors = {i: v for i, v in self.vectors.items() if i in keep}
        self.vectors.update(new)
        self.max_id = max([self.max_id, *new]) if new else self.max_id
        self._matrix = None

    def matrix(self, dim: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(rows, ids) of the vectors with the query's dimension (others cannot be compared)."""
        if self._matrix is None or self._matrix[0] != dim:
            items = [(i, v) for i, v in self.vectors.items() if v.shape[0] == dim]
            ids = np.array([i for i, _ in items], dtype=np.int64)
            rows = np.stack([v for _, v in items]) if items else np.zeros((0, dim), dtype=np.float32)
            self._matrix = (dim, rows, ids)
        return self._matrix[1], self._matrix[2]


class _VectorCache:
    """Plain mode's in-process copy of partitions' vectors, checked against the server on every search.

    The check is the search script itself: it answers with only the version when nothing changed, so a search
    transfers a few bytes instead of ``partition_limit x dimension x 4``. Several threads may search at once.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: OrderedDict[tuple[str, str], _Partition] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, namespace: str, ph: str) -> _Partition | None:
        with self._lock:
            part = self._parts.get((namespace, ph))
            if part is not None:
                self._parts.move_to_end((namespace, ph))
            return part

    def update(self, namespace: str, ph: str, cached: _Partition | None, reply: list[Any]) -> _Partition:
        version = b2s(reply[0])
        if len(reply) == 1 and cached is not None:
            return cached  # unchanged
        ids = [int(b2s(i)) for i in (reply[1] if len(reply) > 1 else [])]
        new = {
            int(b2s(reply[j])): np.frombuffer(reply[j + 1], dtype=np.float32).copy()
            for j in range(2, len(reply), 2)
        }
        same_epoch = cached is not None and cached.version.split(":")[0] == version.split(":")[0]
        part = _Partition(version)
        if same_epoch and cached is not None:
            part.vectors, part.max_id = dict(cached.vectors), cached.max_id
        part.replace_ids(ids, new)
        with self._lock:
            self._parts[(namespace, ph)] = part
            self._parts.move_to_end((namespace, ph))
            while len(self._parts) > self._limit:
                self._parts.popitem(last=False)
        return part


class SemanticCommands:
    """The semantic operations of one Redis backend, as generators of calls."""

    def __init__(self, prefix: str, index: str, partition_limit: int, ef_runtime: int = 20) -> None:
        self.prefix = prefix
        self.ef_runtime = ef_runtime  # HNSW candidate list size per search (see url.py)
        self.index = index  # "auto" (until detected), "hnsw", "flat" or "none"
        self.partition_limit = partition_limit
        self._ready: dict[str, int] = {}  # namespace -> dimension of its Query Engine index
        self._vectors = _VectorCache(_CACHED_PARTITIONS)

    # -- Query Engine detection and index -------------------------------------------------------------------

    def detect(self) -> RFlow:
        """Resolve ``auto`` once per backend: HNSW when the server has the search module, else plain."""
        if self.index != "auto":
            return
        try:
            modules = yield Cmd(("MODULE", "LIST"))
        except ResponseError:  # an ACL may forbid MODULE LIST; try the search command itself
            try:
                yield Cmd(("FT._LIST",))
            except ResponseError:
                self.index = "none"
                return
            self.index = "hnsw"
            return
        names = set()
        for module in modules or []:
            fields = _fields(module)
            names.add(b2s(fields.get("name", b"")).lower())
        self.index = "hnsw" if names & {"search", "ft", "searchlight"} else "none"

    @property
    def server_index(self) -> bool:
        return self.index in ("hnsw", "flat")

    def _ensure_index(self, namespace: str, dim: int | None) -> RFlow:
        """Create the namespace's index (idempotent) once its dimension is known; check it matches."""
        if namespace in self._ready:
            if dim is not None and self._ready[namespace] != dim:
                raise SettingsMismatchError("dimension (Redis vector index)", self._ready[namespace], dim)
            return
        base = sem_base(self.prefix, namespace)
        stored = yield Cmd(("GET", base + "idxdim"))
        if stored is None:
            if dim is None:
                return
            yield Cmd(("SET", base + "idxdim", str(dim), "NX"))
            stored = yield Cmd(("GET", base + "idxdim"))
        have = int(b2s(stored))
        algo = "HNSW" if self.index == "hnsw" else "FLAT"
        extra: tuple[Any, ...] = ("M", 16, "EF_CONSTRUCTION", 200) if algo == "HNSW" else ()
        try:
            yield Cmd(
                (
                    "FT.CREATE", base + "idx", "ON", "HASH", "PREFIX", 1, base + "r:",
                    "SCHEMA", "ph", "TAG", "sh", "TAG", "vec", "VECTOR", algo, 6 + len(extra),
                    "TYPE", "FLOAT32", "DIM", have, "DISTANCE_METRIC", "COSINE", *extra,
                )
            )  # fmt: skip
        except ResponseError as exc:
            if "already exists" not in str(exc).lower():
                raise
        self._ready[namespace] = have
        if dim is not None and dim != have:
            raise SettingsMismatchError("dimension (Redis vector index)", have, dim)

    # -- operations ---------------------------------------------------------------------------------------

    def ensure_settings(self, op: EnsureSettings) -> RFlow:
        args: list[str] = []
        for key, value in op.values.items():
            args += [key, value]
        if op.replace:
            yield Cmd(
                (
                    "HSET",
                    sem_base(self.prefix, op.namespace) + "settings",
                    *[x for pair in op.replace.items() for x in pair],
                )
            )
        flat = yield Lua(ENSURE, (sem_base(self.prefix, op.namespace) + "settings",), tuple(args))
        return {k: b2s(v) for k, v in _fields(flat).items()}

    def exact_get(self, op: ExactGet) -> RFlow:
        base = sem_base(self.prefix, op.namespace)
        reply = yield Lua(EXACT, (base + "exact",), (base, op.exact_key))
        if not reply:
            return None
        return parse_record(int(reply[0]), _raw_fields(reply[1]))

    def upsert(self, op: Upsert) -> RFlow:
        yield from self.detect()
        rec = op.record
        base = sem_base(self.prefix, op.namespace)
        vec = b""
        if rec.vector is not None:
            arr = np.ascontiguousarray(rec.vector, dtype=np.float32).reshape(-1)
            vec = arr.tobytes()
            if self.server_index:
                yield from self._ensure_index(op.namespace, int(arr.shape[0]))
        args = (
            base, rec.exact_key, rec.partition, rec.scope, rec.llm_key, rec.prompt, vec, rec.payload,
            num(rec.created_at), "" if rec.expires_at is None else num(rec.expires_at), num(rec.accessed_at),
            h(rec.partition), h(rec.scope), 0 if self.server_index else self.partition_limit,
            expiry_ms(rec.created_at, rec.expires_at),
        )  # fmt: skip
        reply = yield Lua(UPSERT, (base + "exact",), args)
        return Upserted(int(reply[0]), int(reply[1]))  # evicted by partition_limit (plain mode)

    def vector_search(self, op: VectorSearch) -> RFlow:
        yield from self.detect()
        base = sem_base(self.prefix, op.namespace)
        query = np.ascontiguousarray(op.vector, dtype=np.float32).reshape(-1)
        if op.k <= 0:
            return []
        if self.server_index:
            return (yield from self._server_search(op, base, query))
        ph = h(op.partition)
        cached = self._vectors.get(op.namespace, ph)
        known, after = ("", -1) if cached is None else (cached.version, cached.max_id)
        reply = yield Lua(VECTORS, (base + "lru",), (base, ph, known, after))
        part = self._vectors.update(op.namespace, ph, cached, reply)
        return (yield from self._rank_and_fetch(part, op.k, base, query))

    def _rank_and_fetch(self, part: _Partition, k: int, base: str, query: np.ndarray[Any, Any]) -> RFlow:
        """Plain mode's second step: rank the partition's cached vectors here, fetch the ``k`` best records."""
        matrix, ids = part.matrix(query.shape[0])
        if not len(ids):
            return []
        scores = _scores(matrix, query)
        k = min(k, len(ids))
        best = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
        order = sorted(best.tolist(), key=lambda j: (-float(scores[j]), int(ids[j])))
        chosen = [(int(ids[j]), float(scores[j])) for j in order]
        flat = yield Lua(FETCH, (base + "lru",), (base, *(i for i, _ in chosen)))
        records = {int(flat[j]): _raw_fields(flat[j + 1]) for j in range(0, len(flat), 2)}
        return [
            (parse_record(i, records[i]), score)
            for i, score in chosen
            if i in records  # deleted between the two round trips
        ]

    def _server_search(self, op: VectorSearch, base: str, query: np.ndarray[Any, Any]) -> RFlow:
        yield from self._ensure_index(op.namespace, None)
        if op.namespace not in self._ready:
            return []  # nothing with a vector was ever stored here
        if self._ready[op.namespace] != query.shape[0]:
            raise SettingsMismatchError(
                "dimension (Redis vector index)", self._ready[op.namespace], int(query.shape[0])
            )
        # The partition TAG filter lets RediSearch pick its own hybrid policy, and for a partition holding most of
        # the index it picks ADHOC_BF: a brute-force scan of every vector (1 ms at 10k x 384, measured). HNSW in
        # BATCHES mode walks the graph and filters as it goes (0.3 ms); a partition that is a small share of the
        # index stays ADHOC_BF, which scans only its own vectors. The script reads the sizes and decides.
        args = (
            base, h(op.partition), int(op.k), query.tobytes(), self.index, _BATCHES_FROM, self.ef_runtime,
        )  # fmt: skip
        flat = yield from self._search(op.namespace, int(query.shape[0]), Lua(SEARCH, (base + "lru",), args))
        return _search_results(flat, 0)

    def _search(self, namespace: str, dim: int, call: Lua) -> RFlow:
        """The search script's reply. When the index is gone, it is made again (with the query's dimension
        if its record is gone too: the engine's stored settings fix the dimension) and the search runs once
        more; the entries stored since the loss are indexed as FT.CREATE scans them."""
        try:
            return (yield call)
        except ResponseError as exc:
            text = str(exc).lower()
            if "no such index" not in text and "unknown index" not in text:
                raise
        self._ready.pop(namespace, None)
        logger.info(
            "Redis search index of namespace %r was gone (FLUSHALL or a restart without persistence?): "
            "made it again",
            namespace,
        )
        yield from self._ensure_index(namespace, dim)
        return (yield call)

    def exact_or_search(self, op: ExactOrSearch) -> RFlow:
        """One script on the Query Engine; in plain mode the exact check rides with the vector check (two)."""
        yield from self.detect()
        base = sem_base(self.prefix, op.namespace)
        query = np.ascontiguousarray(op.vector, dtype=np.float32).reshape(-1)
        if op.k <= 0:
            return (yield from self.exact_get(ExactGet(op.namespace, op.exact_key))), []
        if not self.server_index:
            ph = h(op.partition)
            cached = self._vectors.get(op.namespace, ph)
            known, after = ("", -1) if cached is None else (cached.version, cached.max_id)
            reply = yield Lua(EXACT_OR_VECTORS, (base + "lru",), (base, op.exact_key, ph, known, after))
            if b2s(reply[0]) == "e":
                return parse_record(int(reply[1]), _raw_fields(reply[2])), []
            part = self._vectors.update(op.namespace, ph, cached, reply[1:])
            return None, (yield from self._rank_and_fetch(part, op.k, base, query))
        yield from self._ensure_index(op.namespace, None)
        if op.namespace not in self._ready:
            record = yield from self.exact_get(ExactGet(op.namespace, op.exact_key))
            return record, []  # nothing with a vector was ever stored here
        if self._ready[op.namespace] != query.shape[0]:
            raise SettingsMismatchError(
                "dimension (Redis vector index)", self._ready[op.namespace], int(query.shape[0])
            )
        args = (
            base, op.exact_key, h(op.partition), int(op.k), query.tobytes(), self.index, _BATCHES_FROM,
            self.ef_runtime,
        )  # fmt: skip
        call = Lua(EXACT_OR_SEARCH, (base + "lru",), args)
        flat = yield from self._search(op.namespace, int(query.shape[0]), call)
        if b2s(flat[0]) == "e":
            return parse_record(int(flat[1]), _raw_fields(flat[2])), []
        return None, _search_results(flat, 1)

    def touch(self, op: Touch) -> RFlow:
        call = self.touch_call(op)
        if call is not None:
            yield call

    def touch_call(self, op: Touch) -> Lua | None:
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

    def delete_ids(self, op: DeleteIds) -> RFlow:
        call = self.delete_ids_call(op)
        return 0 if call is None else int((yield call))

    def delete_ids_call(self, op: DeleteIds) -> Lua | None:
        """The script deleting records by id (the backend may defer it to ride with its next command)."""
        if not op.ids:
            return None
        base = sem_base(self.prefix, op.namespace)
        return Lua(DELETE_IDS, (base + "lru",), (base, *op.ids))

    def delete_matching(self, op: DeleteMatching) -> RFlow:
        base = sem_base(self.prefix, op.namespace)
        args = (
            base, op.scope or "", op.llm_key or "",
            "0" if op.scope is None else "1", "0" if op.llm_key is None else "1",
        )  # fmt: skip
        return int((yield Lua(DELETE_MATCHING, (base + "lru",), args)))

    def evict_overflow(self, op: EvictOverflow) -> RFlow:
        base = sem_base(self.prefix, op.namespace)
        return int((yield Lua(EVICT, (base + "lru",), (base, op.max_entries))))

    def purge_expired(self, op: PurgeExpired) -> RFlow:
        base = sem_base(self.prefix, op.namespace)
        return int((yield Lua(PURGE, (base + "lru",), (base, num(op.now)))))

    def scan_entries(self, op: ScanEntries) -> RFlow:
        if op.limit <= 0:
            return []
        base = sem_base(self.prefix, op.namespace)
        args = (
            base, op.scope or "", op.llm_key or "",
            "0" if op.scope is None else "1", "0" if op.llm_key is None else "1",
            int(op.after_id), int(op.limit),
        )  # fmt: skip
        flat = yield Lua(SCAN_ENTRIES, (base + "lru",), args)
        out = []
        for i in range(0, len(flat), 2):
            fields = _raw_fields(flat[i + 1])
            fields.pop(b"vec", None)
            out.append(parse_record(int(flat[i]), fields))
        return out

    def count(self, op: CountEntries) -> RFlow:
        return int((yield Cmd(("ZCARD", sem_base(self.prefix, op.namespace) + "lru"))))


def check_index_option(index: str) -> None:
    if index not in ("auto", "hnsw", "flat", "none"):
        raise ConfigError(f"unknown index option {index!r}")
