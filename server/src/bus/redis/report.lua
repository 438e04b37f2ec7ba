-- Upserts one host's current state from an accepted report.
-- KEYS[1] the host's hash, KEYS[2] the host index (sorted set by last-seen)
-- ARGV[1] host, ARGV[2] report time (ms), ARGV[3] expiry time (ms),
-- ARGV[4] index cutoff as "(MS", then field/value pairs of the values.
-- Returns 1 when applied, 0 when the host already has a newer report: a
-- replayed old report must not roll current values back. A host known only
-- from its Hello (no value fields yet) takes any report.
local last = redis.call('HGET', KEYS[1], '@last_seen_ms')
if last and tonumber(ARGV[2]) < tonumber(last) then
  local specials = 1 + redis.call('HEXISTS', KEYS[1], '@meta')
  if redis.call('HLEN', KEYS[1]) > specials then
    return 0
  end
end
redis.call('HSET', KEYS[1], '@last_seen_ms', ARGV[2])
-- unpack() has a stack limit: write the values 500 pairs at a time.
for i = 5, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
return 1
