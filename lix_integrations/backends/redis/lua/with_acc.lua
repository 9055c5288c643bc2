local function with_acc(p, id, rec)
  local a = redis.call('HGET', p .. 'acc', id)
  if a then rec[#rec + 1] = 'aa'; rec[#rec + 1] = a end
  return rec
end
