-- Move every job of a dead worker's processing list back to the head of the queue, atomically.
local n = 0
while true do
  local job = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  if not job then break end
  n = n + 1
end
redis.call('DEL', KEYS[1])
return n
