//! The ingest contract over real gRPC: acks, rejections, durability and
//! idempotent replays.

use std::time::Duration;

use server::model::SeriesKey;
use server::proto::{Label, Report, Sample};
use server::store::Reader;
use server::testkit::Pipeline;
use server::time::now_ms;

use crate::harness::RawAgent;

fn sample(name: &str, value: f64) -> Sample {
    Sample {
        name: name.into(),
        labels: vec![],
        value,
    }
}

fn labelled(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| Label {
                name: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
        value,
    }
}

fn report(host: &str, seq: u64, ts: i64, samples: Vec<Sample>) -> Report {
    Report {
        host: host.into(),
        seq,
        timestamp_ms: ts,
        samples,
        ..Default::default()
    }
}

#[tokio::test]
async fn bad_samples_are_answered_with_reasons_and_good_ones_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder().data_dir(dir.path()).start().await;
    let agg = pipeline.aggregator();
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;
    let now = now_ms();
    let too_many_labels: Vec<(String, String)> = (0..100)
        .map(|i| (format!("l{i}"), "x".to_owned()))
        .collect();
    let too_many: Vec<(&str, &str)> = too_many_labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    // Each row: a bad sample and what its reason must say.
    let cases: Vec<(Sample, &str)> = vec![
        (sample("load1", f64::NAN), "not a finite number"),
        (sample("load5", f64::INFINITY), "not a finite number"),
        (
            sample("memory_used_bytes", -42.0),
            "negative for a _bytes metric",
        ),
        (sample("cpu_usage_percent", 250.0), "outside 0..100"),
        (sample("Bad-Name", 1.0), "[a-z_][a-z0-9_]*"),
        (labelled("x", &too_many, 1.0), "100 labels"),
    ];
    for (seq, (bad, expect)) in cases.into_iter().enumerate() {
        let seq = seq as u64 + 1;
        let good = labelled("filesystem_used_percent", &[("mount", "/")], seq as f64);
        let ack = agent
            .send(report("web-1", seq, now + seq as i64, vec![good, bad]))
            .await;
        assert_eq!(ack.seq, seq);
        assert_eq!((ack.accepted, ack.rejected), (1, 1), "case {expect}");
        assert_eq!(ack.reasons[0].index, 1);
        assert!(
            ack.reasons[0].reason.contains(expect),
            "{:?} should mention {expect:?}",
            ack.reasons[0].reason
        );
    }

    // Whole-report problems: every sample rejected, one reason, stream still open.
    let host_10kb = "h".repeat(10_000);
    let whole: Vec<(Report, &str)> = vec![
        (
            report("", 100, now, vec![sample("load1", 1.0)]),
            "host name is empty",
        ),
        (
            report(&host_10kb, 101, now, vec![sample("load1", 1.0)]),
            "at most 253",
        ),
        (
            report(
                "web-1",
                102,
                now + 24 * 3600 * 1000,
                vec![sample("load1", 1.0)],
            ),
            "in the future",
        ),
    ];
    for (r, expect) in whole {
        let ack = agent.send(r).await;
        assert_eq!((ack.accepted, ack.rejected), (0, 1));
        assert!(
            ack.reasons[0].reason.contains(expect),
            "{:?}",
            ack.reasons[0].reason
        );
    }

    // An oversized report: the first samples up to the limit are stored. (A
    // fresh host, so its 10,000 new series stay within the cardinality cap.)
    let big: Vec<Sample> = (0..10_050)
        .map(|i| labelled("x_total", &[("i", &i.to_string())], 1.0))
        .collect();
    let ack = agent.send(report("big-1", 103, now, big)).await;
    assert_eq!((ack.accepted, ack.rejected), (10_000, 50));
    assert!(ack.reasons[0].reason.contains("at most 10000 per report"));

    // The acks promised durability: the good samples are in SQLite now.
    let reader = Reader::open(dir.path()).unwrap();
    let fs = SeriesKey::with_labels("filesystem_used_percent", [("mount", "/")]);
    let stored = reader.raw("web-1", &fs, 0, i64::MAX).unwrap();
    assert_eq!(stored.len(), 6);
    assert_eq!(
        stored.iter().map(|p| p.value).collect::<Vec<_>>(),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    for name in ["load1", "load5", "memory_used_bytes", "cpu_usage_percent"] {
        assert!(
            reader
                .raw("web-1", &SeriesKey::new(name), 0, i64::MAX)
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
    assert_eq!(reader.raw_count().unwrap(), 6 + 10_000);
    drop(agent);
    pipeline.stop().await;
}

#[tokio::test]
async fn a_replayed_report_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder().data_dir(dir.path()).start().await;
    let agg = pipeline.aggregator();
    let ts = now_ms();
    let samples = || {
        vec![
            sample("load1", 0.5),
            labelled("cpu_core_usage_percent", &[("core", "0")], 3.0),
        ]
    };

    let mut first = RawAgent::connect(&agg.url(), "db-1").await;
    assert_eq!(
        first.send(report("db-1", 1, ts, samples())).await.accepted,
        2
    );
    drop(first);
    // A reconnecting agent replays the report it is not sure about.
    let mut second = RawAgent::connect(&agg.url(), "db-1").await;
    assert_eq!(
        second.send(report("db-1", 1, ts, samples())).await.accepted,
        2
    );
    assert_eq!(
        second
            .send(report("db-1", 2, ts + 1000, samples()))
            .await
            .accepted,
        2
    );

    let reader = Reader::open(dir.path()).unwrap();
    assert_eq!(reader.raw_count().unwrap(), 4);
    assert_eq!(
        agg.stats
            .samples_duplicate
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    drop(second);
    pipeline.stop().await;
}

#[tokio::test]
async fn an_accepted_report_is_published_on_the_bus_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder().data_dir(dir.path()).start().await;
    let agg = pipeline.aggregator();
    let mut sub = agg.bus.subscribe(&["metrics.*"]).await.unwrap();
    let mut agent = RawAgent::connect(&agg.url(), "Cache-1").await;
    let ts = now_ms();
    agent
        .send(report("Cache-1", 9, ts, vec![sample("load1", 0.25)]))
        .await;
    let event = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap();
    let server::bus::BusEvent::Message { channel, payload } = event else {
        panic!("expected a message, got {event:?}");
    };
    assert_eq!(&*channel, "metrics.cache-1");
    let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(json["host"], "cache-1");
    assert_eq!(json["seq"], 9);
    assert_eq!(json["ts"], ts);
    assert_eq!(json["values"][0]["name"], "load1");
    // Current state was upserted too.
    let hosts = agg.bus.hosts().await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].values[&SeriesKey::new("load1")], 0.25);
    assert_eq!(hosts[0].meta.as_ref().unwrap().agent_version, "test");
    drop(agent);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_near_the_largest_float_leave_series_averages_finite() {
    // The gateway reads the aggregator's store, for `/api/series`.
    let pipeline = Pipeline::builder()
        .gateway(server::gateway::GatewayConfig::default())
        .start()
        .await;
    let (agg, gw) = (pipeline.aggregator(), pipeline.gateway());
    let mut agent = RawAgent::connect(&agg.url(), "huge-1").await;
    // One minute, three samples each: 1.7e308 would sum to infinity, so it
    // is refused by name; the largest accepted magnitude sums finitely.
    let minute = now_ms() / 60_000 * 60_000 - 120_000;
    let report = |seq: u64, name: &str, value: f64| Report {
        host: "huge-1".into(),
        seq,
        timestamp_ms: minute + seq as i64 * 1000,
        samples: vec![Sample {
            name: name.into(),
            labels: vec![],
            value,
        }],
        ..Default::default()
    };
    for seq in 1..=3 {
        let ack = agent.send(report(seq, "too_big", 1.7e308)).await;
        assert_eq!(ack.rejected, 1);
        let reason = &ack.reasons[0].reason;
        assert!(
            reason.contains("value 1.7e308 is out of range") && reason.contains("1e290"),
            "{reason}"
        );
    }
    for seq in 4..=6 {
        let ack = agent.send(report(seq, "big", 1e290)).await;
        assert_eq!(ack.accepted, 1, "{:?}", ack.reasons);
    }
    for seq in 7..=9 {
        let ack = agent.send(report(seq, "big", -1e290)).await;
        assert_eq!(ack.accepted, 1, "{:?}", ack.reasons);
    }
    let path = format!(
        "/api/series?host=huge-1&metric=big&from={}&to={}&step=1m",
        minute,
        minute + 60_000
    );
    let (status, body) = crate::harness::http_get(gw.addr, &path, &[]).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let point = &json["points"][0];
    assert_eq!(point["count"], 6, "{body}");
    let avg = point["avg"].as_f64().expect("a number, not null");
    assert!(avg.abs() < 1e280, "{body}");
    let path = format!(
        "/api/series?host=huge-1&metric=big&from={}&to={}&step=1s",
        minute,
        minute + 60_000
    );
    let (_, body) = crate::harness::http_get(gw.addr, &path, &[]).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let avgs: Vec<Option<f64>> = json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["avg"].as_f64())
        .collect();
    assert!(
        avgs.iter().all(|a| a.is_some_and(f64::is_finite)) && avgs.contains(&Some(1e290)),
        "{body}"
    );
    drop(agent);
    pipeline.stop().await;
}
