//! The in-process bus of `mon serve`: a tokio broadcast channel for pub/sub
//! and a map for current state.
//!
//! Subscribers get their own bounded queue fed by a forwarding task, so a slow
//! subscriber sees a [`BusEvent::Gap`] instead of slowing the publisher. The
//! state map sits behind a std mutex: every critical section is a few map
//! operations with no `.await` inside, which is cheaper than an async lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use super::{Bus, BusError, BusEvent, HostState, Pattern, Subscription};
use crate::model::{AcceptedReport, HostMeta};
use crate::time::now_ms;

/// How many messages a subscriber may fall behind before it gets a gap.
const BROADCAST_CAPACITY: usize = 4096;
/// Per-subscriber queue between the forwarding task and the consumer.
const SUBSCRIBER_QUEUE: usize = 1024;

#[derive(Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<(Arc<str>, Bytes)>,
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
                hosts: Mutex::new(HashMap::new()),
                expire_after,
            }),
        }
    }
}

impl Default for EmbeddedBus {
    fn default() -> Self {
        Self::new(Duration::from_secs(3600))
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn publish_report(
        &self,
        report: &AcceptedReport,
        payload: Bytes,
    ) -> Result<(), BusError> {
        {
            let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
            let state = hosts
                .entry(report.host.clone())
                .or_insert_with(|| HostState {
                    host: report.host.clone(),
                    ..HostState::default()
                });
            // A replayed old report must not roll current values back.
            if report.timestamp_ms >= state.last_seen_ms {
                state.last_seen_ms = report.timestamp_ms;
                for p in &report.points {
                    state.values.insert(p.key.clone(), p.value);
                }
            }
        }
        self.publish(&crate::event::metrics_channel(&report.host), payload)
            .await
    }

    async fn upsert_meta(&self, host: &str, meta: &HostMeta) -> Result<(), BusError> {
        let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let state = hosts.entry(host.to_owned()).or_insert_with(|| HostState {
            host: host.to_owned(),
            last_seen_ms: now_ms(),
            ..HostState::default()
        });
        state.meta = Some(meta.clone());
        Ok(())
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
        let (tx, out) = mpsc::channel(SUBSCRIBER_QUEUE);
        tokio::spawn(async move {
            let mut missed = 0u64;
            loop {
                let event = match rx.recv().await {
                    Ok((channel, payload)) => {
                        if !patterns.iter().any(|p| p.matches(&channel)) {
                            continue;
                        }
                        BusEvent::Message { channel, payload }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => BusEvent::Gap { missed: n },
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if missed > 0 {
                    // Tell the consumer about messages dropped from its own queue first.
                    match tx.try_send(BusEvent::Gap { missed }) {
                        Ok(()) => missed = 0,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            missed += 1;
                            continue;
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
                match tx.try_send(event) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => missed += 1,
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        });
        Ok(Subscription::new(out))
    }

    async fn hosts(&self) -> Result<Vec<HostState>, BusError> {
        let cutoff = now_ms() - self.inner.expire_after.as_millis() as i64;
        let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.retain(|_, h| h.last_seen_ms >= cutoff);
        let mut all: Vec<HostState> = hosts.values().cloned().collect();
        all.sort_by(|a, b| a.host.cmp(&b.host));
        Ok(all)
    }
}
