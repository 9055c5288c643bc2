local p, n = ARGV[1], 0
for i = 2, #ARGV do n = n + remove(p, ARGV[i]) end
return n
