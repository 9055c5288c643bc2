-- Adaptive mode: index the next chunk of a namespace's records into its HNSW index by writing each record's 'ph'
-- field again, which makes the Query Engine index it at once; records stored after the index was made are indexed
-- by their own write. The index is made here when missing (ARGV[4] = n, then two sets of n FT.CREATE arguments
-- after its name, with SKIPINITIALSCAN: on 'vec', and on 'vh' for a namespace whose records carry it, key 'vl';
-- chosen here, from the server's state), and a new index starts the work over (whatever an earlier, dropped one was
-- given does not count). 'qeto' is the last id to do (the id counter when the work began), 'qeat' the last id done. When every
-- one is done, 'qe' says "hnsw" and the search script uses the HNSW index from its next call on.
-- ARGV: base, chunk size, index name, n, FT.CREATE arguments (twice). Reply: {switched (0/1), last id}.
local p = ARGV[1]
if redis.call('GET', p .. 'qe') == 'hnsw' then return {1, 0} end
local n = tonumber(ARGV[4])
local from = 5
if redis.call('GET', p .. 'vl') then from = 5 + n end
local made = pcall(redis.call, 'FT.CREATE', ARGV[3], unpack(ARGV, from, from + n - 1))
if made then redis.call('DEL', p .. 'qeat', p .. 'qeto') end
local to = tonumber(redis.call('GET', p .. 'qeto') or '')
if not to then
  to = tonumber(redis.call('GET', p .. 'next') or '0')
  redis.call('SET', p .. 'qeto', to)
end
local at = tonumber(redis.call('GET', p .. 'qeat') or '0')
local last = math.min(to, at + tonumber(ARGV[2]))
for id = at + 1, last do
  local rk = p .. 'r:' .. id
  local ph = redis.call('HGET', rk, 'ph')
  if ph then redis.call('HSET', rk, 'ph', ph) end
end
if last >= to then
  redis.call('SET', p .. 'qe', 'hnsw')
  redis.call('DEL', p .. 'qeat', p .. 'qeto')
  return {1, last}
end
redis.call('SET', p .. 'qeat', last)
return {0, last}
