-- Plain mode's lookup with the vector at hand: the exact check and the partition's vector check in one script
-- (the search's second round trip fetches the best records).
local p = ARGV[1]
local id = redis.call('HGET', p .. 'exact', ARGV[2])
if id then
  local rec = redis.call('HGETALL', p .. 'r:' .. id)
  if #rec > 0 then return {'e', id, with_acc(p, id, rec)} end
  remove(p, id)
end
local out = vectors(p, ARGV[3], ARGV[4], tonumber(ARGV[5]))
table.insert(out, 1, 'v')
return out
