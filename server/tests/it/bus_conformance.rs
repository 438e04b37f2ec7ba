//! One suite, two buses: every property below is an `async fn` taking a bus,
//! run once against the embedded bus and once against [`RedisBus`] on a
//! private `redis-server`. A consumer must not be able to tell them apart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use server::bus::{
    BusError, BusEvent, DEFAULT_EXPIRE_AFTER, EmbeddedBus, HostState, RedisBus, SharedBus,
    Subscription, Update,
};
use server::event::encode_metrics;
use server::model::{AcceptedReport, HostMeta, Point, SeriesKey};
use server::time::now_ms;

use crate::redis_server::RedisServer;

/// Runs each property as `embedded::NAME` and `redis::NAME`.
macro_rules! conformance {
    ($($property:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $property() {
                    super::$property(super::embedded()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $property() {
                    let server = crate::redis_server::RedisServer::start();
                    super::$property(super::redis(&server)).await;
                }
            )*
        }
    };
}

conformance!(
    a_report_is_published_on_its_hosts_channel_byte_for_byte,
    each_hosts_messages_arrive_in_publish_order,
    patterns_deliver_only_the_channels_they_match,
    the_snapshot_holds_each_hosts_latest_values_and_metadata,
    a_replayed_older_report_is_published_but_does_not_roll_the_state_back,
    a_hosts_latest_table_is_kept_and_an_older_one_does_not_replace_it,
    a_host_silent_past_the_expiry_is_left_out_and_comes_back_clean,
    metadata_alone_makes_a_host_seen_now,
    a_subscriber_that_falls_behind_gets_a_gap_counting_what_it_missed,
    an_unsupported_pattern_is_refused,
);

fn embedded() -> SharedBus {
    Arc::new(EmbeddedBus::default())
}

fn redis(server: &RedisServer) -> SharedBus {
    Arc::new(RedisBus::new(server.url(), DEFAULT_EXPIRE_AFTER).unwrap())
}

pub fn report(host: &str, seq: u64, ts: i64, values: &[(SeriesKey, f64)]) -> AcceptedReport {
    AcceptedReport {
        host: host.into(),
        seq,
        timestamp_ms: ts,
        points: values
            .iter()
            .map(|(key, value)| Point {
                key: key.clone(),
                value: *value,
            })
            .collect(),
    }
}

pub async fn publish(bus: &SharedBus, report: &AcceptedReport) {
    bus.publish_report(report, encode_metrics(report))
        .await
        .unwrap();
}

pub async fn next_event(sub: &mut Subscription) -> BusEvent {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("an event within 5s")
        .expect("the subscription is open")
}

async fn next_message(sub: &mut Subscription) -> (String, Bytes) {
    match next_event(sub).await {
        BusEvent::Message { channel, payload } => (channel.to_string(), payload),
        gap => panic!("expected a message, got {gap:?}"),
    }
}

fn cpu() -> SeriesKey {
    SeriesKey::new("cpu_usage_percent")
}

fn root_fs() -> SeriesKey {
    SeriesKey::with_labels(
        "filesystem_used_percent",
        [("mount", "/"), ("fstype", "ext4")],
    )
}

fn meta() -> HostMeta {
    HostMeta {
        os: "Debian 13".into(),
        kernel: "6.12".into(),
        cores: 8,
        memory_bytes: 16 << 30,
        agent_version: "0.1.0".into(),
        interval_ms: 5000,
    }
}

async fn a_report_is_published_on_its_hosts_channel_byte_for_byte(bus: SharedBus) {
    let mut sub = bus.subscribe(&["metrics.*"]).await.unwrap();
    let r = report("web-1", 1, now_ms(), &[(cpu(), 12.5), (root_fs(), 61.2)]);
    publish(&bus, &r).await;
    let (channel, payload) = next_message(&mut sub).await;
    assert_eq!(channel, "metrics.web-1");
    assert_eq!(payload, encode_metrics(&r));
}

async fn each_hosts_messages_arrive_in_publish_order(bus: SharedBus) {
    let mut sub = bus.subscribe(&["metrics.*"]).await.unwrap();
    let hosts = ["a", "b", "c"];
    let now = now_ms();
    let mut updates = Vec::new();
    for seq in 1..=100u64 {
        for host in hosts {
            if seq == 1 {
                updates.push(Update::Meta {
                    host: host.into(),
                    meta: meta(),
                });
            }
            let r = report(host, seq, now - 1000 + seq as i64, &[(cpu(), seq as f64)]);
            updates.push(Update::Report {
                payload: encode_metrics(&r),
                report: r,
            });
        }
    }
    // Batches of uneven sizes, as a publisher under varying load sends them.
    let mut rest = &updates[..];
    let mut size = 1;
    while !rest.is_empty() {
        let (batch, tail) = rest.split_at(size.min(rest.len()));
        bus.publish_updates(batch).await.unwrap();
        rest = tail;
        size = size * 2 % 61 + 1;
    }
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    for _ in 0..300 {
        let (channel, payload) = next_message(&mut sub).await;
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            channel,
            format!("metrics.{}", json["host"].as_str().unwrap())
        );
        seen.entry(json["host"].as_str().unwrap().to_owned())
            .or_default()
            .push(json["seq"].as_u64().unwrap());
    }
    for host in hosts {
        assert_eq!(seen[host], (1..=100).collect::<Vec<_>>(), "host {host}");
    }
    let state = bus.hosts().await.unwrap();
    assert_eq!(state.len(), 3);
    for h in state {
        assert_eq!(h.values[&cpu()], 100.0, "{}", h.host);
        assert_eq!(h.meta, Some(meta()));
    }
}

async fn patterns_deliver_only_the_channels_they_match(bus: SharedBus) {
    let mut alerts = bus.subscribe(&["alerts.web-*"]).await.unwrap();
    let mut db = bus
        .subscribe(&["metrics.db-?", "metrics.cache"])
        .await
        .unwrap();
    for channel in [
        "metrics.web-1",
        "alerts.db-1",
        "alerts.web-1",
        "metrics.db-1",
        "metrics.db-10",
        "metrics.cache",
        "metrics.cache-2",
        "alerts.web-end",
        "metrics.db-z",
    ] {
        bus.publish(channel, Bytes::from(channel.to_owned()))
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    loop {
        let (channel, payload) = next_message(&mut alerts).await;
        assert_eq!(payload, channel.as_bytes());
        got.push(channel.clone());
        if channel == "alerts.web-end" {
            break;
        }
    }
    assert_eq!(got, ["alerts.web-1", "alerts.web-end"]);
    got.clear();
    loop {
        let (channel, _) = next_message(&mut db).await;
        got.push(channel.clone());
        if channel == "metrics.db-z" {
            break;
        }
    }
    assert_eq!(got, ["metrics.db-1", "metrics.cache", "metrics.db-z"]);
}

async fn the_snapshot_holds_each_hosts_latest_values_and_metadata(bus: SharedBus) {
    let now = now_ms();
    assert_eq!(bus.hosts().await.unwrap(), []);
    bus.upsert_meta("web-1", &meta()).await.unwrap();
    publish(
        &bus,
        &report("web-1", 1, now - 2000, &[(cpu(), 10.0), (root_fs(), 50.5)]),
    )
    .await;
    publish(&bus, &report("web-1", 2, now - 1000, &[(cpu(), 20.25)])).await;
    publish(
        &bus,
        &report("db-1", 7, now, &[(SeriesKey::new("load1"), 0.5)]),
    )
    .await;
    let expected = vec![
        HostState {
            host: "db-1".into(),
            meta: None,
            last_seen_ms: now,
            values: HashMap::from([(SeriesKey::new("load1"), 0.5)]),
            ..HostState::default()
        },
        HostState {
            host: "web-1".into(),
            meta: Some(meta()),
            last_seen_ms: now - 1000,
            values: HashMap::from([(cpu(), 20.25), (root_fs(), 50.5)]),
            ..HostState::default()
        },
    ];
    assert_eq!(bus.hosts().await.unwrap(), expected);
}

async fn a_hosts_latest_table_is_kept_and_an_older_one_does_not_replace_it(bus: SharedBus) {
    use server::activity::{ActivityKind, ProcessTable, encode_processes};
    let mut sub = bus.subscribe(&["processes.*"]).await.unwrap();
    let now = now_ms();
    publish(&bus, &report("web-1", 1, now, &[(cpu(), 20.0)])).await;
    let table = |total: u32| ProcessTable {
        total,
        processes: vec![],
    };
    for (ts, total) in [(now, 10), (now - 5000, 3)] {
        bus.publish_activity(
            "web-1",
            ActivityKind::Processes,
            ts,
            encode_processes("web-1", ts, &table(total)),
        )
        .await
        .unwrap();
    }
    // Both are published; only the newer is kept.
    for _ in 0..2 {
        match tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
            Ok(Some(BusEvent::Message { channel, .. })) => {
                assert_eq!(&*channel, "processes.web-1")
            }
            other => panic!("expected a processes event, got {other:?}"),
        }
    }
    let hosts = bus.hosts().await.unwrap();
    let kept: serde_json::Value =
        serde_json::from_slice(&hosts[0].processes.as_ref().expect("a kept table").event).unwrap();
    assert_eq!(kept["total"], 10);
    assert_eq!(hosts[0].cgroups, None);
}

async fn a_replayed_older_report_is_published_but_does_not_roll_the_state_back(bus: SharedBus) {
    let mut sub = bus.subscribe(&["metrics.*"]).await.unwrap();
    let now = now_ms();
    publish(&bus, &report("web-1", 2, now, &[(cpu(), 20.0)])).await;
    publish(
        &bus,
        &report("web-1", 1, now - 5000, &[(cpu(), 10.0), (root_fs(), 1.0)]),
    )
    .await;
    for seq in [2, 1] {
        let (_, payload) = next_message(&mut sub).await;
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(json["seq"], seq);
    }
    let hosts = bus.hosts().await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].last_seen_ms, now);
    assert_eq!(hosts[0].values, HashMap::from([(cpu(), 20.0)]));
}

async fn a_host_silent_past_the_expiry_is_left_out_and_comes_back_clean(bus: SharedBus) {
    let now = now_ms();
    let two_hours = 2 * 3600 * 1000;
    let old = SeriesKey::new("old_series");
    publish(
        &bus,
        &report("web-1", 1, now - two_hours, &[(cpu(), 1.0), (old, 2.0)]),
    )
    .await;
    publish(&bus, &report("db-1", 1, now, &[(cpu(), 5.0)])).await;
    let hosts: Vec<String> = bus
        .hosts()
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.host)
        .collect();
    assert_eq!(hosts, ["db-1"]);

    publish(&bus, &report("web-1", 2, now, &[(cpu(), 3.0)])).await;
    let hosts = bus.hosts().await.unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[1].host, "web-1");
    assert_eq!(hosts[1].values, HashMap::from([(cpu(), 3.0)]));
    assert_eq!(hosts[1].meta, None);
}

async fn metadata_alone_makes_a_host_seen_now(bus: SharedBus) {
    let before = now_ms();
    bus.upsert_meta("fresh-1", &meta()).await.unwrap();
    let after = now_ms();
    let hosts = bus.hosts().await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].meta, Some(meta()));
    assert!(hosts[0].values.is_empty());
    assert!((before..=after).contains(&hosts[0].last_seen_ms));

    // Reports the agent spooled before this Hello still make the state.
    publish(&bus, &report("fresh-1", 1, before - 5000, &[(cpu(), 6.0)])).await;
    let hosts = bus.hosts().await.unwrap();
    assert_eq!(hosts[0].last_seen_ms, before - 5000);
    assert_eq!(hosts[0].values[&cpu()], 6.0);

    // A second Hello (the agent reconnected) replaces the metadata only.
    publish(&bus, &report("fresh-1", 2, after + 10, &[(cpu(), 7.0)])).await;
    let newer = HostMeta {
        agent_version: "0.2.0".into(),
        ..meta()
    };
    bus.upsert_meta("fresh-1", &newer).await.unwrap();
    let hosts = bus.hosts().await.unwrap();
    assert_eq!(hosts[0].meta, Some(newer));
    assert_eq!(hosts[0].last_seen_ms, after + 10);
    assert_eq!(hosts[0].values[&cpu()], 7.0);
}

async fn a_subscriber_that_falls_behind_gets_a_gap_counting_what_it_missed(bus: SharedBus) {
    // Far more than a subscriber's queue, published while nobody reads.
    const N: u64 = 6000;
    let mut sub = bus.subscribe(&["metrics.lag"]).await.unwrap();
    for i in 0..N {
        bus.publish("metrics.lag", Bytes::from(format!("d{i}")))
            .await
            .unwrap();
    }
    // Markers follow until one gets through; every message published before
    // it is then either received or counted in a gap that came before it.
    let (mut received, mut missed, mut gaps, mut markers) = (0u64, 0u64, 0, 0u64);
    let mut last_data: Option<u64> = None;
    let last_marker = loop {
        let event = tokio::time::timeout(Duration::from_millis(200), sub.next()).await;
        match event {
            Err(_) => {
                bus.publish("metrics.lag", Bytes::from(format!("m{markers}")))
                    .await
                    .unwrap();
                markers += 1;
                assert!(markers < 100, "no marker got through");
            }
            Ok(None) => panic!("the subscription closed"),
            Ok(Some(BusEvent::Gap { missed: n })) => {
                missed += n;
                gaps += 1;
            }
            Ok(Some(BusEvent::Message { payload, .. })) => {
                received += 1;
                let text = std::str::from_utf8(&payload).unwrap();
                if let Some(m) = text.strip_prefix('m') {
                    break m.parse::<u64>().unwrap();
                }
                let i: u64 = text[1..].parse().unwrap();
                assert!(last_data.is_none_or(|last| i > last), "out of order: {i}");
                last_data = Some(i);
            }
        }
    };
    assert!(
        gaps >= 1,
        "a subscriber {N} messages behind was told of a gap"
    );
    assert_eq!(
        received + missed,
        N + last_marker + 1,
        "every message is accounted for"
    );
}

async fn an_unsupported_pattern_is_refused(bus: SharedBus) {
    let err = bus.subscribe(&["metrics.*", "metrics.[ab]"]).await.err();
    assert!(
        matches!(&err, Some(BusError::BadPattern { pattern, .. }) if pattern == "metrics.[ab]"),
        "{:?}",
        err.map(|e| e.to_string())
    );
}
