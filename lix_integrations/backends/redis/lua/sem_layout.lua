-- A namespace's first index: its dimension ('idxdim'), and, when it holds no record yet, the key 'vl' saying that
-- every record of it carries 'vh' (its vector as float16), which its HNSW index is made on (semantic_index.py).
-- A namespace with records and no 'idxdim' (written in plain mode) keeps HNSW on 'vec': its records lack 'vh'.
-- ARGV: base, dimension. Reply: {idxdim, qe, vl}.
local p = ARGV[1]
if redis.call('SET', p .. 'idxdim', ARGV[2], 'NX') and redis.call('ZCARD', p .. 'lru') == 0 then
  redis.call('SET', p .. 'vl', 'vh')
end
return redis.call('MGET', p .. 'idxdim', p .. 'qe', p .. 'vl')
