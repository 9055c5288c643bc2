"""Append-only lists on Redis: one list = one slot (``{l/<namespace>/<key>}``), every change one Lua script.

Layout under the list's base: ``meta`` hash (``next``, ``upd``, ``base``, ``arch``; its existence is the
list's), ``seqs`` zset of seqs (score = seq), ``vals`` hash seq -> value. Redis can drop any one of these keys
on its own (eviction, a ``DEL``): a lost ``seqs`` is rebuilt from ``vals`` by every script, a lost ``meta`` is
recreated only by an append that asks to (continuing after the seqs still held), and seqs whose value is gone
are returned with ``None`` for the session tier to report. A script runs alone on the server, so
seq assignment, trims and replaces from many machines interleave without losing or reordering an item.
Listing uses SCAN with MATCH on the namespace's ``meta`` keys (never KEYS); a page costs one pass over them.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from ...kernel.ops import (
    EvictionPolicy,
    ListAppend,
    ListAppended,
    ListDelete,
    ListDeleteSeqs,
    ListIdle,
    ListInfo,
    ListKeys,
    ListRange,
    ListReplace,
    ListRestore,
    ListStatus,
    ListTrimThrough,
    StoreEviction,
)
from .calls import Cmd, Lua, Pipe, RFlow, Scan, Script, b2s, num
from .keys import list_base, list_key_from_meta, list_meta_pattern

_INIT = """
local function init(p)
  if redis.call('EXISTS', p .. 'meta') == 0 then
    redis.call('HSET', p .. 'meta', 'next', 1, 'upd', 0, 'base', 0, 'arch', 0)
  end
end
"""

# Redis drops whole keys on its own (eviction under an allkeys-* maxmemory-policy, a DEL by hand). A list whose
# seq index is gone while its values remain is rebuilt from the values' fields before any script reads or
# changes it, so those messages are neither hidden nor overwritten (one EXISTS when nothing is wrong).
_HEAL = """
local function heal(p)
  if redis.call('EXISTS', p .. 'seqs') == 1 then return end
  local held = redis.call('HKEYS', p .. 'vals')
  for from = 1, #held, 1000 do  -- unpack() takes at most a few thousand values
    local scores = {}
    for i = from, math.min(#held, from + 999) do
      scores[#scores + 1] = held[i]; scores[#scores + 1] = held[i]
    end
    redis.call('ZADD', p .. 'seqs', unpack(scores))
  end
end
"""

# An append is the chat hot path (one per message): one HMGET, then one ZADD, one HSET for all values and one HSET
# of the marks, whatever the number of values.
APPEND = Script(
    "list_append",
    _HEAL
    + """
local p, now, min_seq = ARGV[1], ARGV[2], tonumber(ARGV[3])
local m = p .. 'meta'
heal(p)
local nxt = redis.call('HGET', m, 'next')
local state, recovered = 0, 0
if not nxt then
  -- No status: a new list, or one whose status key the store lost. Only a caller that read the session's
  -- archive may create it (ARGV[4] = '1'); seqs continue after anything the store still holds under it.
  if ARGV[4] ~= '1' then return {0, 0, -1, 0} end
  local top = redis.call('ZRANGE', p .. 'seqs', -1, -1)[1]
  nxt = top and tonumber(top) + 1 or 1
  recovered = redis.call('HLEN', p .. 'vals')
  redis.call('HSET', m, 'next', nxt, 'upd', 0, 'base', 0, 'arch', ARGV[5])
  state = 1
end
local start = math.max(tonumber(nxt), min_seq)
local n = #ARGV - 5
if n > 0 then
  for from = 1, n, 1000 do  -- unpack() takes at most a few thousand values
    local scores, vals = {}, {}
    for i = from, math.min(n, from + 999) do
      local seq = start + i - 1
      scores[#scores + 1] = seq; scores[#scores + 1] = seq
      vals[#vals + 1] = seq; vals[#vals + 1] = ARGV[i + 5]
    end
    redis.call('ZADD', p .. 'seqs', unpack(scores))
    redis.call('HSET', p .. 'vals', unpack(vals))
  end
  redis.call('HSET', m, 'next', start + n, 'upd', now)
else
  redis.call('HSET', m, 'upd', now)
end
return {start, redis.call('ZCARD', p .. 'seqs'), state, recovered}
""",
)

# A read of the last n (the chat hot path) walks only those n seqs, newest first, and fetches them in one HMGET.
RANGE = Script(
    "list_range",
    _HEAL
    + """
local p = ARGV[1]
heal(p)
local last_n, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local seqs
if ARGV[2] == '' and last_n >= 0 then
  local rev = redis.call('ZREVRANGEBYSCORE', p .. 'seqs', '+inf', '-inf', 'LIMIT', 0, last_n)
  seqs = {}
  for i = #rev, 1, -1 do seqs[#seqs + 1] = rev[i] end
else
  local lo = ARGV[2] == '' and '-inf' or '(' .. ARGV[2]
  seqs = redis.call('ZRANGEBYSCORE', p .. 'seqs', lo, '+inf')
  if last_n >= 0 and #seqs > last_n then
    local tail = {}
    for i = #seqs - last_n + 1, #seqs do tail[#tail + 1] = seqs[i] end
    seqs = tail
  end
end
if limit >= 0 and #seqs > limit then
  local head = {}
  for i = 1, limit do head[i] = seqs[i] end
  seqs = head
end
if #seqs == 0 then return {} end
local out = {}
for from = 1, #seqs, 1000 do  -- unpack() takes at most a few thousand values
  local upto = math.min(#seqs, from + 999)
  local vals = redis.call('HMGET', p .. 'vals', unpack(seqs, from, upto))
  for i = from, upto do
    out[#out + 1] = seqs[i]
    out[#out + 1] = vals[i - from + 1]
  end
end
return out
""",
)

RESTORE = Script(
    "list_restore",
    _HEAL
    + """
local p, now = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'meta') == 0 then return 0 end
heal(p)
local base = tonumber(redis.call('HGET', p .. 'meta', 'base'))
local nxt = tonumber(redis.call('HGET', p .. 'meta', 'next'))
local added = 0
for i = 3, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq >= base and not redis.call('ZSCORE', p .. 'seqs', seq) then
    redis.call('ZADD', p .. 'seqs', seq, seq)
    redis.call('HSET', p .. 'vals', seq, ARGV[i + 1])
    added = added + 1
  end
  if seq + 1 > nxt then nxt = seq + 1 end
end
redis.call('HSET', p .. 'meta', 'next', nxt, 'upd', now)
return added
""",
)

TRIM = Script(
    "list_trim",
    _HEAL
    + """
local p, seq = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', p .. 'meta') == 0 then return 0 end
heal(p)
local doomed = redis.call('ZRANGEBYSCORE', p .. 'seqs', '-inf', seq)
for _, s in ipairs(doomed) do redis.call('HDEL', p .. 'vals', s) end
redis.call('ZREMRANGEBYSCORE', p .. 'seqs', '-inf', seq)
if seq > tonumber(redis.call('HGET', p .. 'meta', 'arch')) then redis.call('HSET', p .. 'meta', 'arch', seq) end
return #doomed
""",
)

DELETE_SEQS = Script(
    "list_delete_seqs",
    _HEAL
    + """
local p, n = ARGV[1], 0
heal(p)
for i = 2, #ARGV do
  if redis.call('ZREM', p .. 'seqs', ARGV[i]) == 1 then
    redis.call('HDEL', p .. 'vals', ARGV[i])
    n = n + 1
  end
end
return n
""",
)

REPLACE = Script(
    "list_replace",
    _INIT
    + """
local p, now = ARGV[1], ARGV[2]
init(p)
local start = math.max(tonumber(redis.call('HGET', p .. 'meta', 'next')), tonumber(ARGV[3]))
redis.call('DEL', p .. 'seqs', p .. 'vals')
for i = 4, #ARGV do
  local seq = start + i - 4
  redis.call('ZADD', p .. 'seqs', seq, seq)
  redis.call('HSET', p .. 'vals', seq, ARGV[i])
end
redis.call('HSET', p .. 'meta', 'next', start + #ARGV - 3, 'base', start, 'upd', now)
return {start, #ARGV - 3}
""",
)

DELETE = Script(
    "list_delete",
    """
local p = ARGV[1]
local n = redis.call('ZCARD', p .. 'seqs')
redis.call('DEL', p .. 'meta', p .. 'seqs', p .. 'vals')
return n
""",
)

INFO = Script(
    "list_info",
    _HEAL
    + """
local p = ARGV[1]
heal(p)
local m = redis.call('HMGET', p .. 'meta', 'next', 'upd', 'base', 'arch')
if not m[1] then return false end
local first = redis.call('ZRANGE', p .. 'seqs', 0, 0)[1] or ''
local last = redis.call('ZRANGE', p .. 'seqs', -1, -1)[1] or ''
return {redis.call('ZCARD', p .. 'seqs'), first, last, m[1], m[2], m[3], m[4]}
""",
)


def _opt_int(value: Any) -> int | None:
    text = b2s(value)
    return int(text) if text else None


def parse_status(reply: list[Any]) -> ListStatus:
    return ListStatus(
        length=int(reply[0]),
        first_seq=_opt_int(reply[1]),
        last_seq=_opt_int(reply[2]),
        next_seq=int(b2s(reply[3])),
        updated_at=float(b2s(reply[4])),
        base_seq=int(b2s(reply[5])),
        archived_through=int(b2s(reply[6])),
    )


def _config_pairs(reply: Any) -> dict[str, str]:
    """``CONFIG GET`` as a dict: a flat [name, value, ...] list, a dict, or (Cluster) a dict per node, merged
    so that a node that can evict wins over one that cannot."""
    if isinstance(reply, (list, tuple)):
        return {b2s(reply[i]): b2s(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}
    if isinstance(reply, dict):
        if all(isinstance(v, (dict, list, tuple)) for v in reply.values()) and reply:
            merged: dict[str, str] = {}
            for node in reply.values():
                pairs = _config_pairs(node)
                if not merged or pairs.get("maxmemory-policy", "").startswith("allkeys"):
                    merged = pairs
            return merged
        return {b2s(k): b2s(v) for k, v in reply.items()}
    return {}


class ListCommands:
    """The list operations of one Redis backend, as generators of calls."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _lua(self, script: Script, namespace: str, key: str, *args: object) -> Lua:
        base = list_base(self.prefix, namespace, key)
        return Lua(script, (base + "meta",), (base, *args))

    def append(self, op: ListAppend) -> RFlow:
        start, length, state, recovered = yield self._lua(
            APPEND,
            op.namespace,
            op.key,
            num(op.now),
            op.min_seq,
            "1" if op.create else "0",
            int(op.archived_through),
            *op.values,
        )
        if int(state) < 0:
            return ListAppended((), 0, missing=True)
        start = int(start)
        return ListAppended(
            tuple(range(start, start + len(op.values))),
            int(length),
            created=int(state) == 1,
            recovered=int(recovered),
        )

    def range(self, op: ListRange) -> RFlow:
        after = "" if op.after_seq is None else str(int(op.after_seq))
        last_n = -1 if op.last_n is None else max(0, op.last_n)
        limit = -1 if op.limit is None else max(0, op.limit)
        if last_n == 0 or limit == 0:
            return []
        flat = yield self._lua(RANGE, op.namespace, op.key, after, last_n, limit)
        # A seq whose value the store lost (its values key evicted) comes back as None, for the tier to report.
        return [
            (int(flat[i]), None if flat[i + 1] is None else bytes(flat[i + 1]))
            for i in range(0, len(flat), 2)
        ]

    def restore(self, op: ListRestore) -> RFlow:
        args: list[object] = []
        for seq, value in op.items:
            args += [int(seq), value]
        return int((yield self._lua(RESTORE, op.namespace, op.key, num(op.now), *args)))

    def trim_through(self, op: ListTrimThrough) -> RFlow:
        return int((yield self._lua(TRIM, op.namespace, op.key, int(op.seq))))

    def delete_seqs(self, op: ListDeleteSeqs) -> RFlow:
        if not op.seqs:
            return 0
        return int((yield self._lua(DELETE_SEQS, op.namespace, op.key, *(int(s) for s in op.seqs))))

    def replace(self, op: ListReplace) -> RFlow:
        start, count = yield self._lua(REPLACE, op.namespace, op.key, num(op.now), op.min_seq, *op.values)
        start = int(start)
        return ListAppended(tuple(range(start, start + int(count))), int(count))

    def delete(self, op: ListDelete) -> RFlow:
        return int((yield self._lua(DELETE, op.namespace, op.key)))

    def info(self, op: ListInfo) -> RFlow:
        reply = yield self._lua(INFO, op.namespace, op.key)
        return parse_status(reply) if reply else None

    def eviction(self, op: StoreEviction) -> RFlow:
        try:
            reply = yield Cmd(("CONFIG", "GET", "maxmemory*"))
        except ResponseError:  # CONFIG is refused by some managed services and ACLs: unknown, not an error
            return EvictionPolicy(None, None)
        pairs = _config_pairs(reply)
        limit = pairs.get("maxmemory")
        return EvictionPolicy(
            pairs.get("maxmemory-policy"), int(limit) if limit and limit.isdigit() else None
        )

    def _all_keys(self, namespace: str, prefix: str) -> RFlow:
        found = yield Scan(list_meta_pattern(self.prefix, namespace, prefix))
        keys = set()
        for raw in found:
            key = list_key_from_meta(self.prefix, namespace, b2s(raw))
            if key is not None and key.startswith(prefix):
                keys.add(key)
        return sorted(keys)

    def keys(self, op: ListKeys) -> RFlow:
        found: list[str] = yield from self._all_keys(op.namespace, op.prefix)
        if op.after is not None:
            found = [k for k in found if k > op.after]
        return found[: op.limit]

    def idle(self, op: ListIdle) -> RFlow:
        found: list[str] = yield from self._all_keys(op.namespace, "")
        if not found:
            return []
        cmds: list[tuple[Any, ...]] = []
        for key in found:
            base = list_base(self.prefix, op.namespace, key)
            cmds += [("HGET", base + "meta", "upd"), ("ZCARD", base + "seqs")]
        replies = yield Pipe(tuple(cmds))
        idle = []
        for i, key in enumerate(found):
            updated, length = replies[2 * i], replies[2 * i + 1]
            if updated is not None and int(length) > 0 and float(b2s(updated)) < op.older_than:
                idle.append((float(b2s(updated)), key))
        idle.sort()
        return [key for _, key in idle[: op.limit]]


__all__ = ["ListCommands", "Cmd"]
