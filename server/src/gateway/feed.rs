//! Bus → hub: subscribes to `metrics.*` and `alerts.*`, seeds the hub from
//! the bus's current state, and reseeds after any gap so clients resync.
//!
//! Events carry values, not a host's `Hello` metadata (OS, cores, interval),
//! which the bus keeps in the host's state. A host that appears after the
//! last reseed therefore gets its metadata from the bus by a lookup, done at
//! most once a second and retried per host at most once a minute.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::bus::{BusEvent, SharedBus};
use crate::fanout::{Fleet, Hub};

pub async fn run(bus: SharedBus, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    let mut delay = Duration::from_millis(200);
    loop {
        // Subscribe first, then read the state: an event that lands between
        // the two is applied on top of the state, never lost.
        let subscription = bus.subscribe(&["metrics.*", "alerts.*", "hosts.*"]).await;
        let mut subscription = match subscription {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to the bus; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                delay = (delay * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        delay = Duration::from_millis(200);
        reseed(&bus, &hub).await;
        let mut lookups = MetaLookups::default();
        loop {
            let event = tokio::select! {
                e = subscription.next() => e,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match event {
                Some(BusEvent::Message { channel, payload }) => {
                    if let Err(e) = hub.ingest(payload) {
                        tracing::warn!(%channel, error = %e, "ignoring an unreadable bus event");
                    }
                    lookups.run(&bus, &hub).await;
                }
                Some(BusEvent::Gap { missed }) => {
                    tracing::info!(
                        missed,
                        "bus gap; resynchronizing clients from current state"
                    );
                    reseed(&bus, &hub).await;
                }
                None => break,
            }
        }
    }
}

async fn reseed(bus: &SharedBus, hub: &Hub) {
    match bus.hosts().await {
        Ok(states) => hub.reset(Fleet::from_states(states), true),
        Err(e) => tracing::warn!(error = %e, "cannot read current state from the bus"),
    }
}

const META_LOOKUP_EVERY: Duration = Duration::from_secs(1);
const META_RETRY: Duration = Duration::from_secs(60);

/// When host metadata was last looked up, overall and per host.
#[derive(Default)]
struct MetaLookups {
    last: Option<Instant>,
    tried: HashMap<String, Instant>,
}

impl MetaLookups {
    async fn run(&mut self, bus: &SharedBus, hub: &Hub) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < META_LOOKUP_EVERY)
        {
            return;
        }
        self.last = Some(now);
        self.tried
            .retain(|_, at| now.duration_since(*at) < META_RETRY);
        let missing: Vec<String> = hub
            .hosts_without_meta()
            .into_iter()
            .filter(|h| !self.tried.contains_key(h))
            .collect();
        if missing.is_empty() {
            return;
        }
        for host in missing {
            self.tried.insert(host, now);
        }
        match bus.hosts().await {
            Ok(states) => hub.fill_meta(states),
            Err(e) => tracing::warn!(error = %e, "cannot read host metadata from the bus"),
        }
    }
}
