local p, now, n = ARGV[1], tonumber(ARGV[2]), 0
for i = 3, #ARGV, 3 do
  local key, exp, px = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('ZSCORE', p .. 'keys', key) and not expired(p, key, now)
      and redis.call('EXISTS', p .. 'v:' .. key) == 1 then
    if exp == '' then
      redis.call('ZREM', p .. 'exp', key)
      redis.call('PERSIST', p .. 'v:' .. key)
    else
      redis.call('ZADD', p .. 'exp', exp, key)
      redis.call('PEXPIRE', p .. 'v:' .. key, px)
    end
    n = n + 1
  end
end
return n
