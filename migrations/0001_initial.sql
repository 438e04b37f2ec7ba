-- mon's warm store, version 1.
-- Migrations are append-only: change the schema in a new file, never here.

-- One row per host that ever reported, with what its agent said in Hello.
CREATE TABLE hosts (
    host          TEXT PRIMARY KEY,
    os            TEXT NOT NULL DEFAULT '',
    kernel        TEXT NOT NULL DEFAULT '',
    cores         INTEGER NOT NULL DEFAULT 0,
    memory_bytes  INTEGER NOT NULL DEFAULT 0,
    agent_version TEXT NOT NULL DEFAULT '',
    interval_ms   INTEGER NOT NULL DEFAULT 0,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL
) STRICT;

-- One row per time series: host + metric name + labels.
-- `labels` is a canonical JSON object with keys sorted, e.g. {"core":"0"},
-- so `json_extract(labels, '$.mount')` works from the sqlite3 shell.
CREATE TABLE series (
    id     INTEGER PRIMARY KEY,
    host   TEXT NOT NULL,
    name   TEXT NOT NULL,
    labels TEXT NOT NULL,
    UNIQUE (host, name, labels)
) STRICT;

-- Raw samples at the agents' resolution. The primary key makes a replayed
-- report idempotent: one row per series and timestamp (Unix milliseconds).
CREATE TABLE metrics_raw (
    series_id INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (series_id, ts)
) STRICT, WITHOUT ROWID;

CREATE INDEX metrics_raw_ts ON metrics_raw (ts);
