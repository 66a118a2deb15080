-- Move due retries from the delayed set to the head of the queue. Due times are on Redis's clock (TIME),
-- the one all workers share: a worker whose own clock is off never delays or hurries another's retry.
local t = redis.call('TIME')
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t[1] + t[2] / 1e6, 'LIMIT', 0, 100)
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('LPUSH', KEYS[2], job)
end
return #due
