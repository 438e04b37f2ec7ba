-- mon's warm store, version 8: the sealed inbox holds runs.
--
-- Sealing copied the whole inbox (eight reports a host, 32,000 rows at
-- 4,000 hosts) in one transaction of about 40 ms, and every batch behind
-- it waited: that pause was the ack latency's p99. Now the inbox is sealed
-- four times as often, each time as a new run: its rows appended in host
-- order under the next run number, a short sequential write. Once the runs
-- hold about eight reports a host, the writer moves them into the head a
-- slice of hosts at a time, taking each host's rows from every run at once,
-- so each host's head page still takes eight rows in one write. A report
-- is in exactly one of the inbox, this table and the head.
CREATE TABLE metrics_raw_sealed_v8 (
    run     INTEGER NOT NULL,
    host    TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (run, host, ts)
) STRICT, WITHOUT ROWID;

INSERT INTO metrics_raw_sealed_v8 (run, host, ts, samples, data)
    SELECT 1, host, ts, samples, data FROM metrics_raw_sealed ORDER BY host, ts;
DROP TABLE metrics_raw_sealed;
ALTER TABLE metrics_raw_sealed_v8 RENAME TO metrics_raw_sealed;

-- The run numbers from the oldest to the newest run held, one key seek
-- each end: `WHERE run IN (SELECT run FROM metrics_raw_sealed_runs) AND
-- host = ?` reads one host with a seek per run instead of a scan.
CREATE VIEW metrics_raw_sealed_runs AS
    WITH RECURSIVE runs (run) AS (
        SELECT min(run) FROM metrics_raw_sealed
        UNION ALL
        SELECT run + 1 FROM runs WHERE run < (SELECT max(run) FROM metrics_raw_sealed)
    )
    SELECT run FROM runs WHERE run IS NOT NULL;
