-- A namespace's first index: its dimension ('idxdim'), and, when it holds no record yet, the key 'vl' saying that
-- every record of it carries 'vh' (its vector as float16), which its HNSW index is made on (semantic_index.py).
-- A namespace with records and no 'idxdim' (written in plain mode) keeps HNSW on 'vec': its records lack 'vh'; so
-- does one made with index=flat (ARGV[3] '0'), which never builds a graph and would only store the copy for nothing.
-- ARGV: base, dimension, '1' if the layout may be chosen. Reply: {idxdim, qe, vl}.
local p = ARGV[1]
if redis.call('SET', p .. 'idxdim', ARGV[2], 'NX') and ARGV[3] == '1' and redis.call('ZCARD', p .. 'lru') == 0 then
  redis.call('SET', p .. 'vl', 'vh')
end
return redis.call('MGET', p .. 'idxdim', p .. 'qe', p .. 'vl')
