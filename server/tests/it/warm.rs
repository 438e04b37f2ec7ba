//! The warm path end to end: a backfill over real gRPC lands in the rollup
//! tables, retention keeps exactly its windows, and the raw tier stays small.

use std::time::Duration;

use server::model::{Point, SeriesKey};
use server::proto::{Report, Sample};
use server::store::{
    self, Bucket, Clock, ManualClock, Reader, Retention, StoreConfig, Tier, WriteJob,
};
use server::testkit::Pipeline;
use server::time::now_ms;

use crate::harness::{RawAgent, eventually};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn buckets(samples: &[(i64, f64)], width: i64, before: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for &(ts, v) in samples.iter().filter(|s| s.0 < before) {
        let start = ts.div_euclid(width) * width;
        match out.last_mut() {
            Some(b) if b.start == start => b.merge(&Bucket::of(start, v)),
            _ => out.push(Bucket::of(start, v)),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_hour_backfill_over_grpc_lands_in_metrics_1m_and_metrics_1h() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig {
        maintenance_every: Duration::from_millis(50),
        ..StoreConfig::default()
    };
    let pipeline = Pipeline::builder()
        .data_dir(dir.path())
        .aggregator(|c| c.store = store)
        .start()
        .await;
    let agg = pipeline.aggregator();
    let mut agent = RawAgent::connect(&agg.url(), "backfill-1").await;
    // An agent back from two hours offline replays a report every 10 s.
    let start = now_ms() - 2 * HOUR;
    let mut cpu = Vec::new();
    let mut load = Vec::new();
    for i in 0..720 {
        let ts = start + i * 10_000 + (i % 7);
        let (c, l) = ((i % 100) as f64, (i % 13) as f64 / 4.0);
        cpu.push((ts, c));
        load.push((ts, l));
        let ack = agent
            .send(Report {
                host: "backfill-1".into(),
                seq: i as u64 + 1,
                timestamp_ms: ts,
                samples: vec![
                    Sample {
                        name: "cpu_usage_percent".into(),
                        labels: vec![],
                        value: c,
                    },
                    Sample {
                        name: "load1".into(),
                        labels: vec![],
                        value: l,
                    },
                ],
                ..Default::default()
            })
            .await;
        assert_eq!(ack.accepted, 2, "{ack:?}");
    }

    // Maintenance runs every 50 ms: poll until both tiers hold exactly what
    // brute force over the backfilled samples says, up to their watermarks.
    let reader = Reader::open(dir.path()).unwrap();
    let matches = || {
        let Ok((Some(wm_1m), Some(wm_1h))) = reader.watermarks() else {
            return false;
        };
        if wm_1h <= start {
            return false;
        }
        [("cpu_usage_percent", &cpu), ("load1", &load)]
            .iter()
            .all(|(name, samples)| {
                let key = SeriesKey::new(*name);
                let m1 = reader
                    .materialized("backfill-1", &key, Tier::OneMinute, 0, i64::MAX)
                    .unwrap();
                let h1 = reader
                    .materialized("backfill-1", &key, Tier::OneHour, 0, i64::MAX)
                    .unwrap();
                m1 == buckets(samples, MINUTE, wm_1m) && h1 == buckets(samples, HOUR, wm_1h)
            })
    };
    assert!(
        eventually(Duration::from_secs(20), matches).await,
        "metrics_1m and metrics_1h match the backfill"
    );
    let h1 = reader
        .materialized(
            "backfill-1",
            &SeriesKey::new("load1"),
            Tier::OneHour,
            0,
            i64::MAX,
        )
        .unwrap();
    assert!(!h1.is_empty() && h1.iter().all(|b| b.count > 0));
    let stats = agg
        .stats
        .samples_stored
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(stats, 1440);
    drop(agent);
    pipeline.stop().await;
}

/// `t` rounded up to a multiple of `to`.
fn ceil(t: i64, to: i64) -> i64 {
    (t + to - 1).div_euclid(to) * to
}

/// Writes one sample of `key` every `every` from `from` to `to`.
async fn fill(writer: &store::StoreWriter, key: &SeriesKey, from: i64, to: i64, every: i64) {
    let mut pending = Vec::new();
    let mut ts = from;
    while ts < to {
        let job = WriteJob {
            host: "old-1".into(),
            meta: None,
            timestamp_ms: ts,
            points: vec![Point {
                key: key.clone(),
                value: (ts / every % 50) as f64,
            }],
            activity: Vec::new(),
        };
        pending.push(writer.submit(job).await.unwrap());
        ts += every;
    }
    for rx in pending {
        rx.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn retention_deletes_exactly_what_is_older_than_each_tier_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_760_000_000_000 - 1_760_000_000_000 % HOUR + 17 * MINUTE + 5_000;
    let clock = ManualClock::new(t0);
    let retention = Retention {
        raw: Duration::from_secs(2 * 3600),
        one_minute: Duration::from_secs(5 * 3600),
        one_hour: Duration::from_secs(2 * 24 * 3600),
    };
    let config = StoreConfig {
        retention,
        maintenance_every: Duration::from_secs(3600),
        clock: Clock::manual(&clock),
        ..StoreConfig::default()
    };
    let (writer, handle) = store::open(dir.path(), config).unwrap();
    let key = SeriesKey::new("load1");
    // Three days of one sample a minute, ending now.
    fill(&writer, &key, t0 - 3 * 24 * HOUR, t0, MINUTE).await;

    let reader = Reader::open(dir.path()).unwrap();
    for step in 0..3 {
        let report = writer.maintain().await.unwrap();
        let now = clock.now_ms();
        let cut_raw = now - 2 * HOUR;
        let cut_1m = now - 5 * HOUR;
        let cut_1h = now - 48 * HOUR;
        let deleted = report.deleted.expect("maintain() includes retention");
        assert!(deleted.raw_samples > 0 || step > 0, "{report:?}");

        let raw = reader.raw("old-1", &key, i64::MIN, i64::MAX).unwrap();
        assert!(
            raw.iter().all(|p| p.ts >= cut_raw),
            "step {step}: raw older than {cut_raw}"
        );
        assert_eq!(
            raw.len(),
            ceil(t0 - cut_raw, MINUTE) as usize / MINUTE as usize,
            "step {step}"
        );
        assert_eq!(raw.last().unwrap().ts, t0 - MINUTE);

        let (wm_1m, wm_1h) = reader.watermarks().unwrap();
        let (wm_1m, wm_1h) = (wm_1m.unwrap(), wm_1h.unwrap());
        let m1 = reader
            .materialized("old-1", &key, Tier::OneMinute, i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(
            m1.first().unwrap().start,
            ceil(cut_1m, MINUTE),
            "step {step}"
        );
        assert_eq!(
            m1.len() as i64,
            (wm_1m.min(t0) - m1[0].start) / MINUTE,
            "no 1m bucket lost"
        );
        let h1 = reader
            .materialized("old-1", &key, Tier::OneHour, i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(h1.first().unwrap().start, ceil(cut_1h, HOUR), "step {step}");
        assert_eq!(
            h1.len() as i64,
            (wm_1h - h1[0].start) / HOUR,
            "no 1h bucket lost"
        );
        assert!(
            h1.iter()
                .filter(|b| b.start + HOUR <= t0)
                .all(|b| b.count == 60),
            "whole hours of 60 samples"
        );

        // Time passes; the windows move with it.
        clock.advance(Duration::from_secs(37 * 60));
    }
    drop(writer);
    handle.finish().await;
}

#[tokio::test]
async fn a_retention_shorter_than_the_rollup_lag_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        retention: Retention {
            raw: Duration::from_secs(60),
            ..Retention::default()
        },
        ..StoreConfig::default()
    };
    let err = store::open(dir.path(), config).err().unwrap().to_string();
    assert!(
        err.contains("raw retention 1m") && err.contains("1m rollup's lag"),
        "{err}"
    );
}
