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
