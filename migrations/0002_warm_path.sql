-- mon's warm store, version 2: compact raw tier, rollups, maintenance state.
-- Migrations are append-only: change the schema in a new file, never here.

-- Version 1 kept one row per sample (about 23 bytes each). Its rows are
-- moved into metrics_raw_head by the migration's Rust step, then dropped.
ALTER TABLE metrics_raw RENAME TO metrics_raw_v1;
DROP INDEX metrics_raw_ts;

-- Raw samples just ingested: one row per report (host + timestamp), the
-- report's samples in `data` as (series id, 8-byte value) pairs. The writer
-- compacts rows into metrics_raw once their time window has closed.
-- `samples` is how many samples `data` holds.
CREATE TABLE metrics_raw_head (
    host    TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    data    BLOB NOT NULL,
    UNIQUE (host, ts)
) STRICT;

CREATE INDEX metrics_raw_head_ts ON metrics_raw_head (ts);

-- Raw samples, compacted: one row per series and 30-minute window, the
-- samples Gorilla-encoded in `data` (delta-of-delta timestamps, XORed
-- values). `samples`, `first_ts` and `last_ts` describe the chunk, so
-- `SELECT sum(samples) FROM metrics_raw` counts compacted samples.
CREATE TABLE metrics_raw (
    series_id    INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    first_ts     INTEGER NOT NULL,
    last_ts      INTEGER NOT NULL,
    samples      INTEGER NOT NULL,
    data         BLOB NOT NULL,
    UNIQUE (series_id, window_start)
) STRICT;

CREATE INDEX metrics_raw_window ON metrics_raw (window_start);

-- Rollups: one row per series and bucket (the bucket's start, Unix ms).
-- avg = sum / count; `last` is the value at `last_ts`, the newest sample.
CREATE TABLE metrics_1m (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    last      REAL NOT NULL,
    last_ts   INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) STRICT, WITHOUT ROWID;

CREATE INDEX metrics_1m_bucket ON metrics_1m (bucket);

CREATE TABLE metrics_1h (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    last      REAL NOT NULL,
    last_ts   INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) STRICT, WITHOUT ROWID;

CREATE INDEX metrics_1h_bucket ON metrics_1h (bucket);

-- Buckets behind their tier's watermark that late samples have changed,
-- waiting to be materialized again. `tier` is the bucket width in minutes
-- (1 or 60).
CREATE TABLE rollup_dirty (
    tier      INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    PRIMARY KEY (tier, series_id, bucket)
) STRICT, WITHOUT ROWID;

-- Progress of the maintenance jobs, e.g. 'watermark_1m': every 1m bucket
-- before it is materialized.
CREATE TABLE store_state (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

-- The rollups with names instead of series ids, for reading in the sqlite3
-- shell: SELECT * FROM rollup_1m WHERE host = 'web-1' AND name = 'load1'.
CREATE VIEW rollup_1m AS
    SELECT s.host, s.name, s.labels, m.bucket, m.min, m.max, m.sum / m.count AS avg,
           m.count, m.last
    FROM metrics_1m m JOIN series s ON s.id = m.series_id;

CREATE VIEW rollup_1h AS
    SELECT s.host, s.name, s.labels, m.bucket, m.min, m.max, m.sum / m.count AS avg,
           m.count, m.last
    FROM metrics_1h m JOIN series s ON s.id = m.series_id;
