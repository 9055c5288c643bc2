return exact(ARGV[1], ARGV[2]) or false
