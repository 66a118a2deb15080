-- Count a delivery; never below what PostgreSQL already recorded (ARGV[2]) in case Redis lost the hash.
-- Returns the attempt and Redis's clock, the one clock all workers share (it orders the leases).
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local floor = tonumber(ARGV[2])
if n <= floor then
  n = floor + 1
  redis.call('HSET', KEYS[1], ARGV[1], n)
end
local t = redis.call('TIME')
return {n, t[1], t[2]}
