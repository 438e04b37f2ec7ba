-- What was running on each host: one process table and one cgroup table a
-- minute (the first of each minute), kept as long as the 1m tier.
-- `body` is the table as JSON (`{"total":..,"processes":[..]}`), compressed
-- with snappy (raw format): a table is a few KB of repetitive text, and a
-- fleet keeps one a minute per host for a week. `mon query processes`
-- reads it back.
CREATE TABLE activity (
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    minute INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (host, kind, minute)
) WITHOUT ROWID;
CREATE INDEX activity_by_minute ON activity (minute);
