-- The exact check: the record stored under an exact key, as {id, fields (with its last use)}, or nil. A record
-- Redis expired on its own (PEXPIRE) is cleaned from the indexes here.
local function exact(p, ek)
  local id = redis.call('HGET', p .. 'exact', ek)
  if not id then return nil end
  local rec = redis.call('HGETALL', p .. 'r:' .. id)
  if #rec > 0 then return {id, with_acc(p, id, rec)} end
  remove(p, id)
  return nil
end
