//! The raw inbox through the store's own writer and reader, on a real
//! SQLite file: reports read the same wherever they wait, a replay is a
//! duplicate on either side, and compaction takes what is still in front
//! of the head.

use domain::model::{Point, SeriesKey};

use super::*;

const NOW: i64 = 1_764_000_000_000;

fn key(i: usize) -> SeriesKey {
    SeriesKey::with_labels("cpu_usage_percent", [("cpu", i.to_string())])
}

fn job(host: &str, ts: i64, series: std::ops::Range<usize>) -> WriteJob {
    WriteJob {
        host: host.into(),
        meta: None,
        timestamp_ms: ts,
        points: series
            .map(|i| Point {
                key: key(i),
                value: (ts / 1_000 + i as i64) as f64,
            })
            .collect(),
        activity: Vec::new(),
    }
}

fn config(clock: &ManualClock) -> StoreConfig {
    StoreConfig {
        clock: Clock::manual(clock),
        // Maintenance only when a test asks for it.
        maintenance_every: std::time::Duration::from_secs(3_600),
        ..StoreConfig::default()
    }
}

fn rows(dir: &std::path::Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db_path(dir)).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_fleet_s_reports_move_into_the_head_and_read_the_same_on_either_side() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let (writer, handle) = open(dir.path(), config(&clock)).unwrap();
    // 200 hosts settle at 1,600 rows: ten rounds pass that once.
    let hosts: Vec<String> = (0..200).map(|h| format!("web-{h}")).collect();
    let start = NOW - 10 * 5_000;
    for round in 0..10 {
        for host in &hosts {
            let done = writer
                .write(job(host, start + round * 5_000, 0..4))
                .await
                .unwrap();
            assert_eq!(done.inserted, 4);
        }
    }
    let (inbox, sealed, head) = (
        rows(dir.path(), "metrics_raw_inbox"),
        rows(dir.path(), "metrics_raw_sealed"),
        rows(dir.path(), "metrics_raw_head"),
    );
    assert!(head >= 1_600, "the inbox was not settled: {head} head rows");
    assert_eq!(
        inbox + sealed + head,
        2_000,
        "{inbox} inbox + {sealed} sealed + {head} head rows"
    );
    assert!(
        inbox + sealed > 0,
        "the last rounds wait in front of the head"
    );

    // One host's samples, some from the head and some from the inbox.
    let reader = Reader::open(dir.path()).unwrap();
    let got = reader.raw("web-7", &key(2), start, NOW).unwrap();
    let want: Vec<i64> = (0..10).map(|r| start + r * 5_000).collect();
    assert_eq!(got.iter().map(|p| p.ts).collect::<Vec<_>>(), want);
    assert!(got.iter().all(|p| p.value == (p.ts / 1_000 + 2) as f64));
    assert_eq!(reader.raw_count().unwrap(), 8_000);

    // A replay is a duplicate whether its first copy was settled or not,
    // and a new series of the same report is added to the row it joins.
    for ts in [start, start + 9 * 5_000] {
        let again = writer.write(job("web-7", ts, 0..5)).await.unwrap();
        assert_eq!((again.inserted, again.duplicates), (1, 4), "at {ts}");
    }
    let fifth = reader.raw("web-7", &key(4), start, NOW).unwrap();
    assert_eq!(fifth.len(), 2, "{fifth:?}");
    assert_eq!(reader.raw_count().unwrap(), 8_002);
    drop(writer);
    handle.finish().await;
}

#[tokio::test]
async fn compaction_takes_the_reports_still_in_the_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let (writer, handle) = open(dir.path(), config(&clock)).unwrap();
    // A host back from two hours offline: too few reports to settle.
    let start = NOW - 2 * 3_600_000;
    for i in 0..100 {
        writer
            .write(job("db-1", start + i * 10_000, 0..3))
            .await
            .unwrap();
    }
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 100);
    let report = writer.maintain().await.unwrap();
    assert_eq!(report.head_rows_compacted, 100, "{report:?}");
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 0);
    assert_eq!(rows(dir.path(), "metrics_raw_head"), 0);
    let reader = Reader::open(dir.path()).unwrap();
    let got = reader.raw("db-1", &key(1), start, NOW).unwrap();
    assert_eq!(got.len(), 100);
    assert_eq!(reader.raw_count().unwrap(), 300);
    drop(writer);
    handle.finish().await;
}

#[test]
fn a_report_in_both_the_inbox_and_the_head_is_merged_not_lost() {
    // Ingest never lets this happen; settling must still keep both sides.
    let dir = tempfile::tempdir().unwrap();
    let conn = migrations::open_migrated(&db_path(dir.path())).unwrap();
    let blob = |s: &[(i64, f64)]| encoding::encode_report(&mut s.to_vec());
    conn.execute(
        "INSERT INTO metrics_raw_head (host, ts, samples, data) VALUES ('a', 5, 2, ?1)",
        [blob(&[(1, 1.0), (2, 2.0)])],
    )
    .unwrap();
    for (host, data) in [("a", blob(&[(2, 9.0), (3, 3.0)])), ("b", blob(&[(4, 4.0)]))] {
        conn.execute(
            "INSERT INTO metrics_raw_inbox (ts, host, samples, data) VALUES (5, ?1, 2, ?2)",
            rusqlite::params![host, data],
        )
        .unwrap();
    }
    assert_eq!(inbox::settle(&conn, i64::MAX).unwrap(), 2);
    let data: Vec<u8> = conn
        .query_row(
            "SELECT data FROM metrics_raw_head WHERE host = 'a' AND ts = 5",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // The head's value of series 2 stays (the first written is kept).
    assert_eq!(
        encoding::decode_report(&data).unwrap(),
        vec![(1, 1.0), (2, 2.0), (3, 3.0)]
    );
    let moved: i64 = conn
        .query_row(
            "SELECT count(*) FROM metrics_raw_head WHERE host = 'b'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(inbox::rows(&conn).unwrap(), 0);
}

#[test]
fn a_batch_from_many_hosts_lands_in_the_inbox_and_one_from_a_few_in_the_head() {
    use super::writer::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let conn = migrations::open_migrated(&path).unwrap();
    let mut engine = sqlite_writer::SqliteEngine::new(conn, path, false);
    let marks = maintenance::Marks::NONE;
    let fleet: Vec<WriteJob> = (0..50)
        .map(|h| job(&format!("web-{h}"), NOW, 0..2))
        .collect();
    let few: Vec<WriteJob> = (0..50)
        .map(|i| job(&format!("db-{}", i % 5), NOW + (i / 5) * 5_000, 0..2))
        .collect();
    for batch in [&fleet, &few] {
        let jobs: Vec<&WriteJob> = batch.iter().collect();
        let done = engine.write_batch(&jobs, &marks).unwrap();
        assert!(done.iter().all(|d| d.inserted == 2), "{done:?}");
    }
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 50);
    assert_eq!(rows(dir.path(), "metrics_raw_head"), 50);

    // Wherever the first copy went, a replay is a duplicate.
    let replay: Vec<&WriteJob> = few.iter().take(1).chain(fleet.iter().take(1)).collect();
    let again = engine.write_batch(&replay, &marks).unwrap();
    assert!(again.iter().all(|d| d.duplicates == 2), "{again:?}");
    // A large report goes the head's way, yet its first copy, in the inbox,
    // takes the series it lacked.
    let bigger = job("web-3", NOW, 0..300);
    let again = engine.write_batch(&[&bigger], &marks).unwrap();
    assert_eq!((again[0].inserted, again[0].duplicates), (298, 2));
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 50);
    assert_eq!(rows(dir.path(), "metrics_raw_head"), 50);
}

#[test]
fn a_settle_that_fails_loses_nothing_and_ingest_goes_on() {
    use super::writer::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let conn = migrations::open_migrated(&path).unwrap();
    let mut engine = sqlite_writer::SqliteEngine::new(conn, path.clone(), false);
    let marks = maintenance::Marks::NONE;
    // The head refuses one host's rows, as a head that cannot take them.
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON metrics_raw_head WHEN NEW.host = 'web-0'
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .unwrap();
    // 100 hosts seal a run every 256 rows (three rounds) and move the runs
    // into the head once they hold 1,024 rows.
    let mut round = 0;
    let mut write_rounds = |engine: &mut sqlite_writer::SqliteEngine, n: i64| {
        for _ in 0..n {
            let batch: Vec<WriteJob> = (0..100)
                .map(|h| job(&format!("web-{h}"), NOW + round * 5_000, 0..2))
                .collect();
            let done = engine
                .write_batch(&batch.iter().collect::<Vec<_>>(), &marks)
                .unwrap();
            assert!(done.iter().all(|d| d.inserted == 2));
            engine.after_batch(false);
            round += 1;
        }
    };
    // The twelfth round seals the fourth run; the thirteenth's slice into
    // the head fails.
    write_rounds(&mut engine, 13);
    assert_eq!(rows(dir.path(), "metrics_raw_sealed"), 1_200);
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 100);
    assert_eq!(rows(dir.path(), "metrics_raw_head"), 0);

    // Tried again once as many reports have come as a run takes: the
    // sixteenth round seals a fifth run, the seventeenth moves them all.
    other.execute_batch("DROP TRIGGER refuse").unwrap();
    write_rounds(&mut engine, 3);
    assert_eq!(rows(dir.path(), "metrics_raw_sealed"), 1_600);
    assert_eq!(rows(dir.path(), "metrics_raw_head"), 0);
    write_rounds(&mut engine, 1);
    assert_eq!(rows(dir.path(), "metrics_raw_sealed"), 0);
    assert_eq!(rows(dir.path(), "metrics_raw_head"), 1_600);
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 100);
    let reader = Reader::open(dir.path()).unwrap();
    assert_eq!(reader.raw_count().unwrap(), 17 * 100 * 2);
    let got = reader.raw("web-0", &key(1), NOW, NOW + 17 * 5_000).unwrap();
    assert_eq!(got.len(), 17);
}

#[test]
fn a_replay_is_a_duplicate_after_a_settle_a_compaction_and_a_restart() {
    use super::writer::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let marks = maintenance::Marks::NONE;
    let round = |r: i64| -> Vec<WriteJob> {
        (0..100)
            .map(|h| job(&format!("web-{h}"), NOW + r * 5_000, 0..2))
            .collect()
    };
    let write = |engine: &mut sqlite_writer::SqliteEngine, jobs: &[WriteJob]| {
        let done = engine
            .write_batch(&jobs.iter().collect::<Vec<_>>(), &marks)
            .unwrap();
        engine.after_batch(false);
        done
    };
    let mut engine = sqlite_writer::SqliteEngine::new(
        migrations::open_migrated(&path).unwrap(),
        path.clone(),
        false,
    );
    // Twelve rounds seal four runs (1,024 rows and more) that move into
    // the head; a fifth run and the inbox hold the last four.
    for r in 0..16 {
        assert!(
            write(&mut engine, &round(r))
                .iter()
                .all(|d| d.inserted == 2)
        );
    }
    assert_eq!(rows(dir.path(), "metrics_raw_head"), 1_200);
    assert_eq!(rows(dir.path(), "metrics_raw_sealed"), 300);
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 100);
    // Settled and waiting reports alike are duplicates, in this run...
    for r in [0, 10, 11, 15] {
        let again = write(&mut engine, &round(r));
        assert!(
            again.iter().all(|d| d.duplicates == 2),
            "round {r}: {again:?}"
        );
    }
    // ... after a compaction step moved part of the inbox ...
    let conn = rusqlite::Connection::open(&path).unwrap();
    let moved = inbox::settle(&conn, NOW + 13 * 5_000).unwrap();
    assert_eq!(moved, 100, "round 12, from the fifth run");
    engine.close();
    drop(engine);
    // ... and in the next run, which knows nothing yet.
    let mut engine = sqlite_writer::SqliteEngine::new(
        migrations::open_migrated(&path).unwrap(),
        path.clone(),
        false,
    );
    for (r, hosts) in [(0, 0..100), (12, 0..100), (13, 0..50), (15, 0..50)] {
        let again = write(&mut engine, &round(r)[hosts]);
        assert!(
            again.iter().all(|d| d.duplicates == 2),
            "round {r}: {again:?}"
        );
    }
    // New rounds from half the fleet settle the rest; no report is on both
    // sides, and what the first run left in the inbox, of hosts silent
    // since, is known to be in the head now.
    for r in 16..40 {
        let half = &round(r)[..50];
        assert!(write(&mut engine, half).iter().all(|d| d.inserted == 2));
    }
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM metrics_raw_inbox WHERE ts < ?1",
            [NOW + 16 * 5_000],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "the first run's inbox rows were settled");
    for r in [14, 15] {
        let again = write(&mut engine, &round(r)[50..]);
        assert!(
            again.iter().all(|d| d.duplicates == 2),
            "round {r}: {again:?}"
        );
    }
    let reader = Reader::open(dir.path()).unwrap();
    assert_eq!(reader.raw_count().unwrap(), (16 * 100 + 24 * 50) * 2);
    let got = reader.raw("web-7", &key(1), NOW, NOW + 40 * 5_000).unwrap();
    assert_eq!(got.len(), 40, "each report once: {got:?}");
}

#[test]
fn a_sealed_inbox_moves_into_the_head_a_slice_per_batch_and_reads_the_same_meanwhile() {
    use super::writer::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let marks = maintenance::Marks::NONE;
    let mut engine =
        sqlite_writer::SqliteEngine::new(migrations::open_migrated(&path).unwrap(), path, false);
    let round = |r: i64| -> Vec<WriteJob> {
        (0..600)
            .map(|h| job(&format!("web-{h:03}"), NOW + r * 5_000, 0..2))
            .collect()
    };
    let mut write = |r: i64| {
        let jobs = round(r);
        let done = engine
            .write_batch(&jobs.iter().collect::<Vec<_>>(), &marks)
            .unwrap();
        engine.after_batch(false);
        done
    };
    // 600 hosts seal a run every 1,200 rows (two rounds) and move the runs
    // into the head once they hold 4,800: after the eighth round.
    for r in 0..8 {
        assert!(write(r).iter().all(|d| d.inserted == 2));
    }
    assert_eq!(rows(dir.path(), "metrics_raw_sealed"), 4_800);
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 0);
    // The next batch is followed by one slice: whole hosts, their rows of
    // all four runs, 4,096 rows.
    write(8);
    assert_eq!(rows(dir.path(), "metrics_raw_head"), 4_096);
    assert_eq!(rows(dir.path(), "metrics_raw_sealed"), 704);
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 600);

    // Meanwhile every report reads once, wherever it waits, and a replay
    // of any of them is a duplicate.
    let reader = Reader::open(dir.path()).unwrap();
    let each_once = |reports: usize| {
        for host in ["web-000", "web-511", "web-512", "web-599"] {
            let got = reader.raw(host, &key(1), NOW, NOW + 10 * 5_000).unwrap();
            assert_eq!(got.len(), reports, "{host}: {got:?}");
            assert!(got.windows(2).all(|w| w[0].ts < w[1].ts), "{host}: {got:?}");
        }
    };
    each_once(9);
    assert_eq!(reader.raw_count().unwrap(), 9 * 600 * 2);
    // The replay's batch counts toward a run: the ninth round is sealed as
    // a fifth, while the pass is half done.
    let again = write(3);
    assert!(again.iter().all(|d| d.duplicates == 2), "{again:?}");
    assert_eq!(rows(dir.path(), "metrics_raw_sealed"), 704 + 600);
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 0);
    each_once(9);
    // The batch after ends the pass: the hosts it had not reached, from
    // every run. The fifth run's rows of the hosts it had passed wait for
    // the next.
    write(9);
    assert_eq!(rows(dir.path(), "metrics_raw_head"), 4_096 + 88 * 9);
    assert_eq!(rows(dir.path(), "metrics_raw_sealed"), 512);
    assert_eq!(rows(dir.path(), "metrics_raw_inbox"), 600);
    each_once(10);
    assert_eq!(reader.raw_count().unwrap(), 10 * 600 * 2);
}
