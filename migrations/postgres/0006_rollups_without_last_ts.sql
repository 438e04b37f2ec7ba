-- Rollup buckets are merged in time order, so the newest bucket's `last` is
-- the last: `last_ts` was read by nothing else. (The SQLite store drops it
-- in its own version 5, with more there to gain from its row format.)
ALTER TABLE metrics_1m DROP COLUMN last_ts;
ALTER TABLE metrics_1h DROP COLUMN last_ts;
