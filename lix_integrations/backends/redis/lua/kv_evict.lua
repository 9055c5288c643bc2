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
