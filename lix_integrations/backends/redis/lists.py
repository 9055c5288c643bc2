"""Append-only lists on Redis: one list = one slot (``{l/<namespace>/<key>}``), every change one Lua script.

Layout under the list's base: ``meta`` hash (``next``, ``upd``, ``base``, ``arch``, and ``vid``/``ver``: a token
set when the status is made and a counter every change bumps; its existence is the list's), ``seqs`` zset of seqs
(score = seq), ``vals`` hash seq -> value. A list's version stamp joins ``vid``, ``ver``, ``next``, ``base`` and
the sizes of ``seqs`` and ``vals``, so a reader holding a copy learns in one small reply that nothing changed,
also after a change by a client that does not bump ``ver`` or a key Redis dropped on its own. Redis can drop any one of these keys
on its own (eviction, a ``DEL``): a lost ``seqs`` is rebuilt from ``vals`` by every script, a lost ``meta`` is
recreated only by an append that asks to (continuing after the seqs still held), and seqs whose value is gone
are returned with ``None`` for the session tier to report. A script runs alone on the server, so
seq assignment, trims and replaces from many machines interleave without losing or reordering an item.
Listing uses SCAN with MATCH on the namespace's ``meta`` keys (never KEYS); a page costs one pass over them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...kernel import list_ops as ops
from ...kernel.op import Op
from .commands import Cmd, Lua, Pipe, Plan, Scan, Script, Step, b2s, num
from .keys import list_base, list_key_from_meta, list_meta_pattern

_INIT = """
local function init(p)
  if redis.call('EXISTS', p .. 'meta') == 0 then
    local t = redis.call('TIME')
    redis.call('HSET', p .. 'meta', 'next', 1, 'upd', 0, 'base', 0, 'arch', 0, 'vid', t[1] .. t[2], 'ver', 0)
  end
end
"""

# The version stamp (see the module docstring): ``m`` is HMGET meta vid ver next base, ``zc``/``hl`` the sizes of
# seqs and vals.
_STAMP = """
local function stamp(m, zc, hl)
  return table.concat({m[1] or '', m[2] or '0', m[3] or '', m[4] or '', zc, hl}, ':')
end
local function bump(p)
  redis.call('HINCRBY', p .. 'meta', 'ver', 1)
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

# An append is the chat hot path (one per message): one HMGET, then one ZADD, one HSET for all values, one HSET
# of the marks and the stamps before and after, whatever the number of values. One value on a list that needs
# no healing (the common case) takes a straight path first, before the helpers are even defined: 9.3 instead of
# 11.4 us of server time (2026-12-04, EVALSHA usec_per_call on Redis 7.4, loaded 2-core machine).
APPEND = Script(
    "list_append",
    """
local p = ARGV[1]
local m, sk, vk = p .. 'meta', p .. 'seqs', p .. 'vals'
local st = redis.call('HMGET', m, 'vid', 'ver', 'next', 'base')
local zc, hl = redis.call('ZCARD', sk), redis.call('HLEN', vk)
if st[3] and #ARGV == 6 and (zc > 0 or hl == 0) then
  local start = math.max(tonumber(st[3]), tonumber(ARGV[3]))
  redis.call('ZADD', sk, start, start)
  redis.call('HSET', vk, start, ARGV[6])
  local ver = tonumber(st[2] or '0') + 1
  redis.call('HSET', m, 'next', start + 1, 'upd', ARGV[2], 'ver', ver)
  local vid, base = st[1] or '', st[4] or ''
  return {start, zc + 1, 0, 0,
    vid .. ':' .. ver .. ':' .. (start + 1) .. ':' .. base .. ':' .. (zc + 1) .. ':' .. (hl + 1),
    vid .. ':' .. (st[2] or '0') .. ':' .. st[3] .. ':' .. base .. ':' .. zc .. ':' .. hl}
end
"""
    + _HEAL
    + _STAMP
    + """
local now, min_seq = ARGV[2], tonumber(ARGV[3])
if zc == 0 and hl > 0 then
  heal(p)
  zc = redis.call('ZCARD', sk)
end
local nxt = st[3]
local state, recovered, before = 0, 0, ''
if not nxt then
  -- No status: a new list, or one whose status key the store lost. Only a caller that read the session's
  -- archive may create it (ARGV[4] = '1'); seqs continue after anything the store still holds under it.
  if ARGV[4] ~= '1' then return {0, 0, -1, 0, '', ''} end
  local top = redis.call('ZRANGE', sk, -1, -1)[1]
  nxt = top and tonumber(top) + 1 or 1
  recovered = hl
  local t = redis.call('TIME')
  st = {t[1] .. t[2], '0', nxt, '0'}
  redis.call('HSET', m, 'next', nxt, 'upd', 0, 'base', 0, 'arch', ARGV[5], 'vid', st[1], 'ver', 0)
  state = 1
else
  before = stamp(st, zc, hl)
end
local start = math.max(tonumber(nxt), min_seq)
local n = #ARGV - 5
for from = 1, n, 1000 do  -- unpack() takes at most a few thousand values
  local scores, vals = {}, {}
  for i = from, math.min(n, from + 999) do
    local seq = start + i - 1
    scores[#scores + 1] = seq; scores[#scores + 1] = seq
    vals[#vals + 1] = seq; vals[#vals + 1] = ARGV[i + 5]
  end
  redis.call('ZADD', sk, unpack(scores))
  redis.call('HSET', vk, unpack(vals))
end
-- New seqs are above every held one and their fields new: the sizes grow by n.
local ver = tonumber(st[2] or '0') + 1
if n > 0 then nxt = start + n end
redis.call('HSET', m, 'next', nxt, 'upd', now, 'ver', ver)
return {start, zc + n, state, recovered, stamp({st[1], ver, nxt, st[4]}, zc + n, hl + n), before}
""",
)

# Seqs and their values, flat (seq, value, ...); a value the store lost comes back as nil (None in Python).
_WITH_VALUES = """
local function with_values(p, seqs)
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
end
"""

# A read of the last n walks only those n seqs, newest first, and fetches them in one HMGET.
RANGE = Script(
    "list_range",
    _HEAL
    + _WITH_VALUES
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
return with_values(p, seqs)
""",
)

# A whole list and its status in one step, or only the status when the caller's copy is current (the chat read
# path: one round trip, and a few bytes when nothing changed). No status: the items still held, for the tier to
# report the loss.
SNAPSHOT = Script(
    "list_snapshot",
    _HEAL
    + _STAMP
    + _WITH_VALUES
    + """
local p = ARGV[1]
local m = redis.call('HMGET', p .. 'meta', 'vid', 'ver', 'next', 'base', 'upd', 'arch')
local zc, hl = redis.call('ZCARD', p .. 'seqs'), redis.call('HLEN', p .. 'vals')
if zc == 0 and hl > 0 then
  heal(p)
  zc = redis.call('ZCARD', p .. 'seqs')
end
local version = ''
if m[3] then
  version = stamp(m, zc, hl)
  if version == ARGV[2] then return {version} end
end
local seqs = redis.call('ZRANGE', p .. 'seqs', 0, -1)
local out = with_values(p, seqs)
local status = {}
if m[3] then status = {#seqs, seqs[1] or '', seqs[#seqs] or '', m[3], m[5], m[4], m[6]} end
return {version, status, out}
""",
)

RESTORE = Script(
    "list_restore",
    _HEAL
    + _STAMP
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
bump(p)
return added
""",
)

TRIM = Script(
    "list_trim",
    _HEAL
    + _STAMP
    + """
local p, seq = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', p .. 'meta') == 0 then return 0 end
heal(p)
local doomed = redis.call('ZRANGEBYSCORE', p .. 'seqs', '-inf', seq)
for _, s in ipairs(doomed) do redis.call('HDEL', p .. 'vals', s) end
redis.call('ZREMRANGEBYSCORE', p .. 'seqs', '-inf', seq)
if seq > tonumber(redis.call('HGET', p .. 'meta', 'arch')) then redis.call('HSET', p .. 'meta', 'arch', seq) end
bump(p)
return #doomed
""",
)

DELETE_SEQS = Script(
    "list_delete_seqs",
    _HEAL
    + _STAMP
    + """
local p, n = ARGV[1], 0
heal(p)
for i = 2, #ARGV do
  if redis.call('ZREM', p .. 'seqs', ARGV[i]) == 1 then
    redis.call('HDEL', p .. 'vals', ARGV[i])
    n = n + 1
  end
end
if n > 0 and redis.call('EXISTS', p .. 'meta') == 1 then bump(p) end
return n
""",
)

REPLACE = Script(
    "list_replace",
    _INIT
    + _STAMP
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
bump(p)
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

# A session TTL (ListExpire): every key of the list expires together, refreshed by each write that asks for it.
EXPIRE = Script(
    "list_expire",
    """
local p = ARGV[1]
for _, part in ipairs({'meta', 'seqs', 'vals'}) do redis.call('PEXPIRE', p .. part, ARGV[2]) end
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


def parse_status(reply: list[Any]) -> ops.ListStatus:
    return ops.ListStatus(
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
    """The list operations of one Redis backend: each op becomes a `Step` (a script and its reply's parser)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def handlers(self) -> dict[type[Op], Callable[[Any], Plan]]:
        extra: dict[type[Op], Callable[[Any], Plan]] = {
            ops.ListSnapshot: self.snapshot,
            ops.ListExpire: self.expire,
            ops.StoreEviction: self.eviction,
        }
        return {**ops.list_handlers(self), **extra}

    def _lua(self, script: Script, namespace: str, key: str, *args: object) -> Lua:
        base = list_base(self.prefix, namespace, key)
        return Lua(script, (base + "meta",), (base, *args))

    def append(self, op: ops.ListAppend) -> Plan:
        call = self._lua(
            APPEND,
            op.namespace,
            op.key,
            num(op.now),
            op.min_seq,
            "1" if op.create else "0",
            int(op.archived_through),
            *op.values,
        )
        return Step(call, lambda reply: _appended(op, reply))

    def range(self, op: ops.ListRange) -> Plan:
        after = "" if op.after_seq is None else str(int(op.after_seq))
        last_n = -1 if op.last_n is None else max(0, op.last_n)
        limit = -1 if op.limit is None else max(0, op.limit)
        if last_n == 0 or limit == 0:
            return []
        # A seq whose value the store lost (its values key evicted) comes back as None, for the tier to report.
        return Step(self._lua(RANGE, op.namespace, op.key, after, last_n, limit), _items)

    def snapshot(self, op: ops.ListSnapshot) -> Plan:
        return Step(self._lua(SNAPSHOT, op.namespace, op.key, op.known), _snapshotted)

    def restore(self, op: ops.ListRestore) -> Plan:
        args: list[object] = []
        for seq, value in op.items:
            args += [int(seq), value]
        return Step(self._lua(RESTORE, op.namespace, op.key, num(op.now), *args), int)

    def trim_through(self, op: ops.ListTrimThrough) -> Plan:
        return Step(self._lua(TRIM, op.namespace, op.key, int(op.seq)), int)

    def delete_seqs(self, op: ops.ListDeleteSeqs) -> Plan:
        if not op.seqs:
            return 0
        return Step(self._lua(DELETE_SEQS, op.namespace, op.key, *(int(s) for s in op.seqs)), int)

    def replace(self, op: ops.ListReplace) -> Plan:
        call = self._lua(REPLACE, op.namespace, op.key, num(op.now), op.min_seq, *op.values)
        return Step(call, _replaced)

    def delete(self, op: ops.ListDelete) -> Plan:
        return Step(self._lua(DELETE, op.namespace, op.key), int)

    def expire(self, op: ops.ListExpire) -> Plan:
        return Step(self._lua(EXPIRE, op.namespace, op.key, max(1, round(op.ttl * 1000))), lambda _: None)

    def info(self, op: ops.ListInfo) -> Plan:
        return Step(
            self._lua(INFO, op.namespace, op.key), lambda reply: parse_status(reply) if reply else None
        )

    def eviction(self, op: ops.StoreEviction) -> Plan:
        # CONFIG is refused by some managed services and ACLs: unknown, not an error.
        return Step(Cmd(("CONFIG", "GET", "maxmemory*")), _eviction, lambda _: ops.EvictionPolicy(None, None))

    def _all_keys(self, namespace: str, prefix: str, rest: Callable[[list[str]], Plan]) -> Step:
        def keys(found: list[Any]) -> Plan:
            held = set()
            for raw in found:
                key = list_key_from_meta(self.prefix, namespace, b2s(raw))
                if key is not None and key.startswith(prefix):
                    held.add(key)
            return rest(sorted(held))

        return Step(Scan(list_meta_pattern(self.prefix, namespace, prefix)), keys)

    def keys(self, op: ops.ListKeys) -> Plan:
        def page(found: list[str]) -> list[str]:
            if op.after is not None:
                found = [k for k in found if k > op.after]
            return found[: op.limit]

        return self._all_keys(op.namespace, op.prefix, page)

    def idle(self, op: ops.ListIdle) -> Plan:
        return self._all_keys(op.namespace, "", lambda found: self._idle(op, found))

    def _idle(self, op: ops.ListIdle, found: list[str]) -> Plan:
        if not found:
            return []
        cmds: list[tuple[Any, ...]] = []
        for key in found:
            base = list_base(self.prefix, op.namespace, key)
            cmds += [("HGET", base + "meta", "upd"), ("ZCARD", base + "seqs")]

        def oldest(replies: list[Any]) -> list[str]:
            idle = []
            for i, key in enumerate(found):
                updated, length = replies[2 * i], replies[2 * i + 1]
                if updated is not None and int(length) > 0 and float(b2s(updated)) < op.older_than:
                    idle.append((float(b2s(updated)), key))
            idle.sort()
            return [key for _, key in idle[: op.limit]]

        return Step(Pipe(tuple(cmds)), oldest)


def _items(flat: list[Any]) -> list[tuple[int, bytes | None]]:
    return [
        (int(flat[i]), None if flat[i + 1] is None else bytes(flat[i + 1])) for i in range(0, len(flat), 2)
    ]


def _appended(op: ops.ListAppend, reply: list[Any]) -> ops.ListAppended:
    start, length, state, recovered, after, before = reply
    if int(state) < 0:
        return ops.ListAppended((), 0, missing=True)
    start = int(start)
    return ops.ListAppended(
        tuple(range(start, start + len(op.values))),
        int(length),
        created=int(state) == 1,
        recovered=int(recovered),
        version=b2s(after),
        previous=b2s(before),
    )


def _snapshotted(reply: list[Any]) -> ops.ListSnapshotted:
    if len(reply) == 1:
        return ops.ListSnapshotted(None, b2s(reply[0]), None)  # unchanged since op.known
    status = parse_status(reply[1]) if reply[1] else None
    return ops.ListSnapshotted(status, b2s(reply[0]), _items(reply[2]))


def _replaced(reply: list[Any]) -> ops.ListAppended:
    start, count = int(reply[0]), int(reply[1])
    return ops.ListAppended(tuple(range(start, start + count)), count)


def _eviction(reply: Any) -> ops.EvictionPolicy:
    pairs = _config_pairs(reply)
    limit = pairs.get("maxmemory")
    return ops.EvictionPolicy(
        pairs.get("maxmemory-policy"), int(limit) if limit and limit.isdigit() else None
    )


__all__ = ["ListCommands", "Cmd"]
