-- The Query Engine search, as a Lua function: the partition's size picks the hybrid policy (see _server_search),
-- FT.SEARCH runs inside the script (allowed on a single Redis Stack server; Cluster never uses the Query Engine),
-- then each result's fields are read, with its last-use time, kept outside the indexed hash (see TOUCH). Results
-- of another partition (possible when the plain KNN runs) are dropped. In adaptive mode the key 'qe' says which
-- index is complete, read in the same atomic step as the search (semantic_index.py). An HNSW index of a namespace
-- with the 'vh' layout (key 'vl') is on the float16 copy: 'vech' is the query in float16. A caller may send only
-- the blob it expects to be used (the other one empty): the second value returned names the field searched ('vec'
-- or 'vh'; nil when nothing was searched), and when its blob is the empty one the search returns nil and that name.
local function search(p, ph, k, vec, algo, batches_from, ef, vech)
  local size = redis.call('ZCARD', p .. 'pt:' .. ph)
  if size == 0 then return {} end
  local idx = p .. 'idx'
  local field, used = '@vec $v ', 'vec'
  if algo ~= 'flat' then
    -- 'qe' and 'vl' in one read: each redis.call costs the server 1-3 us (see sem_upsert.lua).
    local state = redis.call('MGET', p .. 'qe', p .. 'vl')
    if algo == 'adaptive' then
      if state[1] == 'hnsw' then algo = 'hnsw' else algo = 'flat'; idx = p .. 'idxf' end
    end
    if algo == 'hnsw' and state[2] then field = '@vh $v '; vec = vech; used = 'vh' end
  end
  if vec == '' then return nil, used end
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
  -- The search returns ids and distances only; the fields come from one HMGET per result: loading them through
  -- FT.SEARCH's RETURN cost the server more (100-123 us against 87-102 for the script at 1k, measured 2026-12-04).
  -- FT.SEARCH itself costs the server about 15 us more called from a script than sent on its own (141 against
  -- 126 us, 10k float16 HNSW, EVALSHA and FCALL alike, an empty script 1.1 us; commandstats, 2026-12-05). A lookup
  -- without a script does not win it back (built and measured 2026-12-05): one packet of a small exact-check script
  -- that also read this script's index state, then FT.SEARCH with RETURN of the record's fields, makes the Query
  -- Engine load the fields itself, which costs the server about what leaving the script saves, and on RESP3
  -- (redis-py 8's default) it replies with maps. Per lookup at 10k MiniLM records, both packets sent on one raw
  -- socket in 12 alternated blocks of 520, two runs: RESP3 wall +16/+18 us, client CPU +13/+16, server CPU +0/+4;
  -- RESP2 wall +1/-1, client +4/+3, server -3/-10 (/tmp/qelook2/raw4.py; lix's own A/B in one process agreed).
  local reply = redis.call('FT.SEARCH', idx, filter .. '=>[KNN ' .. k .. ' ' .. field .. policy .. 'AS __d]',
    'PARAMS', 2, 'v', vec, 'RETURN', 1, '__d', 'LIMIT', 0, k, 'DIALECT', 2)
  local out = {}
  local head = p .. 'r:'
  for i = 2, #reply, 2 do
    local key = reply[i]
    if string.sub(key, 1, #head) == head then
      local f = redis.call('HMGET', key, 'ek', 'pt', 'sc', 'lk', 'pr', 'pl', 'ca', 'xa', 'aa', 'ph')
      if f[10] == ph then  -- gone since it was indexed (f[10] false), or of another partition: dropped
        local id = string.sub(key, #head + 1)
        -- Positional, in SEARCH_FIELDS' order (semantic.py): the client builds records without naming fields.
        out[#out + 1] = id
        out[#out + 1] = {reply[i + 1][2], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8],
          redis.call('HGET', p .. 'acc', id) or f[9]}
      end
    end
  end
  return out, used
end
