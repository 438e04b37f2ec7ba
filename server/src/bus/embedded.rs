//! The in-process bus of `mon serve`: a tokio broadcast channel for pub/sub
//! and a map for current state.
//!
//! Subscribers get their own bounded queue fed by a forwarding task, so a slow
//! subscriber sees a [`super::BusEvent::Gap`] instead of slowing the
//! publisher. The state map sits behind a std mutex: every critical section is a few map
//! operations with no `.await` inside, which is cheaper than an async lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::broadcast;

use super::subscription::Forwarder;
use super::{
    AlwaysLeader, Bus, BusError, DEFAULT_EXPIRE_AFTER, HostState, KeptTable, Lease, Pattern,
    Subscription,
};
use crate::activity::ActivityKind;
use crate::model::{AcceptedReport, HostMeta};
use crate::time::now_ms;

/// How many messages a subscriber's forwarding task may fall behind before
/// its subscriber gets a gap.
const BROADCAST_CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<(Arc<str>, Bytes)>,
    /// Subscriptions with a pattern that may match a `metrics.<host>`
    /// channel: while there are none, no `metrics` event is encoded.
    metrics_listeners: AtomicUsize,
    hosts: Mutex<HashMap<String, HostState>>,
    expire_after: Duration,
}

impl EmbeddedBus {
    /// A bus whose hosts vanish from the state once silent for `expire_after`.
    pub fn new(expire_after: Duration) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                tx,
                metrics_listeners: AtomicUsize::new(0),
                hosts: Mutex::new(HashMap::new()),
                expire_after,
            }),
        }
    }
}

impl EmbeddedBus {
    /// Hosts whose newest report is older than this have expired.
    fn cutoff_ms(&self) -> i64 {
        now_ms() - self.inner.expire_after.as_millis() as i64
    }
}

impl EmbeddedBus {
    /// Upserts the host's state with the report's values and broadcasts
    /// the payload, unless it is empty (nobody was listening when the
    /// report was read; see [`Bus::metrics_audience`]).
    fn apply_report(&self, report: &AcceptedReport, payload: Bytes) {
        {
            let cutoff = self.cutoff_ms();
            let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
            // Looked up first: a known host costs no copy of its name.
            if !hosts.contains_key(&report.host) {
                hosts.insert(
                    report.host.clone(),
                    HostState {
                        host: report.host.clone(),
                        ..HostState::default()
                    },
                );
            }
            let state = hosts.get_mut(&report.host).expect("inserted above");
            if state.last_seen_ms < cutoff {
                // The host had expired: it comes back with a clean state, as
                // it does in Redis, where its key is gone by then.
                *state = HostState {
                    host: report.host.clone(),
                    ..HostState::default()
                };
            }
            // A replayed old report must not roll current values back; a host
            // known only from its Hello takes any report.
            if state.values.is_empty() || report.timestamp_ms >= state.last_seen_ms {
                state.last_seen_ms = report.timestamp_ms;
                for p in &report.points {
                    match state.values.get_mut(&p.key) {
                        Some(value) => *value = p.value,
                        None => {
                            state.values.insert(p.key.clone(), p.value);
                        }
                    }
                }
            }
        }
        if !payload.is_empty() {
            let channel = wire::channel::metrics(&report.host);
            let _ = self.inner.tx.send((Arc::from(channel.as_str()), payload));
        }
    }
}

/// One subscription counted in `metrics_listeners` while it lives.
struct MetricsListener(Arc<Inner>);

impl MetricsListener {
    fn new(inner: Arc<Inner>) -> Self {
        inner.metrics_listeners.fetch_add(1, Ordering::Relaxed);
        Self(inner)
    }
}

impl Drop for MetricsListener {
    fn drop(&mut self) {
        self.0.metrics_listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for EmbeddedBus {
    fn default() -> Self {
        Self::new(DEFAULT_EXPIRE_AFTER)
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn publish_report(
        &self,
        report: &AcceptedReport,
        payload: Bytes,
    ) -> Result<(), BusError> {
        self.apply_report(report, payload);
        Ok(())
    }

    fn publish_report_now(&self, report: &AcceptedReport, payload: &Bytes) -> bool {
        self.apply_report(report, payload.clone());
        true
    }

    fn metrics_audience(&self) -> bool {
        self.inner.metrics_listeners.load(Ordering::Relaxed) > 0
    }

    async fn upsert_meta(&self, host: &str, meta: &HostMeta) -> Result<(), BusError> {
        let cutoff = self.cutoff_ms();
        {
            let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
            let state = hosts.entry(host.to_owned()).or_insert_with(|| HostState {
                host: host.to_owned(),
                ..HostState::default()
            });
            if state.last_seen_ms < cutoff {
                // New or expired: the host is seen from now on.
                *state = HostState {
                    host: host.to_owned(),
                    last_seen_ms: now_ms(),
                    ..HostState::default()
                };
            }
            state.meta = Some(meta.clone());
        }
        self.publish(
            &wire::channel::hosts(host),
            crate::event::encode_host(host, meta),
        )
        .await
    }

    async fn publish_activity(
        &self,
        host: &str,
        kind: ActivityKind,
        timestamp_ms: i64,
        payload: Bytes,
    ) -> Result<(), BusError> {
        {
            let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
            // A table alone does not make a host: it comes with a report,
            // whose update went first.
            if let Some(state) = hosts.get_mut(host)
                && state.table(kind).is_none_or(|t| timestamp_ms >= t.ts)
            {
                *state.table_mut(kind) = Some(KeptTable {
                    ts: timestamp_ms,
                    event: payload.clone(),
                });
            }
        }
        self.publish(&kind.channel(host), payload).await
    }

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        // No subscribers is not an error: the message simply has no audience.
        let _ = self.inner.tx.send((Arc::from(channel), payload));
        Ok(())
    }

    async fn subscribe(&self, patterns: &[&str]) -> Result<Subscription, BusError> {
        let patterns = patterns
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rx = self.inner.tx.subscribe();
        let (mut forwarder, subscription) = Forwarder::new();
        let listening = patterns
            .iter()
            .any(|p| p.may_match_prefix(&wire::channel::metrics("")))
            .then(|| MetricsListener::new(self.inner.clone()));
        tokio::spawn(async move {
            // Counted until the subscription is gone and this task ends.
            let _listening = listening;
            loop {
                let forwarded = tokio::select! {
                    received = rx.recv() => match received {
                        Ok((channel, payload)) => {
                            if !patterns.iter().any(|p| p.matches(&channel)) {
                                continue;
                            }
                            forwarder.message(channel, payload)
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => forwarder.gap(n),
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    () = forwarder.closed() => return,
                };
                if forwarded.is_err() {
                    return;
                }
            }
        });
        Ok(subscription)
    }

    async fn hosts(&self) -> Result<Vec<HostState>, BusError> {
        let cutoff = self.cutoff_ms();
        let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.retain(|_, h| h.last_seen_ms >= cutoff);
        let mut all: Vec<HostState> = hosts.values().cloned().collect();
        all.sort_by(|a, b| a.host.cmp(&b.host));
        Ok(all)
    }

    /// Nobody outside this process sees this bus, so nobody contends.
    fn lease(&self, _name: &str, _ttl: Duration) -> Arc<dyn Lease> {
        Arc::new(AlwaysLeader)
    }
}
