local function remove(p, key)
  if not redis.call('ZSCORE', p .. 'keys', key) then return 0 end
  local size = tonumber(redis.call('HGET', p .. 'sz', key) or '0')
  redis.call('DEL', p .. 'v:' .. key)
  redis.call('HDEL', p .. 'sz', key)
  if size > 0 then redis.call('HINCRBY', p .. 'meta', 'bytes', 0 - size) end
  redis.call('ZREM', p .. 'keys', key)
  redis.call('ZREM', p .. 'lru', key)
  redis.call('ZREM', p .. 'exp', key)
  local tags = redis.call('HGET', p .. 'tags', key)
  if tags then
    for t in string.gmatch(tags, '[^,]+') do redis.call('SREM', p .. 't:' .. t, key) end
    redis.call('HDEL', p .. 'tags', key)
  end
  return 1
end
local function expired(p, key, now)
  local e = redis.call('ZSCORE', p .. 'exp', key)
  return e and tonumber(e) <= now
end
