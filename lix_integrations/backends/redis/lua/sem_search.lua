-- Both query blobs are always sent here, so the search never asks for one (see search.lua).
return (search(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]))
