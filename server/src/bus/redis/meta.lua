-- Records the host metadata of an agent's Hello.
-- KEYS[1] the host's hash, KEYS[2] the host index
-- ARGV[1] host, ARGV[2] metadata JSON, ARGV[3] now (ms), ARGV[4] now plus
-- the expiry (ms).
-- A host not seen yet (or expired) is seen from now on.
if not redis.call('HGET', KEYS[1], '@last_seen_ms') then
  redis.call('HSET', KEYS[1], '@last_seen_ms', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
redis.call('HSET', KEYS[1], '@meta', ARGV[2])
return 1
