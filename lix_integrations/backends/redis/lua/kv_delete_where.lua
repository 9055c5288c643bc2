local p, prefix, hi = ARGV[1], ARGV[2], ARGV[3]
local candidates
if #ARGV > 3 then
  local sets = {}
  for i = 4, #ARGV do sets[#sets + 1] = p .. 't:' .. ARGV[i] end
  candidates = redis.call('SINTER', unpack(sets))
elseif prefix == '' then
  candidates = redis.call('ZRANGE', p .. 'keys', 0, -1)
else
  candidates = redis.call('ZRANGEBYLEX', p .. 'keys', '[' .. prefix, hi)
end
local n = 0
for _, key in ipairs(candidates) do
  if string.sub(key, 1, #prefix) == prefix then n = n + remove(p, key) end
end
return n
