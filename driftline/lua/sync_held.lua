-- Make this worker's processing list match the jobs it really runs (ARGV): anything else there is
-- stranded (lost BLMOVE reply, failure before the child started) and goes back to the queue head;
-- a running job found nowhere in Redis (FLUSHALL, restart without persistence) is put back.
-- KEYS: own processing list, queue, delayed set, other workers' processing lists.
local want = {}
for _, b in ipairs(ARGV) do want[b] = (want[b] or 0) + 1 end
local stranded = 0
for _, b in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if (want[b] or 0) > 0 then
    want[b] = want[b] - 1
  else
    redis.call('LREM', KEYS[1], 1, b)
    redis.call('LPUSH', KEYS[2], b)
    stranded = stranded + 1
  end
end
local restored = 0
for b, n in pairs(want) do
  local found = n == 0 or redis.call('LPOS', KEYS[2], b) or redis.call('ZSCORE', KEYS[3], b)
  for i = 4, #KEYS do
    if found then break end
    found = redis.call('LPOS', KEYS[i], b)
  end
  if not found then
    redis.call('RPUSH', KEYS[1], b)
    restored = restored + 1
  end
end
return {stranded, restored}
