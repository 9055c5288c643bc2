-- Store records (one, or a batch: one script call each instead of one per record), each replacing the record of
-- its exact key. ARGV: base, partition_limit (plain mode; 0: none), max_entries (0: none), then per record 13
-- values: exact key, partition, scope, llm key, prompt, vector (float32 bytes, or ''), payload, created_at,
-- expires_at (or ''), accessed_at, partition hash, expiry in ms, vector as float16 (or '').
-- Reply: {id, evicted} per record, then the namespace's size (0 once switched to HNSW) and 'qe', then with a
-- max_entries the records evicted to keep to it (what sem_evict.lua does, in the same call).
local p = ARGV[1]
local limit = tonumber(ARGV[2])
local bound = tonumber(ARGV[3])
-- 'qe' (switched to HNSW) and 'vl' (the vector layout) in one read: each redis.call costs the server 2-3 us
-- (commandstats inside this script at 10k records, 2026-12-04).
local state = redis.call('MGET', p .. 'qe', p .. 'vl')
local out = {}
-- The records' ids and use ticks, taken at once (consecutive, in the records' order), and the changes to each
-- partition's vector set, counted once at the end: three calls fewer per record of a batch.
local n = (#ARGV - 3) / 13
local first_id = redis.call('INCRBY', p .. 'next', n) - n
local first_tick = redis.call('INCRBY', p .. 'tick', n) - n
local changed = {}
-- Without plain mode's partition bound, the records' entries in 'exact', 'lru' and their partitions' sets are
-- written once for the whole call (one HSET and one ZADD each instead of one per record: ~3 redis.call fewer a
-- record; update_many x100 at 10k MiniLM records, server CPU 87-89 -> 81-85 us a record, benchmarks/redis.py
-- --vectors minilm, two runs each alternated, 2026-12-05). A record whose exact key an earlier record of the same call holds writes them first, so that the
-- lookup below finds that record and replaces it as it would in another call.
local held_exact, held_lru, held_pt, held_keys = {}, {}, {}, {}
local function write_held()
  if #held_exact > 0 then
    redis.call('HSET', p .. 'exact', unpack(held_exact))
    redis.call('ZADD', p .. 'lru', unpack(held_lru))
  end
  for pk, members in pairs(held_pt) do redis.call('ZADD', pk, unpack(members)) end
  held_exact, held_lru, held_pt, held_keys = {}, {}, {}, {}
end
for i = 4, #ARGV, 13 do
  local ek, vec, xa, ph = ARGV[i], ARGV[i + 5], ARGV[i + 8], ARGV[i + 10]
  if held_keys[ek] then write_held() end
  local old = redis.call('HGET', p .. 'exact', ek)
  if old then remove(p, old) end
  local k = (i - 4) / 13 + 1
  local id, tick = first_id + k, first_tick + k
  local rk = p .. 'r:' .. id
  -- One HSET with the vector: each write to an indexed hash makes the Query Engine index the document again.
  -- 'xa' is left out when the record never expires (readers take a missing 'xa' for ''), and so is the scope's
  -- hash 'sh' that earlier versions wrote and indexed as a TAG nothing searched: each field costs the server.
  local fields = {'ek', ek, 'pt', ARGV[i + 1], 'sc', ARGV[i + 2], 'lk', ARGV[i + 3], 'pr', ARGV[i + 4],
    'pl', ARGV[i + 6], 'ca', ARGV[i + 7], 'aa', ARGV[i + 9], 'ph', ph}
  if xa ~= '' then fields[#fields + 1] = 'xa'; fields[#fields + 1] = xa end
  if vec ~= '' then fields[#fields + 1] = 'vec'; fields[#fields + 1] = vec end
  -- The vector as float16, kept in a namespace of the 'vh' layout (semantic_index.py).
  if ARGV[i + 12] ~= '' and state[2] then fields[#fields + 1] = 'vh'; fields[#fields + 1] = ARGV[i + 12] end
  redis.call('HSET', rk, unpack(fields))
  if limit > 0 then
    redis.call('HSET', p .. 'exact', ek, id)
    redis.call('ZADD', p .. 'lru', tick, id)
  else
    held_exact[#held_exact + 1] = ek; held_exact[#held_exact + 1] = id
    held_lru[#held_lru + 1] = tick; held_lru[#held_lru + 1] = id
    held_keys[ek] = true
  end
  if xa ~= '' then
    redis.call('ZADD', p .. 'exp', xa, id)
    redis.call('HSET', p .. 'xk', id, ph .. ' ' .. ek)
    redis.call('PEXPIRE', rk, ARGV[i + 11])
  end
  local evicted = 0
  if vec ~= '' then
    local pk = p .. 'pt:' .. ph
    changed[ph] = (changed[ph] or 0) + 1
    if limit == 0 then
      local members = held_pt[pk]
      if not members then members = {}; held_pt[pk] = members end
      members[#members + 1] = tick; members[#members + 1] = id
    else
      redis.call('ZADD', pk, tick, id)
      local over = redis.call('ZCARD', pk) - limit
      if over > 0 then
        for _, victim in ipairs(redis.call('ZRANGE', pk, 0, over - 1)) do evicted = evicted + remove(p, victim) end
      end
    end
  end
  out[#out + 1] = id
  out[#out + 1] = evicted
end
write_held()
for ph, count in pairs(changed) do redis.call('HINCRBY', p .. 'pv', ph, count) end
-- The namespace's size and whether it switched to HNSW: what adaptive mode's client decides on (semantic_index.py);
-- once switched, the size is not needed.
local size
if state[1] then
  out[#out + 1] = 0
  out[#out + 1] = state[1]
else
  size = redis.call('ZCARD', p .. 'lru')
  out[#out + 1] = size
  out[#out + 1] = false
end
-- A single insert's bound check, sent in the same call rather than as sem_evict.lua beside it: one script call
-- fewer for the server and one op instead of a Gather for the client (see semantic_upsert.py).
if bound > 0 then
  local over = (size or redis.call('ZCARD', p .. 'lru')) - bound
  local evicted = 0
  if over > 0 then
    for _, victim in ipairs(redis.call('ZRANGE', p .. 'lru', 0, over - 1)) do evicted = evicted + remove(p, victim) end
  end
  out[#out + 1] = evicted
end
return out
