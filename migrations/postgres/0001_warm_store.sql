-- mon's warm store on PostgreSQL, version 1: the same tables and meaning as
-- the SQLite store (migrations/0002_warm_path.sql), shared by every
-- aggregator and gateway of a fleet.
-- Migrations are append-only: change the schema in a new file, never here.
-- Times are Unix milliseconds; every integer is bigint.

-- One row per host that ever reported, with what its agent said in Hello.
CREATE TABLE hosts (
    host          text PRIMARY KEY,
    os            text NOT NULL DEFAULT '',
    kernel        text NOT NULL DEFAULT '',
    cores         bigint NOT NULL DEFAULT 0,
    memory_bytes  bigint NOT NULL DEFAULT 0,
    agent_version text NOT NULL DEFAULT '',
    interval_ms   bigint NOT NULL DEFAULT 0,
    first_seen_ms bigint NOT NULL,
    last_seen_ms  bigint NOT NULL
);

-- One row per time series: host + metric name + labels. The id is shared by
-- every aggregator (the unique key decides who created it). `labels` is the
-- canonical JSON object (keys sorted) as text, so it compares exactly;
-- `labels::jsonb ->> 'mount'` reads a label in psql.
CREATE TABLE series (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host   text NOT NULL,
    name   text NOT NULL,
    labels text NOT NULL,
    UNIQUE (host, name, labels)
);

-- Raw samples just ingested: one row per report (host + timestamp), the
-- report's samples in `data` as (series id, 8-byte value) pairs. The elected
-- aggregator compacts rows into metrics_raw once their window has closed.
CREATE TABLE metrics_raw_head (
    host    text NOT NULL,
    ts      bigint NOT NULL,
    samples bigint NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (host, ts)
);

CREATE INDEX metrics_raw_head_ts ON metrics_raw_head (ts);

-- Raw samples, compacted: one row per series and 30-minute window, the
-- samples Gorilla-encoded in `data`.
CREATE TABLE metrics_raw (
    series_id    bigint NOT NULL,
    window_start bigint NOT NULL,
    first_ts     bigint NOT NULL,
    last_ts      bigint NOT NULL,
    samples      bigint NOT NULL,
    data         bytea NOT NULL,
    PRIMARY KEY (series_id, window_start)
);

CREATE INDEX metrics_raw_window ON metrics_raw (window_start);

-- Rollups: one row per series and bucket (its start). avg = sum / count;
-- `last` is the value at `last_ts`, the newest sample.
CREATE TABLE metrics_1m (
    series_id bigint NOT NULL,
    bucket    bigint NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    sum       double precision NOT NULL,
    count     bigint NOT NULL,
    last      double precision NOT NULL,
    last_ts   bigint NOT NULL,
    PRIMARY KEY (series_id, bucket)
);

CREATE INDEX metrics_1m_bucket ON metrics_1m (bucket);

CREATE TABLE metrics_1h (
    series_id bigint NOT NULL,
    bucket    bigint NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    sum       double precision NOT NULL,
    count     bigint NOT NULL,
    last      double precision NOT NULL,
    last_ts   bigint NOT NULL,
    PRIMARY KEY (series_id, bucket)
);

CREATE INDEX metrics_1h_bucket ON metrics_1h (bucket);

-- Buckets behind their tier's watermark that late samples have changed,
-- waiting to be materialized again. `tier` is the width in minutes (1, 60).
CREATE TABLE rollup_dirty (
    tier      bigint NOT NULL,
    series_id bigint NOT NULL,
    bucket    bigint NOT NULL,
    PRIMARY KEY (tier, series_id, bucket)
);

-- Progress of the maintenance jobs ('watermark_1m', 'compacted_before',
-- ...), and the retention every aggregator of this database must share
-- ('retention_raw_ms', ...).
CREATE TABLE store_state (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);

-- The rollups with names instead of series ids, for psql:
-- SELECT * FROM rollup_1m WHERE host = 'web-1' AND name = 'load1'.
CREATE VIEW rollup_1m AS
    SELECT s.host, s.name, s.labels, m.bucket, m.min, m.max, m.sum / m.count AS avg,
           m.count, m.last
    FROM metrics_1m m JOIN series s ON s.id = m.series_id;

CREATE VIEW rollup_1h AS
    SELECT s.host, s.name, s.labels, m.bucket, m.min, m.max, m.sum / m.count AS avg,
           m.count, m.last
    FROM metrics_1h m JOIN series s ON s.id = m.series_id;
