-- A lookup whose vector was at hand before the exact check: both steps in one round trip.
local p = ARGV[1]
local id = redis.call('HGET', p .. 'exact', ARGV[2])
if id then
  local rec = redis.call('HGETALL', p .. 'r:' .. id)
  if #rec > 0 then return {'e', id, with_acc(p, id, rec)} end
  remove(p, id)
end
local out = search(p, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
table.insert(out, 1, 's')
return out
