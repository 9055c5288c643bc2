local p = ARGV[1]
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local rk = p .. 'r:' .. id
  local ph = redis.call('HGET', rk, 'ph')
  if ph then
    local tick = redis.call('INCR', p .. 'tick')
    redis.call('HSET', p .. 'acc', id, ARGV[i + 1])
    redis.call('ZADD', p .. 'lru', tick, id)
    if redis.call('ZSCORE', p .. 'pt:' .. ph, id) then redis.call('ZADD', p .. 'pt:' .. ph, tick, id) end
  end
end
return 0
