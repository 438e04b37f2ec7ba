//! One conformance suite for both warm stores: every scenario runs against
//! the SQLite file and against a private PostgreSQL cluster (skipped, and
//! said so, where no PostgreSQL binaries exist), and both must give the same
//! answers: the same points for the same writes, idempotent replays, late
//! data re-materializing its buckets, the real-time tail, retention.
//!
//! The tests are synchronous: the PostgreSQL client blocks, and a reader is
//! used outside any async runtime, as the gateway does in blocking tasks.

use std::time::Duration;

use server::model::{Point, SeriesKey};
use server::store::postgres::test_server::PgServer;
use server::store::{
    Clock, Location, ManualClock, RangeQuery, Reader, Readers, Retention, StoreConfig, StoreWriter,
    Tier, WriteJob, WriteOutcome, WriterHandle,
};

/// An hour boundary, so minutes and hours start at round offsets.
pub const BASE: i64 = 1_749_999_600_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// Retention short enough to watch every tier expire: raw 3h, 1m 6h, 1h 12h.
const SHORT_RETENTION: Retention = Retention {
    raw: Duration::from_secs(3 * 3600),
    one_minute: Duration::from_secs(6 * 3600),
    one_hour: Duration::from_secs(12 * 3600),
};

/// A point as `(ts, min, max, avg, count)`.
type Summary = (i64, f64, f64, f64, u64);

/// A store under test: its location and what keeps it alive.
pub struct Backend {
    pub name: &'static str,
    pub location: Location,
    _dir: tempfile::TempDir,
}

impl Backend {
    /// SQLite always; PostgreSQL when the machine has it.
    pub fn all() -> Vec<Backend> {
        let dir = tempfile::tempdir().unwrap();
        let mut out = vec![Backend {
            name: "sqlite",
            location: Location::Sqlite(dir.path().to_owned()),
            _dir: dir,
        }];
        if let Some(pg) = PgServer::shared() {
            out.push(Backend {
                name: "postgres",
                location: Location::Postgres(pg.database()),
                _dir: tempfile::tempdir().unwrap(),
            });
        }
        let names: Vec<_> = out.iter().map(|b| b.name).collect();
        eprintln!("store conformance on: {}", names.join(", "));
        out
    }
}

/// A writer and readers on one backend, with a runtime for the writer's
/// async API and a manual clock.
pub struct Open {
    pub rt: tokio::runtime::Runtime,
    pub writer: Option<StoreWriter>,
    handle: Option<WriterHandle>,
    pub readers: Readers,
    pub clock: ManualClock,
    pub retention: Retention,
}

impl Open {
    pub fn new(backend: &Backend, retention: Retention) -> Self {
        Self::with_forward_log(backend, retention, false)
    }

    /// [`Open::new`], with the forward log (`--remote-write`) on or off.
    pub fn with_forward_log(backend: &Backend, retention: Retention, forward_log: bool) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let clock = ManualClock::new(BASE);
        let config = StoreConfig {
            retention,
            rollup_grace: Duration::from_secs(30),
            // Maintenance runs when a test asks, so the interleaving is the test's.
            maintenance_every: Duration::from_secs(3600),
            clock: Clock::manual(&clock),
            forward_log,
            ..StoreConfig::default()
        };
        let (writer, handle, readers) = rt
            .block_on(backend.location.open(config))
            .unwrap_or_else(|e| panic!("{}: {e}", backend.name));
        Self {
            rt,
            writer: Some(writer),
            handle: Some(handle),
            readers,
            clock,
            retention,
        }
    }

    pub fn write(&self, host: &str, ts: i64, points: &[(&SeriesKey, f64)]) -> WriteOutcome {
        let job = WriteJob {
            host: host.into(),
            meta: None,
            timestamp_ms: ts,
            points: points
                .iter()
                .map(|(k, v)| Point {
                    key: (*k).clone(),
                    value: *v,
                })
                .collect(),
            activity: Vec::new(),
        };
        self.write_job(job)
    }

    pub fn write_job(&self, job: WriteJob) -> WriteOutcome {
        self.rt
            .block_on(self.writer.as_ref().unwrap().write(job))
            .unwrap()
    }

    pub fn maintain(&self) {
        self.rt
            .block_on(self.writer.as_ref().unwrap().maintain())
            .unwrap();
    }

    pub fn reader(&self) -> Reader {
        self.readers
            .reader()
            .unwrap()
            .with_config(self.retention, Clock::manual(&self.clock))
    }

    pub fn range(
        &self,
        host: &str,
        key: &SeriesKey,
        from: i64,
        to: i64,
        step: Option<u64>,
    ) -> (Tier, Vec<Summary>) {
        let range = self
            .reader()
            .range(&RangeQuery {
                host: host.into(),
                metric: key.name.clone(),
                labels: key.labels.clone(),
                from,
                to,
                step: step.map(Duration::from_secs),
            })
            .unwrap();
        let points = range
            .points
            .iter()
            .map(|p| (p.ts, p.min, p.max, p.avg, p.count))
            .collect();
        (range.tier, points)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        drop(self.writer.take());
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.finish());
        }
    }
}

fn cpu() -> SeriesKey {
    SeriesKey::new("cpu_usage_percent")
}

fn disk(device: &str) -> SeriesKey {
    SeriesKey::with_labels(
        "disk_read_bytes_per_second",
        [("device", device.to_owned())],
    )
}

/// Everything both backends answer about one store, for comparison.
fn answers(s: &Open) -> Vec<String> {
    let r = s.reader();
    let mut out = vec![format!("raw_count {}", r.raw_count().unwrap())];
    out.push(format!("hosts {:?}", r.hosts().unwrap()));
    out.push(format!("watermarks {:?}", r.watermarks().unwrap()));
    for (host, key) in r.series().unwrap() {
        let raw: Vec<(i64, u64)> = r
            .raw(&host, &key, i64::MIN, i64::MAX)
            .unwrap()
            .iter()
            .map(|p| (p.ts, p.value.to_bits()))
            .collect();
        out.push(format!("{host} {key} raw {raw:?}"));
        for tier in [Tier::OneMinute, Tier::OneHour] {
            let rows = r
                .materialized(&host, &key, tier, i64::MIN, i64::MAX)
                .unwrap();
            out.push(format!("{host} {key} {tier:?} {rows:?}"));
        }
        for (from, step) in [
            (BASE - HOUR, None),
            (BASE - HOUR, Some(60)),
            (BASE - 2 * HOUR, Some(3600)),
        ] {
            let got = s.range(&host, &key, from, s.clock.now_ms(), step);
            out.push(format!("{host} {key} range {from} {step:?} {got:?}"));
        }
    }
    out
}

/// A day of two hosts' samples, written out of order with replays: both
/// backends store and answer exactly the same.
#[test]
fn both_stores_give_the_same_points_for_the_same_writes() {
    let backends = Backend::all();
    let mut all = Vec::new();
    for b in &backends {
        let s = Open::new(b, Retention::default());
        let (c, d0, d1) = (cpu(), disk("sda"), disk("sdb"));
        for i in 0..400i64 {
            // Every 7th report arrives late, after the ones around it.
            let ts = BASE + ((i * 37) % 400) * 15_000;
            s.clock.set(s.clock.now_ms().max(ts + 5_000));
            let v = (i % 17) as f64 * 1.5;
            s.write("web-1", ts, &[(&c, v), (&d0, v * 100.0)]);
            s.write("web-2", ts, &[(&c, 100.0 - v), (&d1, v)]);
            if i % 50 == 49 {
                s.maintain();
            }
        }
        s.clock.advance(Duration::from_secs(3 * 3600));
        s.maintain();
        all.push((b.name, answers(&s)));
    }
    if let [(_, sqlite), (_, postgres)] = &all[..] {
        assert_eq!(sqlite.len(), postgres.len());
        for (a, b) in sqlite.iter().zip(postgres) {
            assert_eq!(a, b, "sqlite and postgres disagree");
        }
    }
    let sqlite = &all[0].1;
    assert_eq!(sqlite[0], "raw_count 1600", "{sqlite:?}");
}

/// A replayed report, through the same writer or after a restart, stores
/// nothing twice and keeps the first value.
#[test]
fn replays_are_idempotent_and_keep_the_first_value() {
    for b in Backend::all() {
        let c = cpu();
        {
            let s = Open::new(&b, Retention::default());
            assert_eq!(
                s.write("web-1", BASE, &[(&c, 1.0)]).inserted,
                1,
                "{}",
                b.name
            );
            let again = s.write("web-1", BASE, &[(&c, 9.0)]);
            assert_eq!((again.inserted, again.duplicates), (0, 1), "{}", b.name);
            // A report for the same instant with one more series adds only it.
            let more = s.write("web-1", BASE, &[(&c, 9.0), (&disk("sda"), 3.0)]);
            assert_eq!((more.inserted, more.duplicates), (1, 1), "{}", b.name);
        }
        // Compacted, then replayed through a new writer (another aggregator).
        let s = Open::new(&b, Retention::default());
        s.clock.advance(Duration::from_secs(2 * 3600));
        s.maintain();
        let late = s.write("web-1", BASE, &[(&c, 5.0), (&disk("sda"), 5.0)]);
        assert_eq!((late.inserted, late.duplicates), (0, 2), "{}", b.name);
        let r = s.reader();
        assert_eq!(r.raw_count().unwrap(), 2, "{}", b.name);
        let raw = r.raw("web-1", &c, i64::MIN, i64::MAX).unwrap();
        assert_eq!(raw.len(), 1, "{}", b.name);
        assert_eq!(raw[0].value, 1.0, "{}: the first value is kept", b.name);
    }
}

/// Samples that arrive after their minute was materialized change its
/// bucket: at once in a query (the bucket is marked stale) and in the
/// stored rows after the next maintenance run, in 1m and in 1h.
#[test]
fn late_data_rematerializes_its_buckets() {
    for b in Backend::all() {
        let s = Open::new(&b, Retention::default());
        let c = cpu();
        for i in 0..30 {
            s.write("web-1", BASE + i * 10_000, &[(&c, 10.0)]);
        }
        s.clock.set(BASE + 2 * HOUR);
        s.maintain();
        let minute = |s: &Open| {
            s.reader()
                .materialized("web-1", &c, Tier::OneMinute, BASE, BASE + MINUTE)
                .unwrap()
        };
        assert_eq!(minute(&s)[0].count, 6, "{}", b.name);
        // A late sample of 70 in the first minute: (6 * 10 + 70) / 7.
        s.write("web-1", BASE + 5_000, &[(&c, 70.0)]);
        let (_, points) = s.range("web-1", &c, BASE, BASE + 5 * MINUTE, Some(60));
        assert_eq!(
            points[0],
            (BASE, 10.0, 70.0, 130.0 / 7.0, 7),
            "{}: query sees the late sample before maintenance",
            b.name
        );
        assert_eq!(
            minute(&s)[0].count,
            6,
            "{}: stored row not yet redone",
            b.name
        );
        s.maintain();
        let redone = minute(&s);
        assert_eq!((redone[0].count, redone[0].max), (7, 70.0), "{}", b.name);
        let hour = s
            .reader()
            .materialized("web-1", &c, Tier::OneHour, BASE - HOUR, BASE + HOUR)
            .unwrap();
        assert_eq!(hour.len(), 1, "{}", b.name);
        assert_eq!(
            (hour[0].count, hour[0].sum, hour[0].max),
            (31, 370.0, 70.0),
            "{}: the hour merges the redone minute",
            b.name
        );
    }
}

/// A query over the 1m tier before maintenance has run returns the minutes
/// computed from raw samples: no gap at the recent end.
#[test]
fn the_real_time_tail_fills_what_maintenance_has_not_materialized() {
    for b in Backend::all() {
        let s = Open::new(&b, Retention::default());
        let c = cpu();
        for i in 0..60 {
            s.write("web-1", BASE + i * 10_000, &[(&c, i as f64)]);
        }
        s.clock.set(BASE + 5 * MINUTE);
        s.maintain();
        // Ten more minutes after the run: none of them materialized.
        for i in 60..120 {
            s.write("web-1", BASE + i * 10_000, &[(&c, i as f64)]);
        }
        s.clock.set(BASE + 20 * MINUTE);
        let (wm, _) = s.reader().watermarks().unwrap();
        assert!(wm.unwrap() < BASE + 20 * MINUTE, "{}", b.name);
        let (tier, points) = s.range("web-1", &c, BASE, BASE + 20 * MINUTE, Some(60));
        assert_eq!(tier, Tier::OneMinute, "{}", b.name);
        assert_eq!(
            points.len(),
            20,
            "{}: every minute, materialized or not",
            b.name
        );
        assert_eq!(points.iter().map(|p| p.4).sum::<u64>(), 120, "{}", b.name);
        assert_eq!(
            points[19].3,
            (114..120).sum::<i64>() as f64 / 6.0,
            "{}",
            b.name
        );
    }
}

/// Retention deletes each tier past its own cutoff and keeps the rest.
#[test]
fn retention_keeps_each_tier_for_its_own_time() {
    for b in Backend::all() {
        let s = Open::new(&b, SHORT_RETENTION);
        let c = cpu();
        // Ten hours of a sample a minute.
        for i in 0..600 {
            let ts = BASE + i * MINUTE;
            s.clock.set(ts + 1000);
            s.write("web-1", ts, &[(&c, 1.0)]);
            if i % 120 == 119 {
                s.maintain();
            }
        }
        s.clock.set(BASE + 10 * HOUR + 10 * MINUTE);
        s.maintain();
        let now = s.clock.now_ms();
        let r = s.reader();
        let raw = r.raw("web-1", &c, i64::MIN, i64::MAX).unwrap();
        assert!(
            raw.first().unwrap().ts >= now - 3 * HOUR,
            "{}: raw older than 3h is gone",
            b.name
        );
        assert_eq!(raw.len(), 180 - 10, "{}", b.name);
        let m1 = r
            .materialized("web-1", &c, Tier::OneMinute, i64::MIN, i64::MAX)
            .unwrap();
        assert!(m1.first().unwrap().start >= now - 6 * HOUR, "{}", b.name);
        let h1 = r
            .materialized("web-1", &c, Tier::OneHour, i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(
            h1.first().unwrap().start,
            BASE.div_euclid(HOUR) * HOUR,
            "{}: 1h keeps all ten hours",
            b.name
        );
    }
}

/// Process tables as history: the first of each minute is kept, a replay
/// changes nothing, `at` finds the newest table taken at or before it (not
/// one from long before), and retention drops them with the 1m tier.
#[test]
fn process_tables_are_kept_one_a_minute_and_expire_with_the_one_minute_tier() {
    use server::activity::{ActivityKind, ProcessTable};
    use server::store::ActivityRecord;
    for b in Backend::all() {
        let s = Open::new(&b, SHORT_RETENTION);
        let c = cpu();
        let write = |ts: i64, total: u32| {
            let table = ProcessTable {
                total,
                processes: vec![],
            };
            let job = WriteJob {
                host: "web-1".into(),
                meta: None,
                timestamp_ms: ts,
                points: vec![Point {
                    key: c.clone(),
                    value: 1.0,
                }],
                activity: vec![ActivityRecord::new(ActivityKind::Processes, ts, &table)],
            };
            s.rt.block_on(s.writer.as_ref().unwrap().write(job))
                .unwrap();
        };
        // Every 30 s for eight hours: two tables a minute, of which the
        // first is kept; then the first one again, as a replay would.
        for i in 0..960 {
            let ts = BASE + i * 30_000 + 5_000;
            s.clock.set(ts + 1000);
            write(ts, i as u32);
        }
        write(BASE + 5_000, 999_999);
        let total_at = |at: i64| {
            s.reader()
                .activity_at("web-1", ActivityKind::Processes, at)
                .unwrap()
                .map(|t| {
                    let v: serde_json::Value = serde_json::from_slice(&t.json).unwrap();
                    (t.ts, v["total"].as_u64().unwrap())
                })
        };
        assert_eq!(
            total_at(BASE + 5_000),
            Some((BASE + 5_000, 0)),
            "{}",
            b.name
        );
        // At 00:01:50 the newest kept is the first of minute 1 (00:01:05).
        assert_eq!(
            total_at(BASE + MINUTE + 50_000),
            Some((BASE + MINUTE + 5_000, 2)),
            "{}",
            b.name
        );
        // Before the first table, and long after the last, nothing.
        assert_eq!(total_at(BASE + 4_000), None, "{}", b.name);
        assert_eq!(total_at(BASE + 9 * HOUR), None, "{}", b.name);
        assert_eq!(
            s.reader()
                .activity_at("web-2", ActivityKind::Processes, BASE + 5_000)
                .unwrap(),
            None
        );

        s.clock.set(BASE + 8 * HOUR);
        s.maintain();
        assert_eq!(
            total_at(BASE + 5_000),
            None,
            "{}: older than 6h is gone",
            b.name
        );
        assert!(total_at(BASE + 3 * HOUR).is_some(), "{}", b.name);
    }
}

/// Two aggregators on one PostgreSQL database: one runs maintenance, the
/// other is refused until the first is gone, then takes over; an aggregator
/// with other retention settings is refused before it writes anything.
#[test]
fn on_postgres_one_aggregator_at_a_time_runs_maintenance_and_all_share_the_retention() {
    let Some(pg) = PgServer::shared() else {
        return;
    };
    let backend = Backend {
        name: "postgres",
        location: Location::Postgres(pg.database()),
        _dir: tempfile::tempdir().unwrap(),
    };
    let first = Open::new(&backend, Retention::default());
    let second = Open::new(&backend, Retention::default());
    let c = cpu();
    first.write("web-1", BASE, &[(&c, 1.0)]);
    second.write("web-2", BASE, &[(&c, 2.0)]);
    first.maintain();
    let refused = second
        .rt
        .block_on(second.writer.as_ref().unwrap().maintain())
        .unwrap_err()
        .to_string();
    assert!(refused.contains("another aggregator runs"), "{refused}");
    drop(first);
    // The first's session ended with it, and its lock with the session.
    second.clock.advance(Duration::from_secs(2 * 3600));
    second.maintain();
    let r = second.reader();
    assert_eq!(r.hosts().unwrap(), ["web-1", "web-2"]);
    let m1 = r
        .materialized("web-2", &c, Tier::OneMinute, i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(m1.len(), 1, "the second took over the rollups");

    let other = Retention {
        raw: Duration::from_secs(48 * 3600),
        ..Retention::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(backend.location.open(StoreConfig {
            retention: other,
            ..StoreConfig::default()
        }))
        .err()
        .expect("different retention is refused")
        .to_string();
    assert!(
        err.contains("--retention-raw 2days differs from the 1day")
            && err.contains("UPDATE store_state"),
        "{err}"
    );
}

/// The forward log behind `--remote-write`: each report's new samples once
/// (a replay adds nothing), read behind a destination's cursor, a new
/// destination starting at the log's end, cursors that only move forward,
/// and retention trimming what every cursor passed or the raw tier dropped.
#[test]
fn the_forward_log_holds_each_new_sample_once_behind_each_destination_cursor() {
    for b in Backend::all() {
        let s = Open::with_forward_log(&b, Retention::default(), true);
        let writer = s.writer.as_ref().unwrap();
        let (c, d) = (cpu(), disk("sda"));
        let sent = |dest: &str| -> Vec<(String, i64, usize)> {
            s.reader()
                .forward_batch(dest, 2_000)
                .unwrap()
                .entries
                .iter()
                .map(|e| (e.host.clone(), e.ts, e.samples.len()))
                .collect()
        };
        assert_eq!(s.rt.block_on(writer.forward_register("a")).unwrap(), 0);
        s.write("web-1", BASE, &[(&c, 1.0), (&d, 2.0)]);
        // "b" starts at the log's end: what was stored before it is not its.
        let b_start = s.rt.block_on(writer.forward_register("b")).unwrap();
        assert!(b_start > 0, "{}", b.name);
        s.write("web-1", BASE + 5_000, &[(&c, 3.0)]);
        // A replay stores nothing new and logs nothing; one more series
        // logs that series alone.
        s.write("web-1", BASE, &[(&c, 1.0), (&d, 2.0)]);
        s.write("web-2", BASE, &[(&c, 4.0)]);
        s.write("web-1", BASE, &[(&c, 1.0), (&disk("sdb"), 5.0)]);
        let want_a = vec![
            ("web-1".to_owned(), BASE, 2),
            ("web-1".to_owned(), BASE + 5_000, 1),
            ("web-2".to_owned(), BASE, 1),
            ("web-1".to_owned(), BASE, 1),
        ];
        assert_eq!(sent("a"), want_a, "{}", b.name);
        assert_eq!(sent("b"), want_a[1..], "{}", b.name);
        assert_eq!(
            s.reader().forward_pending("a").unwrap(),
            server::store::Pending {
                samples: 5,
                oldest_ts: Some(BASE)
            },
            "{}",
            b.name
        );
        // The values and series come back as stored.
        let batch = s.reader().forward_batch("a", 2_000).unwrap();
        let first = &batch.entries[0];
        let names = s
            .reader()
            .series_by_id(&first.samples.iter().map(|p| p.0).collect::<Vec<_>>())
            .unwrap();
        let mut got: Vec<(String, f64)> = first
            .samples
            .iter()
            .map(|(id, v)| (names[id].to_string(), *v))
            .collect();
        got.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            got,
            [
                ("cpu_usage_percent".to_owned(), 1.0),
                ("disk_read_bytes_per_second{device=\"sda\"}".to_owned(), 2.0)
            ],
            "{}",
            b.name
        );
        // A batch holds whole reports up to the sample limit.
        let small = s.reader().forward_batch("a", 3).unwrap();
        assert_eq!((small.entries.len(), small.more), (2, true), "{}", b.name);

        // Sent: the cursor moves on, never back.
        let end = batch.last_seq();
        assert!(s.rt.block_on(writer.forward_advance("a", end)).unwrap());
        assert!(
            s.rt.block_on(writer.forward_advance("a", small.last_seq()))
                .unwrap()
        );
        assert_eq!(sent("a"), [], "{}", b.name);
        assert_eq!(s.reader().forward_pending("a").unwrap().samples, 0);
        // Retention keeps what "b" has not sent, then trims once it has.
        s.maintain();
        assert_eq!(sent("b").len(), 3, "{}", b.name);
        assert!(s.rt.block_on(writer.forward_advance("b", end)).unwrap());
        s.maintain();
        assert_eq!(sent("b"), [], "{}", b.name);
        // A re-registered destination keeps its cursor.
        assert_eq!(s.rt.block_on(writer.forward_register("a")).unwrap(), end);

        // Unsent rows older than the raw tier go with the raw samples.
        s.write("web-3", BASE + 10_000, &[(&c, 6.0)]);
        assert_eq!(sent("a").len(), 1, "{}", b.name);
        s.clock.advance(Duration::from_secs(25 * 3600));
        s.maintain();
        assert_eq!(sent("a"), [], "{}", b.name);
        assert_eq!(sent("b"), [], "{}", b.name);
    }
}

/// Two aggregators forwarding from one PostgreSQL database: the log is
/// shared (what either stored is there to send), only the one running
/// maintenance may move cursors, and the other takes over once it is gone.
#[test]
fn on_postgres_only_the_maintenance_holder_forwards_what_every_aggregator_stored() {
    let Some(pg) = PgServer::shared() else {
        return;
    };
    let backend = Backend {
        name: "postgres",
        location: Location::Postgres(pg.database()),
        _dir: tempfile::tempdir().unwrap(),
    };
    let first = Open::with_forward_log(&backend, Retention::default(), true);
    let second = Open::with_forward_log(&backend, Retention::default(), true);
    let (w1, w2) = (
        first.writer.as_ref().unwrap(),
        second.writer.as_ref().unwrap(),
    );
    first.rt.block_on(w1.forward_register("vm")).unwrap();
    second.rt.block_on(w2.forward_register("vm")).unwrap();
    let c = cpu();
    first.write("web-1", BASE, &[(&c, 1.0)]);
    second.write("web-2", BASE, &[(&c, 2.0)]);
    assert!(
        first.rt.block_on(w1.forward_turn()).unwrap(),
        "the first forwards"
    );
    assert!(
        !second.rt.block_on(w2.forward_turn()).unwrap(),
        "the second stands by"
    );
    let batch = second.reader().forward_batch("vm", 2_000).unwrap();
    let hosts: Vec<&str> = batch.entries.iter().map(|e| e.host.as_str()).collect();
    assert_eq!(hosts, ["web-1", "web-2"], "one log for both");
    // A standby's advance changes nothing.
    assert!(
        !second
            .rt
            .block_on(w2.forward_advance("vm", batch.last_seq()))
            .unwrap()
    );
    assert_eq!(
        first
            .reader()
            .forward_batch("vm", 2_000)
            .unwrap()
            .entries
            .len(),
        2
    );
    assert!(
        first
            .rt
            .block_on(w1.forward_advance("vm", batch.entries[0].seq))
            .unwrap()
    );
    drop(first);
    assert!(
        second.rt.block_on(w2.forward_turn()).unwrap(),
        "the second takes over"
    );
    let rest = second.reader().forward_batch("vm", 2_000).unwrap();
    assert_eq!(rest.entries.len(), 1, "it goes on from the shared cursor");
    assert_eq!(rest.entries[0].host, "web-2");
}
