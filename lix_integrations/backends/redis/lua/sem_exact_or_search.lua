-- A lookup whose vector was at hand before the exact check: both steps in one round trip.
local p = ARGV[1]
local hit = exact(p, ARGV[2])
if hit then return {'e', hit[1], hit[2]} end
local out = search(p, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
table.insert(out, 1, 's')
return out
