"""Key-value records on Redis: one table = one slot (``{k/<namespace>/<table>}``), every op one script.

Layout under the table's base: ``v:<key>`` one string per value, so a value with a TTL carries Redis expiry
(``PX``: its TTL on the engine's clock plus a minute of slack) and Redis frees it even if nothing ever purges;
``keys`` zset (score 0, ordered by key bytes, which for UTF-8 is code-point order, so scans come back sorted like
the embedded backends); ``lru`` zset key -> use tick; ``exp`` zset key -> expires_at; ``sz`` hash key -> value
size; ``tags`` hash key -> comma-separated tag hashes; ``t:<hash>`` set of keys carrying a tag; ``meta`` hash
(``bytes`` total, ``tick`` counter; its existence marks a table).

Reads still filter on ``expires_at`` against the engine's (injectable) clock, so an entry is never served past
its TTL while Redis's copy waits out the slack (tests run on a fake clock, and machines' clocks differ).
``KvPurgeExpired`` (the tiers run it periodically) removes expired entries from the indexes; a value Redis
expired first leaves index entries behind until then, and ``sz`` keeps the byte count right when they go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...kernel import kv_ops as ops
from ...kernel.op import Op, bind_methods
from .commands import Lua, Plan, Scan, Script, Step, b2s, expiry_ms, num
from .keys import h, kv_base, kv_table_pattern

_REMOVE = """
local function remove(p, key)
  if not redis.call('ZSCORE', p .. 'keys', key) then return 0 end
  local size = tonumber(redis.call('HGET', p .. 'sz', key) or '0')
  redis.call('DEL', p .. 'v:' .. key)
  redis.call('HDEL', p .. 'sz', key)
  if size > 0 then redis.call('HINCRBY', p .. 'meta', 'bytes', 0 - size) end
  redis.call('ZREM', p .. 'keys', key)
  redis.call('ZREM', p .. 'lru', key)
  redis.call('ZREM', p .. 'exp', key)
  local tags = redis.call('HGET', p .. 'tags', key)
  if tags then
    for t in string.gmatch(tags, '[^,]+') do redis.call('SREM', p .. 't:' .. t, key) end
    redis.call('HDEL', p .. 'tags', key)
  end
  return 1
end
local function expired(p, key, now)
  local e = redis.call('ZSCORE', p .. 'exp', key)
  return e and tonumber(e) <= now
end
"""

_STORE = """
local function store(p, first)
  for i = first, #ARGV, 5 do
    local key, value, exp, tags, px = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    remove(p, key)
    if px ~= '' then
      redis.call('SET', p .. 'v:' .. key, value, 'PX', px)
    else
      redis.call('SET', p .. 'v:' .. key, value)
    end
    redis.call('HSET', p .. 'sz', key, #value)
    redis.call('HINCRBY', p .. 'meta', 'bytes', #value)
    redis.call('ZADD', p .. 'keys', 0, key)
    redis.call('ZADD', p .. 'lru', redis.call('HINCRBY', p .. 'meta', 'tick', 1), key)
    if exp ~= '' then redis.call('ZADD', p .. 'exp', exp, key) end
    if tags ~= '' then
      redis.call('HSET', p .. 'tags', key, tags)
      for t in string.gmatch(tags, '[^,]+') do redis.call('SADD', p .. 't:' .. t, key) end
    end
  end
end
"""

PUT = Script("kv_put", _REMOVE + _STORE + "store(ARGV[1], 2)\nreturn 0\n")

#: KvPutIf: the items of KvPut after the condition (key, value, now); 1 if written.
PUT_IF = Script(
    "kv_put_if",
    _REMOVE
    + _STORE
    + """
local p, key = ARGV[1], ARGV[2]
local held = redis.call('GET', p .. 'v:' .. key)
if not held or held ~= ARGV[3] or expired(p, key, tonumber(ARGV[4])) then return 0 end
store(p, 5)
return 1
""",
)

GET = Script(
    "kv_get",
    _REMOVE
    + """
local p, now, touch = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local out = {}
for i = 4, #ARGV do
  local key = ARGV[i]
  local v = redis.call('GET', p .. 'v:' .. key)
  if v and expired(p, key, now) then v = false end
  if v and touch then redis.call('ZADD', p .. 'lru', redis.call('HINCRBY', p .. 'meta', 'tick', 1), key) end
  out[#out + 1] = v or false
end
return out
""",
)

DELETE = Script(
    "kv_delete",
    _REMOVE
    + """
local p, n = ARGV[1], 0
for i = 2, #ARGV do n = n + remove(p, ARGV[i]) end
return n
""",
)

DELETE_WHERE = Script(
    "kv_delete_where",
    _REMOVE
    + """
local p, prefix, hi = ARGV[1], ARGV[2], ARGV[3]
local candidates
if #ARGV > 3 then
  local sets = {}
  for i = 4, #ARGV do sets[#sets + 1] = p .. 't:' .. ARGV[i] end
  candidates = redis.call('SINTER', unpack(sets))
elseif prefix == '' then
  candidates = redis.call('ZRANGE', p .. 'keys', 0, -1)
else
  candidates = redis.call('ZRANGEBYLEX', p .. 'keys', '[' .. prefix, hi)
end
local n = 0
for _, key in ipairs(candidates) do
  if string.sub(key, 1, #prefix) == prefix then n = n + remove(p, key) end
end
return n
""",
)

SCAN = Script(
    "kv_scan",
    _REMOVE
    + """
local p, now, lo, hi = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local limit, keys_only = tonumber(ARGV[5]), ARGV[6] == '1'
local out, found, offset = {}, 0, 0
while limit < 0 or found < limit do
  local page = redis.call('ZRANGEBYLEX', p .. 'keys', lo, hi, 'LIMIT', offset, 256)
  if #page == 0 then break end
  offset = offset + #page
  for _, key in ipairs(page) do
    local v = not expired(p, key, now) and redis.call('GET', p .. 'v:' .. key)
    if v then  -- false: expired, by the engine's clock or already by Redis
      out[#out + 1] = key
      out[#out + 1] = keys_only and '' or v
      found = found + 1
      if limit >= 0 and found >= limit then break end
    end
  end
end
return out
""",
)

EXPIRE = Script(
    "kv_expire",
    _REMOVE
    + """
local p, now, n = ARGV[1], tonumber(ARGV[2]), 0
for i = 3, #ARGV, 3 do
  local key, exp, px = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('ZSCORE', p .. 'keys', key) and not expired(p, key, now)
      and redis.call('EXISTS', p .. 'v:' .. key) == 1 then
    if exp == '' then
      redis.call('ZREM', p .. 'exp', key)
      redis.call('PERSIST', p .. 'v:' .. key)
    else
      redis.call('ZADD', p .. 'exp', exp, key)
      redis.call('PEXPIRE', p .. 'v:' .. key, px)
    end
    n = n + 1
  end
end
return n
""",
)

USAGE = Script(
    "kv_usage",
    """
local p = ARGV[1]
return {redis.call('ZCARD', p .. 'keys'), tonumber(redis.call('HGET', p .. 'meta', 'bytes') or '0')}
""",
)

EVICT = Script(
    "kv_evict",
    _REMOVE
    + """
local p = ARGV[1]
local max_n, max_b = tonumber(ARGV[2]), tonumber(ARGV[3])
local n = 0
while true do
  local count = redis.call('ZCARD', p .. 'keys')
  local bytes = tonumber(redis.call('HGET', p .. 'meta', 'bytes') or '0')
  if count == 0 or not ((max_n >= 0 and count > max_n) or (max_b >= 0 and bytes > max_b)) then break end
  local oldest = redis.call('ZRANGE', p .. 'lru', 0, 0)[1]
  if not oldest then break end
  n = n + remove(p, oldest)
end
return n
""",
)

PURGE = Script(
    "kv_purge",
    _REMOVE
    + """
local p, n = ARGV[1], 0
for _, key in ipairs(redis.call('ZRANGEBYSCORE', p .. 'exp', '-inf', ARGV[2])) do n = n + remove(p, key) end
return n
""",
)


def _lex_range(prefix: str, after: str | None) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX bounds for keys starting with ``prefix`` and greater than ``after``.

    Byte 0xFF never occurs in UTF-8, so ``prefix + 0xFF`` is above every key that starts with ``prefix``.
    """
    hi = b"+" if not prefix else b"[" + prefix.encode() + b"\xff"
    if after is not None and after >= prefix:
        return b"(" + after.encode(), hi
    return (b"-" if not prefix else b"[" + prefix.encode()), hi


class KvCommands:
    """The key-value operations of one Redis backend: each op becomes a `Step` (a script and its reply's parser)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def handlers(self) -> dict[type[Op], Callable[[Any], Plan]]:
        return bind_methods(self, ops.KV_METHODS)

    def _lua(self, script: Script, namespace: str, table: str, *args: object) -> Lua:
        base = kv_base(self.prefix, namespace, table)
        return Lua(script, (base + "meta",), (base, *args))

    def get(self, op: ops.KvGet) -> Plan:
        if not op.keys:
            return []
        call = self._lua(GET, op.namespace, op.table, num(op.now), "1" if op.touch else "0", *op.keys)
        return Step(call, lambda reply: [None if v is None else bytes(v) for v in reply])

    def put(self, op: ops.KvPut) -> Plan:
        call = self.put_call(op)
        return None if call is None else Step(call, _none)

    def put_call(self, op: ops.KvPut) -> Lua | None:
        """The one script storing ``op``'s items (the backend may defer it, see ``Deferred``)."""
        if not op.items:
            return None
        return self._lua(PUT, op.namespace, op.table, *self._items(op.now, op.items))

    @staticmethod
    def _items(now: float, items: tuple[ops.KvItem, ...]) -> list[object]:
        args: list[object] = []
        for item in items:
            exp = px = ""
            if item.expires_at is not None:
                exp, px = num(item.expires_at), str(expiry_ms(now, item.expires_at))
            args += [item.key, bytes(item.value), exp, ",".join(sorted({h(t) for t in item.tags})), px]
        return args

    def put_if(self, op: ops.KvPutIf) -> Plan:
        args = self._items(op.now, op.items)
        return Step(self._lua(PUT_IF, op.namespace, op.table, op.key, op.value, num(op.now), *args), bool)

    def delete(self, op: ops.KvDelete) -> Plan:
        if not op.keys:
            return 0
        return Step(self._lua(DELETE, op.namespace, op.table, *op.keys), int)

    def delete_where(self, op: ops.KvDeleteWhere) -> Plan:
        _, hi = _lex_range(op.prefix, None)
        tags = sorted({h(t) for t in op.tags})
        return Step(self._lua(DELETE_WHERE, op.namespace, op.table, op.prefix, hi, *tags), int)

    def scan(self, op: ops.KvScan) -> Plan:
        lo, hi = _lex_range(op.prefix, op.after)
        limit = -1 if op.limit is None else max(0, op.limit)
        if limit == 0:
            return []
        keys_only = "1" if op.keys_only else "0"
        call = self._lua(SCAN, op.namespace, op.table, num(op.now), lo, hi, limit, keys_only)
        return Step(call, lambda flat: [(b2s(flat[i]), bytes(flat[i + 1])) for i in range(0, len(flat), 2)])

    def expire(self, op: ops.KvExpire) -> Plan:
        if not op.items:
            return 0
        args: list[object] = []
        for key, expires_at in op.items:
            if expires_at is None:
                args += [key, "", ""]
            else:
                args += [key, num(expires_at), str(expiry_ms(op.now, expires_at))]
        return Step(self._lua(EXPIRE, op.namespace, op.table, num(op.now), *args), int)

    def usage(self, op: ops.KvUsage) -> Plan:
        return Step(self._lua(USAGE, op.namespace, op.table), lambda reply: (int(reply[0]), int(reply[1])))

    def evict(self, op: ops.KvEvict) -> Plan:
        max_n = -1 if op.max_entries is None else op.max_entries
        max_b = -1 if op.max_bytes is None else op.max_bytes
        if max_n < 0 and max_b < 0:
            return 0
        return Step(self._lua(EVICT, op.namespace, op.table, max_n, max_b), int)

    def purge_expired(self, op: ops.KvPurgeExpired) -> Plan:
        if op.table is not None:
            return Step(self._lua(PURGE, op.namespace, op.table, num(op.now)), int)
        now = num(op.now)

        def purge_from(meta_keys: list[str], total: int) -> Plan:
            """The tables one after the other, each one script on its own slot."""
            if not meta_keys:
                return total
            base = meta_keys[0][: -len("meta")]
            return Step(
                Lua(PURGE, (meta_keys[0],), (base, now)), lambda n: purge_from(meta_keys[1:], total + int(n))
            )

        pattern = kv_table_pattern(self.prefix, op.namespace)
        return Step(Scan(pattern), lambda found: purge_from(sorted({b2s(k) for k in found}), 0))


def _none(reply: Any) -> None:
    return None
