-- A lookup whose vector was at hand before the exact check: both steps in one round trip. Reply: {'e', id, fields}
-- (exact hit), {'f' or 'h', results...} (searched on float32 'vec' or float16 'vh'), {'s', results...} (nothing to
-- search), or {'v', field} when the blob that field needs was sent empty (the client sends it and asks again).
local p = ARGV[1]
local hit = exact(p, ARGV[2])
if hit then return {'e', hit[1], hit[2]} end
local out, used = search(p, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
if not out then return {'v', used} end
table.insert(out, 1, used == 'vh' and 'h' or (used and 'f' or 's'))
return out
