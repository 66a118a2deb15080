-- Schedule a retry ARGV[2] seconds from now on Redis's clock, only if this worker still holds the job
-- (a reaped copy must not add a second one).
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], t[1] + t[2] / 1e6 + tonumber(ARGV[2]), ARGV[1])
return 1
