//! The writer on a database that cannot grow or cannot be written, provoked
//! on a real SQLite file through the writer's own connection:
//! `max_page_count` makes SQLite answer `SQLITE_FULL` exactly as a full disk
//! does, `query_only` makes it answer `SQLITE_READONLY`. (The whole process
//! on a really full or read-only file system is `cli/tests/it/disk.rs`.)

use std::sync::atomic::Ordering;

use domain::model::{Point, SeriesKey};

use super::*;

fn job(host: &str, ts: i64, series: std::ops::Range<usize>) -> WriteJob {
    WriteJob {
        host: host.into(),
        meta: None,
        timestamp_ms: ts,
        points: series
            .map(|i| Point {
                // Long label values, so a few hundred new series need pages
                // the database does not have.
                key: SeriesKey::with_labels(
                    "filesystem_used_bytes",
                    [("mount", format!("/{i:0>120}"))],
                ),
                value: i as f64,
            })
            .collect(),
        activity: Vec::new(),
    }
}

fn config(clock: &ManualClock) -> StoreConfig {
    StoreConfig {
        clock: Clock::manual(clock),
        ..StoreConfig::default()
    }
}

/// The page count now, so a limit just above it leaves no room to grow.
fn page_count(dir: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db_path(dir)).unwrap();
    conn.query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_batch_that_fills_the_disk_leaves_no_trace_and_its_replay_stores_each_sample_once() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_764_000_000_000;
    let clock = ManualClock::new(now);
    let (writer, handle) = open(dir.path(), config(&clock)).unwrap();
    let first = writer
        .write(job("web-1", now - 5_000, 0..10))
        .await
        .unwrap();
    assert_eq!(first.inserted, 10);

    let pages = page_count(dir.path());
    writer
        .tune(&format!("PRAGMA max_page_count = {pages}"))
        .await
        .unwrap();
    // New series at a new time, and a known series at a new time: the batch
    // writes series rows, a head row and host data before running out.
    let big = job("web-1", now - 4_000, 0..600);
    let err = writer.write(big.clone()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err:?}");
    assert!(
        text.starts_with(&format!(
            "the disk holding {} is full: ingest paused until space is freed (SQLite: ",
            dir.path().display()
        )),
        "{text}"
    );
    // A second refusal while still full is counted but is the same outage.
    assert!(writer.write(big.clone()).await.is_err());
    let stats = writer.stats();
    assert_eq!(stats.write_errors.load(Ordering::Relaxed), 2);
    assert_eq!(stats.write_failing.load(Ordering::Relaxed), 1);

    let reader = Reader::open(dir.path()).unwrap();
    assert_eq!(
        reader.raw_count().unwrap(),
        10,
        "the failed batch stored nothing"
    );
    assert_eq!(reader.series().unwrap().len(), 10, "nor any series");

    // Space returns: the replay commits, once, and each series got its own
    // value (a series id cached from the rolled-back batch would point a
    // sample at another series).
    writer
        .tune("PRAGMA max_page_count = 1073741823")
        .await
        .unwrap();
    let replay = writer.write(big.clone()).await.unwrap();
    assert_eq!(
        replay,
        WriteOutcome {
            inserted: 600,
            duplicates: 0
        }
    );
    assert_eq!(stats.write_failing.load(Ordering::Relaxed), 0);
    let again = writer.write(big.clone()).await.unwrap();
    assert_eq!(
        again,
        WriteOutcome {
            inserted: 0,
            duplicates: 600
        }
    );
    assert_eq!(reader.raw_count().unwrap(), 610);
    assert_eq!(reader.series().unwrap().len(), 600);
    for point in [&big.points[0], &big.points[17], &big.points[599]] {
        let stored = reader.raw("web-1", &point.key, now - 10_000, now).unwrap();
        let values: Vec<f64> = stored.iter().map(|p| p.value).collect();
        let expected = if point.value < 10.0 {
            vec![point.value, point.value]
        } else {
            vec![point.value]
        };
        assert_eq!(values, expected, "{:?}", point.key);
    }
    drop(writer);
    handle.finish().await;
    let conn = rusqlite::Connection::open(db_path(dir.path())).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test]
async fn a_read_only_database_refuses_the_batch_by_name_and_the_next_batch_commits() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_764_000_000_000;
    let clock = ManualClock::new(now);
    let (writer, handle) = open(dir.path(), config(&clock)).unwrap();
    writer.tune("PRAGMA query_only = 1").await.unwrap();
    let report = job("db-1", now - 1_000, 0..3);
    let err = writer.write(report.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "{} is read-only: ingest paused",
            dir.path().display()
        )),
        "{err}"
    );
    writer.tune("PRAGMA query_only = 0").await.unwrap();
    let stored = writer.write(report).await.unwrap();
    assert_eq!(stored.inserted, 3);
    drop(writer);
    handle.finish().await;
}

#[tokio::test]
async fn maintenance_on_a_read_only_database_keeps_its_progress_and_completes_later() {
    let dir = tempfile::tempdir().unwrap();
    // Two hours of reports, then the clock moves on so compaction and both
    // rollups have work.
    let start = 1_764_000_000_000; // on the hour
    let clock = ManualClock::new(start);
    let (writer, handle) = open(dir.path(), config(&clock)).unwrap();
    let mut sent = 0;
    for t in (start..start + 2 * 3_600_000).step_by(60_000) {
        clock.set(t);
        sent += writer.write(job("db-1", t, 0..5)).await.unwrap().inserted;
    }
    clock.set(start + 3 * 3_600_000);

    writer.tune("PRAGMA query_only = 1").await.unwrap();
    let err = writer.maintain().await.unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    let stats = writer.stats();
    assert!(stats.maintenance_errors.load(Ordering::Relaxed) >= 1);
    let reader = Reader::open(dir.path()).unwrap();
    assert_eq!(
        reader.watermarks().unwrap(),
        (None, None),
        "no progress recorded"
    );

    // The run completes once writes work again; a replay of a report whose
    // samples compaction has since moved into chunks is a duplicate.
    writer.tune("PRAGMA query_only = 0").await.unwrap();
    let report = writer.maintain().await.unwrap();
    assert!(report.head_rows_compacted > 0, "{report:?}");
    assert!(report.buckets_1m > 0 && report.buckets_1h > 0, "{report:?}");
    let replay = writer.write(job("db-1", start, 0..5)).await.unwrap();
    assert_eq!(
        replay,
        WriteOutcome {
            inserted: 0,
            duplicates: 5
        }
    );
    assert_eq!(reader.raw_count().unwrap(), sent as u64);
    drop(writer);
    handle.finish().await;
}
