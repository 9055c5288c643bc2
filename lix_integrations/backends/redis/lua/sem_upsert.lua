-- ARGV: base, exact key, partition, scope, llm key, prompt, vector (float32 bytes, or ''), payload, created_at,
-- expires_at (or ''), accessed_at, partition hash, (unused), partition_limit, expiry in ms, vector as float16 (or '').
local p = ARGV[1]
local old = redis.call('HGET', p .. 'exact', ARGV[2])
if old then remove(p, old) end
-- 'qe' (switched to HNSW) and 'vl' (the vector layout) in one read: each redis.call costs the server 2-3 us
-- (commandstats inside this script at 10k records, 2026-12-04).
local state = redis.call('MGET', p .. 'qe', p .. 'vl')
local id = redis.call('INCR', p .. 'next')
local tick = redis.call('INCR', p .. 'tick')
local rk = p .. 'r:' .. id
-- One HSET with the vector: each write to an indexed hash makes the Query Engine index the document again. 'xa' is
-- left out when the record never expires (readers take a missing 'xa' for ''), and so is the scope's hash 'sh'
-- that earlier versions wrote and indexed as a TAG nothing searched: every field costs the server time per insert.
local fields = {'ek', ARGV[2], 'pt', ARGV[3], 'sc', ARGV[4], 'lk', ARGV[5], 'pr', ARGV[6],
  'pl', ARGV[8], 'ca', ARGV[9], 'aa', ARGV[11], 'ph', ARGV[12]}
if ARGV[10] ~= '' then fields[#fields + 1] = 'xa'; fields[#fields + 1] = ARGV[10] end
if ARGV[7] ~= '' then fields[#fields + 1] = 'vec'; fields[#fields + 1] = ARGV[7] end
-- ARGV[16]: the vector as float16, kept in a namespace of the 'vh' layout (semantic_index.py).
if ARGV[16] ~= '' and state[2] then fields[#fields + 1] = 'vh'; fields[#fields + 1] = ARGV[16] end
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
-- The namespace's size and whether it switched to HNSW: what adaptive mode's client decides on (semantic_index.py);
-- once switched, the size is not needed.
if state[1] then return {id, evicted, 0, state[1]} end
return {id, evicted, redis.call('ZCARD', p .. 'lru'), false}
