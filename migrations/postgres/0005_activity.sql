-- What was running on each host: one process table and one cgroup table a
-- minute (the first of each minute), kept as long as the 1m tier. `body` is
-- the table as JSON compressed with snappy (raw format), as in SQLite.
CREATE TABLE activity (
    host text NOT NULL,
    kind text NOT NULL,
    minute bigint NOT NULL,
    ts bigint NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (host, kind, minute)
);
CREATE INDEX activity_by_minute ON activity (minute);
