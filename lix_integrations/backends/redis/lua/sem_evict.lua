local p = ARGV[1]
local over = redis.call('ZCARD', p .. 'lru') - tonumber(ARGV[2])
local n = 0
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', p .. 'lru', 0, over - 1)) do n = n + remove(p, id) end
end
return n
