-- mon's warm store on PostgreSQL, version 3: the forward log behind
-- `--remote-write` (as migrations/0003_forward_log.sql for SQLite).
-- Migrations are append-only: change the schema in a new file, never here.

-- The samples each ingest batch stored for the first time, one row per
-- report, appended at the end of the batch's own transaction. Appends take
-- an advisory transaction lock until their commit, so sequence numbers
-- become visible in increasing order even with several aggregators: a
-- cursor never passes a row that commits later with a smaller number.
CREATE TABLE forward_log (
    seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host    text NOT NULL,
    ts      bigint NOT NULL,
    samples bigint NOT NULL,
    data    bytea NOT NULL
);

CREATE INDEX forward_log_ts ON forward_log (ts);

-- How far each remote-write destination has been sent (the URL without its
-- credentials): every row with seq <= this one was accepted or refused.
CREATE TABLE forward_cursor (
    destination text PRIMARY KEY,
    seq         bigint NOT NULL,
    updated_ms  bigint NOT NULL
);
