local p = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local rec = redis.call('HGETALL', p .. 'r:' .. ARGV[i])
  if #rec > 0 then out[#out + 1] = ARGV[i]; out[#out + 1] = with_acc(p, ARGV[i], rec) end
end
return out
