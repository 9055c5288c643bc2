local p = ARGV[1]
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'exp', '-inf', ARGV[2])) do n = n + remove(p, id) end
return n
