-- Release the outbox drain lock only if the caller's token (ARGV[1]) still holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
