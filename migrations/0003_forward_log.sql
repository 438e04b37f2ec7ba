-- mon's warm store, version 3: the forward log behind `--remote-write`.
-- Migrations are append-only: change the schema in a new file, never here.

-- The samples each ingest batch stored for the first time, one row per
-- report, appended in the batch's own transaction while remote-write is
-- configured. `data` is a report blob as in metrics_raw_head: a varint
-- count, then per sample a varint series-id delta and the value's 8 bytes.
-- AUTOINCREMENT so a sequence number is never reused after the rows before
-- it are trimmed: a cursor past it must never skip a newer row.
CREATE TABLE forward_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    host    TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    data    BLOB NOT NULL
) STRICT;

CREATE INDEX forward_log_ts ON forward_log (ts);

-- How far each remote-write destination has been sent: every forward_log
-- row with seq <= this one was accepted (or refused for good) by it.
-- `destination` is the URL without its credentials.
CREATE TABLE forward_cursor (
    destination TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
) STRICT;
