local function store(p, first)
  for i = first, #ARGV, 5 do
    local key, value, exp, tags, px = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    remove(p, key)
    if px ~= '' then
      redis.call('SET', p .. 'v:' .. key, value, 'PX', px)
    else
      redis.call('SET', p .. 'v:' .. key, value)
    end
    redis.call('HSET', p .. 'sz', key, #value)
    redis.call('HINCRBY', p .. 'meta', 'bytes', #value)
    redis.call('ZADD', p .. 'keys', 0, key)
    redis.call('ZADD', p .. 'lru', redis.call('HINCRBY', p .. 'meta', 'tick', 1), key)
    if exp ~= '' then redis.call('ZADD', p .. 'exp', exp, key) end
    if tags ~= '' then
      redis.call('HSET', p .. 'tags', key, tags)
      for t in string.gmatch(tags, '[^,]+') do redis.call('SADD', p .. 't:' .. t, key) end
    end
  end
end
