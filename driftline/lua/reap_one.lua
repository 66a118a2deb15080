-- Reap one worker: check its heartbeat and requeue its jobs in one step, so a worker that renewed its
-- heartbeat a moment ago is never reaped. KEYS: heartbeat, processing list, queue, workers set.
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local n = 0
while redis.call('RPOPLPUSH', KEYS[2], KEYS[3]) do n = n + 1 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[1])
return n
