-- Pop the outbox head only if it is still ARGV[2] and the caller's token (ARGV[1]) holds the drain lock.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] then return 0 end
redis.call('LPOP', KEYS[2])
return 1
