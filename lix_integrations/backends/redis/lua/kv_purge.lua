local p, n = ARGV[1], 0
for _, key in ipairs(redis.call('ZRANGEBYSCORE', p .. 'exp', '-inf', ARGV[2])) do n = n + remove(p, key) end
return n
