-- Outbox head: the first update, only while the caller's token (ARGV[1]) holds the drain lock (renewed for ARGV[2] ms).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('LINDEX', KEYS[2], 0)
