-- Plain mode's lookup with the vector at hand: the exact check and the partition's vector check in one script
-- (the search's second round trip fetches the best records).
local p = ARGV[1]
local hit = exact(p, ARGV[2])
if hit then return {'e', hit[1], hit[2]} end
local out = vectors(p, ARGV[3], ARGV[4], tonumber(ARGV[5]))
table.insert(out, 1, 'v')
return out
