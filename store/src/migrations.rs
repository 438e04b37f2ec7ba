//! Schema migrations from the workspace's `migrations/` folder, applied in
//! order when the store opens; `PRAGMA user_version` records how far a file
//! has come. A migration that must reshape data SQL cannot express (encoding
//! raw samples) pairs its SQL file with a Rust step here, run in the same
//! transaction.

use std::path::Path;

use rusqlite::{Connection, Transaction};
use rusqlite_migration::{HookResult, M, Migrations};

use super::StoreError;
use super::encoding::encode_report;

fn migrations() -> Vec<M<'static>> {
    vec![
        M::up(include_str!("../../migrations/0001_initial.sql")),
        M::up_with_hook(
            include_str!("../../migrations/0002_warm_path.sql"),
            move_v1_raw_rows_to_head,
        ),
        M::up(include_str!("../../migrations/0003_forward_log.sql")),
        M::up(include_str!("../../migrations/0004_activity.sql")),
        M::up(include_str!("../../migrations/0005_compact_rollups.sql")),
        M::up(include_str!("../../migrations/0006_raw_inbox.sql")),
        M::up(include_str!("../../migrations/0007_sealed_inbox.sql")),
        M::up(include_str!("../../migrations/0008_sealed_runs.sql")),
    ]
}

/// Version 1 stored one row per sample in `metrics_raw`, renamed
/// `metrics_raw_v1` by the SQL. Its samples become one head row per host and
/// timestamp, exactly what ingest writes, so compaction and the rollups pick
/// them up like any other data.
fn move_v1_raw_rows_to_head(tx: &Transaction) -> HookResult {
    let mut read = tx.prepare(
        "SELECT s.host, r.ts, r.series_id, r.value FROM metrics_raw_v1 r
         JOIN series s ON s.id = r.series_id ORDER BY s.host, r.ts",
    )?;
    let mut insert = tx.prepare(
        "INSERT INTO metrics_raw_head (host, ts, samples, data) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut rows = read.query([])?;
    let mut current: Option<(String, i64)> = None;
    let mut samples: Vec<(i64, f64)> = Vec::new();
    let mut flush = |key: &(String, i64), samples: &mut Vec<(i64, f64)>| {
        let blob = encode_report(samples);
        let n = samples.len() as i64;
        samples.clear();
        insert.execute(rusqlite::params![key.0, key.1, n, blob])
    };
    while let Some(row) = rows.next()? {
        let key: (String, i64) = (row.get(0)?, row.get(1)?);
        if current.as_ref().is_some_and(|c| *c != key) {
            flush(current.as_ref().expect("checked"), &mut samples)?;
        }
        samples.push((row.get(2)?, row.get(3)?));
        current = Some(key);
    }
    if let Some(key) = &current {
        flush(key, &mut samples)?;
    }
    drop(rows);
    tx.execute_batch("DROP TABLE metrics_raw_v1")?;
    Ok(())
}

/// Opens the database at `path` with the pragmas every connection uses and
/// brings its schema up to date.
pub(super) fn open_migrated(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = connect(path)?;
    Migrations::new(migrations())
        .to_latest(&mut conn)
        .map_err(|e| StoreError::Migrate {
            path: path.to_owned(),
            source: super::cause(e),
        })?;
    Ok(conn)
}

/// How long a statement waits for a lock another connection holds.
pub(super) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A connection in WAL mode: readers never block the writer. `synchronous =
/// FULL` makes a commit survive power loss, which is what an `Ack` promises;
/// its fsync is paid once per batch, not per report.
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.to_owned(),
        source: super::cause(e),
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    // SQLite's own checkpoints truncate the WAL back to this size, so it
    // never keeps more disk than the writer lets it grow to.
    let wal_limit = super::sqlite_writer::wal_limit(path.parent().unwrap_or(Path::new(".")));
    conn.pragma_update(None, "wal_autocheckpoint", (wal_limit / 4096) as i64)
        .map_err(open_err)?;
    conn.pragma_update(None, "journal_size_limit", wal_limit as i64)
        .map_err(open_err)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new database migrated to `version`, and the temporary dir that
    /// holds it as `mon.db`.
    fn at_version(version: usize) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&dir.path().join("mon.db")).unwrap();
        Migrations::new(migrations())
            .to_version(&mut conn, version)
            .unwrap();
        (dir, conn)
    }

    /// The rows of a three-column query.
    fn triples<A, B, C>(conn: &Connection, sql: &str) -> Vec<(A, B, C)>
    where
        A: rusqlite::types::FromSql,
        B: rusqlite::types::FromSql,
        C: rusqlite::types::FromSql,
    {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn migrations_are_valid() {
        assert!(Migrations::new(migrations()).validate().is_ok());
    }

    #[test]
    fn a_version_1_database_keeps_its_raw_samples() {
        let (dir, conn) = at_version(1);
        let path = dir.path().join("mon.db");
        conn.execute_batch(
            "INSERT INTO series (id, host, name, labels) VALUES (1, 'a', 'load1', '{}'), (2, 'a', 'load5', '{}');
             INSERT INTO metrics_raw VALUES (1, 1000, 0.5), (2, 1000, 1.5), (1, 6000, 2.5);",
        )
        .unwrap();
        drop(conn);

        let conn = open_migrated(&path).unwrap();
        let rows: Vec<(String, i64, i64)> = triples(
            &conn,
            "SELECT host, ts, samples FROM metrics_raw_head ORDER BY ts",
        );
        assert_eq!(rows, [("a".into(), 1000, 2), ("a".into(), 6000, 1)]);
        let blob: Vec<u8> = conn
            .query_row(
                "SELECT data FROM metrics_raw_head WHERE ts = 6000",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let decoded = super::super::encoding::decode_report(&blob).unwrap();
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded, [(1, 2.5)]);
    }

    #[test]
    fn a_version_7_sealed_inbox_becomes_the_first_run_and_still_moves_into_the_head() {
        let (dir, conn) = at_version(7);
        let path = dir.path().join("mon.db");
        let data = super::super::encoding::encode_report(&mut [(1, 2.5)]);
        for (host, ts) in [("web-2", 10_000), ("web-1", 5_000), ("web-1", 10_000)] {
            conn.execute(
                "INSERT INTO metrics_raw_sealed (host, ts, samples, data) VALUES (?1, ?2, 1, ?3)",
                rusqlite::params![host, ts, data],
            )
            .unwrap();
        }
        drop(conn);

        let conn = open_migrated(&path).unwrap();
        let runs: Vec<(i64, String, i64)> =
            triples(&conn, "SELECT run, host, ts FROM metrics_raw_sealed");
        assert_eq!(
            runs,
            [
                (1, "web-1".into(), 5_000),
                (1, "web-1".into(), 10_000),
                (1, "web-2".into(), 10_000)
            ]
        );
        let newest = super::super::inbox::head_newest(&conn, "web-1").unwrap();
        assert_eq!(newest, Some(10_000));
        let (moved, last) = super::super::inbox::settle_slice(&conn, 4_096, None).unwrap();
        assert_eq!((moved, last), (3, None));
        let head: i64 = conn
            .query_row("SELECT count(*) FROM metrics_raw_head", [], |r| r.get(0))
            .unwrap();
        assert_eq!(head, 3);
    }

    #[test]
    fn a_version_4_database_keeps_its_rollups_in_the_compact_rows() {
        let (dir, conn) = at_version(4);
        let path = dir.path().join("mon.db");
        conn.execute_batch(
            "INSERT INTO series (id, host, name, labels) VALUES (1, 'web-1', 'load1', '{}');
             INSERT INTO metrics_1m VALUES (1, 1764547200000, 0.5, 2.5, 6.0, 4, 1.0, 1764547259000),
                                           (1, 1764547260000, 1.0, 1.0, 1.0, 1, 1.0, 1764547261000);
             INSERT INTO metrics_1h VALUES (1, 1764547200000, 0.5, 2.5, 7.0, 5, 1.0, 1764547261000);",
        )
        .unwrap();
        drop(conn);

        let conn = open_migrated(&path).unwrap();
        let minutes: Vec<(i64, f64, f64, f64, i64, f64)> = conn
            .prepare("SELECT minute, min, max, sum, count, last FROM metrics_1m ORDER BY minute")
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            minutes,
            [
                (29_409_120, 0.5, 2.5, 6.0, 4, 1.0),
                (29_409_121, 1.0, 1.0, 1.0, 1, 1.0)
            ]
        );
        // The views still answer in Unix ms, and say the time in UTC.
        let view: Vec<(String, i64, String, f64)> = conn
            .prepare("SELECT host, bucket, time, avg FROM rollup_1m ORDER BY bucket")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            view,
            [
                (
                    "web-1".into(),
                    1_764_547_200_000,
                    "2025-12-01 00:00:00".into(),
                    1.5
                ),
                (
                    "web-1".into(),
                    1_764_547_260_000,
                    "2025-12-01 00:01:00".into(),
                    1.0
                )
            ]
        );
        let hour: (i64, i64, f64) = conn
            .query_row(
                "SELECT hour, bucket, avg FROM metrics_1h JOIN rollup_1h USING (min)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(hour, (490_152, 1_764_547_200_000, 1.4));
        // The time has no index of its own any more: the key is the only one.
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('metrics_1m', 'metrics_1h')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 0);
    }
}
