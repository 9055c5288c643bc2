return vectors(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))
