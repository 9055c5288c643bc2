local p, scope, llm = ARGV[1], ARGV[2], ARGV[3]
local has_scope, has_llm = ARGV[4] == '1', ARGV[5] == '1'
local after, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local ids = {}
for _, id in ipairs(redis.call('ZRANGE', p .. 'lru', 0, -1)) do
  local n = tonumber(id)
  if n > after then ids[#ids + 1] = n end
end
table.sort(ids)
local out = {}
for _, id in ipairs(ids) do
  if #out >= 2 * limit then break end
  local f = redis.call('HMGET', p .. 'r:' .. id, 'sc', 'lk')
  local ok = f[1] ~= false
  if ok and has_scope then ok = f[1] == scope or string.sub(f[1], 1, #scope + 1) == scope .. '/' end
  if ok and has_llm then ok = f[2] == llm end
  if ok then
    local rec = with_acc(p, id, redis.call('HGETALL', p .. 'r:' .. id))
    out[#out + 1] = id
    out[#out + 1] = rec
  end
end
return out
