local p, key = ARGV[1], ARGV[2]
local held = redis.call('GET', p .. 'v:' .. key)
if not held or held ~= ARGV[3] or expired(p, key, tonumber(ARGV[4])) then return 0 end
store(p, 5)
return 1
