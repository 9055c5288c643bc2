local function remove(p, id)
  local rk = p .. 'r:' .. id
  local f = redis.call('HMGET', rk, 'ek', 'ph')
  if f[1] then
    redis.call('DEL', rk)
  else
    -- Gone already: Redis expired it (PEXPIRE, see UPSERT). Its index entries are cleaned now, from 'xk'.
    local t = redis.call('HGET', p .. 'xk', id)
    if t then
      local sep = string.find(t, ' ', 1, true)
      f = {string.sub(t, sep + 1), string.sub(t, 1, sep - 1)}
    end
  end
  if f[1] and redis.call('HGET', p .. 'exact', f[1]) == tostring(id) then redis.call('HDEL', p .. 'exact', f[1]) end
  local listed = redis.call('ZREM', p .. 'lru', id)
  redis.call('ZREM', p .. 'exp', id)
  redis.call('HDEL', p .. 'acc', id)
  redis.call('HDEL', p .. 'xk', id)
  if f[2] and redis.call('ZREM', p .. 'pt:' .. f[2], id) == 1 then redis.call('HINCRBY', p .. 'pv', f[2], 1) end
  if f[1] then return 1 end
  return listed
end
