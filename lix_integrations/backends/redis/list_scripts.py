"""The Lua scripts of the Redis lists (`lists`): each change of a list is one of these, run alone on the server.

The layout they keep (the ``meta`` hash, the ``seqs`` zset, the ``vals`` hash, the version stamp) is described in
`lists`; the shared fragments (``_INIT``, ``_STAMP``, ``_HEAL``, ``_WITH_VALUES``) are pasted into each script
that needs them.
"""

from __future__ import annotations

from .commands import Script

__all__ = [
    "APPEND",
    "DELETE",
    "DELETE_SEQS",
    "EXPIRE",
    "INFO",
    "RANGE",
    "REPLACE",
    "RESTORE",
    "SNAPSHOT",
    "TRIM",
]

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
# of the marks and the stamps before and after, whatever the number of values. It is called with the list's
# ``meta`` key and three arguments before the values: ``now``, ``min_seq``, and ``archived_through`` or -1 when
# the list must not be created (its base is the key less ``meta``). Each argument costs the server and the client
# a little: this form took 0.7-1.0 us less a round trip than the earlier base/now/min_seq/create/archived_through
# one (2026-12-05, one value appended to lists of up to 20, three runs of paired medians of 200 x 200 calls
# alternated with RPUSH, one kept connection, hiredis-packed, scratch harness after /tmp/s10/rtt.py). One value on a list that needs no healing, at a seq its
# ``next`` already allows (the common case), takes a straight path first, before the helpers are even defined,
# and returns the pieces of its stamps, {start, ver, vid, base, seqs, vals} as they were before it, for the caller
# to join (Lua writes a number into a string through sprintf). What it does is the least this layout allows: each
# write or HMGET inside a script cost 1.4-1.8 us of server time whatever its number of fields (HMGET 1.6, ZADD
# 1.5, HSET of the value 1.4, HSET of the three marks 1.8 and about the same with one), ZCARD and HLEN 0.5
# together, the script itself 1.0 over RPUSH's whole 0.8 (2026-12-05, INFO commandstats usec per EVALSHA,
# variants of this script each without one call, 10-30 x 1000 calls), and each call is needed: ``next`` to give
# the seq, the three writes to keep the layout older clients read and append to, the sizes for the stamp and
# healing. Closer to RPUSH needs another layout: MULTI/EXEC of RPUSH to a LIST of values, HINCRBY and HMGET of its
# marks measured +5 to +10 us over RPUSH against this script's +11 to +17 (same harness, same runs), at the price
# of a versioned layout that older clients would not read. Every other append returns {start, length, state,
# recovered, stamp after, stamp before, count}.
APPEND = Script(
    "list_append",
    """
local m = KEYS[1]
local p = string.sub(m, 1, -5)
local st = redis.call('HMGET', m, 'vid', 'ver', 'next', 'base')
local nx = st[3]
local sk, vk = p .. 'seqs', p .. 'vals'
local zc, hl = redis.call('ZCARD', sk), redis.call('HLEN', vk)
if nx and #ARGV == 4 and (zc > 0 or hl == 0) and tonumber(nx) >= tonumber(ARGV[2]) then
  local ver = st[2] or '0'
  redis.call('ZADD', sk, nx, nx)
  redis.call('HSET', vk, nx, ARGV[4])
  redis.call('HSET', m, 'next', nx + 1, 'upd', ARGV[1], 'ver', ver + 1)
  return {tonumber(nx), ver, st[1] or '', st[4] or '', zc, hl}
end
if not nx and zc == 0 and hl == 0 and ARGV[3] ~= '-1' and #ARGV == 4 then
  -- A new list and its first value (a new session's first message), made at once: what the general path below
  -- does for it, without its helpers (32.4 instead of 37.1 us a round trip, 2026-12-04, EVALSHA on fresh keys,
  -- one kept connection, medians of 30 runs).
  local t = redis.call('TIME')
  local vid, start = t[1] .. t[2], math.max(1, tonumber(ARGV[2]))
  redis.call('ZADD', sk, start, start)
  redis.call('HSET', vk, start, ARGV[4])
  redis.call('HSET', m, 'next', start + 1, 'upd', ARGV[1], 'base', 0, 'arch', ARGV[3], 'vid', vid, 'ver', 1)
  return {start, 1, 1, 0, vid .. ':1:' .. (start + 1) .. ':0:1:1', '', 1}
end
"""
    + _HEAL
    + _STAMP
    + """
local now, min_seq = ARGV[1], tonumber(ARGV[2])
if zc == 0 and hl > 0 then
  heal(p)
  zc = redis.call('ZCARD', sk)
end
local nxt = nx
local state, recovered, before = 0, 0, ''
if not nxt then
  -- No status: a new list, or one whose status key the store lost. Only a caller that read the session's
  -- archive may create it (ARGV[3] is not -1); seqs continue after anything the store still holds under it.
  if ARGV[3] == '-1' then return {0, 0, -1, 0, '', '', 0} end
  local top = redis.call('ZRANGE', sk, -1, -1)[1]
  nxt = top and tonumber(top) + 1 or 1
  recovered = hl
  local t = redis.call('TIME')
  st = {t[1] .. t[2], '0', nxt, '0'}
  redis.call('HSET', m, 'next', nxt, 'upd', 0, 'base', 0, 'arch', ARGV[3], 'vid', st[1], 'ver', 0)
  state = 1
else
  before = stamp(st, zc, hl)
end
local start = math.max(tonumber(nxt), min_seq)
local n = #ARGV - 3
for from = 1, n, 1000 do  -- unpack() takes at most a few thousand values
  local scores, vals = {}, {}
  for i = from, math.min(n, from + 999) do
    local seq = start + i - 1
    scores[#scores + 1] = seq; scores[#scores + 1] = seq
    vals[#vals + 1] = seq; vals[#vals + 1] = ARGV[i + 3]
  end
  redis.call('ZADD', sk, unpack(scores))
  redis.call('HSET', vk, unpack(vals))
end
-- New seqs are above every held one and their fields new: the sizes grow by n.
local ver = tonumber(st[2] or '0') + 1
if n > 0 then nxt = start + n end
redis.call('HSET', m, 'next', nxt, 'upd', now, 'ver', ver)
return {start, zc + n, state, recovered, stamp({st[1], ver, nxt, st[4]}, zc + n, hl + n), before, n}
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
# report the loss. The unchanged case is answered before the helpers are even defined (like APPEND's straight
# path): defining them was most of the script's server time.
SNAPSHOT = Script(
    "list_snapshot",
    """
local p = ARGV[1]
local m = redis.call('HMGET', p .. 'meta', 'vid', 'ver', 'next', 'base', 'upd', 'arch')
local zc, hl = redis.call('ZCARD', p .. 'seqs'), redis.call('HLEN', p .. 'vals')
if m[3] and (zc > 0 or hl == 0) then
  local version = table.concat({m[1] or '', m[2] or '0', m[3], m[4] or '', zc, hl}, ':')
  if version == ARGV[2] then return {version} end
end
"""
    + _HEAL
    + _STAMP
    + _WITH_VALUES
    + """
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
