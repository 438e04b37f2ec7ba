//! Several alerts instances on one real Redis: one leader holds the lease
//! and notifies, a standby takes over when it stops or dies, and a leader
//! cut off from its lease stops notifying before anyone else could start.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use server::activity::ActivityKind;
use server::alerts::AlertsConfig;
use server::bus::{
    Bus, BusError, DEFAULT_EXPIRE_AFTER, HostState, Lease, RedisBus, SharedBus, Subscription,
    lease_key,
};
use server::model::{AcceptedReport, HostMeta};

use crate::alerts::{Receiver, Role, config, report, report_until, statuses};
use crate::redis_server::RedisServer;

fn redis_bus(server: &RedisServer) -> SharedBus {
    Arc::new(RedisBus::new(server.url(), DEFAULT_EXPIRE_AFTER).unwrap())
}

/// An instance's config: its own webhook query (`?from=NAME`) on the shared
/// receiver, so a hit says who sent it.
fn instance(dir: &Path, receiver: &Receiver, name: &str, ttl: Duration) -> AlertsConfig {
    let mut config = config(dir);
    config.lease_ttl = ttl;
    config.notify.webhooks = vec![format!("{}?from={name}", receiver.url)];
    config
}

/// The token holding the alerts lease in Redis, if any.
async fn holder(server: &RedisServer) -> Option<String> {
    let mut conn = server.client().await;
    redis::cmd("GET")
        .arg(lease_key("alerts"))
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Waits until the lease is held by someone other than `not`.
async fn new_holder(server: &RedisServer, not: Option<&str>, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(token) = holder(server).await
            && Some(token.as_str()) != not
        {
            return token;
        }
        assert!(
            Instant::now() < deadline,
            "nobody new took the lease within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn from(hit: &crate::alerts::Hit) -> &str {
    hit.uri.rsplit("from=").next().unwrap_or_default()
}

/// Keeps the alert's condition true for a while, whoever evaluates it.
async fn keep_reporting(bus: &SharedBus, cpu: f64, for_: Duration) {
    let until = Instant::now() + for_;
    while Instant::now() < until {
        report(bus, "web-1", cpu).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_alerts_instances_only_the_leader_notifies_and_a_clean_stop_hands_over_at_once() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(&[]).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ttl = Duration::from_secs(5);
    let a = Role::start(
        instance(dir_a.path(), &receiver, "a", ttl),
        redis_bus(&redis),
    );
    let token_a = new_holder(&redis, None, Duration::from_secs(5)).await;
    let b = Role::start(
        instance(dir_b.path(), &receiver, "b", ttl),
        redis_bus(&redis),
    );
    let aggregator = redis_bus(&redis);

    report_until(&aggregator, "web-1", 97.0, || !receiver.hits().is_empty()).await;
    keep_reporting(&aggregator, 98.0, Duration::from_secs(2)).await;
    let hits = receiver.hits();
    assert_eq!(
        statuses(&hits),
        ["firing"],
        "one notification, not one per instance"
    );
    assert_eq!(from(&hits[0]), "a");

    // A clean stop releases the lease: the standby need not wait it out
    // (a lapse would take 3.3 to 5 s after the last renewal).
    a.stop().await;
    let stopped = Instant::now();
    new_holder(&redis, Some(&token_a), Duration::from_secs(6)).await;
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "took over {:?} after the release",
        stopped.elapsed()
    );

    // Its own alerts.db never saw the alert: it fires it anew from fresh
    // samples (a new startsAt, so a new idempotency key), then resolves it
    // exactly once.
    report_until(&aggregator, "web-1", 97.0, || receiver.hits().len() >= 2).await;
    report_until(&aggregator, "web-1", 10.0, || receiver.hits().len() >= 3).await;
    keep_reporting(&aggregator, 10.0, Duration::from_millis(500)).await;
    let hits = receiver.hits();
    assert_eq!(statuses(&hits), ["firing", "firing", "resolved"]);
    assert_eq!([from(&hits[1]), from(&hits[2])], ["b", "b"]);
    assert_ne!(hits[0].idempotency_key, hits[1].idempotency_key);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_dies_the_standby_takes_over_within_the_ttl_and_the_alert_resolves_once() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(&[]).await;
    // One store for both, as with a shared database: the new leader finds
    // exactly what the old one committed.
    let shared = tempfile::tempdir().unwrap();
    let ttl = Duration::from_secs(1);
    let a = Role::start(
        instance(shared.path(), &receiver, "a", ttl),
        redis_bus(&redis),
    );
    let token_a = new_holder(&redis, None, Duration::from_secs(5)).await;
    let b = Role::start(
        instance(shared.path(), &receiver, "b", ttl),
        redis_bus(&redis),
    );
    let aggregator = redis_bus(&redis);
    report_until(&aggregator, "web-1", 97.0, || !receiver.hits().is_empty()).await;

    a.kill().await;
    let killed = Instant::now();
    new_holder(&redis, Some(&token_a), ttl * 3).await;
    let took = killed.elapsed();
    // Once the lease lapses, not at some later retry: within two TTLs,
    // room for a loaded machine's Redis round trips.
    assert!(took <= ttl * 2, "took over after {took:?}");

    // The restored alert is not notified again while it holds...
    keep_reporting(&aggregator, 98.0, Duration::from_millis(500)).await;
    assert_eq!(statuses(&receiver.hits()), ["firing"]);
    // ...and resolves once, as the alert the old leader announced.
    report_until(&aggregator, "web-1", 10.0, || receiver.hits().len() >= 2).await;
    keep_reporting(&aggregator, 10.0, Duration::from_millis(500)).await;
    let hits = receiver.hits();
    assert_eq!(statuses(&hits), ["firing", "resolved"]);
    assert_eq!([from(&hits[0]), from(&hits[1])], ["a", "b"]);
    let alert = |i: usize| &hits[i].body["alerts"][0];
    assert_eq!(alert(0)["fingerprint"], alert(1)["fingerprint"]);
    assert_eq!(alert(0)["startsAt"], alert(1)["startsAt"]);
    b.stop().await;
}

/// A bus whose lease lives on another Redis: pausing that one cuts the
/// instance off from its lease while metrics and publishing go on, so a
/// missing fence would show at once as a notification.
struct LeaseElsewhere {
    bus: SharedBus,
    lease_bus: SharedBus,
}

#[async_trait]
impl Bus for LeaseElsewhere {
    async fn publish_report(&self, r: &AcceptedReport, payload: Bytes) -> Result<(), BusError> {
        self.bus.publish_report(r, payload).await
    }
    async fn upsert_meta(&self, host: &str, meta: &HostMeta) -> Result<(), BusError> {
        self.bus.upsert_meta(host, meta).await
    }
    async fn publish_activity(
        &self,
        host: &str,
        kind: ActivityKind,
        timestamp_ms: i64,
        payload: Bytes,
    ) -> Result<(), BusError> {
        self.bus
            .publish_activity(host, kind, timestamp_ms, payload)
            .await
    }
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        self.bus.publish(channel, payload).await
    }
    async fn subscribe(&self, patterns: &[&str]) -> Result<Subscription, BusError> {
        self.bus.subscribe(patterns).await
    }
    async fn hosts(&self) -> Result<Vec<HostState>, BusError> {
        self.bus.hosts().await
    }
    fn lease(&self, name: &str, ttl: Duration) -> Arc<dyn Lease> {
        self.lease_bus.lease(name, ttl)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_reach_its_lease_stops_notifying_and_resumes_when_it_can() {
    let redis = RedisServer::start();
    let lease_redis = RedisServer::start();
    let receiver = Receiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_secs(1);
    let bus: SharedBus = Arc::new(LeaseElsewhere {
        bus: redis_bus(&redis),
        lease_bus: redis_bus(&lease_redis),
    });
    let role = Role::start(instance(dir.path(), &receiver, "a", ttl), bus);
    new_holder(&lease_redis, None, Duration::from_secs(5)).await;
    let aggregator = redis_bus(&redis);

    lease_redis.pause();
    // Past its deadline (four fifths of the TTL after the last renewal),
    // the alert's condition turns true, but no notification goes out.
    tokio::time::sleep(ttl).await;
    keep_reporting(&aggregator, 97.0, Duration::from_secs(2)).await;
    assert!(
        receiver.hits().is_empty(),
        "a leader without its lease notified: {:?}",
        statuses(&receiver.hits())
    );

    // Reachable again, it takes the lease anew and notifies the alert.
    lease_redis.resume();
    report_until(&aggregator, "web-1", 97.0, || !receiver.hits().is_empty()).await;
    assert_eq!(statuses(&receiver.hits()), ["firing"]);
    role.stop().await;
}
