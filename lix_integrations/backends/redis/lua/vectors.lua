-- Plain mode: the partition's vectors, or only what the caller lacks. ``pv`` counts changes to each partition's
-- vector set and ``epoch`` names this namespace's data (a new one after a FLUSHALL, when ids start over), so
-- "<epoch>:<count>" tells a caller whether the vectors it cached are still the partition's. Ids are never
-- reused within an epoch and a record's vector never changes, so only ids above the caller's highest are sent.
local function vectors(p, ph, known, after)
  local epoch = redis.call('GET', p .. 'epoch')
  if not epoch then
    local t = redis.call('TIME')
    redis.call('SET', p .. 'epoch', t[1] .. '.' .. t[2], 'NX')
    epoch = redis.call('GET', p .. 'epoch')
  end
  local version = epoch .. ':' .. (redis.call('HGET', p .. 'pv', ph) or '0')
  if version == known then return {version} end
  if string.sub(known, 1, #epoch + 1) ~= epoch .. ':' then after = -1 end
  local ids = redis.call('ZRANGE', p .. 'pt:' .. ph, 0, -1)
  local out = {version, ids}
  for _, id in ipairs(ids) do
    if tonumber(id) > after then
      local v = redis.call('HGET', p .. 'r:' .. id, 'vec')
      if v then out[#out + 1] = id; out[#out + 1] = v end
    end
  end
  return out
end
