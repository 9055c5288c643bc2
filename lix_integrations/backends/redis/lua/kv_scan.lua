local p, now, lo, hi = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local limit, keys_only = tonumber(ARGV[5]), ARGV[6] == '1'
local out, found, offset = {}, 0, 0
while limit < 0 or found < limit do
  local page = redis.call('ZRANGEBYLEX', p .. 'keys', lo, hi, 'LIMIT', offset, 256)
  if #page == 0 then break end
  offset = offset + #page
  for _, key in ipairs(page) do
    local v = not expired(p, key, now) and redis.call('GET', p .. 'v:' .. key)
    if v then  -- false: expired, by the engine's clock or already by Redis
      out[#out + 1] = key
      out[#out + 1] = keys_only and '' or v
      found = found + 1
      if limit >= 0 and found >= limit then break end
    end
  end
end
return out
