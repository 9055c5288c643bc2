local p, scope, llm = ARGV[1], ARGV[2], ARGV[3]
local has_scope, has_llm = ARGV[4] == '1', ARGV[5] == '1'
local n = 0
for _, id in ipairs(redis.call('ZRANGE', p .. 'lru', 0, -1)) do
  local f = redis.call('HMGET', p .. 'r:' .. id, 'sc', 'lk')
  local ok = true
  if has_scope and f[1] then
    ok = f[1] == scope or string.sub(f[1], 1, #scope + 1) == scope .. '/'
  end
  if ok and has_llm then ok = f[2] == llm end
  if ok then n = n + remove(p, id) end
end
return n
