-- mon's warm store, version 5: smaller rollup rows.
--
-- A 1m bucket row took about 79 bytes with its `bucket` index, which made
-- metrics_1m the biggest thing on disk (more than the raw tier it is made
-- from). Three changes, the rows still plain columns:
--   * the bucket's start is kept in the table's own unit (minutes since the
--     Unix epoch in metrics_1m, hours in metrics_1h): 4 and 3 bytes instead
--     of 6 for milliseconds;
--   * `last_ts` is gone: buckets are merged in time order, so the newest
--     bucket's `last` is the last, and nothing else read it;
--   * the primary key is the only index. Retention and the 1h rollup walk
--     the primary key one series at a time instead.
-- The views keep their columns (`bucket` in Unix ms), so queries written
-- against them still work.

DROP VIEW rollup_1m;
DROP VIEW rollup_1h;

CREATE TABLE metrics_1m_v5 (
    series_id INTEGER NOT NULL,
    minute    INTEGER NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    last      REAL NOT NULL,
    PRIMARY KEY (series_id, minute)
) STRICT, WITHOUT ROWID;

INSERT INTO metrics_1m_v5 (series_id, minute, min, max, sum, count, last)
    SELECT series_id, bucket / 60000, min, max, sum, count, last FROM metrics_1m
    ORDER BY series_id, bucket;
DROP TABLE metrics_1m;
ALTER TABLE metrics_1m_v5 RENAME TO metrics_1m;

CREATE TABLE metrics_1h_v5 (
    series_id INTEGER NOT NULL,
    hour      INTEGER NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    last      REAL NOT NULL,
    PRIMARY KEY (series_id, hour)
) STRICT, WITHOUT ROWID;

INSERT INTO metrics_1h_v5 (series_id, hour, min, max, sum, count, last)
    SELECT series_id, bucket / 3600000, min, max, sum, count, last FROM metrics_1h
    ORDER BY series_id, bucket;
DROP TABLE metrics_1h;
ALTER TABLE metrics_1h_v5 RENAME TO metrics_1h;

-- The rollups with names instead of series ids, for reading in the sqlite3
-- shell: SELECT * FROM rollup_1m WHERE host = 'web-1' AND name = 'load1'.
-- `bucket` is the bucket's start in Unix ms, `time` the same in UTC.
CREATE VIEW rollup_1m AS
    SELECT s.host, s.name, s.labels, m.minute * 60000 AS bucket,
           datetime(m.minute * 60, 'unixepoch') AS time,
           m.min, m.max, m.sum / m.count AS avg, m.count, m.last
    FROM metrics_1m m JOIN series s ON s.id = m.series_id;

CREATE VIEW rollup_1h AS
    SELECT s.host, s.name, s.labels, m.hour * 3600000 AS bucket,
           datetime(m.hour * 3600, 'unixepoch') AS time,
           m.min, m.max, m.sum / m.count AS avg, m.count, m.last
    FROM metrics_1h m JOIN series s ON s.id = m.series_id;
