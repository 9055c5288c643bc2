local p = ARGV[1]
local n = 0
for i = 2, #ARGV do n = n + remove(p, ARGV[i]) end
return n
