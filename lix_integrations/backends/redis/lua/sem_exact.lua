local p = ARGV[1]
local id = redis.call('HGET', p .. 'exact', ARGV[2])
if not id then return false end
local rec = redis.call('HGETALL', p .. 'r:' .. id)
if #rec == 0 then
  remove(p, id)
  return false
end
return {id, with_acc(p, id, rec)}
