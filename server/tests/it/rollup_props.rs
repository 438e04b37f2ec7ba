//! Property tests of the warm path against a brute-force model: random
//! samples of a few series arrive in random order (many of them late, some
//! replayed with other values), maintenance runs now and then on a manual
//! clock, and every answer the store gives must equal what a plain
//! aggregation of the first-written samples says.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use server::model::{Point, SeriesKey};
use server::store::{
    self, Bucket, Clock, ManualClock, RangeQuery, Reader, Retention, StoreConfig, Tier, WriteJob,
};

const BASE: i64 = 1_750_000_000_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const HOST: &str = "prop-1";

fn key(series: usize) -> SeriesKey {
    SeriesKey::with_labels(
        "disk_read_bytes_per_second",
        [("device", format!("sd{series}"))],
    )
}

/// One arrival: which series, its timestamp, its value (a multiple of 1/8,
/// so sums are exact and the model can demand equality), and how far the
/// clock has moved past the timestamp when it arrives.
#[derive(Debug, Clone)]
struct Arrival {
    series: usize,
    ts: i64,
    value: f64,
    lag: i64,
    maintain_after: bool,
}

fn arrivals() -> impl Strategy<Value = Vec<Arrival>> {
    prop::collection::vec(
        (
            0usize..3,
            // Three hours of timestamps on a 10 s grid, so replays collide.
            0i64..(3 * 360),
            -4000i64..4000,
            prop_oneof![3 => 0i64..90_000, 1 => 0i64..(2 * HOUR)],
            prop::bool::weighted(0.1),
        ),
        1..120,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .map(|(series, slot, v, lag, maintain_after)| Arrival {
                series,
                ts: BASE + slot * 10_000,
                value: v as f64 / 8.0,
                lag,
                maintain_after,
            })
            .collect()
    })
}

/// The model: per series, the first value written at each timestamp.
type Model = BTreeMap<usize, BTreeMap<i64, f64>>;

fn brute(model: &Model, series: usize, from: i64, to: i64, width: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for (&ts, &v) in model
        .get(&series)
        .into_iter()
        .flat_map(|m| m.range(from..to))
    {
        let start = ts.div_euclid(width) * width;
        match out.last_mut() {
            Some(b) if b.start == start => {
                b.min = b.min.min(v);
                b.max = b.max.max(v);
                b.sum += v;
                b.count += 1;
                b.last = v;
            }
            _ => out.push(Bucket::of(start, v)),
        }
    }
    out
}

fn check_store(dir: &std::path::Path, clock: &ManualClock, model: &Model, settled: bool) {
    let reader = Reader::open(dir)
        .unwrap()
        .with_config(Retention::default(), Clock::manual(clock));
    let now = clock.now_ms();
    let (wm_1m, wm_1h) = reader.watermarks().unwrap();
    for series in 0..3 {
        let k = key(series);
        let expected: Vec<(i64, u64)> = model
            .get(&series)
            .into_iter()
            .flat_map(|m| m.iter().map(|(&t, &v)| (t, v.to_bits())))
            .collect();
        let raw: Vec<(i64, u64)> = reader
            .raw(HOST, &k, i64::MIN, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|p| (p.ts, p.value.to_bits()))
            .collect();
        assert_eq!(raw, expected, "raw samples of series {series}");
        if !expected.is_empty() {
            // The real-time union over the 1m tier equals brute force up to now.
            let range = reader
                .range(&RangeQuery {
                    host: HOST.into(),
                    metric: k.name.clone(),
                    labels: k.labels.clone(),
                    from: BASE - HOUR,
                    to: now,
                    step: Some(Duration::from_secs(60)),
                })
                .unwrap();
            assert_eq!(range.tier, Tier::OneMinute);
            let got: Vec<(i64, f64, f64, f64, u64)> = range
                .points
                .iter()
                .map(|p| (p.ts, p.min, p.max, p.avg, p.count))
                .collect();
            let want: Vec<(i64, f64, f64, f64, u64)> =
                brute(model, series, BASE - HOUR, now, MINUTE)
                    .iter()
                    .map(|b| (b.start, b.min, b.max, b.avg(), b.count))
                    .collect();
            assert_eq!(got, want, "1m union of series {series} at now={now}");
        }
        if !settled {
            continue;
        }
        // After a full maintenance run every materialized bucket equals
        // brute force over the samples it covers, and none is missing.
        for (tier, width, wm) in [
            (Tier::OneMinute, MINUTE, wm_1m),
            (Tier::OneHour, HOUR, wm_1h),
        ] {
            let wm = wm.expect("a run set the watermark");
            let stored = reader
                .materialized(HOST, &k, tier, i64::MIN, i64::MAX)
                .unwrap();
            let want = brute(model, series, i64::MIN, wm, width);
            assert_eq!(
                stored, want,
                "{tier:?} buckets of series {series} below {wm}"
            );
        }
    }
}

fn run_case(arrivals: Vec<Arrival>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(BASE);
    let config = StoreConfig {
        rollup_grace: Duration::from_secs(30),
        // Runs only when the test asks, so the interleaving is the test's.
        maintenance_every: Duration::from_secs(3600),
        clock: Clock::manual(&clock),
        ..StoreConfig::default()
    };
    rt.block_on(async {
        let (writer, handle) = store::open(dir.path(), config).unwrap();
        let mut model = Model::new();
        let mut inserted = 0;
        for (i, a) in arrivals.iter().enumerate() {
            clock.set(clock.now_ms().max(a.ts + a.lag));
            let out = writer
                .write(WriteJob {
                    host: HOST.into(),
                    meta: None,
                    timestamp_ms: a.ts,
                    points: vec![Point {
                        key: key(a.series),
                        value: a.value,
                    }],
                    activity: Vec::new(),
                })
                .await
                .unwrap();
            let fresh = model
                .entry(a.series)
                .or_default()
                .insert(a.ts, a.value)
                .is_none();
            if !fresh {
                // The first write wins: put the model back.
                let first = arrivals[..i]
                    .iter()
                    .find(|b| b.series == a.series && b.ts == a.ts)
                    .unwrap()
                    .value;
                model.get_mut(&a.series).unwrap().insert(a.ts, first);
            }
            assert_eq!(out.inserted, usize::from(fresh), "arrival {i}: {a:?}");
            inserted += out.inserted;
            if a.maintain_after {
                writer.maintain().await.unwrap();
                check_store(dir.path(), &clock, &model, false);
            }
        }
        // Well past the last sample, so every bucket is materialized.
        clock.advance(Duration::from_secs(3 * 3600));
        writer.maintain().await.unwrap();
        check_store(dir.path(), &clock, &model, true);

        // Replaying everything changes nothing.
        for a in &arrivals {
            let out = writer
                .write(WriteJob {
                    host: HOST.into(),
                    meta: None,
                    timestamp_ms: a.ts,
                    points: vec![Point {
                        key: key(a.series),
                        value: a.value + 1.0,
                    }],
                    activity: Vec::new(),
                })
                .await
                .unwrap();
            assert_eq!((out.inserted, out.duplicates), (0, 1));
        }
        writer.maintain().await.unwrap();
        check_store(dir.path(), &clock, &model, true);
        assert_eq!(
            Reader::open(dir.path()).unwrap().raw_count().unwrap(),
            inserted as u64
        );
        drop(writer);
        handle.finish().await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rollups_and_the_real_time_union_equal_brute_force(arrivals in arrivals()) {
        run_case(arrivals);
    }
}
