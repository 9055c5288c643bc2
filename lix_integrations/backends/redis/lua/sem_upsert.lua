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
-- ARGV[16]: the vector as float16, kept in a namespace of the 'vh' layout (semantic_index.py).
if ARGV[16] ~= '' and redis.call('GET', p .. 'vl') then fields[#fields + 1] = 'vh'; fields[#fields + 1] = ARGV[16] end
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
-- The namespace's size and whether it switched to HNSW: what adaptive mode's client decides on (semantic_index.py).
return {id, evicted, redis.call('ZCARD', p .. 'lru'), redis.call('GET', p .. 'qe')}
