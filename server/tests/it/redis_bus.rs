//! What only the Redis bus has: a layout `redis-cli` can read, a pub/sub link
//! that comes back by itself, and an aggregator whose ingest does not notice
//! Redis crashing and restarting.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::AsyncCommands;
use server::bus::{BusEvent, DEFAULT_EXPIRE_AFTER, RedisBus, SharedBus};
use server::model::{HostMeta, SeriesKey};
use server::proto::{Report, Sample};
use server::store::Reader;
use server::testkit::Pipeline;
use server::time::now_ms;
use tokio::sync::watch;

use crate::bus_conformance::{next_event, publish, report};
use crate::harness::{RawAgent, eventually};
use crate::redis_server::RedisServer;

fn bus(server: &RedisServer) -> SharedBus {
    Arc::new(RedisBus::new(server.url(), DEFAULT_EXPIRE_AFTER).unwrap())
}

#[tokio::test]
async fn a_hosts_state_reads_with_hgetall_as_plain_values() {
    let server = RedisServer::start();
    let bus = bus(&server);
    let meta = HostMeta {
        os: "Debian 13".into(),
        agent_version: "0.1.0".into(),
        ..HostMeta::default()
    };
    bus.upsert_meta("web-1", &meta).await.unwrap();
    let ts = now_ms();
    let fs = SeriesKey::with_labels(
        "filesystem_used_percent",
        [("mount", "/"), ("fstype", "ext4")],
    );
    publish(
        &bus,
        &report(
            "web-1",
            1,
            ts,
            &[(SeriesKey::new("cpu_usage_percent"), 12.5), (fs, 61.2)],
        ),
    )
    .await;

    let mut conn = server.client().await;
    let hash: HashMap<String, String> = conn.hgetall("mon:host:web-1").await.unwrap();
    assert_eq!(hash["cpu_usage_percent"], "12.5");
    assert_eq!(
        hash[r#"filesystem_used_percent{"fstype":"ext4","mount":"/"}"#],
        "61.2"
    );
    assert_eq!(hash["@last_seen_ms"], ts.to_string());
    let stored: serde_json::Value = serde_json::from_str(&hash["@meta"]).unwrap();
    assert_eq!(stored["os"], "Debian 13");
    assert_eq!(stored["agent_version"], "0.1.0");
    assert_eq!(hash.len(), 4, "{hash:?}");

    let score: i64 = conn.zscore("mon:hosts", "web-1").await.unwrap();
    assert_eq!(score, ts);
    // The key vanishes an hour after the report on its own.
    let ttl: i64 = conn.pttl("mon:host:web-1").await.unwrap();
    assert!((3_590_000..=3_600_000).contains(&ttl), "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscription_link_reconnects_and_announces_a_gap() {
    let server = RedisServer::start();
    let bus = bus(&server);
    let mut sub = bus.subscribe(&["alerts.*"]).await.unwrap();
    bus.publish("alerts.web-1", Bytes::from_static(b"before"))
        .await
        .unwrap();
    assert!(
        matches!(next_event(&mut sub).await, BusEvent::Message { payload, .. } if payload == "before")
    );

    let mut conn = server.client().await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(killed, 1);

    // Publish until something gets through: the gap must come first.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "no message after the reconnect: {events:?}"
        );
        bus.publish("alerts.web-1", Bytes::from_static(b"after"))
            .await
            .unwrap();
        match tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            Ok(Some(event @ BusEvent::Message { .. })) => {
                events.push(event);
                break;
            }
            Ok(Some(gap)) => events.push(gap),
            Ok(None) => panic!("the subscription closed"),
            Err(_) => {}
        }
    }
    assert_eq!(events[0], BusEvent::Gap { missed: 0 }, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_redis_is_down_and_work_again_once_it_is_back() {
    let mut server = RedisServer::start();
    let bus = bus(&server);
    let r = report("web-1", 1, now_ms(), &[(SeriesKey::new("load1"), 1.0)]);
    publish(&bus, &r).await;

    server.kill();
    let started = Instant::now();
    let result = bus.publish_report(&r, Bytes::from_static(b"{}")).await;
    let err = result
        .expect_err("publishing with Redis down fails")
        .to_string();
    assert!(err.contains(&format!("127.0.0.1:{}", server.port)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(bus.hosts().await.is_err());

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while bus
        .publish_report(&r, Bytes::from_static(b"{}"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the bus did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Redis restarted empty; the report that went through restored the host.
    let hosts = bus.hosts().await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].values[&SeriesKey::new("load1")], 1.0);
}

fn load_report(host: &str, seq: u64) -> Report {
    Report {
        host: host.into(),
        seq,
        timestamp_ms: now_ms(),
        samples: vec![Sample {
            name: "load1".into(),
            labels: vec![],
            value: seq as f64,
        }],
        ..Default::default()
    }
}

/// The seq of a `metrics` event.
fn seq_of(event: &BusEvent) -> Option<u64> {
    match event {
        BusEvent::Message { payload, .. } => {
            serde_json::from_slice::<serde_json::Value>(payload).ok()?["seq"].as_u64()
        }
        BusEvent::Gap { .. } => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_never_stalls_while_redis_is_killed_and_restarted() {
    let mut server = RedisServer::start();
    let bus = bus(&server);
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder()
        .data_dir(dir.path())
        .bus(bus.clone())
        .start()
        .await;
    let agg = pipeline.aggregator();
    let mut sub = bus.subscribe(&["metrics.*"]).await.unwrap();

    // Steady ingest: one report every 10 ms, each waiting for its ack.
    let acked = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let ingest = tokio::spawn({
        let (url, acked) = (agg.url(), acked.clone());
        async move {
            let mut agent = RawAgent::connect(&url, "steady-1").await;
            let mut slowest = Duration::ZERO;
            let mut seq = 0;
            while !*stopped.borrow() {
                seq += 1;
                let sent = Instant::now();
                let ack = agent.send(load_report("steady-1", seq)).await;
                slowest = slowest.max(sent.elapsed());
                assert_eq!((ack.seq, ack.accepted), (seq, 1));
                acked.store(seq, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (seq, slowest)
        }
    });
    assert!(
        seq_of(&next_event(&mut sub).await).is_some(),
        "publishing works"
    );

    server.kill();
    let at_kill = acked.load(Ordering::SeqCst);
    assert!(
        // Each ack waits for the WAL's sync: a slow disk makes them slow,
        // but with ingest waiting on the bus none would come at all.
        eventually(Duration::from_secs(20), || acked.load(Ordering::SeqCst)
            >= at_kill + 20)
        .await,
        "acks keep coming while Redis is down"
    );
    assert!(
        agg.stats.bus_errors.load(Ordering::Relaxed) > 0,
        "the dropped publishes are counted"
    );

    server.restart();
    let restarted = Instant::now();
    let at_restart = acked.load(Ordering::SeqCst);
    let mut gap = false;
    loop {
        let event = next_event(&mut sub).await;
        gap |= matches!(event, BusEvent::Gap { .. });
        if seq_of(&event).is_some_and(|seq| seq > at_restart) {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "publishing did not resume"
        );
    }
    let resumed_after = restarted.elapsed();
    assert!(gap, "the subscriber was told it missed messages");
    assert!(
        resumed_after < Duration::from_secs(5),
        "resumed after {resumed_after:?}"
    );
    let hosts = bus.hosts().await.unwrap();
    assert_eq!(hosts.len(), 1, "the state is rewritten by the next report");
    assert!(hosts[0].values[&SeriesKey::new("load1")] > at_restart as f64);
    assert_eq!(
        hosts[0].meta.as_ref().unwrap().agent_version,
        "test",
        "metadata is restated"
    );

    stop.send(true).unwrap();
    let (sent, slowest) = ingest.await.unwrap();
    pipeline.stop().await;
    // Not a speed bound (an ack waits for a sync of the WAL): an ack held
    // until Redis came back would take about as long as it was down.
    assert!(
        slowest < Duration::from_secs(5),
        "the slowest ack took {slowest:?}"
    );
    let stored = Reader::open(dir.path())
        .unwrap()
        .raw("steady-1", &SeriesKey::new("load1"), 0, i64::MAX)
        .unwrap();
    assert_eq!(stored.len() as u64, sent, "SQLite has every sample");
}
