store(ARGV[1], 2)
return 0
