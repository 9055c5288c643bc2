local p = ARGV[1]
return {redis.call('ZCARD', p .. 'keys'), tonumber(redis.call('HGET', p .. 'meta', 'bytes') or '0')}
