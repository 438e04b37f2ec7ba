-- Keeps one host's latest process or cgroup table.
-- KEYS[1] the host's activity hash (mon:activity:<host>)
-- ARGV[1] the kind ("processes" or "cgroups"), ARGV[2] the table's time (ms),
-- ARGV[3] the event, ARGV[4] expiry time (ms).
-- Returns 1 when kept, 0 when the hash already holds a newer table of that
-- kind: a replayed old report must not roll it back.
local last = redis.call('HGET', KEYS[1], ARGV[1] .. '_ts')
if last and tonumber(ARGV[2]) < tonumber(last) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3], ARGV[1] .. '_ts', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
