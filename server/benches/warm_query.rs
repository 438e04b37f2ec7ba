//! History query latency: 24 hours of one series from the raw tier, and 7
//! days of it from the 1m tier (materialized buckets plus the real-time
//! tail). The store holds 8 days of 4 series at a 5 s interval, compacted and
//! rolled up, with raw samples past 24 h deleted by retention.
//!
//! `cargo bench -p server --bench warm_query`

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use server::model::{Point, SeriesKey};
use server::store::{self, Clock, ManualClock, RangeQuery, Reader, StoreConfig, Tier, WriteJob};

const END: i64 = 1_760_000_000_000;
const DAY: i64 = 24 * 3_600_000;

fn build(dir: &std::path::Path, clock: &ManualClock) {
    let keys: Vec<SeriesKey> = ["load1", "load5", "cpu_usage_percent", "processes"]
        .map(SeriesKey::new)
        .to_vec();
    let config = StoreConfig {
        maintenance_every: Duration::from_secs(3600),
        clock: Clock::manual(clock),
        ..StoreConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (writer, handle) = store::open(dir, config).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut pending = Vec::new();
        let mut ts = END - 8 * DAY;
        let mut i = 0u64;
        while ts < END {
            let points = keys
                .iter()
                .map(|k| Point {
                    key: k.clone(),
                    value: f64::from(rng.f32() * 100.0),
                })
                .collect();
            let job = WriteJob {
                host: "q-1".into(),
                meta: None,
                timestamp_ms: ts + rng.i64(0..8),
                points,
                activity: Vec::new(),
            };
            pending.push(writer.submit(job).await.unwrap());
            if pending.len() >= 4096 {
                for rx in pending.drain(..) {
                    rx.await.unwrap().unwrap();
                }
            }
            i += 1;
            // Maintenance follows the data a day at a time, as it would live.
            if i.is_multiple_of(17_280) {
                for rx in pending.drain(..) {
                    rx.await.unwrap().unwrap();
                }
                clock.set(ts);
                writer.maintain().await.unwrap();
            }
            ts += 5_000;
        }
        for rx in pending {
            rx.await.unwrap().unwrap();
        }
        clock.set(END);
        writer.maintain().await.unwrap();
        drop(writer);
        handle.finish().await;
    });
}

fn queries(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(END - 8 * DAY);
    build(dir.path(), &clock);
    let reader = Reader::open(dir.path())
        .unwrap()
        .with_config(Default::default(), Clock::manual(&clock));
    let key = SeriesKey::new("load1");

    let raw = reader.raw("q-1", &key, END - DAY, END).unwrap();
    assert!(raw.len() > 17_000, "{} raw samples", raw.len());
    c.bench_function("raw 24h of one series", |b| {
        b.iter(|| reader.raw("q-1", &key, END - DAY, END).unwrap().len())
    });

    let week = RangeQuery {
        host: "q-1".into(),
        metric: "load1".into(),
        labels: vec![],
        from: END - 7 * DAY,
        to: END,
        step: None,
    };
    let range = reader.range(&week).unwrap();
    assert_eq!(range.tier, Tier::OneMinute);
    assert!(
        range.points.len() >= 10_079,
        "{} points",
        range.points.len()
    );
    c.bench_function("1m tier 7d of one series", |b| {
        b.iter(|| reader.range(&week).unwrap().points.len())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = queries
}
criterion_main!(benches);
