-- The Query Engine search, as a Lua function: the partition's size picks the hybrid policy (see _server_search),
-- FT.SEARCH runs inside the script (allowed on a single Redis Stack server; Cluster never uses the Query Engine)
-- and returns the record fields itself, and one HMGET adds each result's last-use time, kept outside the indexed
-- hash (see TOUCH). Results of another partition (possible when the plain KNN runs) are dropped. In adaptive mode
-- the key 'qe' says which index is complete, read in the same atomic step as the search (semantic_index.py).
local function search(p, ph, k, vec, algo, batches_from, ef)
  local size = redis.call('ZCARD', p .. 'pt:' .. ph)
  if size == 0 then return {} end
  local idx = p .. 'idx'
  if algo == 'adaptive' then
    if redis.call('GET', p .. 'qe') == 'hnsw' then algo = 'hnsw' else algo = 'flat'; idx = p .. 'idxf' end
  end
  local total = redis.call('ZCARD', p .. 'lru')
  local filter, policy = '(@ph:{' .. ph .. '})', ''
  if size >= total then
    -- Every record is in this partition: a plain KNN finds the same neighbours without testing a filter per
    -- candidate (0.15 ms instead of 0.2 at 10k, measured). Each result's partition is still checked below.
    filter = '*'
    if algo == 'hnsw' then policy = 'EF_RUNTIME ' .. ef .. ' ' end
  elseif algo == 'hnsw' then
    if size >= tonumber(batches_from) and size * 10 >= total then
      policy = 'HYBRID_POLICY BATCHES EF_RUNTIME ' .. ef .. ' '
    else
      policy = 'HYBRID_POLICY ADHOC_BF '
    end
  end
  local reply = redis.call('FT.SEARCH', idx, filter .. '=>[KNN ' .. k .. ' @vec $v ' .. policy .. 'AS __d]',
    'PARAMS', 2, 'v', vec, 'RETURN', 11, '__d', 'ek', 'pt', 'sc', 'lk', 'pr', 'pl', 'ca', 'xa', 'aa', 'ph',
    'LIMIT', 0, k, 'DIALECT', 2)
  local out, ids = {}, {}
  local head = p .. 'r:'
  for i = 2, #reply, 2 do
    local key, rec = reply[i], reply[i + 1]
    local mine = false
    for j = 1, #rec, 2 do
      if rec[j] == 'ph' then mine = rec[j + 1] == ph end
    end
    if mine and string.sub(key, 1, #head) == head then
      ids[#ids + 1] = string.sub(key, #head + 1)
      out[#out + 1] = ids[#ids]
      out[#out + 1] = rec
    end
  end
  if #ids > 0 then
    local used = redis.call('HMGET', p .. 'acc', unpack(ids))
    for i = 1, #ids do
      if used[i] then local rec = out[2 * i]; rec[#rec + 1] = 'aa'; rec[#rec + 1] = used[i] end
    end
  end
  return out
end
